-- Hotline centres: every operator seat belongs to a 12355 centre (a region:
-- the centre of a city or a province), and the centre, not the seat, is the
-- unit of access.  Its operators see and work every case it opened and every
-- call it took, whichever seat took it; the row-level security scope of an
-- operator's transaction is 'centre:<region>'.
--
-- Existing operators (registered before centres) are bound by this rule:
--   1. an operator that opened cases: the city of its first case's region
--      (the region itself or its nearest ancestor whose code ends in 00 but
--      not 0000; the region itself if it has none);
--   2. an operator that opened none: the centre most operators got by rule 1
--      (the lowest code on a tie);
--   3. if no operator opened a case: the lowest city-level region, else the
--      lowest region.
-- Existing call cases and calls belong to their operator's centre.  An
-- administrator reads the result with hotlinectl clients list.
set role hotline_owner;
set search_path = hotline, pg_temp;
set local hotline.scope = 'system';

alter table clients add column centre text references regions (code);
comment on column clients.centre is 'The hotline centre (a region) an operator seat belongs to; null for every other role.';
alter table cases add column centre text references regions (code);
comment on column cases.centre is 'The hotline centre that opened the case (its operators work it); null for a mandatory report.';
alter table calls add column centre text references regions (code);
comment on column calls.centre is 'The hotline centre that took the call.';
alter table case_access add column centre text references regions (code);
comment on column case_access.centre is 'The hotline centre that sees the case (set on the row of the operator that opened it).';

-- The city of a region: itself or its nearest ancestor whose code ends in
-- 00 but not 0000 (GB/T 2260); the region itself if there is none.
create function region_city(p_code text)
returns text language plpgsql stable set search_path = hotline, pg_temp as $$
declare
	v_code text := p_code;
	v_depth integer := 0;
begin
	while v_code is not null and v_depth < 8 loop
		if v_code ~ '^[0-9]{4}00$' and v_code !~ '0000$' then
			return v_code;
		end if;
		select parent_code into v_code from regions where code = v_code;
		v_depth := v_depth + 1;
	end loop;
	return p_code;
end $$;

-- Bind the operators registered before centres (the rule above).
do $$
declare
	v_default text;
	v_left text;
begin
	update clients k set centre = region_city((select c.region_code from cases c
	    where c.created_by = k.id order by c.id limit 1))
	where k.role = 'operator' and k.centre is null
	    and exists (select 1 from cases c where c.created_by = k.id);
	select centre into v_default from clients where centre is not null
	    group by centre order by count(*) desc, centre limit 1;
	if v_default is null then
		select code into v_default from regions
		    order by (code ~ '^[0-9]{4}00$' and code !~ '0000$') desc, code limit 1;
	end if;
	update clients set centre = v_default where role = 'operator' and centre is null;
	select name into v_left from clients where role = 'operator' and centre is null limit 1;
	if v_left is not null then
		raise exception 'operator % cannot be given a centre: the regions table is empty', v_left
		    using hint = 'load the regions (GB/T 2260) first';
	end if;
end $$;

alter table clients add constraint clients_operator_centre
	check ((role = 'operator') = (centre is not null));

update cases c set centre = k.centre from clients k
    where k.id = c.created_by and c.source = 'call' and k.centre is not null;
update calls l set centre = k.centre from clients k where k.id = l.client_id;
alter table calls alter column centre set not null;
update case_access a set centre = c.centre from cases c
    where c.id = a.case_id and a.client_id = c.created_by and c.centre is not null;
create index case_access_centre on case_access (case_id, centre) where centre is not null;

-- A case an operator opens, and a call, belong to the operator's centre.
create function cases_centre() returns trigger
language plpgsql set search_path = hotline, pg_temp as $$
begin
	if new.centre is null and new.source = 'call' then
		select centre into new.centre from clients where id = new.created_by;
	end if;
	return new;
