-- Client administration for hotlinectl clients: registering a certificate
-- under a new name only (client_upsert re-keys and re-instates whatever the
-- name already holds, which an administrator's typo must never do), and the
-- whole list as an administrator reads it.  Administrators only.
set role hotline_owner;
set search_path = hotline, pg_temp;

-- Register a client certificate under a name no client has; raises on a
-- name or a certificate already registered (even revoked), and on an
-- unknown agency.
create function client_add(p_name text, p_role text, p_agency_code text,
    p_cert_sha256 text, p_approver boolean default false)
returns bigint
language plpgsql security definer set search_path = hotline, pg_temp as $$
declare
	v_agency bigint;
	v_id bigint;
	v_constraint text;
begin
	if p_agency_code is not null then
		select id into v_agency from agencies where code = p_agency_code;
		if not found then
			raise exception 'client_add: no agency with this code'
			    using errcode = 'foreign_key_violation';
		end if;
	end if;
	begin
		insert into clients (name, role, agency_id, cert_sha256, approver)
		values (p_name, p_role, v_agency, lower(replace(p_cert_sha256, ':', '')), p_approver)
		returning id into v_id;
	exception when unique_violation then
		get stacked diagnostics v_constraint = constraint_name;
		if v_constraint = 'clients_name_key' then
			raise exception 'client_add: a client with this name exists'
			    using errcode = 'unique_violation', constraint = v_constraint;
		end if;
		raise exception 'client_add: this certificate is registered to another client'
		    using errcode = 'unique_violation', constraint = v_constraint;
	end;
	return v_id;
end $$;

-- Every client as an administrator reads it: its agency by code, whether
-- it approves access requests, when it was registered and revoked.
create function client_roster()
returns table (name text, role text, agency text, approver boolean, cert_sha256 text,
    created_at timestamptz, revoked_at timestamptz)
language sql stable security definer set search_path = hotline, pg_temp as $$
	select c.name, c.role, a.code, c.approver, c.cert_sha256::text, c.created_at, c.revoked_at
	from clients c left join agencies a on a.id = c.agency_id
	order by c.name
$$;

comment on function client_add(text, text, text, text, boolean) is 'Admin: registers a client certificate under a new name (approver: may approve its agency''s access requests); refuses a name or certificate already registered; returns the client id.';
comment on function client_roster() is 'Admin: every client with its agency code, approver flag, registration and revocation times.';

revoke execute on function client_add(text, text, text, text, boolean), client_roster() from public;

reset role;
