-- Administrators run the system; they do not read cases.  An admin sees a
-- case as an informed agency does (categories, risk, region, status,
-- timeline and assignments; no names, numbers, narratives or notes) unless
-- another administrator approved its own request for access, for a limited
-- time, and never the reporter, whose identity is the police's and the
-- procuratorate's alone (强制报告意见 art. 12).  An admin's access request
-- belongs to no agency: only another admin decides it.
set role hotline_owner;
set search_path = hotline, pg_temp;

alter table access_requests alter column agency_id drop not null;
comment on column access_requests.agency_id is 'The requesting agency; null for an administrator''s own request (decided by another administrator).';

-- What a client may see of a case: level null (nothing: 404), 'redacted'
-- or 'full'; whether the reporter's identity is included; and the basis.
create or replace function case_access_level(p_client clients, p_case cases,
    out level text, out reporter boolean, out basis text, out request bigint,
    out agency_kind text)
language plpgsql stable set search_path = hotline, pg_temp as $$
declare
	v_primary boolean;
	v_region text;
begin
	reporter := false;
	if p_client.role = 'admin' then
		select r.id into request from access_requests r
		    where r.case_id = p_case.id and r.agency_id is null
			and r.requested_by = p_client.id
			and r.state = 'approved' and r.valid_until > now()
		    order by r.valid_until desc limit 1;
		level := case when request is null then 'redacted' else 'full' end;
		basis := case when request is null then null else 'access_request' end;
		return;
	end if;
	if p_client.role = 'operator' then
		if p_case.centre = p_client.centre then
			level := 'full';
			basis := 'centre';
		end if;
		return;
	end if;
	if p_client.role = 'gateway' then
		if p_case.created_by = p_client.id then
			level := 'full';
			basis := 'creator';
		end if;
		return;
	end if;
	if p_client.role <> 'agency' then
		return;
	end if;
	select g.kind, g.region_code into agency_kind, v_region from agencies g
	    where g.id = p_client.agency_id;
	select bool_or(a.role = 'primary' and a.state not in ('transferred', 'returned'))
	    into v_primary
	    from assignments a where a.case_id = p_case.id and a.agency_id = p_client.agency_id;
	if v_primary is null and agency_kind = 'procuratorate'
	    and p_case.region_code like region_prefix(v_region) || '%' then
		v_primary := false;	-- the region's procuratorate
	end if;
	if v_primary is null then
		return;		-- no assignment at all
	end if;
	if v_primary then
		level := 'full';
		basis := 'primary';
	else
		select r.id into request from access_requests r
		    where r.case_id = p_case.id and r.agency_id = p_client.agency_id
			and r.state = 'approved' and r.valid_until > now()
		    order by r.valid_until desc limit 1;
		level := case when request is null then 'redacted' else 'full' end;
		basis := case when request is null then null else 'access_request' end;
	end if;
	reporter := level = 'full' and agency_kind in ('police', 'procuratorate');
end $$;

-- An access request as the API shows it (an admin's has no agency).
create or replace function access_request_json(p_id bigint)
returns jsonb language sql stable as $$
	select jsonb_strip_nulls(jsonb_build_object('access_request_id', r.request_id,
	    'case_number', c.case_number, 'agency', g.code, 'purpose', r.purpose, 'hours', r.hours,
	    'state', case when r.state = 'approved' and r.valid_until <= now() then 'expired'
		else r.state end,
	    'requested_by', q.name, 'created_at', api_ts(r.created_at), 'decided_by', d.name,
	    'decided_at', api_ts(r.decided_at), 'valid_until', api_ts(r.valid_until)))
	from access_requests r join cases c on c.id = r.case_id left join agencies g on g.id = r.agency_id
	    join clients q on q.id = r.requested_by left join clients d on d.id = r.decided_by
	where r.id = p_id
$$;

-- POST /v1/cases/{n}/access-requests: an inform or supervise agency, or an
-- administrator, asks to see the personal data, stating why and for how
-- long.
create or replace function access_request_create(p_client_id bigint, p_idem_key text,
    p_request_hash bytea, p_case_number text, p_body jsonb)
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
	select * into m from mutation_begin(p_client_id, '{agency,admin}', p_idem_key, 'access',
	    p_case_number, p_request_hash);
	if m.status is not null then
		return query select m.status, m.code, m.response, m.replayed;
		return;
	end if;
	select * into c from cases where case_number = p_case_number for update;
	if c.id is not null then
		select * into acc from case_access_level(m.client, c);
	end if;
	if c.id is null or acc.level is null then
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
		    'this client already sees this case''s personal data');
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
	perform case_event(c.id, 'access_requested', p_client_id, jsonb_strip_nulls(jsonb_build_object(
	    'access_request', (select request_id from access_requests where id = v_id),
	    'agency', (select g.code from agencies g where g.id = m.agency_id))));
	v_resp := jsonb_build_object('access_request', access_request_json(v_id));
	return query select * from mutation_store(p_client_id, p_idem_key, m.endpoint,
	    p_request_hash, 201, v_resp);
