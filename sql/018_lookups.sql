-- Lookups without decrypting: an operator finds its centre's earlier calls
-- of a caller's number (GET /v1/callers/{phone}/history, usable while the
-- phone rings) and its centre's cases about a child by ID number or by name
-- and birth date (GET /v1/children/cases), through the keyed digests the
-- daemon makes (identifiers): exact matches only, never a substring, and
-- nothing is decrypted to search.  Every lookup is recorded in lookup_log
-- (who, when, what kind, how much it found), and each case a lookup returns
-- in that case's access log (basis lookup), in the lookup's transaction.
set role hotline_owner;
set search_path = hotline, pg_temp;

create table lookup_log (
	id		bigint generated always as identity primary key,
	at		timestamptz not null default now(),
	client_id	bigint not null references clients (id),
	kind		text not null check (kind in ('phone', 'id', 'name_birth')),
	calls		integer not null check (calls >= 0),
	cases		integer not null check (cases >= 0)
);
create index lookup_log_client on lookup_log (client_id, at);
comment on table lookup_log is 'Every lookup by a keyed digest (caller''s phone, child''s ID number, name and birth date): who, when, what kind, how many calls and cases it returned (append-only; never the digest).';
create trigger lookup_log_no_update before update or delete on lookup_log
	for each row execute function case_events_append_only();
create trigger lookup_log_no_truncate before truncate on lookup_log
	for each statement execute function case_events_append_only();

alter table access_log drop constraint access_log_basis_check;
alter table access_log add constraint access_log_basis_check
	check (basis in ('admin', 'creator', 'primary', 'access_request', 'centre', 'lookup'));

-- Record a lookup, and in the access log of each case it returned.
create function lookup_record(p_client clients, p_kind text, p_calls integer, p_cases bigint[])
returns void language plpgsql set search_path = hotline, pg_temp as $$
begin
	insert into lookup_log (client_id, kind, calls, cases)
	    values (p_client.id, p_kind, p_calls, coalesce(cardinality(p_cases), 0));
	insert into access_log (case_id, client_id, agency_id, basis, reporter)
	    select x, p_client.id, p_client.agency_id, 'lookup', false from unnest(p_cases) x;
end $$;

-- A case as a lookup shows it: no personal data.
create function lookup_case_json(p_case_id bigint)
returns jsonb language sql stable as $$
	select jsonb_strip_nulls(jsonb_build_object('case_number', c.case_number,
	    'status', c.status, 'risk_level', c.risk_level, 'region_code', c.region_code,
	    'categories', case_categories_json(c.id), 'created_at', api_ts(c.created_at),
	    'purged', case when c.purged_at is not null then true end))
	from cases c where c.id = p_case_id
$$;

-- GET /v1/callers/{phone}/history: the centre's calls from a number (its
-- keyed digest, hex), newest first (at most 50, and how many in all), and
-- the cases they are on.  Each call's summary comes sealed with its data
-- key ("$key": the case's, or the call's own) for the daemon to open.
create function caller_history(p_client_id bigint, p_digest text)
returns table (status integer, code text, response jsonb)
language plpgsql security definer set search_path = hotline, pg_temp as $$
declare
	ac record;
	v_calls bigint[];
	v_total integer;
	v_cases bigint[];
begin
	select * into ac from api_client(p_client_id, '{operator}',
	    'only an operator looks callers up');
	if ac.status is not null then
		return query select ac.status, ac.code, ac.response;
		return;
	end if;
	select array_agg(k.id order by k.started_at desc, k.id desc), count(*)
	    into v_calls, v_total
	    from identifiers i join calls k on k.id = i.call_id
	    where i.kind = 'phone' and i.digest = decode(p_digest, 'hex')
		and k.centre = (ac.client).centre;
	v_calls := v_calls[1:50];
	select array_agg(distinct k.case_id) into v_cases from calls k
	    where k.id = any (v_calls) and k.case_id is not null;
	perform lookup_record(ac.client, 'phone', coalesce(cardinality(v_calls), 0), v_cases);
	return query select 200, null::text, jsonb_build_object('total', v_total,
	    'calls', coalesce((select jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
		'call_id', k.call_id, 'started_at', api_ts(k.started_at),
		'ended_at', api_ts(k.ended_at), 'caller_type', k.caller_type,
		'disposition', k.disposition, 'topic', case when k.topic_category is not null then
		    jsonb_strip_nulls(jsonb_build_object('category', k.topic_category,
		    'subcategory', k.topic_subcategory)) end,
		'case_number', c.case_number,
		'summary', case when k.purged_at is not null then '{"purged": true}'::jsonb
		    else sealed_out(k.summary, 'call.summary') end,
		'$key', case when k.summary is null then null
		    when c.id is not null then case_data_key(c)
		    else jsonb_build_object('uid', k.dek_uid, 'kid', k.dek_kid,
			'wrapped', translate(encode(k.dek_wrapped, 'base64'), E'\n', '')) end))
		order by i.n)
		from unnest(v_calls) with ordinality i (id, n) join calls k on k.id = i.id
		    left join cases c on c.id = k.case_id), '[]'),
	    'cases', coalesce((select jsonb_agg(lookup_case_json(x) order by x desc)
		from unnest(v_cases) x), '[]'));
end $$;

-- GET /v1/children/cases: the centre's cases about a child, by the keyed
-- digest (hex) of its ID number (p_kind 'id') or of its name and birth date
-- ('name_birth'); newest first, at most 50.
create function child_cases(p_client_id bigint, p_kind text, p_digest text)
returns table (status integer, code text, response jsonb)
language plpgsql security definer set search_path = hotline, pg_temp as $$
declare
	ac record;
	v_cases bigint[];
begin
	select * into ac from api_client(p_client_id, '{operator}',
	    'only an operator looks children up');
	if ac.status is not null then
		return query select ac.status, ac.code, ac.response;
		return;
	end if;
	select array_agg(x.id order by x.id desc) into v_cases from (
	    select distinct c.id from identifiers i join cases c on c.id = i.case_id
	    where i.kind = p_kind and i.digest = decode(p_digest, 'hex')
		and c.centre = (ac.client).centre
	    order by c.id desc limit 50) x;
	perform lookup_record(ac.client, p_kind, 0, v_cases);
	return query select 200, null::text, jsonb_build_object('cases',
	    coalesce((select jsonb_agg(lookup_case_json(i.id) || jsonb_build_object('matched', p_kind)
		order by i.n) from unnest(v_cases) with ordinality i (id, n)), '[]'));
end $$;

comment on function lookup_record(clients, text, integer, bigint[]) is 'Records a lookup in lookup_log, and in the access log of each case it returned (basis lookup).';
comment on function lookup_case_json(bigint) is 'A case as a lookup shows it: number, status, risk, region, categories, when opened; no personal data.';
comment on function caller_history(bigint, text) is 'API GET /v1/callers/{phone}/history: the centre''s calls from a number (keyed digest) and their cases, logged; returns (status, code, response).';
comment on function child_cases(bigint, text, text) is 'API GET /v1/children/cases: the centre''s cases about a child by the keyed digest of its ID number or name and birth date, logged; returns (status, code, response).';

revoke execute on function lookup_record(clients, text, integer, bigint[]),
    lookup_case_json(bigint), caller_history(bigint, text), child_cases(bigint, text, text)
    from public;
grant execute on function caller_history(bigint, text), child_cases(bigint, text, text)
    to hotlined;

reset role;
