-- What a report costs the database.  The same rows and the same history,
-- for fewer statements:
--
--   * A history event is chained by whoever appends it: case_event reads
--     the case's recorded length and last hash (history_len, history_head)
--     under the case's row lock, computes the new hash and updates the case
--     once.  The chaining trigger runs only for an insert that brings no
--     hash (a script's, a fill's), so every other path pays no lookup of
--     the previous event.  Only hotline_owner's functions write the history;
--     audit_verify (hotlinectl audit verify) checks every chain whoever hashed it.
--   * The next due time is read by walking the two partial indexes of the
--     running clocks (ORDER BY ... LIMIT 1): on a table never analysed the
--     planner otherwise aggregates over the whole index for min().
--     clock_start and intake_reports read it through clock_first_due, whose
--     plan each session keeps, instead of calling clock_next_due (a SQL
--     function with its own search_path is planned afresh at every call).
--   * A new case's creator and the procuratorates over its region, and the
--     agencies of new assignments, see the case through one statement-level
--     trigger call per INSERT (a transition table), not one per row; the
--     procuratorates are looked up by key (the region's, its city's, its
--     province's) instead of testing every procuratorate in the country.
--   * intake_reports plans its statements once per connection (a generic
--     plan): their shape does not depend on the values, and a custom plan
--     of the batch statement cost more than a batch's own share of work.
--   * Mandatory reports are written a batch at a time: the daemon sends the
--     submissions waiting together as arrays to intake_reports, which checks
--     each one (client, Idempotency-Key, regions, categories: refusals and
--     replays answered per submission, as before) and then writes every
--     accepted one with one INSERT ... SELECT per table: cases, children,
--     categories, reports, assignments, clocks, history (hashed in the same
--     statement), digests and idempotency records.  intake_report, the one
--     submission, is intake_reports of one.  A failing statement still fails
--     the whole batch, which the daemon then retries one submission at a time.
set role hotline_owner;
set search_path = hotline, pg_temp;

-- The chaining trigger, for inserts that bring no hash of their own.
drop trigger case_events_chain on case_events;
create trigger case_events_chain before insert on case_events
	for each row when (new.hash is null) execute function case_events_chain();

-- Append an event to a case's history: the next seq and the previous hash
-- come from the case row, locked for ordering.
create or replace function case_event(p_case_id bigint, p_kind text, p_actor bigint, p_data jsonb,
    p_note sealed default null)
returns integer language plpgsql as $$
declare
	v_seq integer;
	v_prev bytea;
	v_data jsonb := coalesce(p_data, '{}');
	v_hash bytea;
begin
	select c.history_len + 1, c.history_head into v_seq, v_prev
	    from cases c where c.id = p_case_id for update;
	v_hash := case_event_hash(v_prev, p_case_id, v_seq, now(), p_kind, p_actor, v_data);
	insert into case_events (case_id, seq, at, kind, actor, data, hash)
	    values (p_case_id, v_seq, now(), p_kind, p_actor, v_data, v_hash);
	update cases set history_len = v_seq, history_head = v_hash where id = p_case_id;
	if p_note is not null then
		insert into case_notes (case_id, seq, text) values (p_case_id, v_seq, p_note);
	end if;
	return v_seq;
end $$;

-- The earliest moment a running clock needs attention: the first entry of
-- each partial index (ORDER BY ... LIMIT 1), whatever the statistics say.
-- PL/pgSQL, so that each session plans it once.
create function clock_first_due()
returns timestamptz language plpgsql stable as $$
begin
	return least(
	    (select k.warn_at from clocks k where k.stopped_at is null and k.fired_at is null
		and k.warned_at is null and k.set_aside_at is null order by k.warn_at limit 1),
	    (select k.due_at from clocks k where k.stopped_at is null and k.fired_at is null
		and k.set_aside_at is null order by k.due_at limit 1));
end $$;

-- The earliest moment a clock needs attention, for the daemon's timer.
create or replace function clock_next_due()
returns timestamptz
language sql stable security definer set search_path = hotline, pg_temp as $$
	select clock_first_due()
$$;

-- Start a clock on an assignment; warns at the configured share of its time.
-- Daemons are told (NOTIFY hotline_clock) only when this clock needs attention
-- before every other running one: otherwise their timers are already early enough.
create or replace function clock_start(p_assignment bigint, p_kind text, p_within interval)
returns void language plpgsql as $$
declare
	v_warn timestamptz := now() + p_within *
	    (select value::float8 from settings where name = 'warn_share');
	v_next timestamptz := clock_first_due();
begin
	insert into clocks (assignment_id, case_id, kind, warn_at, due_at)
	    select p_assignment, a.case_id, p_kind, v_warn, now() + p_within
	    from assignments a where a.id = p_assignment;
	if v_next is null or v_warn < v_next then
		perform pg_notify('hotline_clock', '');
	end if;
end $$;

-- New cases: each is seen by its creator and by the procuratorates over its
-- region (one statement-level trigger call per INSERT).  A procuratorate
-- over a region is the one of the region itself, of its city or of its
-- province (region_prefix), looked up by key instead of testing every
-- procuratorate.  Where the centres migration has run (case_access.centre),
-- the creator's row carries the case's centre, as case_access_case wrote it.
do $$
declare
	v_centre boolean := exists (select 1 from pg_attribute a
	    where a.attrelid = 'hotline.case_access'::regclass and a.attname = 'centre'
		and not a.attisdropped);
begin
	execute format($f$
create function case_access_cases() returns trigger
language plpgsql set search_path = hotline, pg_temp as $b$
begin
	insert into case_access (case_id, client_id%1$s)
	    select n.id, n.created_by%2$s from added n;
	insert into case_access (case_id, agency_id)
	    select n.id, g.id from added n join agencies g on g.kind = 'procuratorate'
		and g.region_code in (n.region_code, left(n.region_code, 4) || '00',
		    left(n.region_code, 2) || '0000')
		and n.region_code like region_prefix(g.region_code) || '%%'
	    on conflict do nothing;
	return null;
end $b$
$f$, case when v_centre then ', centre' else '' end,
	    case when v_centre then ', n.centre' else '' end);
end $$;
drop trigger case_access_case on cases;
drop function case_access_case();
create trigger case_access_case after insert on cases
	referencing new table as added
	for each statement execute function case_access_cases();

-- New assignments: their agencies see their cases (one statement-level
-- trigger call per INSERT).
create function case_access_assignments() returns trigger
language plpgsql set search_path = hotline, pg_temp as $$
begin
	insert into case_access (case_id, agency_id)
	    select distinct n.case_id, n.agency_id from added n
	    on conflict do nothing;
	return null;
end $$;
drop trigger case_access_assignment on assignments;
drop function case_access_assignment();
create trigger case_access_assignment after insert on assignments
	referencing new table as added
	for each statement execute function case_access_assignments();

-- The checks of one report before anything is written: the client and its
-- Idempotency-Key (mutation_begin), the region codes, the categories it
-- names.  status is null to proceed; else the row to answer (a refusal, or
-- the stored response replayed).
create function intake_report_check(p_client_id bigint, p_idem_key text,
    p_request_hash bytea, p_body jsonb,
    out status integer, out code text, out response jsonb, out replayed boolean)
language plpgsql set search_path = hotline, pg_temp as $$
declare
	m record;
	v_sits smallint[];
begin
	replayed := false;
	select * into m from mutation_begin(p_client_id, '{gateway}', p_idem_key, 'reports', null,
	    p_request_hash);
	if m.status is not null then
		select m.status, m.code, m.response, m.replayed into status, code, response, replayed;
		return;
	end if;
	select c.status, c.code, c.response into status, code, response
	    from (values (1, p_body#>>'{institution,region_code}', 'institution.region_code'),
		(2, p_body#>>'{child,region_code}', 'child.region_code')) x (n, region, field)
	    cross join lateral check_region(x.region, x.field) c
	    where c.status is not null order by x.n limit 1;
	if status is not null then
		return;
	end if;
	select c.status, c.code, c.response into status, code, response
	    from jsonb_array_elements(coalesce(p_body->'categories', '[]')) with ordinality e (value, n)
	    cross join lateral check_category(e.value->>'category', e.value->>'subcategory',
		format('categories[%s].', e.n - 1)) c
	    where c.status is not null order by e.n limit 1;
	if status is not null then
		return;
	end if;
	select array_agg(x::smallint) into v_sits
	    from jsonb_array_elements_text(p_body->'situations') x;
	select f.status, f.code, f.response into status, code, response
	    from jsonb_array_elements(coalesce(p_body->'categories', '[]')) with ordinality e (value, n)
	    cross join lateral api_fail(422, 'category_not_allowed', format('categories[%s]', e.n - 1),
		'none of the report''s situations may carry this category') f
	    where not situation_allows(v_sits, e.value->>'category', e.value->>'subcategory')
	    order by e.n limit 1;
end $$;

-- POST /v1/reports for a batch: submission i is (p_clients[i], p_keys[i],
-- p_hashes[i], p_bodies->(i-1)), answered by the row n = i.  Each is checked
-- alone (intake_report_check); the accepted ones are written together, one
-- statement per table, in the order given: a case with its child,
-- categories and report, routed in this transaction (route_targets: one
-- assignment per agency, the primaries with their clocks, as
-- assignment_create would), its history (created, then one event per
-- assignment in the order case_route makes them) chained here, its digests
-- and its idempotency record.  Raises, failing the batch, where intake_report
-- raised: a case no agency serves.
create function intake_reports(p_clients bigint[], p_keys text[], p_hashes bytea[],
    p_bodies jsonb)
returns table (n integer, status integer, code text, response jsonb, replayed boolean)
language plpgsql security definer set search_path = hotline, pg_temp
set plan_cache_mode = force_generic_plan as $$
declare
	r record;
	v_go integer[] := '{}';
	v_share float8 := (select s.value::float8 from settings s where s.name = 'warn_share');
	v_police interval := (select s.value::interval from settings s
	    where s.name = 'report_police_acknowledge');
	v_bullying interval := (select s.value::interval from settings s
	    where s.name = 'bullying_investigation');
	v_next timestamptz;
	v_warn timestamptz;
	v_unrouted integer;
begin
	if cardinality(p_clients) is distinct from cardinality(p_keys)
	    or cardinality(p_clients) is distinct from cardinality(p_hashes)
	    or cardinality(p_clients) is distinct from jsonb_array_length(p_bodies) then
		raise exception 'intake_reports: arrays of different lengths'
		    using errcode = 'invalid_parameter_value';
	end if;
	for r in select b.n::integer as n, v.*
	    from jsonb_array_elements(p_bodies) with ordinality b (body, n)
	    cross join lateral intake_report_check(p_clients[b.n], p_keys[b.n], p_hashes[b.n],
		b.body) v
	    order by b.n loop
		if r.status is null then
			v_go := v_go || r.n;
		else
			n := r.n;
			status := r.status;
			code := r.code;
			response := r.response;
			replayed := r.replayed;
			return next;
		end if;
	end loop;
	if cardinality(v_go) = 0 then
		return;
	end if;
	v_next := clock_first_due();
	for r in with recursive
	    x as (
		select b.n::integer as n, p_clients[b.n] as client_id, p_keys[b.n] as key,
		    p_hashes[b.n] as hash, b.body, (select array_agg(s::smallint order by s::smallint)
			from jsonb_array_elements_text(b.body->'situations') s) as sits
		from jsonb_array_elements(p_bodies) with ordinality b (body, n)
		where b.n = any (v_go)),
	    y as materialized (
		select x.*, (select case when (x.body->>'immediate_danger')::boolean then 1::smallint
			else min(s.min_risk) end from situations s where s.situation = any (x.sits)) as risk,
		    report_categories(x.sits, x.body->'categories') as cats,
		    nextval('cases_id_seq') as case_id, nextval('case_number_seq') as number,
		    receipt_new() as receipt
		from x order by x.n),
	    c as materialized (
		select y.*, to_char(now() at time zone 'Asia/Shanghai', 'YYYY') || '-' ||
		    (y.body#>>'{child,region_code}') || '-' ||
		    lpad(y.number::text, greatest(8, length(y.number::text)), '0') as case_number
		from y),
	    t as materialized (
		select c.case_id, p.agency_id, p.role, g.kind, g.code as agency_code,
		    gen_random_uuid() as uuid, (1 + row_number() over (partition by c.case_id
			order by p.role, p.agency_id))::integer as seq
		from c cross join lateral route_targets('report', c.cats, c.risk,
		    c.body#>>'{child,region_code}', c.body#>>'{institution,type}',
		    c.body#>>'{institution,region_code}') p
		join agencies g on g.id = p.agency_id),
	    k as (
		select t.uuid, t.case_id, v.i, v.kind, v.within
		from t join c using (case_id) join deadlines d on d.risk_level = c.risk
		cross join lateral (values
		    (1, 'acknowledge', case when t.kind = 'police'
			then least(d.acknowledge, v_police) else d.acknowledge end),
		    (2, 'first_action', d.first_action),
		    (3, 'resolve', d.resolve),
		    (4, 'investigation', case when t.kind = 'education' and exists (select 1
			from jsonb_array_elements(c.cats) e where e->>'category' = 'bullying')
			then v_bullying end)) v (i, kind, within)
		where t.role = 'primary' and v.within is not null),
	    ev as materialized (
		select c.case_id, 1 as seq, 'created' as kind, c.client_id as actor,
		    jsonb_build_object('source', 'report', 'risk_level', c.risk,
			'categories', c.cats) as data
		from c
		union all
		select t.case_id, t.seq, 'assigned', c.client_id, jsonb_build_object(
		    'assignment', t.uuid, 'agency', t.agency_code, 'role', t.role,
		    'escalation_level', 0)
		from t join c using (case_id)),
	    ch (case_id, seq, hash) as (
		select e.case_id, e.seq, case_event_hash(null, e.case_id, e.seq, now(), e.kind,
		    e.actor, e.data)
		from ev e where e.seq = 1
		union all
		select e.case_id, e.seq, case_event_hash(h.hash, e.case_id, e.seq, now(), e.kind,
		    e.actor, e.data)
		from ch h join ev e on e.case_id = h.case_id and e.seq = h.seq + 1),
	    hc as materialized (select * from ch),
	    head as (
		select distinct on (h.case_id) h.case_id, h.seq, h.hash from hc h
		order by h.case_id, h.seq desc),
	    ins_case as (
		insert into cases (id, case_number, source, region_code, risk_level, created_by,
		    narrative, dek_uid, dek_kid, dek_wrapped, history_len, history_head)
		overriding system value
		select c.case_id, c.case_number, 'report', c.body#>>'{child,region_code}', c.risk,
		    c.client_id, sealed_in(c.body->>'narrative'), (c.body#>>'{$key,uid}')::uuid,
		    c.body#>>'{$key,kid}', decode(c.body#>>'{$key,wrapped}', 'base64'),
		    h.seq, h.hash
		from c join head h using (case_id) order by c.case_id),
	    ins_child as (
		insert into children (case_id, name, gender, age, birth_date, id_number, phone,
		    school, address, region_code)
		select c.case_id, sealed_in(c.body#>>'{child,name}'), c.body#>>'{child,gender}',
		    (c.body#>>'{child,age}')::smallint, sealed_in(c.body#>>'{child,birth_date}'),
		    sealed_in(c.body#>>'{child,id_number}'), sealed_in(c.body#>>'{child,phone}'),
		    sealed_in(c.body#>>'{child,school}'), sealed_in(c.body#>>'{child,address}'),
		    c.body#>>'{child,region_code}'
		from c),
	    ins_category as (
		insert into case_categories (case_id, category, subcategory)
		select distinct c.case_id, e->>'category', e->>'subcategory'
		from c cross join jsonb_array_elements(c.cats) e),
	    ins_report as (
		insert into reports (case_id, client_id, receipt_id, reporter_name, reporter_phone,
		    reporter_id_number, reporter_profession, institution_name, institution_type,
		    institution_region, situations, suspected, discovered_at, reported_at,
		    immediate_danger, actions_taken)
		select c.case_id, c.client_id, c.receipt, sealed_in(c.body#>>'{reporter,name}'),
		    sealed_in(c.body#>>'{reporter,phone}'),
		    sealed_in(c.body#>>'{reporter,id_number}'), c.body#>>'{reporter,profession}',
		    sealed_in(c.body#>>'{institution,name}'), c.body#>>'{institution,type}',
		    c.body#>>'{institution,region_code}', c.sits,
		    (c.body->>'suspected')::boolean, (c.body->>'discovered_at')::timestamptz,
		    (c.body->>'reported_at')::timestamptz, (c.body->>'immediate_danger')::boolean,
		    sealed_in(c.body->>'actions_taken')
		from c),
	    ins_assignment as (
		insert into assignments (case_id, agency_id, role, assignment_id, risk_level,
		    region_code, next_due)
		select t.case_id, t.agency_id, t.role, t.uuid, c.risk, c.body#>>'{child,region_code}',
		    coalesce(now() + m.within, 'infinity')
		from t join c using (case_id)
		left join (select k.uuid, min(k.within) as within from k group by k.uuid) m
		    on m.uuid = t.uuid
		order by t.case_id, t.seq
		returning id, assignment_id),
	    ins_clock as (
		insert into clocks (assignment_id, case_id, kind, warn_at, due_at)
		select a.id, k.case_id, k.kind, now() + k.within * v_share, now() + k.within
		from k join ins_assignment a on a.assignment_id = k.uuid order by a.id, k.i
		returning warn_at),
	    ins_event as (
		insert into case_events (case_id, seq, at, kind, actor, data, hash)
		select e.case_id, e.seq, now(), e.kind, e.actor, e.data, h.hash
		from ev e join hc h using (case_id, seq) order by e.case_id, e.seq),
	    ins_identifier as (
		insert into identifiers (kind, digest, case_id)
		select i.k, decode(c.body#>>array['$digests', i.f], 'hex'), c.case_id
		from c cross join (values ('id', 'child_id'), ('name_birth', 'child_name_birth')) i (k, f)
		where c.body#>>array['$digests', i.f] is not null),
	    answer as (
		select c.n, c.client_id, c.key, c.hash, c.case_id, jsonb_build_object(
		    'case_number', c.case_number, 'receipt_id', c.receipt, 'risk_level', c.risk,
		    'received_at', api_ts(now())) as response
		from c),
	    ins_idempotency as (
		insert into idempotency (client_id, key, endpoint, request_hash, status, response)
		select a.client_id, a.key, mutation_endpoint('reports', null), a.hash, 201, a.response
		from answer a)
	    select a.n, a.response, (select min(w.warn_at) from ins_clock w) as first_warn,
		(select count(*) from c where not exists (select 1 from t
		    where t.case_id = c.case_id)) as unrouted
	    from answer a order by a.n loop
		n := r.n;
		status := 201;
		code := null;
		response := r.response;
		replayed := false;
		v_warn := r.first_warn;
		v_unrouted := r.unrouted;
		return next;
	end loop;
	if v_unrouted > 0 then
		raise exception 'intake_reports: no agency serves a case''s region and no default office is set'
		    using errcode = 'object_not_in_prerequisite_state';
	end if;
	perform pg_notify('hotline_queue', '');
	if v_warn < coalesce(v_next, 'infinity') then
		perform pg_notify('hotline_clock', '');
	end if;
end $$;

-- POST /v1/reports: store a mandatory report as a new case (intake_reports
-- of one).
create or replace function intake_report(p_client_id bigint, p_idem_key text,
    p_request_hash bytea, p_body jsonb)
returns table (status integer, code text, response jsonb, replayed boolean)
language sql security definer set search_path = hotline, pg_temp as $$
	select r.status, r.code, r.response, r.replayed
	from intake_reports(array[p_client_id], array[p_idem_key], array[p_request_hash],
	    jsonb_build_array(p_body)) r
$$;

comment on function case_event(bigint, text, bigint, jsonb, sealed) is 'Appends an event (and its sealed note) to a case''s history, chained to the case''s recorded last hash; returns its seq.';
comment on function clock_first_due() is 'The earliest moment a running clock needs attention (the first entry of two partial indexes).';
comment on function clock_next_due() is 'API: the earliest moment a clock needs attention (the first entry of two partial indexes).';
comment on function case_access_cases() is 'Trigger (per statement): new cases are seen by their creator and the procuratorates over their region.';
comment on function case_access_assignments() is 'Trigger (per statement): the agencies of new assignments see their cases.';
comment on function intake_report_check(bigint, text, bytea, jsonb) is 'The checks of one report before anything is written (client, Idempotency-Key, regions, categories): status null to proceed, else the row to answer.';
comment on function intake_reports(bigint[], text[], bytea[], jsonb) is 'API POST /v1/reports for a batch: each submission checked alone, the accepted ones written with one statement per table; returns (n, status, code, response, replayed), one row per submission.';
comment on function intake_report(bigint, text, bytea, jsonb) is 'API POST /v1/reports: stores a mandatory report as a new case (intake_reports of one); returns (status, code, response, replayed), never raises for expected errors.';

revoke execute on all functions in schema hotline from public;
grant execute on function intake_reports(bigint[], text[], bytea[], jsonb) to hotlined;

reset role;
