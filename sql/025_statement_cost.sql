-- What an agency's claim and acknowledgement (and every answer) cost, for
-- the same work:
--
--   * The small SQL functions every answer calls are inlined into their
--     callers' statements again.  PostgreSQL inlines a SQL function only if
--     what it calls is no more volatile than what it declares: these were
--     declared immutable but call stable functions (to_char and extract on a
--     timestamptz, jsonb_build_object), so each call ran the SQL function
--     executor instead: some 30 µs for api_ts, called four times or more for
--     every assignment an agency's queue lists.  Declared stable (which they
--     are), they are inlined.  No index, constraint or generated column uses
--     them.
--   * own_assignment, which every agency action calls, was a SQL function
--     that PostgreSQL cannot inline where it is called (an assignment to a
--     PL/pgSQL variable) and so planned afresh at every call; in PL/pgSQL its
--     plan is kept for the session.
--   * An acknowledgement writes its assignment once: its state and, in the
--     same update, the next due time its acknowledge clock's stopping
--     leaves, so that the clock's trigger (clock_moved) finds it already
--     there.  It wrote two versions of the row before, neither of them HOT
--     (the queue's index holds both the state and next_due).
--   * stats_event_figures (the statistics' reading of an agency's event)
--     looks its assignment up by a plain value: with the expression in the
--     statement PostgreSQL planned the lookup afresh for every event (some
--     0.15 ms of planning, for an index probe).
set role hotline_owner;
set search_path = hotline, pg_temp;

alter function api_ts(timestamptz) stable;
alter function api_error(text, text, text) stable;
alter function sealed_out(sealed, text) stable;
alter function case_data_key(cases) stable;

create or replace function own_assignment(p_agency bigint, p_assignment text)
returns bigint language plpgsql stable as $$
declare
	v_uuid uuid := uuid_or_null(p_assignment);
begin
	return (select a.id from assignments a
	    where a.assignment_id = v_uuid and a.agency_id = p_agency);
end $$;

create or replace function assignment_ack(p_client_id bigint, p_idem_key text,
    p_request_hash bytea, p_assignment text)
returns table (status integer, code text, response jsonb, replayed boolean)
language plpgsql security definer set search_path = hotline, pg_temp as $$
declare
	m record;
	v_id bigint;
	a assignments%rowtype;
	v_resp jsonb;
begin
	select * into m from mutation_begin(p_client_id, '{agency}', p_idem_key, 'ack', p_assignment,
	    p_request_hash);
	if m.status is not null then
		return query select m.status, m.code, m.response, m.replayed;
		return;
	end if;
	v_id := own_assignment(m.agency_id, p_assignment);
	if v_id is null then
		return query select *, false from api_fail(404, 'not_found', null, 'no such assignment');
		return;
	end if;
	select * into a from assignments where id = v_id for update;
	if a.state = 'open' then
		update assignments set state = 'acknowledged', acknowledged_at = now(),
		    next_due = coalesce((select min(k.due_at) from clocks k
			where k.assignment_id = v_id and k.stopped_at is null and k.fired_at is null
			    and k.kind <> 'acknowledge'), 'infinity')
		where id = v_id;
		perform clock_stop(v_id, 'acknowledge');
		perform case_event(a.case_id, 'acknowledged', p_client_id,
		    jsonb_build_object('assignment', a.assignment_id));
		perform escalation_stand_down(v_id, p_client_id, 'acknowledged');
	elsif a.state not in ('acknowledged', 'accepted', 'case_opened', 'outside_jurisdiction',
	    'prosecution') then
		return query select *, false from api_fail(409, 'invalid_transition', null,
		    'this assignment can no longer be acknowledged');
		return;
	end if;
	v_resp := assignment_json(v_id);
	return query select * from mutation_store(p_client_id, p_idem_key, m.endpoint,
	    p_request_hash, 200, v_resp);
end $$;

comment on function assignment_ack(bigint, text, bytea, text) is 'API POST /v1/assignments/{id}/ack: stops the acknowledge clock (the assignment written once, its next due time with it), stands down the copies above; returns (status, code, response, replayed).';

create or replace function stats_event_figures(e case_events)
returns table (figure text, bucket integer, agency text)
language plpgsql stable set search_path = hotline, pg_temp as $$
declare
	a assignments%rowtype;
	g agencies%rowtype;
	v_uuid uuid := uuid_or_null(coalesce(e.data->>'assignment', e.data->>'from'));
begin
	select * into a from assignments x where x.assignment_id = v_uuid;
	if a.id is null then
		return;
	end if;
	select * into g from agencies x where x.id = a.agency_id;
	if e.kind in ('acknowledged', 'outcome') and a.role = 'primary' and not exists (
	    select 1 from case_events x where x.case_id = e.case_id and x.seq < e.seq
		and x.kind in ('acknowledged', 'outcome') and x.data->>'assignment' = e.data->>'assignment') then
		return query select 'acknowledge', stats_bucket(e.at - a.created_at), g.code;
	end if;
	if e.kind in ('note', 'outcome', 'feedback') and a.role = 'primary' and not exists (
	    select 1 from case_events x where x.case_id = e.case_id and x.seq < e.seq
		and x.kind in ('note', 'outcome', 'feedback')
		and x.data->>'assignment' = e.data->>'assignment') then
		return query select 'first_action', stats_bucket(e.at - a.created_at), g.code;
	end if;
	if e.kind = 'outcome' and g.kind = 'police'
	    and e.data->>'outcome' in ('accepted', 'case_opened', 'declined') then
		return query select 'police.' || (e.data->>'outcome'), 0, g.code;
	end if;
	if e.kind = 'transferred' and g.kind = 'police' then
		return query select 'police.transferred', 0, g.code;
	end if;
	if e.kind = 'escalated' and e.data->>'clock' ~ '^[a-z][a-z_]{0,31}$' then
		return query select 'clocks.' || (e.data->>'clock') || '.escalated', 0, g.code;
	end if;
end $$;

------------------------------------------------------------------------------
-- What intake and a claim cost the queue's kept order (migration 023) and
-- set-based intake (migration 024):
--
--   * A new assignment keeps a next_due its insert gives (intake knows its
--     clocks' due times): its clocks then find it already where they would
--     bring it, and the assignment is not written a second time (the queue's
--     index holds next_due, so that update was never HOT).
--   * intake_reports inserts each assignment with the due time of its
--     earliest clock ('infinity' without one); otherwise as migration 024.
--   * queue_after (a claim's read of the queue) is PL/pgSQL with one generic
--     plan: as a SQL function it was inlined into its caller's statement,
--     which was then planned afresh at every call (0.3 ms, six times its
--     running).  No search_path of its own: only queue_page calls it, with
--     hotline's.
--   * queue_cursor is declared stable (extract on a timestamptz is), so that
--     it is inlined.
------------------------------------------------------------------------------
create or replace function assignment_denormalise() returns trigger
language plpgsql set search_path = hotline, pg_temp as $$
begin
	if new.risk_level is null or new.region_code is null then
		select c.risk_level, c.region_code into new.risk_level, new.region_code
		    from cases c where c.id = new.case_id;
	end if;
	new.next_due := coalesce(new.next_due, 'infinity');
	return new;
end $$;

create or replace function queue_after(p_agency bigint, p_state text, p_risk smallint,
    p_due timestamptz, p_id bigint, p_limit integer)
returns table (id bigint, risk_level smallint, next_due timestamptz)
language plpgsql stable set plan_cache_mode = force_generic_plan as $$
begin
	return query select a.id, a.risk_level, a.next_due from assignments a
	where a.agency_id = p_agency and a.state = p_state
	    and (a.risk_level, a.next_due, a.id) > (p_risk, p_due, p_id)
	order by a.risk_level, a.next_due, a.id
	limit p_limit;
end $$;

alter function queue_cursor(smallint, timestamptz, bigint) stable;

-- POST /v1/reports for a batch, as migration 024, each assignment inserted
-- with the due time of its earliest clock.
create or replace function intake_reports(p_clients bigint[], p_keys text[], p_hashes bytea[],
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

comment on function assignment_denormalise() is 'Trigger: a new assignment takes its case''s risk level and region, and next_due ''infinity'' until its clocks start (each unless the insert gives it).';

revoke execute on all functions in schema hotline from public;
grant execute on function assignment_ack(bigint, text, bytea, text) to hotlined;

reset role;
