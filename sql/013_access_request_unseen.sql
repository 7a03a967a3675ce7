-- An access request for a case the agency cannot see at all (its row
-- hidden by row-level security) was answered 500: the check read a record
-- not yet assigned.  It is 404 not_found, as for a case that does not exist.
set role hotline_owner;
set search_path = hotline, pg_temp;

create or replace function access_request_create(p_client_id bigint, p_idem_key text, p_request_hash bytea,
    p_case_number text, p_body jsonb)
returns table (status integer, code text, response jsonb, replayed boolean)
language plpgsql security definer set search_path = hotline, pg_temp as $$
declare
	m record;
	c cases%rowtype;
	acc record;
	v_hours integer;
	v_max integer := (select value::integer from settings where name = 'access_hours_max');
	v_id bigint;
	v_resp jsonb;
begin
	select * into m from mutation_begin(p_client_id, '{agency}', p_idem_key, 'access',
	    p_case_number, p_request_hash);
	if m.status is not null then
		return query select m.status, m.code, m.response, m.replayed;
		return;
	end if;
	select * into c from cases where case_number = p_case_number for update;
	if c.id is null then
		return query select *, false from api_fail(404, 'not_found', null, 'no such case');
		return;
	end if;
	select * into acc from case_access_level(m.client, c);
	if acc.level is null then
		return query select *, false from api_fail(404, 'not_found', null, 'no such case');
		return;
	end if;
	if c.purged_at is not null then
		return query select *, false from api_fail(409, 'case_purged', null,
		    'this case''s personal data has been purged');
		return;
	end if;
	if acc.level = 'full' then
		return query select *, false from api_fail(409, 'access_not_needed', null,
		    'this agency already sees this case''s personal data');
		return;
	end if;
	v_hours := coalesce((p_body->>'hours')::integer,
	    (select value::integer from settings where name = 'access_hours_default'));
	if v_hours > v_max then
		return query select *, false from api_fail(422, 'out_of_range', 'hours',
		    format('must be at most %s', v_max));
		return;
	end if;
	insert into access_requests (case_id, agency_id, requested_by, purpose, hours)
	    values (c.id, m.agency_id, p_client_id, p_body->>'purpose', v_hours)
	    returning id into v_id;
	perform case_event(c.id, 'access_requested', p_client_id, jsonb_build_object(
	    'access_request', (select request_id from access_requests where id = v_id),
	    'agency', (select g.code from agencies g where g.id = m.agency_id)));
	v_resp := jsonb_build_object('access_request', access_request_json(v_id));
	return query select * from mutation_store(p_client_id, p_idem_key, m.endpoint,
	    p_request_hash, 201, v_resp);
end $$;

comment on function access_request_create(bigint, text, bytea, text, jsonb) is 'API POST /v1/cases/{n}/access-requests; returns (status, code, response, replayed).';

revoke execute on all functions in schema hotline from public;

reset role;
