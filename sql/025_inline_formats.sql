-- The small SQL functions every answer calls are inlined into their
-- callers' statements again.  PostgreSQL inlines a SQL function only if
-- what it calls is no more volatile than what it declares: these were
-- declared immutable but call stable functions (to_char and extract on a
-- timestamptz, jsonb_build_object), so each call ran the SQL function
-- executor instead: some 30 µs for api_ts, called four times or more for
-- every assignment an agency's queue lists.  Declared stable (which they
-- are), they are inlined.  No index, constraint or generated column uses
-- them.
--
-- own_assignment, which every agency action calls, was a SQL function that
-- PostgreSQL cannot inline where it is called (an assignment to a PL/pgSQL
-- variable) and so planned afresh at every call; in PL/pgSQL its plan is
-- kept for the session.
set role hotline_owner;
set search_path = hotline, pg_temp;

alter function api_ts(timestamptz) stable;
alter function api_error(text, text, text) stable;
alter function sealed_out(sealed, text) stable;
alter function case_data_key(cases) stable;

create or replace function own_assignment(p_agency bigint, p_assignment text)
returns bigint language plpgsql stable as $$
declare
	v_uuid uuid := uuid_or_null(p_assignment);
begin
	return (select a.id from assignments a
	    where a.assignment_id = v_uuid and a.agency_id = p_agency);
end $$;

reset role;
