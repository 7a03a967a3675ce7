-- Supervision across the region (domain.md: "the procuratorate supervises
-- everything in its region").  A procuratorate sees any case of its region
-- without holding an assignment (redacted, unless an access request of its
-- own is approved); lists the overdue work of its region by state, agency
-- kind and time, page by page (closed work only when asked); and lists its
-- supervision records (010_casework.sql writes them).  An agency whose
-- primary assignment was transferred away or stood down no longer sees the
-- case in full.
set role hotline_owner;
set search_path = hotline, pg_temp;

-- What a client may see of a case: level null (nothing: 404), 'redacted'
-- or 'full'; whether the reporter's identity is included; and the basis.
-- An agency sees a case in full through a primary assignment it still holds
-- (not transferred away, not stood down) or an approved access request;
-- redacted through any other assignment, or as the procuratorate of the
-- case's region.
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
		level := 'full';
		reporter := true;
		basis := 'admin';
		return;
	end if;
	if p_client.role in ('operator', 'gateway') then
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

-- The procuratorate's region prefix for an API client (null if the client
-- is not a live procuratorate's), or the 403 row to answer.
create function supervision_client(p_client_id bigint, out prefix text, out agency_id bigint,
    out status integer, out code text, out response jsonb)
language plpgsql stable set search_path = hotline, pg_temp as $$
declare
	ac record;
begin
	select * into ac from api_client(p_client_id, '{procuratorate}',
	    'only a procuratorate may see the supervision lists');
	if ac.status is not null then
		select ac.status, ac.code, ac.response into status, code, response;
		return;
	end if;
	agency_id := ac.agency_id;
	select region_prefix(g.region_code) into prefix from agencies g where g.id = ac.agency_id;
end $$;

-- GET /v1/supervision/overdue?state=&kind=&since=&cursor=&limit=: the work
-- of the procuratorate's region that missed a clock or was escalated,
-- newest first, across agencies; closed, transferred and returned work only
-- when state asks for it.  since: overdue at or after; cursor: the
-- next_cursor of the page before.
create function supervision_overdue_list(p_client_id bigint, p_state text, p_kind text,
    p_since timestamptz, p_cursor bigint, p_limit integer)
returns table (status integer, code text, response jsonb)
language plpgsql stable security definer set search_path = hotline, pg_temp as $$
declare
	sc record;
	v_limit integer := greatest(1, least(coalesce(p_limit, 100), 500));
	v_ids bigint[];
begin
	select * into sc from supervision_client(p_client_id);
	if sc.status is not null then
		return query select sc.status, sc.code, sc.response;
		return;
	end if;
	select coalesce(array_agg(x.id order by x.id desc), '{}') into v_ids from (
		select a.id from assignments a join cases c on c.id = a.case_id
		    join agencies g on g.id = a.agency_id
		where a.overdue_at is not null and (p_cursor is null or a.id < p_cursor)
		    and c.region_code like sc.prefix || '%'
		    and (case when p_state is null then assignment_live(a.state)
			else a.state = p_state end)
		    and (p_kind is null or g.kind = p_kind)
		    and (p_since is null or a.overdue_at >= p_since)
		order by a.id desc limit v_limit) x;
	return query select 200, null::text, jsonb_build_object('assignments',
	    coalesce((select jsonb_agg(assignment_json(i) order by i desc) from unnest(v_ids) i), '[]'))
	    || case when cardinality(v_ids) = v_limit then jsonb_build_object('next_cursor',
		v_ids[v_limit]::text) else '{}' end;
end $$;

-- GET /v1/supervision/records?since=&cursor=&limit=: the procuratorate's
-- own supervision records, newest first.
create function supervision_record_list(p_client_id bigint, p_since timestamptz,
    p_cursor bigint, p_limit integer)
returns table (status integer, code text, response jsonb)
language plpgsql stable security definer set search_path = hotline, pg_temp as $$
declare
	sc record;
	v_limit integer := greatest(1, least(coalesce(p_limit, 100), 500));
	v jsonb;
	v_last bigint;
	v_n integer;
begin
	select * into sc from supervision_client(p_client_id);
	if sc.status is not null then
		return query select sc.status, sc.code, sc.response;
		return;
	end if;
	select coalesce(jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
	    'case_number', c.case_number, 'seq', s.seq, 'at', api_ts(s.at),
	    'supervision', s.supervision, 'recipient_agency', g.code,
	    'assignment', e.data->'assignment')) order by s.id desc), '[]'), min(s.id), count(*)
	    into v, v_last, v_n
	from (select * from supervision_records x where x.agency_id = sc.agency_id
		and (p_cursor is null or x.id < p_cursor) and (p_since is null or x.at >= p_since)
	    order by x.id desc limit v_limit) s
	join cases c on c.id = s.case_id join agencies g on g.id = s.recipient_id
	join case_events e on e.case_id = s.case_id and e.seq = s.seq;
	return query select 200, null::text, jsonb_build_object('records', v)
	    || case when v_n = v_limit then jsonb_build_object('next_cursor', v_last::text)
		else '{}' end;
end $$;

-- supervision_overdue_list replaces it (filters and pages).
drop function supervision_overdue(bigint);

comment on function case_access_level(clients, cases) is 'What a client may see of a case: null, redacted or full (primary assignment still held, approved access request; redacted for other assignments and the region''s procuratorate); reporter identity; the basis.';
comment on function supervision_client(bigint) is 'The procuratorate behind an API client: its agency and region prefix, or the 403 row.';
comment on function supervision_overdue_list(bigint, text, text, timestamptz, bigint, integer) is 'API GET /v1/supervision/overdue: overdue or escalated work of the procuratorate''s region, filtered and paged; returns (status, code, response).';
comment on function supervision_record_list(bigint, timestamptz, bigint, integer) is 'API GET /v1/supervision/records: the procuratorate''s supervision records, paged; returns (status, code, response).';

revoke execute on all functions in schema hotline from public;
grant execute on function supervision_overdue_list(bigint, text, text, timestamptz, bigint, integer),
    supervision_record_list(bigint, timestamptz, bigint, integer) to hotlined;

reset role;
