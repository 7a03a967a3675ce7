-- Child-data protection: who may see which rows (row-level security), what
-- a client may see of a case (case_access_level; the view itself is in
-- 006_views.sql), access requests and their approval, the access log, keyed
-- digests for linking, data-key rotation, audit of the history chains,
-- retention and purge (crypto-shredding).
set role hotline_owner;
set search_path = hotline, pg_temp;

insert into settings (name, value) values
	('retention_call_days', '30'),	-- calls that opened no case: personal data kept N days
	('retention_case_years', '10'),	-- closed cases: personal data kept M years after closing
	('access_hours_default', '24'),	-- an approved access request lasts this long by default
	('access_hours_max', '72');	-- and at most this long

------------------------------------------------------------------------------
-- Row-level security.  Every transaction of the daemon starts with
-- set_config('hotline.scope', <scope>, true) (SET LOCAL): 'system' (its own
-- timers), 'admin', 'intake' (a submission: writes across tables),
-- 'client:<client>' (what that client created) or 'agency:<agency>' (what
-- that agency is assigned, and a procuratorate what lies in its region).
-- No scope, no rows.
------------------------------------------------------------------------------

-- Which agencies and clients may see each case's rows (maintained by triggers).
create table case_access (
	case_id		bigint not null references cases (id),
	agency_id	bigint references agencies (id),
	client_id	bigint references clients (id),
	check ((agency_id is null) <> (client_id is null))
);
create unique index case_access_agency on case_access (case_id, agency_id) where agency_id is not null;
create unique index case_access_client on case_access (case_id, client_id) where client_id is not null;
create index case_access_by_agency on case_access (agency_id, case_id) where agency_id is not null;
comment on table case_access is 'Row-level security: the agencies (assigned, or the procuratorates of the case''s region) and the creating client that may see a case''s rows.';

-- The scope of the current transaction: its kind, and its id (0 if none).
-- Plain SQL expressions, so that the planner inlines them into every policy.
create function rls_kind()
returns text language sql stable parallel safe as $$
	select split_part(coalesce(current_setting('hotline.scope', true), ''), ':', 1)
$$;

create function rls_id()
returns bigint language sql stable parallel safe as $$
	select case when current_setting('hotline.scope', true) ~ '^[a-z]+:[0-9]{1,18}$'
	    then split_part(current_setting('hotline.scope', true), ':', 2)::bigint else 0 end
$$;

-- Whether the scope sees every row (the daemon's timers, admins, intake).
-- Each policy tests this first, so that such transactions pay no lookup.
create function rls_all()
returns boolean language sql stable parallel safe as $$
	select hotline.rls_kind() in ('system', 'admin', 'intake')
$$;

-- Whether an agency or client scope may see the rows of a case.
create function rls_case(p_case_id bigint)
returns boolean language sql stable parallel safe as $$
	select case hotline.rls_kind()
	    when 'agency' then exists (select 1 from hotline.case_access a
		where a.case_id = p_case_id and a.agency_id = hotline.rls_id())
	    when 'client' then exists (select 1 from hotline.case_access a
		where a.case_id = p_case_id and a.client_id = hotline.rls_id())
	    else false end
$$;

-- Whether an agency or client scope may see a call (one that opened no
-- case belongs to its operator alone).
create function rls_call(p_case_id bigint, p_client_id bigint)
returns boolean language sql stable parallel safe as $$
	select case when p_case_id is not null then hotline.rls_case(p_case_id)
	    else hotline.rls_kind() = 'client' and hotline.rls_id() = p_client_id end
$$;

-- A new case: its creator and the procuratorates over its region see it.
create function case_access_case() returns trigger
language plpgsql set search_path = hotline, pg_temp as $$
begin
	insert into case_access (case_id, client_id) values (new.id, new.created_by);
	insert into case_access (case_id, agency_id)
	    select new.id, g.id from agencies g
	    where g.kind = 'procuratorate' and new.region_code like region_prefix(g.region_code) || '%'
	    on conflict do nothing;
	return null;
end $$;
create trigger case_access_case after insert on cases
	for each row execute function case_access_case();

-- A new assignment: its agency sees the case.
create function case_access_assignment() returns trigger
language plpgsql set search_path = hotline, pg_temp as $$
begin
	insert into case_access (case_id, agency_id) values (new.case_id, new.agency_id)
	    on conflict do nothing;
	return null;
end $$;
create trigger case_access_assignment after insert on assignments
	for each row execute function case_access_assignment();

------------------------------------------------------------------------------
-- Keyed digests of identifiers (HMAC-SHA256 made by the daemon with its own
-- key): a known child and a repeat caller are found without decrypting.
------------------------------------------------------------------------------
create table identifiers (
	kind		text not null check (kind in ('id', 'name_birth', 'phone')),
	digest		bytea not null check (octet_length(digest) = 32),
	case_id		bigint references cases (id),
	call_id		bigint references calls (id),
	check ((case_id is null) <> (call_id is null))
);
create index identifiers_digest on identifiers (kind, digest);
create index identifiers_case on identifiers (case_id) where case_id is not null;
create index identifiers_call on identifiers (call_id) where call_id is not null;
comment on table identifiers is 'Keyed digests (HMAC-SHA256, daemon''s hash key) of a child''s ID number and name+birth date (per case) and a caller''s phone (per call).';

-- Record a submission's digests ({"child_id", "child_name_birth",
-- "caller_phone"}, hex); for a call, its caller's earlier calls.
create function identifiers_record(p_case_id bigint, p_call_id bigint, p_digests jsonb)
returns jsonb language plpgsql set search_path = hotline, pg_temp as $$
declare
	v_phone bytea := decode(p_digests->>'caller_phone', 'hex');
	v_earlier jsonb;