end $$;
create trigger cases_centre before insert on cases
	for each row execute function cases_centre();

create function calls_centre() returns trigger
language plpgsql set search_path = hotline, pg_temp as $$
begin
	if new.centre is null then
		select centre into new.centre from clients where id = new.client_id;
	end if;
	return new;
end $$;
create trigger calls_centre before insert on calls
	for each row execute function calls_centre();

-- A new case: its creator (and its centre) and the procuratorates over its
-- region see it.
create or replace function case_access_case() returns trigger
language plpgsql set search_path = hotline, pg_temp as $$
begin
	insert into case_access (case_id, client_id, centre)
	    values (new.id, new.created_by, new.centre);
	insert into case_access (case_id, agency_id)
	    select new.id, g.id from agencies g
	    where g.kind = 'procuratorate' and new.region_code like region_prefix(g.region_code) || '%'
	    on conflict do nothing;
	return null;
end $$;

------------------------------------------------------------------------------
-- Row-level security: the scope 'centre:<region>' sees the cases its centre
-- opened and the calls it took.
------------------------------------------------------------------------------
create or replace function rls_case(p_case_id bigint)
returns boolean language sql stable parallel safe as $$
	select case hotline.rls_kind()
	    when 'agency' then exists (select 1 from hotline.case_access a
		where a.case_id = p_case_id and a.agency_id = hotline.rls_id())
	    when 'centre' then exists (select 1 from hotline.case_access a
		where a.case_id = p_case_id and a.centre = hotline.rls_id()::text)
	    when 'client' then exists (select 1 from hotline.case_access a
		where a.case_id = p_case_id and a.client_id = hotline.rls_id())
	    else false end
$$;

-- Whether the scope is this centre's.
create function rls_centre(p_centre text)
returns boolean language sql stable parallel safe as $$
	select hotline.rls_kind() = 'centre' and p_centre = hotline.rls_id()::text
$$;

-- Whether the scope may see a keyed digest: a case's if it sees the case, a
-- call's if it sees the call (the calls table's own policy decides).
create function rls_identifier(p_case_id bigint, p_call_id bigint)
returns boolean language sql stable parallel safe as $$
	select case when p_case_id is not null then hotline.rls_case(p_case_id)
	    else exists (select 1 from hotline.calls k where k.id = p_call_id) end
$$;

alter policy scope on calls using (rls_all() or rls_call(case_id, client_id) or rls_centre(centre))
	with check (rls_all() or rls_call(case_id, client_id) or rls_centre(centre));
alter policy scope on identifiers using (rls_all() or rls_identifier(case_id, call_id))
	with check (rls_all() or rls_identifier(case_id, call_id));

------------------------------------------------------------------------------
-- What an operator may see of a case: all of it when its centre opened it.
-- The rest is 011_supervision.sql's: a gateway sees what it filed; an
-- agency sees a case in full through a primary assignment it still holds
-- (not transferred away, not stood down) or an approved access request,
-- redacted through any other assignment, or as the procuratorate of the
-- case's region.
------------------------------------------------------------------------------
alter table access_log drop constraint access_log_basis_check;
alter table access_log add constraint access_log_basis_check
	check (basis in ('admin', 'creator', 'primary', 'access_request', 'centre'));

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

------------------------------------------------------------------------------
-- Clients: the daemon's identity cache with each operator's centre; seats
-- registered with their centre (administrators only).
------------------------------------------------------------------------------
create function client_identities()
returns table (id bigint, name text, role text, agency_id bigint, cert_sha256 text,
    revoked boolean, centre text)
language sql stable security definer set search_path = hotline, pg_temp as $$
	select id, name, role, agency_id, cert_sha256::text, revoked_at is not null, centre
	from clients order by id
$$;

-- Register an operator seat of a centre under a name no client has; raises
-- on a name or certificate already registered (revoked or not), and on a
-- centre that is not a region.
create function client_add_seat(p_name text, p_centre text, p_cert_sha256 text)
returns bigint
language plpgsql security definer set search_path = hotline, pg_temp as $$
declare
	v_id bigint;
	v_constraint text;
