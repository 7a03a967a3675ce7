-- Cases linked as being about the same child, by hand: an operator links
-- two cases of its centre, or an agency links a case it has the live primary
-- assignment on to another case it sees (POST /v1/cases/{n}/links).  The
-- link is a history event on both cases, and every view of either shows the
-- other's number and state (linked_cases), beside the related cases found by
-- keyed digests.
set role hotline_owner;
set search_path = hotline, pg_temp;

create table case_links (
	case_a		bigint not null references cases (id),
	case_b		bigint not null references cases (id),
	linked_by	bigint not null references clients (id),
	linked_at	timestamptz not null default now(),
	primary key (case_a, case_b),
	check (case_a < case_b)
);
create index case_links_b on case_links (case_b);
comment on table case_links is 'Two cases linked by hand as being about the same child (the lower case id first).';
alter table case_links enable row level security;
alter table case_links force row level security;
create policy scope on case_links using (rls_all() or rls_case(case_a) or rls_case(case_b))
	with check (rls_all() or rls_case(case_a) or rls_case(case_b));

-- The cases linked to a case: their numbers and states, oldest link first.
create function case_view_linked(p_case_id bigint)
returns jsonb language sql stable as $$
	select coalesce(jsonb_agg(jsonb_build_object('case_number', o.case_number,
	    'status', o.status, 'risk_level', o.risk_level, 'linked_at', api_ts(l.linked_at))
	    order by l.linked_at, o.id), '[]')
	from case_links l join cases o on o.id = case when l.case_a = p_case_id then l.case_b
	    else l.case_a end
	where l.case_a = p_case_id or l.case_b = p_case_id
$$;

-- POST /v1/cases/{n}/links: link the case to another about the same child.
create function case_link(p_client_id bigint, p_idem_key text, p_request_hash bytea,
    p_case_number text, p_body jsonb)
returns table (status integer, code text, response jsonb, replayed boolean)
language plpgsql security definer set search_path = hotline, pg_temp as $$
declare
	m record;
	c cases%rowtype;
	o cases%rowtype;
	v_seq integer;
begin
	select * into m from mutation_begin(p_client_id, '{operator,agency}', p_idem_key, 'links',
	    p_case_number, p_request_hash,
	    'only an operator or the primary agency links cases');
	if m.status is not null then
		return query select m.status, m.code, m.response, m.replayed;
		return;
	end if;
	select * into c from cases where case_number = p_case_number;
	select * into o from cases where case_number = p_body->>'case_number';
	if (m.client).role = 'operator' then
		if c.centre is distinct from (m.client).centre then
			c := null;
		end if;
		if o.centre is distinct from (m.client).centre then
			o := null;
		end if;
	else
		if c.id is not null and not exists (select 1 from assignments a
		    where a.case_id = c.id and a.agency_id = m.agency_id) then
			c := null;
		elsif c.id is not null and not exists (select 1 from assignments a
		    where a.case_id = c.id and a.agency_id = m.agency_id and a.role = 'primary'
			and assignment_live(a.state)) then
			return query select *, false from api_fail(403, 'forbidden', null,
			    'only the agency with the live primary assignment links this case');
			return;
		end if;
		if o.id is not null and (case_access_level(m.client, o)).level is null then
			o := null;
		end if;
	end if;
	if c.id is null then
		return query select *, false from api_fail(404, 'not_found', null, 'no such case');
		return;
	end if;
	if o.id is null then
		return query select *, false from api_fail(422, 'unknown_case', 'case_number',
		    'no such case that this client sees');
		return;
	end if;
	if o.id = c.id then
		return query select *, false from api_fail(422, 'invalid_value', 'case_number',
		    'a case is not linked to itself');
		return;
	end if;
	-- Both cases locked in one order, so that two links cannot deadlock.
	perform 1 from cases x where x.id in (c.id, o.id) order by x.id for update;
	if exists (select 1 from case_links l where l.case_a = least(c.id, o.id)
	    and l.case_b = greatest(c.id, o.id)) then
		return query select *, false from api_fail(409, 'invalid_transition', 'case_number',
		    'these cases are linked already');
		return;
	end if;
	insert into case_links (case_a, case_b, linked_by)
	    values (least(c.id, o.id), greatest(c.id, o.id), p_client_id);
	v_seq := case_event(c.id, 'case_linked', p_client_id,
	    jsonb_build_object('linked', o.case_number));
	perform case_event(o.id, 'case_linked', p_client_id,
	    jsonb_build_object('linked', c.case_number));
	perform case_touch(c.id);
	perform case_touch(o.id);
	return query select * from mutation_store(p_client_id, p_idem_key, m.endpoint,
	    p_request_hash, 201, jsonb_build_object('case_number', c.case_number, 'seq', v_seq,
	    'linked_cases', case_view_linked(c.id)));