begin
	if p_case_id is not null then
		insert into identifiers (kind, digest, case_id)
		    select k, decode(p_digests->>f, 'hex'), p_case_id
		    from (values ('id', 'child_id'), ('name_birth', 'child_name_birth')) x (k, f)
		    where p_digests->>f is not null;
	end if;
	if p_call_id is null or v_phone is null then
		return null;
	end if;
	select jsonb_build_object('count', count(*), 'last_at', api_ts(max(k.started_at)))
	    into v_earlier
	    from identifiers i join calls k on k.id = i.call_id
	    where i.kind = 'phone' and i.digest = v_phone;
	insert into identifiers (kind, digest, call_id) values ('phone', v_phone, p_call_id);
	return case when (v_earlier->>'count')::int > 0 then v_earlier end;
end $$;

------------------------------------------------------------------------------
-- Access requests (minors' online protection regulation art. 36: approval
-- before access, and a record of it) and the access log.
------------------------------------------------------------------------------
create table access_requests (
	id		bigint generated always as identity primary key,
	request_id	uuid not null unique default gen_random_uuid(),
	case_id		bigint not null references cases (id),
	agency_id	bigint not null references agencies (id),
	requested_by	bigint not null references clients (id),
	purpose		text not null check (char_length(purpose) between 1 and 500),
	hours		integer not null check (hours between 1 and 720),
	created_at	timestamptz not null default now(),
	state		text not null default 'pending' check (state in ('pending', 'approved', 'denied')),
	decided_by	bigint references clients (id),
	decided_at	timestamptz,
	valid_until	timestamptz,
	check ((state = 'pending') = (decided_at is null)),
	check ((state = 'approved') = (valid_until is not null)),
	check (decided_by is distinct from requested_by)
);
create index access_requests_case on access_requests (case_id, agency_id);
create index access_requests_pending on access_requests (agency_id) where state = 'pending';
comment on table access_requests is 'Requests by an inform or supervise agency to see a case''s personal data, with their stated purpose and approval.';
comment on column access_requests.purpose is 'The stated purpose (clients are told not to put personal data in it).';

-- Every read of a case's personal data, written in the same transaction.
create table access_log (
	id		bigint generated always as identity primary key,
	at		timestamptz not null default now(),
	case_id		bigint not null references cases (id),
	client_id	bigint not null references clients (id),
	agency_id	bigint references agencies (id),
	basis		text not null check (basis in ('admin', 'creator', 'primary', 'access_request')),
	access_request	bigint references access_requests (id),
	reporter	boolean not null,
	check ((basis = 'access_request') = (access_request is not null))
);
create index access_log_case on access_log (case_id, at);
comment on table access_log is 'Every read of a case''s personal data: who, when, on what basis (append-only).';
comment on column access_log.reporter is 'Whether the reporter''s identity was part of what was read.';

create trigger access_log_no_update before update or delete on access_log
	for each row execute function case_events_append_only();
create trigger access_log_no_truncate before truncate on access_log
	for each statement execute function case_events_append_only();

