-- The API the daemon calls.  Every function is SECURITY DEFINER, owned by
-- hotline_owner with a fixed search_path; hotlined may execute only the
-- ones granted at the end.  Expected errors are returned as rows, never
-- raised: the daemon commits several submissions in one transaction.
set role hotline_owner;
set search_path = hotline, pg_temp;

-- An error body as the API answers it.
create function api_error(p_code text, p_field text, p_message text)
returns jsonb language sql immutable as $$
	select jsonb_build_object('error', jsonb_strip_nulls(jsonb_build_object(
	    'code', p_code, 'field', p_field, 'message', p_message)))
$$;

-- An instant in RFC 3339 (UTC), as every response shows it.
create function api_ts(p timestamptz)
returns text language sql immutable as $$
	select case when p is null then null
	    when extract(microseconds from p)::bigint % 1000000 = 0
	    then to_char(p at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
	    else to_char(p at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') end
$$;

-- Check that a client is active and has the role; status null when it is.
create function api_client_check(p_client_id bigint, p_role text,
    out status integer, out response jsonb)
language plpgsql stable set search_path = hotline, pg_temp as $$
declare
	v clients%rowtype;
begin
	select * into v from clients where id = p_client_id;
	if not found then
		status := 403;
		response := api_error('client_unknown', null, 'this certificate is not registered');
	elsif v.revoked_at is not null then
		status := 403;
		response := api_error('client_revoked', null, 'this certificate has been revoked');
	elsif v.role <> p_role then
		status := 403;
		response := api_error('forbidden', null, 'this client''s role may not use this endpoint');
	end if;
end $$;

-- Idempotency: status null to proceed; else 409, 422, or the stored reply.
create function idem_begin(p_client_id bigint, p_key text, p_endpoint text,
    p_hash bytea, out status integer, out response jsonb, out replayed boolean)
language plpgsql set search_path = hotline, pg_temp as $$
declare
	v idempotency%rowtype;
begin
	replayed := false;
	if not pg_try_advisory_xact_lock(hashtextextended(p_client_id::text || ':' || p_key, 12355)) then
		status := 409;
		response := api_error('idempotency_in_flight', null,
		    'a request with this Idempotency-Key is still being processed');
		return;
	end if;
	select * into v from idempotency i where i.client_id = p_client_id and i.key = p_key;
	if not found then
		return;
	end if;
	if v.endpoint = p_endpoint and v.request_hash = p_hash then
		status := v.status;
		response := v.response;
		replayed := true;
	else
		status := 422;
		response := api_error('idempotency_key_reused', null,
		    'this Idempotency-Key was used for a different request');
	end if;
end $$;

-- Check a region code exists; an error body naming the field if not.
create function check_region(p_code text, p_field text)
returns jsonb language sql stable set search_path = hotline, pg_temp as $$
	select case when p_code is null or exists (select 1 from regions where code = p_code)
	    then null else api_error('unknown_region', p_field, 'no such region code') end
$$;

-- Check a category and optional subcategory exist and belong together.
create function check_category(p_category text, p_subcategory text, p_path text)
returns jsonb language sql stable set search_path = hotline, pg_temp as $$
	select case
	    when not exists (select 1 from categories where code = p_category)
		then api_error('unknown_category', p_path || 'category', 'no such category')
	    when p_subcategory is not null and not exists (select 1 from subcategories
		where category = p_category and code = p_subcategory)
		then api_error('unknown_category', p_path || 'subcategory',
		    'no such subcategory in this category')
	    end
$$;

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

-- Record a successful response under its idempotency key.
create function idem_store(p_client_id bigint, p_key text, p_endpoint text,
    p_hash bytea, p_response jsonb, p_status integer default 201)
returns void language sql set search_path = hotline, pg_temp as $$
	insert into idempotency (client_id, key, endpoint, request_hash, status, response)
	values (p_client_id, p_key, p_endpoint, p_hash, p_status, p_response)
$$;

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
returns table (status integer, response jsonb, replayed boolean)
language plpgsql security definer set search_path = hotline, pg_temp as $$
declare
	chk record;
	err jsonb;
	oc jsonb := p_body->'open_case';
	cat record;
	v_case_id bigint;
	v_case_number text;
	v_call uuid;
	v_call_id bigint;
	v_earlier jsonb;
	v_resp jsonb;
begin
	select * into chk from api_client_check(p_client_id, 'operator');
	if chk.status is not null then
		return query select chk.status, chk.response, false;
		return;
	end if;
	select * into chk from idem_begin(p_client_id, p_idem_key, 'calls', p_request_hash);
	if chk.status is not null then
		return query select chk.status, chk.response, chk.replayed;
		return;
	end if;
	if p_body ? 'topic' then
		err := check_category(p_body#>>'{topic,category}', p_body#>>'{topic,subcategory}', 'topic.');
		if err is not null then
			return query select 422, err, false;
			return;
		end if;
	end if;
	if oc is not null then
		for cat in select e.value, e.ordinality - 1 as i
		    from jsonb_array_elements(oc->'categories') with ordinality e loop
			err := check_category(cat.value->>'category', cat.value->>'subcategory',
			    format('open_case.categories[%s].', cat.i));
			if err is not null then
				return query select 422, err, false;
				return;
			end if;
		end loop;
		err := check_region(oc#>>'{child,region_code}', 'open_case.child.region_code');
		if err is not null then
			return query select 422, err, false;
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
	v_resp := jsonb_strip_nulls(jsonb_build_object('call_id', v_call,
	    'received_at', api_ts(now()), 'case_number', v_case_number,
	    'earlier_calls', v_earlier));
	perform idem_store(p_client_id, p_idem_key, 'calls', p_request_hash, v_resp);
	return query select 201, v_resp, false;
end $$;

-- POST /v1/reports: store a mandatory report as a new case.
create function intake_report(p_client_id bigint, p_idem_key text,
    p_request_hash bytea, p_body jsonb)
returns table (status integer, response jsonb, replayed boolean)
language plpgsql security definer set search_path = hotline, pg_temp as $$
declare
	chk record;
	err jsonb;
	v_sits smallint[];
	v_risk smallint;
	v_cats jsonb;
	v_case record;
	v_receipt text;
	v_resp jsonb;
begin
	select * into chk from api_client_check(p_client_id, 'gateway');
	if chk.status is not null then
		return query select chk.status, chk.response, false;
		return;
	end if;
	select * into chk from idem_begin(p_client_id, p_idem_key, 'reports', p_request_hash);
	if chk.status is not null then
		return query select chk.status, chk.response, chk.replayed;
		return;
	end if;
	err := coalesce(check_region(p_body#>>'{institution,region_code}', 'institution.region_code'),
	    check_region(p_body#>>'{child,region_code}', 'child.region_code'));
	if err is not null then
		return query select 422, err, false;
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
	v_resp := jsonb_build_object('case_number', v_case.case_number, 'receipt_id', v_receipt,
	    'risk_level', v_risk, 'received_at', api_ts(now()));
	perform idem_store(p_client_id, p_idem_key, 'reports', p_request_hash, v_resp);
	return query select 201, v_resp, false;
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

-- Check a case's history chain: null if it holds, else the first event
-- (seq) whose hash does not match.  Administrators only.
create function case_history_verify(p_case_number text)
returns integer
language plpgsql stable security definer set search_path = hotline, pg_temp as $$
declare
	e record;
	v_prev bytea;
	v_expect integer := 1;
begin
	for e in select x.* from case_events x join cases c on c.id = x.case_id
	    where c.case_number = p_case_number order by x.seq loop
		if e.seq <> v_expect or e.hash is distinct from case_event_hash(v_prev, e.case_id,
		    e.seq, e.at, e.kind, e.actor, e.data) then
			return v_expect;
		end if;
		v_prev := e.hash;
		v_expect := v_expect + 1;
	end loop;
	return null;
end $$;

comment on function api_error(text, text, text) is 'An error body {"error":{code, field, message}} (field omitted when null).';
comment on function api_ts(timestamptz) is 'An instant as RFC 3339 in UTC, as every response shows it.';
comment on function api_client_check(bigint, text) is 'Whether a client is registered, not revoked and of the role: status null if so, else the 403 row.';
comment on function idem_begin(bigint, text, text, bytea) is 'Idempotency check under an advisory lock: status null to proceed, else 409, 422 or the stored response.';
comment on function check_region(text, text) is 'Null if the region code exists (or is null), else a 422 unknown_region body naming the field.';
comment on function check_category(text, text, text) is 'Null if the category (and subcategory, if given) exist and belong together, else a 422 unknown_category body.';
comment on function sealed_in(text) is 'A sealed personal value from the daemon''s base64 text (null stays null).';
comment on function case_create(text, text, smallint, bigint, text, jsonb, jsonb, jsonb) is 'Creates a case with its child (sealed), categories, wrapped data key and first history event; returns its id and number.';
comment on function idem_store(bigint, text, text, bytea, jsonb, integer) is 'Stores a successful response under its client and idempotency key.';
comment on function receipt_new() is 'A new unguessable receipt id: R and 20 base32 characters (100 random bits).';
comment on function intake_call(bigint, text, bytea, jsonb) is 'API POST /v1/calls: stores a call (and the case it opened); returns (status, response, replayed), never raises for expected errors.';
comment on function intake_report(bigint, text, bytea, jsonb) is 'API POST /v1/reports: stores a mandatory report as a new case; returns (status, response, replayed), never raises for expected errors.';
comment on function client_list() is 'API: every client (id, name, role, agency, fingerprint, revoked) for the daemon''s identity cache.';
comment on function idempotency_expire(interval) is 'API: deletes idempotency records older than the interval (at least 7 days); returns how many.';
comment on function client_upsert(text, text, text, text, boolean) is 'Admin: registers or re-keys a client certificate by client name (approver: may approve its agency''s access requests); returns the client id.';
comment on function client_revoke(text) is 'Admin: revokes a client by name; its certificate is refused from then on.';
comment on function case_history_verify(text) is 'Admin: null if the case history''s hash chain holds, else the first seq that does not.';

revoke execute on all functions in schema hotline from public;
grant execute on function intake_call(bigint, text, bytea, jsonb),
    intake_report(bigint, text, bytea, jsonb), client_list(),
    idempotency_expire(interval) to hotlined;

reset role;