end $$;

-- POST /v1/access-requests/{id}/approve or /deny: an approver of the
-- requesting agency (not the requester) or an administrator decides; an
-- administrator's own request, only another administrator.
create or replace function access_request_decide(p_client_id bigint, p_idem_key text,
    p_request_hash bytea, p_request text, p_decision text)
returns table (status integer, code text, response jsonb, replayed boolean)
language plpgsql security definer set search_path = hotline, pg_temp as $$
declare
	m record;
	q access_requests%rowtype;
	v_resp jsonb;
begin
	select * into m from mutation_begin(p_client_id, '{admin,approver}', p_idem_key, p_decision,
	    p_request, p_request_hash,
	    'only an approver of the agency or an administrator decides access requests');
	if m.status is not null then
		return query select m.status, m.code, m.response, m.replayed;
		return;
	end if;
	select * into q from access_requests r where r.request_id = uuid_or_null(p_request) for update;
	if q.id is null or ((m.client).role <> 'admin' and q.agency_id is distinct from m.agency_id) then
		return query select *, false from api_fail(404, 'not_found', null, 'no such access request');
		return;
	end if;
	if q.requested_by = p_client_id then
		return query select *, false from api_fail(403, 'forbidden', null,
		    'a request is decided by someone other than its requester');
		return;
	end if;
	if q.state <> 'pending' then
		return query select *, false from api_fail(409, 'invalid_transition', null,
		    format('this access request is already %s', q.state));
		return;
	end if;
	update access_requests set state = case p_decision when 'approve' then 'approved' else 'denied' end,
	    decided_by = p_client_id, decided_at = now(),
	    valid_until = case when p_decision = 'approve' then now() + make_interval(hours => q.hours) end
	    where id = q.id;
	perform case_event(q.case_id, case p_decision when 'approve' then 'access_approved'
	    else 'access_denied' end, p_client_id, jsonb_build_object('access_request', q.request_id));
	v_resp := jsonb_build_object('access_request', access_request_json(q.id));
	return query select * from mutation_store(p_client_id, p_idem_key, m.endpoint,
	    p_request_hash, 200, v_resp);
end $$;

comment on function case_access_level(clients, cases) is 'What a client may see of a case: null, redacted or full (an operator: its centre''s cases; a gateway: what it filed; an agency: a primary assignment still held or an approved access request, redacted for other assignments and the region''s procuratorate; an admin: redacted, full with its own approved request); reporter identity (police and procuratorate only); the basis.';
comment on function access_request_json(bigint) is 'An access request as the API shows it (an administrator''s has no agency).';
comment on function access_request_create(bigint, text, bytea, text, jsonb) is 'API POST /v1/cases/{n}/access-requests (an inform or supervise agency, or an administrator); returns (status, code, response, replayed).';
comment on function access_request_decide(bigint, text, bytea, text, text) is 'API POST /v1/access-requests/{id}/approve|deny (an approver of the agency, or another administrator); returns (status, code, response, replayed).';

revoke execute on all functions in schema hotline from public;
grant execute on function access_request_create(bigint, text, bytea, text, jsonb),
    access_request_decide(bigint, text, bytea, text, text) to hotlined;

reset role;