begin
	if not exists (select 1 from regions where code = p_centre) then
		raise exception 'client_add_seat: no region with this code'
		    using errcode = 'foreign_key_violation';
	end if;
	begin
		insert into clients (name, role, centre, cert_sha256)
		values (p_name, 'operator', p_centre, lower(replace(p_cert_sha256, ':', '')))
		returning id into v_id;
	exception when unique_violation then
		get stacked diagnostics v_constraint = constraint_name;
		if v_constraint = 'clients_name_key' then
			raise exception 'client_add_seat: a client with this name exists'
			    using errcode = 'unique_violation', constraint = v_constraint;
		end if;
		raise exception 'client_add_seat: this certificate is registered to another client'
		    using errcode = 'unique_violation', constraint = v_constraint;
	end;
	return v_id;
end $$;

-- Register (or re-key, move or re-instate) an operator seat by name, for
-- scripts and tests as client_upsert is.
create function client_upsert_seat(p_name text, p_centre text, p_cert_sha256 text)
returns bigint
language plpgsql security definer set search_path = hotline, pg_temp as $$
declare
	v_id bigint;
begin
	insert into clients (name, role, centre, cert_sha256)
	values (p_name, 'operator', p_centre, lower(replace(p_cert_sha256, ':', '')))
	on conflict (name) do update set role = 'operator', agency_id = null, approver = false,
	    centre = excluded.centre, cert_sha256 = excluded.cert_sha256, revoked_at = null
	returning id into v_id;
	return v_id;
end $$;

-- Every client as an administrator reads it, with each operator's centre.
create function client_directory()
returns table (name text, role text, agency text, centre text, approver boolean,
    cert_sha256 text, created_at timestamptz, revoked_at timestamptz)
language sql stable security definer set search_path = hotline, pg_temp as $$
	select c.name, c.role, a.code, c.centre, c.approver, c.cert_sha256::text, c.created_at,
	    c.revoked_at
	from clients c left join agencies a on a.id = c.agency_id
	order by c.name
$$;

comment on function region_city(text) is 'The city of a region: itself or its nearest ancestor coded NNNN00 (not NN0000), else the region itself.';
comment on function cases_centre() is 'Trigger: a case an operator opens belongs to the operator''s centre.';
comment on function calls_centre() is 'Trigger: a call belongs to the centre of the operator who took it.';
comment on function rls_centre(text) is 'Row-level security: whether the scope is this centre''s (centre:<region>).';
comment on function rls_identifier(bigint, bigint) is 'Row-level security: a keyed digest is visible with its case, or with its call.';
comment on function client_identities() is 'API: every client (id, name, role, agency, fingerprint, revoked, centre) for the daemon''s identity cache.';
comment on function client_add_seat(text, text, text) is 'Admin: registers an operator seat of a centre under a new name; refuses a name or certificate already registered, or an unknown region; returns the client id.';
comment on function client_upsert_seat(text, text, text) is 'Admin: registers, re-keys, moves or re-instates an operator seat by name (scripts and tests); returns the client id.';
comment on function case_access_level(clients, cases) is 'What a client may see of a case: null, redacted or full (an operator: its centre''s cases; a gateway: what it filed; an agency: a primary assignment still held or an approved access request, redacted for other assignments and the region''s procuratorate); reporter identity; the basis.';
comment on function client_directory() is 'Admin: every client with its agency code, its centre (operators), approver flag, registration and revocation times.';

revoke execute on function region_city(text), cases_centre(), calls_centre(), rls_centre(text),
    rls_identifier(bigint, bigint), client_identities(), client_add_seat(text, text, text),
    client_upsert_seat(text, text, text), client_directory() from public;
grant execute on function client_identities() to hotlined;

reset role;