-- What a client may see of a case: level null (nothing: 404), 'redacted'
-- or 'full'; whether the reporter's identity is included; and the basis.
create function case_access_level(p_client clients, p_case cases,
    out level text, out reporter boolean, out basis text, out request bigint,
    out agency_kind text)
language plpgsql stable set search_path = hotline, pg_temp as $$
declare
	v_primary boolean;
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
	select g.kind into agency_kind from agencies g where g.id = p_client.agency_id;
	select bool_or(a.role = 'primary' and a.state <> 'transferred') into v_primary
	    from assignments a where a.case_id = p_case.id and a.agency_id = p_client.agency_id;
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

-- A case's wrapped data key as the daemon takes it: {"uid", "kid", "wrapped"}.
create function case_data_key(c cases)
returns jsonb language sql immutable as $$
	select jsonb_build_object('uid', c.dek_uid, 'kid', c.dek_kid,
	    'wrapped', translate(encode(c.dek_wrapped, 'base64'), E'\n', ''))
$$;

-- The wrapped data key of a case the agency client works on (to seal a note
-- or a reason before posting it): {"uid", "kid", "wrapped"}, {"purged": true},
-- or null when the client has no assignment there.
create function case_key(p_client_id bigint, p_case_number text, p_assignment text)
returns jsonb
language plpgsql stable security definer set search_path = hotline, pg_temp as $$
declare
	ac record;
	c cases%rowtype;
begin
	select * into ac from api_client(p_client_id, '{agency}');
	if ac.status is not null then
		return null;
	end if;
	if p_assignment is not null then
		select x.* into c from cases x join assignments a on a.case_id = x.id
		    where a.agency_id = ac.agency_id and a.assignment_id = uuid_or_null(p_assignment);
	else
		select x.* into c from cases x where x.case_number = p_case_number
		    and exists (select 1 from assignments a where a.case_id = x.id
			and a.agency_id = ac.agency_id);
	end if;
	if c.id is null then
		return null;
	end if;
	if c.purged_at is not null then
		return '{"purged": true}'::jsonb;
	end if;
	return case_data_key(c);
end $$;

-- An access request as the API shows it.
create function access_request_json(p_id bigint)
returns jsonb language sql stable as $$
	select jsonb_strip_nulls(jsonb_build_object('access_request_id', r.request_id,
	    'case_number', c.case_number, 'agency', g.code, 'purpose', r.purpose, 'hours', r.hours,
	    'state', case when r.state = 'approved' and r.valid_until <= now() then 'expired'
		else r.state end,
	    'requested_by', q.name, 'created_at', api_ts(r.created_at), 'decided_by', d.name,
	    'decided_at', api_ts(r.decided_at), 'valid_until', api_ts(r.valid_until)))
	from access_requests r join cases c on c.id = r.case_id join agencies g on g.id = r.agency_id
	    join clients q on q.id = r.requested_by left join clients d on d.id = r.decided_by
	where r.id = p_id
$$;

