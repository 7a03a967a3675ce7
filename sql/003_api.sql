-- The API the daemon calls, and what every API function shares: the error
-- row (api_fail), the client check (api_client), the preamble and the end of
-- every write (mutation_begin, mutation_store); then intake and the client
-- table.  Every API function is SECURITY DEFINER, owned by hotline_owner with
-- a fixed search_path; hotlined may execute only the ones granted at the end
-- of each file.  Expected errors are returned as rows (status, code, response
-- [, replayed]), never raised: the daemon commits several submissions in one
-- transaction.
set role hotline_owner;
set search_path = hotline, pg_temp;

-- An error body as the API answers it.
create function api_error(p_code text, p_field text, p_message text)
returns jsonb language sql immutable as $$
	select jsonb_build_object('error', jsonb_strip_nulls(jsonb_build_object(
	    'code', p_code, 'field', p_field, 'message', p_message)))
$$;

-- The row an API function answers a refusal with: its status, its error
-- code (a column of its own, so that no caller digs it out of the body) and
-- the error body.
create function api_fail(p_status integer, p_code text, p_field text, p_message text,
    out status integer, out code text, out response jsonb)
language sql immutable as $$
	select p_status, p_code, api_error(p_code, p_field, p_message)
$$;

-- An instant in RFC 3339 (UTC), as every response shows it.
create function api_ts(p timestamptz)
returns text language sql immutable as $$
	select case when p is null then null
	    when extract(microseconds from p)::bigint % 1000000 = 0
	    then to_char(p at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
	    else to_char(p at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') end
$$;

-- The acting client, if it is registered, not revoked and one of p_roles:
-- a client role ('operator', 'gateway', 'agency', 'admin'), 'approver' (an
-- agency client that decides access requests) or an agency kind ('police',
-- 'procuratorate', ...: an agency client of that kind).  status is null if
-- so; else the 403 row to answer, p_refusal its message for a wrong role.
create function api_client(p_client_id bigint, p_roles text[],
    p_refusal text default 'this client''s role may not use this endpoint',
    out client clients, out agency_id bigint, out agency_kind text,
    out status integer, out code text, out response jsonb)
language plpgsql stable set search_path = hotline, pg_temp as $$
begin
	select * into client from clients k where k.id = p_client_id;
	if client.id is null then
		select * into status, code, response from api_fail(403, 'client_unknown', null,
		    'this certificate is not registered');
		return;
	end if;
	if client.revoked_at is not null then
		select * into status, code, response from api_fail(403, 'client_revoked', null,
		    'this certificate has been revoked');
		return;
	end if;
	agency_id := client.agency_id;
	select g.kind into agency_kind from agencies g where g.id = client.agency_id;
	if not coalesce(client.role = any (p_roles) or agency_kind = any (p_roles)
	    or (client.approver and 'approver' = any (p_roles)), false) then
		select * into status, code, response from api_fail(403, 'forbidden', null, p_refusal);
	end if;
end $$;

-- The endpoint string stored with an Idempotency-Key: the route, then the
-- path parameter after a colon ('calls', 'ack:<assignment>',
-- 'events:<case number>', 'approve:<access request>', ...).  The one place
-- these strings are made; a stored response is replayed only under the same
-- string.  An access request's id is kept in lower case.
create function mutation_endpoint(p_route text, p_target text)
returns text language sql immutable as $$
	select p_route || coalesce(':' || case when p_route in ('approve', 'deny')
	    then lower(p_target) else p_target end, '')
$$;

-- The start of every API write: the acting client (api_client), then its
-- Idempotency-Key under a transaction-scoped advisory lock.  status is null
-- to proceed, with the client, its agency and kind, and the endpoint string
-- for mutation_store; else the row to answer: 403, 409 (the key is in
-- flight), 422 (the key was used for another request) or the stored
-- response (replayed).
create function mutation_begin(p_client_id bigint, p_roles text[], p_key text,
    p_route text, p_target text, p_hash bytea,
    p_refusal text default 'this client''s role may not use this endpoint',
    out client clients, out agency_id bigint, out agency_kind text, out endpoint text,
    out status integer, out code text, out response jsonb, out replayed boolean)
language plpgsql set search_path = hotline, pg_temp as $$
declare
	a record;
	v idempotency%rowtype;
begin
	replayed := false;
	select * into a from api_client(p_client_id, p_roles, p_refusal);
	client := a.client;
	agency_id := a.agency_id;
	agency_kind := a.agency_kind;
	if a.status is not null then
		select a.status, a.code, a.response into status, code, response;
		return;
	end if;
	endpoint := mutation_endpoint(p_route, p_target);
	if not pg_try_advisory_xact_lock(hashtextextended(p_client_id::text || ':' || p_key, 12355)) then
		select * into status, code, response from api_fail(409, 'idempotency_in_flight', null,
		    'a request with this Idempotency-Key is still being processed');
		return;
	end if;
	select * into v from idempotency i where i.client_id = p_client_id and i.key = p_key;
	if not found then
		return;
	end if;
	if v.endpoint = endpoint and v.request_hash = p_hash then
		status := v.status;
		response := v.response;
		replayed := true;
	else
		select * into status, code, response from api_fail(422, 'idempotency_key_reused', null,
		    'this Idempotency-Key was used for a different request');
	end if;
end $$;

-- The end of every API write: its successful response stored under the
-- client's Idempotency-Key (with the endpoint string of mutation_begin), and
-- the row to answer with.
create function mutation_store(p_client_id bigint, p_key text, p_endpoint text,
    p_hash bytea, p_status integer, p_response jsonb)
returns table (status integer, code text, response jsonb, replayed boolean)
language sql set search_path = hotline, pg_temp as $$
	insert into idempotency (client_id, key, endpoint, request_hash, status, response)
	values (p_client_id, p_key, p_endpoint, p_hash, p_status, p_response);
	select p_status, null::text, p_response, false
$$;

-- Check a region code exists: status null if it does (or is null), else
-- the 422 unknown_region row naming the field.
create function check_region(p_code text, p_field text,
    out status integer, out code text, out response jsonb)
language plpgsql stable set search_path = hotline, pg_temp as $$
begin
	if p_code is not null and not exists (select 1 from regions r where r.code = p_code) then
		select * into status, code, response from api_fail(422, 'unknown_region', p_field,
		    'no such region code');
	end if;
end $$;

-- Check a category and optional subcategory exist and belong together:
-- status null if so, else the 422 unknown_category row naming the field.
create function check_category(p_category text, p_subcategory text, p_path text,
    out status integer, out code text, out response jsonb)
language plpgsql stable set search_path = hotline, pg_temp as $$
begin
	if not exists (select 1 from categories k where k.code = p_category) then
		select * into status, code, response from api_fail(422, 'unknown_category',
		    p_path || 'category', 'no such category');
	elsif p_subcategory is not null and not exists (select 1 from subcategories k
	    where k.category = p_category and k.code = p_subcategory) then
		select * into status, code, response from api_fail(422, 'unknown_category',
		    p_path || 'subcategory', 'no such subcategory in this category');
	end if;
end $$;

-- A sealed value as the daemon sends it (base64), or null.
create function sealed_in(p text)
returns sealed language sql immutable as $$
	select decode(p, 'base64')::sealed
$$;

-- A UUID given as text, or null if it is not one (so that a lookup by a
-- public id uses its unique index and never raises on a bad id).
create function uuid_or_null(p text)
returns uuid language sql immutable parallel safe as $$
	select case when p ~* '^[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$' then p::uuid end
$$;

-- Create a case with its child, categories and first history event.  The
-- personal fields arrive sealed (base64) and p_key is the case's wrapped
-- data key {"uid", "kid", "wrapped"}, all made by the daemon.
create function case_create(p_source text, p_region text, p_risk smallint,
    p_client_id bigint, p_narrative text, p_child jsonb, p_categories jsonb,
    p_key jsonb, out case_id bigint, out case_number text)
language plpgsql set search_path = hotline, pg_temp as $$
declare
	v_n bigint;
begin
	v_n := nextval('case_number_seq');
	case_number := to_char(now() at time zone 'Asia/Shanghai', 'YYYY') || '-' ||
	    p_region || '-' || lpad(v_n::text, greatest(8, length(v_n::text)), '0');
	insert into cases (case_number, source, region_code, risk_level, created_by, narrative,
	    dek_uid, dek_kid, dek_wrapped)
	    values (case_number, p_source, p_region, p_risk, p_client_id, sealed_in(p_narrative),
	    (p_key->>'uid')::uuid, p_key->>'kid', decode(p_key->>'wrapped', 'base64'))
	    returning id into case_id;
	insert into children (case_id, name, gender, age, birth_date, id_number, phone,
	    school, address, region_code)
	    values (case_id, sealed_in(p_child->>'name'), p_child->>'gender',
	    (p_child->>'age')::smallint, sealed_in(p_child->>'birth_date'),
	    sealed_in(p_child->>'id_number'), sealed_in(p_child->>'phone'),
	    sealed_in(p_child->>'school'), sealed_in(p_child->>'address'),
	    p_child->>'region_code');
	insert into case_categories (case_id, category, subcategory)
	    select distinct case_id, c->>'category', c->>'subcategory'
	    from jsonb_array_elements(p_categories) c;
	insert into case_events (case_id, seq, kind, actor, data)
	    values (case_id, 1, 'created', p_client_id, jsonb_build_object(
	    'source', p_source, 'risk_level', p_risk, 'categories', p_categories));
end $$;

-- An unguessable receipt id: 'R' and 20 base32 characters (100 random bits).
create function receipt_new()
returns text language plpgsql volatile set search_path = hotline, pg_temp as $$
declare
	b bytea := decode(replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 'hex');
	alphabet constant text := 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
	r text := 'R';
	i integer;
begin
	-- Bytes 6 and 8 of each UUID carry fixed version/variant bits: skip them.
	foreach i in array array[0,1,2,3,4,5,7,9,10,11,12,13,14,15,16,17,18,19,20,21] loop
		r := r || substr(alphabet, (get_byte(b, i) % 32) + 1, 1);
	end loop;
	return r;
end $$;

-- POST /v1/calls: store a hotline call and, if it opened one, its case.
create function intake_call(p_client_id bigint, p_idem_key text,
    p_request_hash bytea, p_body jsonb)
returns table (status integer, code text, response jsonb, replayed boolean)
language plpgsql security definer set search_path = hotline, pg_temp as $$
declare
	m record;
	oc jsonb := p_body->'open_case';
	v_case_id bigint;
	v_case_number text;
	v_call uuid;
	v_call_id bigint;
	v_earlier jsonb;
begin
	select * into m from mutation_begin(p_client_id, '{operator}', p_idem_key, 'calls', null,
	    p_request_hash);
	if m.status is not null then
		return query select m.status, m.code, m.response, m.replayed;
		return;
	end if;
	if p_body ? 'topic' then
		return query select c.*, false from check_category(p_body#>>'{topic,category}',
		    p_body#>>'{topic,subcategory}', 'topic.') c where c.status is not null;
		if found then
			return;
		end if;
	end if;
	if oc is not null then
		return query select c.*, false
		    from jsonb_array_elements(oc->'categories') with ordinality e (value, n)
		    cross join lateral check_category(e.value->>'category', e.value->>'subcategory',
			format('open_case.categories[%s].', e.n - 1)) c
		    where c.status is not null order by e.n limit 1;
		if found then
			return;
		end if;
		return query select c.*, false from check_region(oc#>>'{child,region_code}',
		    'open_case.child.region_code') c where c.status is not null;
		if found then
			return;
		end if;
		select c.case_id, c.case_number into v_case_id, v_case_number
		    from case_create('call', oc#>>'{child,region_code}',
		    (oc->>'risk_level')::smallint, p_client_id, oc->>'narrative', oc->'child',
		    oc->'categories', p_body->'$key') c;
		-- Routing (004_routing.sql) runs in this same transaction.
		perform case_route(v_case_id, null, p_client_id);
	end if;
	insert into calls (client_id, started_at, ended_at, caller_type, caller_phone, language,
	    topic_category, topic_subcategory, summary, disposition, case_id,
	    dek_uid, dek_kid, dek_wrapped)
	values (p_client_id, (p_body->>'started_at')::timestamptz, (p_body->>'ended_at')::timestamptz,
	    p_body->>'caller_type', sealed_in(p_body->>'caller_phone'),
	    coalesce(p_body->>'language', 'zh'), p_body#>>'{topic,category}',
	    p_body#>>'{topic,subcategory}', sealed_in(p_body->>'summary'),
	    p_body->>'disposition', v_case_id,
	    case when v_case_id is null then (p_body#>>'{$key,uid}')::uuid end,
	    case when v_case_id is null then p_body#>>'{$key,kid}' end,
	    case when v_case_id is null then decode(p_body#>>'{$key,wrapped}', 'base64') end)
	returning id, call_id into v_call_id, v_call;
	-- Keyed digests (005_protection.sql): a repeat caller, a known child.
	v_earlier := identifiers_record(v_case_id, v_call_id, p_body->'$digests');
	return query select * from mutation_store(p_client_id, p_idem_key, m.endpoint,
	    p_request_hash, 201, jsonb_strip_nulls(jsonb_build_object('call_id', v_call,
	    'received_at', api_ts(now()), 'case_number', v_case_number,
	    'earlier_calls', v_earlier)));
end $$;

-- POST /v1/reports: store a mandatory report as a new case.
create function intake_report(p_client_id bigint, p_idem_key text,
    p_request_hash bytea, p_body jsonb)
returns table (status integer, code text, response jsonb, replayed boolean)
language plpgsql security definer set search_path = hotline, pg_temp as $$
declare
	m record;
	v_sits smallint[];
	v_risk smallint;
	v_cats jsonb;
	v_case record;
	v_receipt text;
begin
	select * into m from mutation_begin(p_client_id, '{gateway}', p_idem_key, 'reports', null,
	    p_request_hash);
	if m.status is not null then
		return query select m.status, m.code, m.response, m.replayed;
		return;
	end if;
	return query select c.*, false
	    from (values (1, p_body#>>'{institution,region_code}', 'institution.region_code'),
		(2, p_body#>>'{child,region_code}', 'child.region_code')) x (n, region, field)
	    cross join lateral check_region(x.region, x.field) c
	    where c.status is not null order by x.n limit 1;
	if found then
		return;
	end if;
	select array_agg(x::smallint order by x::smallint) into v_sits
	    from jsonb_array_elements_text(p_body->'situations') x;
	select case when (p_body->>'immediate_danger')::boolean then 1 else min(s.min_risk) end,
	    jsonb_agg(distinct jsonb_build_object('category', s.category, 'subcategory', s.subcategory))
	    into v_risk, v_cats
	    from situations s where s.situation = any (v_sits);
	v_receipt := receipt_new();
	select * into v_case from case_create('report', p_body#>>'{child,region_code}', v_risk,
	    p_client_id, p_body->>'narrative', p_body->'child', v_cats, p_body->'$key');
	insert into reports (case_id, client_id, receipt_id, reporter_name, reporter_phone,
	    reporter_id_number, reporter_profession, institution_name, institution_type,
	    institution_region, situations, suspected, discovered_at, reported_at,
	    immediate_danger, actions_taken)
	values (v_case.case_id, p_client_id, v_receipt, sealed_in(p_body#>>'{reporter,name}'),
	    sealed_in(p_body#>>'{reporter,phone}'), sealed_in(p_body#>>'{reporter,id_number}'),
	    p_body#>>'{reporter,profession}', sealed_in(p_body#>>'{institution,name}'),
	    p_body#>>'{institution,type}', p_body#>>'{institution,region_code}', v_sits,
	    (p_body->>'suspected')::boolean, (p_body->>'discovered_at')::timestamptz,
	    (p_body->>'reported_at')::timestamptz, (p_body->>'immediate_danger')::boolean,
	    sealed_in(p_body->>'actions_taken'));
	-- Routing (004_routing.sql) runs in this same transaction.
	perform case_route(v_case.case_id, p_body#>>'{institution,type}', p_client_id);
	perform identifiers_record(v_case.case_id, null, p_body->'$digests');
	return query select * from mutation_store(p_client_id, p_idem_key, m.endpoint,
	    p_request_hash, 201, jsonb_build_object('case_number', v_case.case_number,
	    'receipt_id', v_receipt, 'risk_level', v_risk, 'received_at', api_ts(now())));
end $$;

-- The client table, for the daemon's identity cache.
create function client_list()
returns table (id bigint, name text, role text, agency_id bigint, cert_sha256 text,
    revoked boolean)
language sql stable security definer set search_path = hotline, pg_temp as $$
	select id, name, role, agency_id, cert_sha256::text, revoked_at is not null from clients
	order by id
$$;

-- Delete idempotency records older than the interval; returns how many.
create function idempotency_expire(p_older_than interval)
returns bigint
language plpgsql security definer set search_path = hotline, pg_temp as $$
declare
	n bigint;
begin
	if p_older_than < interval '7 days' then
		p_older_than := interval '7 days';
	end if;
	delete from idempotency where created_at < now() - p_older_than;
	get diagnostics n = row_count;
	return n;
end $$;

-- Register (or re-key, or re-instate) a client certificate by name; the
-- fingerprint may be given as openssl prints it (colons, upper case).
-- Administrators only: raises on bad input.
create function client_upsert(p_name text, p_role text, p_agency_code text,
    p_cert_sha256 text, p_approver boolean default false)
returns bigint
language plpgsql security definer set search_path = hotline, pg_temp as $$
declare
	v_agency bigint;
	v_id bigint;
begin
	if p_agency_code is not null then
		select id into v_agency from agencies where code = p_agency_code;
		if not found then
			raise exception 'client_upsert: no agency with this code'
			    using errcode = 'foreign_key_violation';
		end if;
	end if;
	insert into clients (name, role, agency_id, cert_sha256, approver)
	values (p_name, p_role, v_agency, lower(replace(p_cert_sha256, ':', '')), p_approver)
	on conflict (name) do update set role = excluded.role, agency_id = excluded.agency_id,
	    cert_sha256 = excluded.cert_sha256, approver = excluded.approver, revoked_at = null
	returning id into v_id;
	return v_id;
end $$;

-- Revoke a client: its certificate is refused from then on.  Administrators only.
create function client_revoke(p_name text)
returns void
language plpgsql security definer set search_path = hotline, pg_temp as $$
begin
	update clients set revoked_at = coalesce(revoked_at, now()) where name = p_name;
	if not found then
		raise exception 'client_revoke: no client with this name'
		    using errcode = 'no_data_found';
	end if;
end $$;

comment on function api_error(text, text, text) is 'An error body {"error":{code, field, message}} (field omitted when null).';
comment on function api_fail(integer, text, text, text) is 'The row answering a refusal: status, error code and error body.';
comment on function api_ts(timestamptz) is 'An instant as RFC 3339 in UTC, as every response shows it.';
comment on function api_client(bigint, text[], text) is 'The acting client if registered, not revoked and one of the roles (or approver, or an agency kind): status null if so, else the 403 row.';
comment on function mutation_endpoint(text, text) is 'The endpoint string stored with an Idempotency-Key (route, and :target); the one place it is made.';
comment on function mutation_begin(bigint, text[], text, text, text, bytea, text) is 'The start of every API write: the client check, then the Idempotency-Key under an advisory lock; status null to proceed, else 403, 409, 422 or the stored response.';
comment on function mutation_store(bigint, text, text, bytea, integer, jsonb) is 'The end of every API write: stores the successful response under the Idempotency-Key and returns the row to answer.';
comment on function check_region(text, text) is 'Status null if the region code exists (or is null), else the 422 unknown_region row naming the field.';
comment on function check_category(text, text, text) is 'Status null if the category (and subcategory, if given) exist and belong together, else the 422 unknown_category row.';
comment on function sealed_in(text) is 'A sealed personal value from the daemon''s base64 text (null stays null).';
comment on function uuid_or_null(text) is 'A UUID given as text, or null if it is not one (a lookup by public id that never raises).';
comment on function case_create(text, text, smallint, bigint, text, jsonb, jsonb, jsonb) is 'Creates a case with its child (sealed), categories, wrapped data key and first history event; returns its id and number.';
comment on function receipt_new() is 'A new unguessable receipt id: R and 20 base32 characters (100 random bits).';
comment on function intake_call(bigint, text, bytea, jsonb) is 'API POST /v1/calls: stores a call (and the case it opened); returns (status, code, response, replayed), never raises for expected errors.';
comment on function intake_report(bigint, text, bytea, jsonb) is 'API POST /v1/reports: stores a mandatory report as a new case; returns (status, code, response, replayed), never raises for expected errors.';
comment on function client_list() is 'API: every client (id, name, role, agency, fingerprint, revoked) for the daemon''s identity cache.';
comment on function idempotency_expire(interval) is 'API: deletes idempotency records older than the interval (at least 7 days); returns how many.';
comment on function client_upsert(text, text, text, text, boolean) is 'Admin: registers or re-keys a client certificate by client name (approver: may approve its agency''s access requests); returns the client id.';
comment on function client_revoke(text) is 'Admin: revokes a client by name; its certificate is refused from then on.';

revoke execute on all functions in schema hotline from public;
grant execute on function intake_call(bigint, text, bytea, jsonb),
    intake_report(bigint, text, bytea, jsonb), client_list(),
    idempotency_expire(interval) to hotlined;

reset role;