end $$;

-- GET /v1/cases/{n}: the case as this client may see it, or null (404).
-- Personal fields come sealed with the case's wrapped data key ("$key"); the
-- daemon opens them.  A read that includes personal data is written to the
-- access log in this same transaction: no log row, no data.  Every view
-- shows the cases linked to it by hand (linked_cases).
create or replace function case_view(p_client_id bigint, p_case_number text)
returns jsonb
language plpgsql security definer set search_path = hotline, pg_temp as $$
declare
	v_client clients%rowtype;
	c cases%rowtype;
	acc record;
	v_access text;
	v jsonb;
begin
	select * into v_client from clients where id = p_client_id and revoked_at is null;
	select * into c from cases where case_number = p_case_number;
	if v_client.id is null or c.id is null then
		return null;
	end if;
	select * into acc from case_access_level(v_client, c);
	if acc.level is null then
		return null;
	end if;
	v_access := case when c.purged_at is not null then 'purged' else acc.level end;
	v := jsonb_build_object(
	    'case_number', c.case_number,
	    'source', c.source,
	    'status', c.status,
	    'risk_level', c.risk_level,
	    'region_code', c.region_code,
	    'created_at', api_ts(c.created_at),
	    'access', v_access,
	    'categories', case_categories_json(c.id),
	    'history', case_view_history(c.id, v_access),
	    'assignments', (select coalesce(jsonb_agg(assignment_json(a.id) order by a.id), '[]')
		from assignments a where a.case_id = c.id),
	    'narrative', case when v_access = 'full' then sealed_out(c.narrative, 'case.narrative')
		else hidden(v_access) end,
	    'child', case_view_child(c.id, v_access),
	    'linked_cases', case_view_linked(c.id));
	if c.closed_at is not null then
		v := v || jsonb_build_object('closed_at', api_ts(c.closed_at));
	end if;
	if v_access = 'purged' then
		v := v || jsonb_build_object('purged_at', api_ts(c.purged_at));
	elsif v_access = 'full' then
		v := v || jsonb_build_object('$key', case_data_key(c),
		    'related_cases', case_view_related(c.id, v_client));
		insert into access_log (case_id, client_id, agency_id, basis, access_request, reporter)
		values (c.id, v_client.id, v_client.agency_id, acc.basis, acc.request,
		    acc.reporter and c.source = 'report');
	end if;
	if c.source = 'report' then
		v := v || jsonb_build_object('report', case_view_report(c.id, v_access, acc.reporter));
	else
		v := v || jsonb_build_object('calls', case_view_calls(c.id, v_access));
	end if;
	return v;
end $$;

comment on function case_view_linked(bigint) is 'The case view''s linked cases: number, status and risk of each case linked to it by hand, with when.';
comment on function case_link(bigint, text, bytea, text, jsonb) is 'API POST /v1/cases/{n}/links: an operator (both cases of its centre) or the primary agency links two cases about the same child; returns (status, code, response, replayed).';

revoke execute on function case_view_linked(bigint), case_link(bigint, text, bytea, text, jsonb)
    from public;
grant execute on function case_link(bigint, text, bytea, text, jsonb) to hotlined;

reset role;