-- POST /v1/cases/{n}/access-requests: an inform or supervise agency asks to
-- see the personal data, stating why and for how long.
create function access_request_create(p_client_id bigint, p_idem_key text, p_request_hash bytea,
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

-- POST /v1/access-requests/{id}/approve or /deny: an approver of the
-- requesting agency (not the requester) or an administrator decides.
create function access_request_decide(p_client_id bigint, p_idem_key text, p_request_hash bytea,
    p_request text, p_decision text)
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
	if q.id is null or ((m.client).role <> 'admin' and q.agency_id <> m.agency_id) then
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

-- GET /v1/access-requests?state=: an agency's requests (pending first), or
-- every agency's for an administrator.
create function access_request_list(p_client_id bigint, p_state text)
returns table (status integer, code text, response jsonb)
language plpgsql stable security definer set search_path = hotline, pg_temp as $$
declare
	ac record;
begin
	select * into ac from api_client(p_client_id, '{agency,admin}',
	    'only agencies and administrators see access requests');
	if ac.status is not null then
		return query select ac.status, ac.code, ac.response;
		return;
	end if;
	return query select 200, null::text, jsonb_build_object('access_requests', coalesce(jsonb_agg(
	    access_request_json(r.id) order by r.state <> 'pending', r.created_at desc), '[]'))
	from (select * from access_requests x
	    where ((ac.client).role = 'admin' or x.agency_id = ac.agency_id)
		and (p_state is null or x.state = p_state
		    or (p_state = 'expired' and x.state = 'approved' and x.valid_until <= now()))
		and not coalesce(p_state = 'approved' and x.valid_until <= now(), false)
	    order by x.state <> 'pending', x.created_at desc limit 200) r;
end $$;

-- The access log of a case (administrators; hotlinectl access-log).
create function access_log_list(p_case_number text)
returns table (at timestamptz, client text, role text, agency text, basis text,
    purpose text, access_request uuid, reporter boolean)
language sql stable security definer set search_path = hotline, pg_temp as $$
	select l.at, k.name, k.role, g.code, l.basis, r.purpose, r.request_id, l.reporter
	from access_log l join cases c on c.id = l.case_id join clients k on k.id = l.client_id
	    left join agencies g on g.id = l.agency_id left join access_requests r on r.id = l.access_request
	where c.case_number = p_case_number
	order by l.at, l.id
$$;

-- GET /v1/cases/{n}/access-log: who read the case's personal data (admins).
create function access_log_view(p_client_id bigint, p_case_number text)
returns table (status integer, code text, response jsonb)
language plpgsql stable security definer set search_path = hotline, pg_temp as $$
declare
	ac record;
begin
	select * into ac from api_client(p_client_id, '{admin}', 'only administrators read the access log');
	if ac.status is not null then
		return query select ac.status, ac.code, ac.response;
		return;
	end if;
	if not exists (select 1 from cases where case_number = p_case_number) then
		return query select * from api_fail(404, 'not_found', null, 'no such case');
		return;
	end if;
	return query select 200, null::text, jsonb_build_object('case_number', p_case_number, 'reads',
	    coalesce(jsonb_agg(jsonb_strip_nulls(jsonb_build_object('at', api_ts(l.at),
		'client', l.client, 'role', l.role, 'agency', l.agency, 'basis', l.basis,
		'purpose', l.purpose, 'access_request_id', l.access_request,
		'reporter', l.reporter)) order by l.at), '[]'))
	from access_log_list(p_case_number) l;
end $$;

-- The administrator's functions below are never granted to hotlined.  They
-- run as hotline_owner, so row-level security applies: the caller sets
-- hotline.scope to 'system' first (hotlinectl does).
------------------------------------------------------------------------------
-- Audit: every history chain, including its length and last hash.
------------------------------------------------------------------------------
create function audit_verify(p_case_number text default null)
returns table (case_number text, events integer, first_bad integer)
language plpgsql stable security definer set search_path = hotline, pg_temp as $$
declare
	c record;
	e record;
	v_prev bytea;
	v_expect integer;
	v_bad integer;
begin
	for c in select x.id, x.case_number, x.history_len, x.history_head from cases x
	    where p_case_number is null or x.case_number = p_case_number order by x.id loop
		v_prev := null;
		v_expect := 1;
		v_bad := null;
		for e in select y.* from case_events y where y.case_id = c.id order by y.seq loop
			if e.seq <> v_expect or e.hash is distinct from case_event_hash(v_prev, e.case_id,
			    e.seq, e.at, e.kind, e.actor, e.data) then
				v_bad := v_expect;
				exit;
			end if;
			v_prev := e.hash;
			v_expect := v_expect + 1;
		end loop;
		-- Events removed from the end leave a chain that holds but is
		-- shorter than the case's own count.
		if v_bad is null and (v_expect - 1 <> c.history_len
		    or v_prev is distinct from c.history_head) then
			v_bad := least(v_expect, c.history_len);
		end if;
		case_number := c.case_number;
		events := v_expect - 1;
		first_bad := v_bad;
		return next;
	end loop;
end $$;

-- Check a case's history chain, its recorded length and last hash included:
-- null if it holds, else the first event (seq) that does not.
create function case_history_verify(p_case_number text)
returns integer
language sql stable security definer set search_path = hotline, pg_temp as $$
	select a.first_bad from audit_verify(p_case_number) a
$$;

------------------------------------------------------------------------------
-- Master-key rotation: data keys are rewrapped, ciphertexts untouched.
------------------------------------------------------------------------------
create function data_key_counts()
returns table (kid text, keys bigint)
language sql stable security definer set search_path = hotline, pg_temp as $$
	select k, count(*) from (
	    select dek_kid as k from cases where dek_wrapped is not null
	    union all
	    select dek_kid from calls where dek_wrapped is not null) x
	group by k order by k
$$;

create function data_key_pending(p_kid text, p_limit integer)
returns table (ref text, uid uuid, kid text, wrapped bytea)
language sql stable security definer set search_path = hotline, pg_temp as $$
	(select 'case:' || id, dek_uid, dek_kid, dek_wrapped from cases
	    where dek_wrapped is not null and dek_kid <> p_kid order by id limit p_limit)
	union all
	(select 'call:' || id, dek_uid, dek_kid, dek_wrapped from calls
	    where dek_wrapped is not null and dek_kid <> p_kid order by id limit p_limit)
	limit p_limit
$$;

create function data_key_rewrap(p_ref text, p_old_kid text, p_new_kid text, p_wrapped bytea)
returns boolean
language plpgsql security definer set search_path = hotline, pg_temp as $$
declare
	v_id bigint := split_part(p_ref, ':', 2)::bigint;
begin
	if split_part(p_ref, ':', 1) = 'case' then
		update cases set dek_kid = p_new_kid, dek_wrapped = p_wrapped
		    where id = v_id and dek_kid = p_old_kid and dek_wrapped is not null;
	elsif split_part(p_ref, ':', 1) = 'call' then
		update calls set dek_kid = p_new_kid, dek_wrapped = p_wrapped
		    where id = v_id and dek_kid = p_old_kid and dek_wrapped is not null;
	else
		raise exception 'data_key_rewrap: bad reference' using errcode = 'invalid_parameter_value';
	end if;
	return found;
end $$;

------------------------------------------------------------------------------
-- Retention and purge.  Purging destroys the data key (crypto-shredding)
-- and clears the ciphertexts; what statistics need (categories, risk,
-- region, age, gender, assignments, history) stays.
------------------------------------------------------------------------------

-- Purge one case's personal data now; false if it already was.
create function case_purge_id(p_case_id bigint, p_reason text)
returns boolean language plpgsql set search_path = hotline, pg_temp as $$
begin
	update cases set dek_wrapped = null, dek_kid = null, narrative = null, purged_at = now()
	    where id = p_case_id and purged_at is null;
	if not found then
		return false;
	end if;
	update children set name = null, birth_date = null, id_number = null, phone = null,
	    school = null, address = null where case_id = p_case_id;
	update reports set reporter_name = null, reporter_phone = null, reporter_id_number = null,
	    institution_name = null, actions_taken = null where case_id = p_case_id;
	update calls set caller_phone = null, summary = null, purged_at = now()
	    where case_id = p_case_id;
	update case_notes set text = null where case_id = p_case_id;
	delete from identifiers where case_id = p_case_id
	    or call_id in (select id from calls where case_id = p_case_id);
	perform case_event(p_case_id, 'purged', null, jsonb_build_object('reason', p_reason));
	return true;
end $$;

create function case_purge(p_case_number text)
returns boolean language plpgsql security definer set search_path = hotline, pg_temp as $$
declare
	v_id bigint;
begin
	select id into v_id from cases where case_number = p_case_number;
	if v_id is null then
		raise exception 'no such case' using errcode = 'no_data_found';
	end if;
	return case_purge_id(v_id, 'request');
end $$;

-- What retention would purge now: calls that opened no case after
-- retention_call_days, closed cases retention_case_years after closing.
create function retention_plan()
returns table (kind text, ref text, since timestamptz)
language sql stable security definer set search_path = hotline, pg_temp as $$
	(select 'call', k.call_id::text, k.started_at from calls k
	    where k.case_id is null and k.purged_at is null and k.started_at < now() -
		make_interval(days => (select value::integer from settings where name = 'retention_call_days'))
	    order by k.started_at)
	union all
	(select 'case', c.case_number, c.closed_at from cases c
	    where c.status = 'closed' and c.purged_at is null and c.closed_at < now() -
		make_interval(years => (select value::integer from settings where name = 'retention_case_years'))
	    order by c.closed_at)
$$;

create function retention_purge()
returns table (kind text, ref text)
language plpgsql security definer set search_path = hotline, pg_temp as $$
declare
	p record;
begin
	for p in select * from retention_plan() loop
		if p.kind = 'call' then
			update calls set caller_phone = null, summary = null, dek_wrapped = null,
			    dek_kid = null, purged_at = now()
			    where call_id = p.ref::uuid and purged_at is null;
			delete from identifiers where call_id = (select id from calls where call_id = p.ref::uuid);
		else
			perform case_purge_id((select id from cases where case_number = p.ref), 'retention');
		end if;
		kind := p.kind;
		ref := p.ref;
		return next;
	end loop;
end $$;

------------------------------------------------------------------------------
-- Policies: FORCE, so that they hold for hotline_owner's own functions too.
------------------------------------------------------------------------------
-- Each table's rows belong to a case (the expression naming it), except calls
-- (a call may have none).
do $$
declare
	p text[];
begin
	foreach p slice 1 in array array[
	    ['cases', 'rls_case(id)'],
	    ['children', 'rls_case(case_id)'],
	    ['case_categories', 'rls_case(case_id)'],
	    ['reports', 'rls_case(case_id)'],
	    ['case_events', 'rls_case(case_id)'],
	    ['case_notes', 'rls_case(case_id)'],
	    ['assignments', 'rls_case(case_id)'],
	    ['access_requests', 'rls_case(case_id)'],
	    ['access_log', 'rls_case(case_id)'],
	    ['identifiers', 'rls_call(case_id, null)'],
	    ['calls', 'rls_call(case_id, client_id)'],
	    ['clocks', 'rls_case(case_id)']] loop
		execute format('alter table %I enable row level security', p[1]);
		execute format('alter table %I force row level security', p[1]);
		execute format('create policy scope on %I using (rls_all() or %s) '
		    'with check (rls_all() or %s)', p[1], p[2], p[2]);
	end loop;
end $$;

comment on function rls_kind() is 'Row-level security: the kind of scope set by the daemon with SET LOCAL hotline.scope.';
comment on function rls_id() is 'Row-level security: the agency or client id of the scope (0 if none).';
comment on function rls_all() is 'Row-level security: whether the scope sees every row (system, admin, intake).';
comment on function rls_case(bigint) is 'Row-level security: whether an agency or client scope may see the rows of a case.';
comment on function rls_call(bigint, bigint) is 'Row-level security: whether an agency or client scope may see a call.';
comment on function case_access_case() is 'Trigger: a new case is visible to its creator and the procuratorates over its region.';
comment on function case_access_assignment() is 'Trigger: an assigned agency sees the case.';
comment on function identifiers_record(bigint, bigint, jsonb) is 'Stores a submission''s keyed digests; for a call, returns its caller''s earlier calls (count, last).';
comment on function case_access_level(clients, cases) is 'What a client may see of a case: null, redacted or full; reporter identity; the basis.';
comment on function case_data_key(cases) is 'A case''s wrapped data key as the daemon takes it: {"uid", "kid", "wrapped"}.';
comment on function case_key(bigint, text, text) is 'API: the wrapped data key of a case the agency works on, to seal a note before posting it.';
comment on function access_request_json(bigint) is 'An access request as the API shows it.';
comment on function access_request_create(bigint, text, bytea, text, jsonb) is 'API POST /v1/cases/{n}/access-requests; returns (status, code, response, replayed).';
comment on function access_request_decide(bigint, text, bytea, text, text) is 'API POST /v1/access-requests/{id}/approve|deny; returns (status, code, response, replayed).';
comment on function access_request_list(bigint, text) is 'API GET /v1/access-requests; returns (status, code, response).';
comment on function access_log_list(text) is 'Admin: who read a case''s personal data, when, on what basis.';
comment on function access_log_view(bigint, text) is 'API GET /v1/cases/{n}/access-log (administrators); returns (status, code, response).';
comment on function audit_verify(text) is 'Admin: every case''s history chain: events and the first bad seq (null if intact).';
comment on function case_history_verify(text) is 'Admin: null if the case history''s hash chain (with its recorded length and last hash) holds, else the first seq that does not.';
comment on function data_key_counts() is 'Admin: how many live data keys each master key wraps.';
comment on function data_key_pending(text, integer) is 'Admin: data keys not wrapped under the given master key.';
comment on function data_key_rewrap(text, text, text, bytea) is 'Admin: replaces a wrapped data key if still under the old master key.';
comment on function case_purge_id(bigint, text) is 'Destroys a case''s data key and personal data (crypto-shredding); logs a purged event.';
comment on function case_purge(text) is 'Admin: purges a case''s personal data now.';
comment on function retention_plan() is 'Admin: what retention would purge now.';
comment on function retention_purge() is 'Admin: purges what retention_plan lists.';

revoke execute on all functions in schema hotline from public;
grant execute on function case_key(bigint, text, text),
    access_request_create(bigint, text, bytea, text, jsonb),
    access_request_decide(bigint, text, bytea, text, text),
    access_request_list(bigint, text), access_log_view(bigint, text) to hotlined;

reset role;
