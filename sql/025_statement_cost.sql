-- What an agency's claim and acknowledgement (and every answer) cost, for
-- the same work:
--
--   * The small SQL functions every answer calls are inlined into their
--     callers' statements again.  PostgreSQL inlines a SQL function only if
--     what it calls is no more volatile than what it declares: these were
--     declared immutable but call stable functions (to_char and extract on a
--     timestamptz, jsonb_build_object), so each call ran the SQL function
--     executor instead: some 30 µs for api_ts, called four times or more for
--     every assignment an agency's queue lists.  Declared stable (which they
--     are), they are inlined.  No index, constraint or generated column uses
--     them.
--   * own_assignment, which every agency action calls, was a SQL function
--     that PostgreSQL cannot inline where it is called (an assignment to a
--     PL/pgSQL variable) and so planned afresh at every call; in PL/pgSQL its
--     plan is kept for the session.
--   * An acknowledgement writes its assignment once: its state and, in the
--     same update, the next due time its acknowledge clock's stopping
--     leaves, so that the clock's trigger (clock_moved) finds it already
--     there.  It wrote two versions of the row before, neither of them HOT
--     (the queue's index holds both the state and next_due).
--   * stats_event_figures (the statistics' reading of an agency's event)
--     looks its assignment up by a plain value: with the expression in the
--     statement PostgreSQL planned the lookup afresh for every event (some
--     0.15 ms of planning, for an index probe).
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

create or replace function assignment_ack(p_client_id bigint, p_idem_key text,
    p_request_hash bytea, p_assignment text)
returns table (status integer, code text, response jsonb, replayed boolean)
language plpgsql security definer set search_path = hotline, pg_temp as $$
declare
	m record;
	v_id bigint;
	a assignments%rowtype;
	v_resp jsonb;
begin
	select * into m from mutation_begin(p_client_id, '{agency}', p_idem_key, 'ack', p_assignment,
	    p_request_hash);
	if m.status is not null then
		return query select m.status, m.code, m.response, m.replayed;
		return;
	end if;
	v_id := own_assignment(m.agency_id, p_assignment);
	if v_id is null then
		return query select *, false from api_fail(404, 'not_found', null, 'no such assignment');
		return;
	end if;
	select * into a from assignments where id = v_id for update;
	if a.state = 'open' then
		update assignments set state = 'acknowledged', acknowledged_at = now(),
		    next_due = coalesce((select min(k.due_at) from clocks k
			where k.assignment_id = v_id and k.stopped_at is null and k.fired_at is null
			    and k.kind <> 'acknowledge'), 'infinity')
		where id = v_id;
		perform clock_stop(v_id, 'acknowledge');
		perform case_event(a.case_id, 'acknowledged', p_client_id,
		    jsonb_build_object('assignment', a.assignment_id));
		perform escalation_stand_down(v_id, p_client_id, 'acknowledged');
	elsif a.state not in ('acknowledged', 'accepted', 'case_opened', 'outside_jurisdiction',
	    'prosecution') then
		return query select *, false from api_fail(409, 'invalid_transition', null,
		    'this assignment can no longer be acknowledged');
		return;
	end if;
	v_resp := assignment_json(v_id);
	return query select * from mutation_store(p_client_id, p_idem_key, m.endpoint,
	    p_request_hash, 200, v_resp);
end $$;

comment on function assignment_ack(bigint, text, bytea, text) is 'API POST /v1/assignments/{id}/ack: stops the acknowledge clock (the assignment written once, its next due time with it), stands down the copies above; returns (status, code, response, replayed).';

create or replace function stats_event_figures(e case_events)
returns table (figure text, bucket integer, agency text)
language plpgsql stable set search_path = hotline, pg_temp as $$
declare
	a assignments%rowtype;
	g agencies%rowtype;
	v_uuid uuid := uuid_or_null(coalesce(e.data->>'assignment', e.data->>'from'));
begin
	select * into a from assignments x where x.assignment_id = v_uuid;
	if a.id is null then
		return;
	end if;
	select * into g from agencies x where x.id = a.agency_id;
	if e.kind in ('acknowledged', 'outcome') and a.role = 'primary' and not exists (
	    select 1 from case_events x where x.case_id = e.case_id and x.seq < e.seq
		and x.kind in ('acknowledged', 'outcome') and x.data->>'assignment' = e.data->>'assignment') then
		return query select 'acknowledge', stats_bucket(e.at - a.created_at), g.code;
	end if;
	if e.kind in ('note', 'outcome', 'feedback') and a.role = 'primary' and not exists (
	    select 1 from case_events x where x.case_id = e.case_id and x.seq < e.seq
		and x.kind in ('note', 'outcome', 'feedback')
		and x.data->>'assignment' = e.data->>'assignment') then
		return query select 'first_action', stats_bucket(e.at - a.created_at), g.code;
	end if;
	if e.kind = 'outcome' and g.kind = 'police'
	    and e.data->>'outcome' in ('accepted', 'case_opened', 'declined') then
		return query select 'police.' || (e.data->>'outcome'), 0, g.code;
	end if;
	if e.kind = 'transferred' and g.kind = 'police' then
		return query select 'police.transferred', 0, g.code;
	end if;
	if e.kind = 'escalated' and e.data->>'clock' ~ '^[a-z][a-z_]{0,31}$' then
		return query select 'clocks.' || (e.data->>'clock') || '.escalated', 0, g.code;
	end if;
end $$;

revoke execute on all functions in schema hotline from public;
grant execute on function assignment_ack(bigint, text, bytea, text) to hotlined;

reset role;
