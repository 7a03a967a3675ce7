-- The centre's caseload: GET /v1/cases lists the cases a centre opened,
-- newest first, as redacted items (no personal data: number, risk,
-- categories, region, state, its assignments' states, the next clock due),
-- filtered by state, risk level and creation time, a page at a time.  Pages
-- are cut by keyset (created_at, id) on indexes of the centre's cases, so a
-- page costs the same however many cases the table holds; the cursor is the
-- last case number of the previous page.
set role hotline_owner;
set search_path = hotline, pg_temp;

create index cases_centre_created on cases (centre, created_at, id) where centre is not null;
create index cases_centre_status on cases (centre, status, created_at, id)
    where centre is not null;
create index cases_centre_risk on cases (centre, risk_level, created_at, id)
    where centre is not null;

-- A case as a caseload lists it: no personal data.
create function case_list_item(p_case_id bigint)
returns jsonb language sql stable as $$
	select jsonb_strip_nulls(jsonb_build_object('case_number', c.case_number,
	    'risk_level', c.risk_level, 'categories', case_categories_json(c.id),
	    'region_code', c.region_code, 'status', c.status, 'created_at', api_ts(c.created_at),
	    'closed_at', api_ts(c.closed_at), 'updated_at', api_ts(c.updated_at),
	    'assignments', (select coalesce(jsonb_agg(jsonb_build_object('agency', g.code,
		'role', a.role, 'state', a.state) order by a.id), '[]')
		from assignments a join agencies g on g.id = a.agency_id where a.case_id = c.id),
	    'next_due', (select jsonb_build_object('kind', k.kind, 'due_at', api_ts(k.due_at),
		'agency', g.code)
		from assignments a join clocks k on k.assignment_id = a.id
		    join agencies g on g.id = a.agency_id
		where a.case_id = c.id and assignment_live(a.state) and k.stopped_at is null
		    and k.fired_at is null and k.set_aside_at is null
		order by k.due_at limit 1)))
	from cases c where c.id = p_case_id
$$;

-- GET /v1/cases?state=&risk=&since=&cursor=&limit=: the operator's centre's
-- cases, newest first.  Each filter adds its own predicate to the query, so
-- that the index made for it is used.
create function case_list(p_client_id bigint, p_state text, p_risk integer,
    p_since timestamptz, p_cursor text, p_limit integer)
returns table (status integer, code text, response jsonb)
language plpgsql stable security definer set search_path = hotline, pg_temp as $$
declare
	ac record;
	v_centre text;
	v_at timestamptz;
	v_id bigint;
	v_limit integer := greatest(1, least(coalesce(p_limit, 50), 200));
	v_ids bigint[];
	v_last text;
	q text := 'select array_agg(x.id order by x.created_at desc, x.id desc) from ('
	    'select c.id, c.created_at from cases c where c.centre = $1';
begin
	select * into ac from api_client(p_client_id, '{operator}',
	    'only an operator has a centre''s caseload');
	if ac.status is not null then
		return query select ac.status, ac.code, ac.response;
		return;
	end if;
	v_centre := (ac.client).centre;
	if p_cursor is not null then
		select c.created_at, c.id into v_at, v_id from cases c
		    where c.case_number = p_cursor and c.centre = v_centre;
		if v_id is null then
			return query select * from api_fail(400, 'invalid_value', 'cursor',
			    'must be the next_cursor of an earlier page');
			return;
		end if;
		q := q || ' and (c.created_at, c.id) < ($5, $6)';
	end if;
	if p_state is not null then
		q := q || ' and c.status = $2';
	end if;
	if p_risk is not null then
		q := q || ' and c.risk_level = $3';
	end if;
	if p_since is not null then
		q := q || ' and c.created_at >= $4';
	end if;
	q := q || ' order by c.created_at desc, c.id desc limit $7) x';
	execute q into v_ids using v_centre, p_state, p_risk::smallint, p_since, v_at, v_id,
	    v_limit;
	if cardinality(v_ids) = v_limit then
		select c.case_number into v_last from cases c where c.id = v_ids[v_limit];
	end if;
	return query select 200, null::text, jsonb_strip_nulls(jsonb_build_object(
	    'cases', coalesce((select jsonb_agg(case_list_item(i.id) order by i.n)
		from unnest(v_ids) with ordinality i (id, n)), '[]'),
	    'next_cursor', v_last));
end $$;

comment on function case_list_item(bigint) is 'A case as a caseload lists it: number, risk, categories, region, state, assignments'' states, the next clock due; no personal data.';
comment on function case_list(bigint, text, integer, timestamptz, text, integer) is 'API GET /v1/cases: the operator''s centre''s cases, newest first, filtered and paged by keyset; returns (status, code, response).';

revoke execute on function case_list_item(bigint),
    case_list(bigint, text, integer, timestamptz, text, integer) from public;
grant execute on function case_list(bigint, text, integer, timestamptz, text, integer) to hotlined;

reset role;
