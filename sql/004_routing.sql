-- Routing to agency queues, assignments and their clocks, agency work,
-- escalation.  Routing is data (routing_rules, deadlines, statutory_clocks)
-- and runs inside the intake transaction: a committed case always has its
-- assignments.
set role hotline_owner;
set search_path = hotline, pg_temp;

-- Which agency kind gets which categories, at which risk levels, in which role.
create table routing_rules (
	id			integer generated always as identity primary key,
	category		text not null references categories (code),
	subcategory		text,		-- null: any subcategory of the category
	risk_min		smallint not null default 1 check (risk_min between 1 and 4),
	risk_max		smallint not null default 4 check (risk_max between 1 and 4),
	region_prefix		text not null default '' check (region_prefix ~ '^[0-9]{0,6}$'),
	institution_types	text[],		-- null: any; else only reports from these
	agency_kind		text not null references agency_kinds (kind),
	role			text not null check (role in ('primary', 'inform', 'supervise')),
	note			text,
	foreign key (category, subcategory) references subcategories (category, code)
);

-- Service clocks of a primary assignment by risk level.
create table deadlines (
	risk_level	smallint primary key references risk_levels (level),
	acknowledge	interval not null,
	first_action	interval not null,
	resolve		interval not null
);

-- Statutory clocks started by an agency's outcome.
create table statutory_clocks (
	outcome		text not null,
	clock		text not null,
	within		interval not null,
	description	text not null,
	primary key (outcome, clock)
);

-- Settings that are data: the warning share of a clock, and so on.
create table settings (
	name	text primary key,
	value	text not null
);

-- An agency's piece of work on a case.
create table assignments (
	id			bigint generated always as identity primary key,
	assignment_id		uuid not null unique default gen_random_uuid(),
	case_id			bigint not null references cases (id),
	agency_id		bigint not null references agencies (id),
	role			text not null check (role in ('primary', 'inform', 'supervise')),
	state			text not null default 'open' check (state in ('open', 'acknowledged',
				    'accepted', 'case_opened', 'declined', 'transferred', 'prosecution',
				    'resolved', 'closed')),
	escalation_level	integer not null default 0,
	escalated_from		bigint references assignments (id),
	transferred_from	bigint references assignments (id),
	created_at		timestamptz not null default now(),
	acknowledged_at		timestamptz
);
create index assignments_agency on assignments (agency_id, state);
create index assignments_case on assignments (case_id);
create index assignments_escalated_from on assignments (escalated_from)
    where escalated_from is not null;
create index assignments_transferred_from on assignments (transferred_from)
    where transferred_from is not null;

-- Every clock is a row with a due time, never only a timer in memory.
-- A clock whose handling failed on its own (set_aside_at) is left out of the
-- escalation loop, with the SQLSTATE, so that it cannot block the others.
create table clocks (
	id		bigint generated always as identity primary key,
	assignment_id	bigint not null references assignments (id),
	case_id		bigint not null references cases (id),	-- the assignment's
	kind		text not null,
	started_at	timestamptz not null default now(),
	warn_at		timestamptz not null,
	due_at		timestamptz not null,
	warned_at	timestamptz,
	stopped_at	timestamptz,
	fired_at	timestamptz,
	set_aside_at	timestamptz,
	set_aside_reason text check (set_aside_reason ~ '^[0-9A-Z]{5}$'),
	check ((set_aside_at is null) = (set_aside_reason is null))
);
create index clocks_active on clocks (due_at)
    where stopped_at is null and fired_at is null and set_aside_at is null;
create index clocks_unwarned on clocks (warn_at)
    where stopped_at is null and fired_at is null and warned_at is null and set_aside_at is null;
create index clocks_assignment on clocks (assignment_id);
create index clocks_set_aside on clocks (set_aside_at) where set_aside_at is not null;

-- Free text attached to case events (notes, reasons): kept apart from the history.
create table case_notes (
	case_id		bigint not null,
	seq		integer not null,
	text		sealed,		-- personal data; null once purged
	primary key (case_id, seq),
	foreign key (case_id, seq) references case_events (case_id, seq)
);

comment on table case_notes is 'The free text of notes, reasons and feedback, sealed under the case''s data key; null once purged.';
comment on column case_notes.text is 'personal data: a note or reason as the agency wrote it';

insert into deadlines (risk_level, acknowledge, first_action, resolve) values
	(1, '10 minutes', '1 hour', '7 days'),
	(2, '1 hour', '4 hours', '14 days'),
	(3, '24 hours', '48 hours', '30 days'),
	(4, '72 hours', '7 days', '60 days');

insert into statutory_clocks (outcome, clock, within, description) values
	('accepted', 'feedback', '3 days', '受案后3日内向报告单位反馈 (强制报告意见第10条)'),
	('case_opened', 'feedback', '3 days', '立案后3日内向报告单位反馈 (强制报告意见第10条)'),
	('declined', 'decline_notice', '3 days', '不予立案决定3日内送达 (公安机关办理刑事案件程序规定第178条)');

insert into settings (name, value) values
	('warn_share', '0.8'),
	('bullying_investigation', '10 days');

-- Default routing (domain.md); administrators can change it.
insert into routing_rules (category, subcategory, risk_min, risk_max, institution_types,
    agency_kind, role, note) values
	('abuse', null, 1, 4, null, 'police', 'primary', '侵害: 儿童所在县级公安机关'),
	('abuse', null, 1, 4, null, 'procuratorate', 'supervise', '检察机关法律监督'),
	('abuse', 'neglect', 1, 4, null, 'civil_affairs', 'inform', '监护缺失/遗弃: 民政'),
	('abuse', 'trafficking_missing', 1, 4, null, 'civil_affairs', 'inform', '失踪/拐卖: 民政'),
	('abuse', null, 1, 4, '{school,kindergarten,nursery}', 'education', 'inform', '报告单位主管部门'),
	('abuse', null, 1, 4, '{hospital,clinic}', 'health', 'inform', '报告单位主管部门'),
	('abuse', null, 1, 4, '{welfare_institution,social_work_agency}', 'civil_affairs', 'inform', '报告单位主管部门'),
	('bullying', null, 1, 4, null, 'education', 'primary', '校园欺凌: 学校所在县教育局'),
	('bullying', null, 1, 2, null, 'police', 'primary', '严重欺凌: 公安'),
	('bullying', null, 1, 2, null, 'procuratorate', 'supervise', '公安介入时检察监督'),
	('psychological', null, 1, 4, null, 'health', 'primary', '心理危机干预'),
	('psychological', null, 1, 1, null, 'police', 'primary', '生命危险: 公安'),
	('legal', null, 1, 4, null, 'legal_aid', 'primary', '法律援助中心'),
	('legal', 'rights_complaint', 1, 4, null, 'procuratorate', 'inform', '12309 权益投诉');

-- The agency of a kind for a region: the region's own, else the nearest ancestor's.
create function agency_for(p_kind text, p_region text)
returns bigint language plpgsql stable as $$
declare
	v_code text := p_region;
	v_id bigint;
	v_depth integer := 0;
begin
	while v_code is not null and v_depth < 8 loop
		select id into v_id from agencies where region_code = v_code and kind = p_kind
		    order by id limit 1;
		if v_id is not null then
			return v_id;
		end if;
		select parent_code into v_code from regions where code = v_code;
		v_depth := v_depth + 1;
	end loop;
	return null;
end $$;
create index agencies_region_kind on agencies (region_code, kind);

-- Routing as a pure function of a case's facts and the rule tables: the
-- agencies and roles it must reach.  A case no rule matches goes to the
-- coordination office; an agency reached in several roles keeps the
-- strongest (primary > supervise > inform).
create function route_plan(p_categories jsonb, p_risk smallint, p_region text,
    p_institution_type text)
returns table (agency_id bigint, role text, rule_id integer)
language sql stable as $$
	with matched as (
		select r.id, r.agency_kind, r.role
		from routing_rules r
		join jsonb_array_elements(p_categories) c
		    on c->>'category' = r.category
		    and (r.subcategory is null or r.subcategory = c->>'subcategory')
		where p_risk between r.risk_min and r.risk_max
		    and p_region like r.region_prefix || '%'
		    and (r.institution_types is null or p_institution_type = any (r.institution_types))),
	found as materialized (
		select agency_for(m.agency_kind, p_region) as agency_id, m.role, m.id
		from matched m),
	targets as (
		select * from found
		union all
		select agency_for('coordination', p_region), 'primary', null
		where not exists (select 1 from found f where f.agency_id is not null)),
	ranked as (
		select t.*, row_number() over (partition by t.agency_id order by
		    case t.role when 'primary' then 1 when 'supervise' then 2 else 3 end, t.id) as n
		from targets t where t.agency_id is not null)
	select agency_id, role, id from ranked where n = 1
$$;

-- Append an event to a case's history (the case row is locked for ordering).
create function case_event(p_case_id bigint, p_kind text, p_actor bigint, p_data jsonb,
    p_note sealed default null)
returns integer language plpgsql as $$
declare
	v_seq integer;
begin
	perform 1 from cases where id = p_case_id for update;
	select coalesce(max(seq), 0) + 1 into v_seq from case_events where case_id = p_case_id;
	insert into case_events (case_id, seq, kind, actor, data)
	    values (p_case_id, v_seq, p_kind, p_actor, coalesce(p_data, '{}'));
	if p_note is not null then
		insert into case_notes (case_id, seq, text) values (p_case_id, v_seq, p_note);
	end if;
	return v_seq;
end $$;

-- Start a clock on an assignment; warns at the configured share of its time.
-- Daemons are told (NOTIFY hotline_clock) only when this clock needs attention
-- before every other running one: otherwise their timers are already early enough.
create function clock_start(p_assignment bigint, p_kind text, p_within interval)
returns void language plpgsql as $$
declare
	v_warn timestamptz := now() + p_within *
	    (select value::float8 from settings where name = 'warn_share');
	v_next timestamptz := clock_next_due();
begin
	insert into clocks (assignment_id, case_id, kind, warn_at, due_at)
	    select p_assignment, a.case_id, p_kind, v_warn, now() + p_within
	    from assignments a where a.id = p_assignment;
	if v_next is null or v_warn < v_next then
		perform pg_notify('hotline_clock', '');
	end if;
end $$;

-- Stop a kind of clock (or all with null) on an assignment.
create function clock_stop(p_assignment bigint, p_kind text)
returns void language sql as $$
	update clocks set stopped_at = now()
	where assignment_id = p_assignment and stopped_at is null and fired_at is null
	    and (p_kind is null or kind = p_kind)
$$;

-- Create an assignment with its service clocks (primary only) and history.
create function assignment_create(p_case_id bigint, p_agency bigint, p_role text,
    p_level integer, p_escalated_from bigint, p_transferred_from bigint, p_actor bigint)
returns bigint language plpgsql as $$
declare
	v_id bigint;
	d deadlines%rowtype;
	v_bullying interval;
begin
	insert into assignments (case_id, agency_id, role, escalation_level, escalated_from,
	    transferred_from)
	values (p_case_id, p_agency, p_role, p_level, p_escalated_from, p_transferred_from)
	returning id into v_id;
	if p_role = 'primary' then
		select * into d from deadlines where risk_level = (select risk_level from cases
		    where id = p_case_id);
		perform clock_start(v_id, 'acknowledge', d.acknowledge);
		perform clock_start(v_id, 'first_action', d.first_action);
		perform clock_start(v_id, 'resolve', d.resolve);
		if (select kind from agencies where id = p_agency) = 'education' and exists (
		    select 1 from case_categories where case_id = p_case_id and category = 'bullying') then
			select value::interval into v_bullying from settings
			    where name = 'bullying_investigation';
			perform clock_start(v_id, 'investigation', v_bullying);
		end if;
	end if;
	perform case_event(p_case_id, 'assigned', p_actor, jsonb_build_object(
	    'assignment', (select assignment_id from assignments where id = v_id),
	    'agency', (select code from agencies where id = p_agency), 'role', p_role,
	    'escalation_level', p_level));
	perform pg_notify('hotline_queue', '');
	return v_id;
end $$;

-- Route a new case: every agency it needs, each with its own clocks.
create function case_route(p_case_id bigint, p_institution_type text, p_actor bigint)
returns void language plpgsql as $$
declare
	c cases%rowtype;
	p record;
	v_cats jsonb;
begin
	select * into c from cases where id = p_case_id;
	select jsonb_agg(jsonb_build_object('category', category, 'subcategory', subcategory))
	    into v_cats from case_categories where case_id = p_case_id;
	for p in select * from route_plan(v_cats, c.risk_level, c.region_code, p_institution_type)
	    order by role, agency_id loop
		perform assignment_create(p_case_id, p.agency_id, p.role, 0, null, null, p_actor);
	end loop;
end $$;

-- The next agency up an escalation chain: the parent agency, then the
-- coordination office, then the procuratorate's supervision queue.
create function escalation_target(p_agency bigint, out agency_id bigint, out role text)
language plpgsql stable as $$
declare
	a agencies%rowtype;
begin
	select * into a from agencies where id = p_agency;
	if a.parent_id is not null then
		agency_id := a.parent_id;
		role := 'primary';
	elsif a.kind not in ('coordination', 'procuratorate') then
		agency_id := agency_for('coordination', a.region_code);
		role := 'primary';
	elsif a.kind = 'coordination' then
		agency_id := agency_for('procuratorate', a.region_code);
		role := 'supervise';
	end if;
end $$;

-- Handle one clock that needs attention (claimed, locked by the caller): a
-- warning before its deadline, or the deadline missed, with the history and
-- one escalation per assignment.  Its cost does not depend on how many
-- cases, assignments or clocks exist: every lookup is by key.
create function clock_handle(k clocks)
returns void language plpgsql as $$
declare
	a assignments%rowtype;
	t record;
	v_new bigint;
begin
	select * into a from assignments where id = k.assignment_id;
	if k.due_at > now() then
		update clocks set warned_at = now() where id = k.id;
		perform case_event(a.case_id, 'clock_warning', null, jsonb_build_object(
		    'assignment', a.assignment_id, 'clock', k.kind, 'due_at', api_ts(k.due_at)));
		return;
	end if;
	update clocks set fired_at = now(), warned_at = coalesce(warned_at, now())
	    where id = k.id;
	perform case_event(a.case_id, 'clock_missed', null, jsonb_build_object(
	    'assignment', a.assignment_id, 'clock', k.kind, 'due_at', api_ts(k.due_at),
	    'agency', (select code from agencies where id = a.agency_id)));
	-- One escalation per assignment: later misses are on record, and the
	-- escalated assignment has clocks of its own that climb further.
	select * into t from escalation_target(a.agency_id);
	if t.agency_id is null or exists (select 1 from assignments x
	    where x.escalated_from = a.id) then
		return;
	end if;
	v_new := assignment_create(a.case_id, t.agency_id, t.role, a.escalation_level + 1,
	    a.id, null, null);
	perform case_event(a.case_id, 'escalated', null, jsonb_build_object(
	    'from', a.assignment_id, 'to', (select assignment_id from assignments where id = v_new),
	    'agency', (select code from agencies where id = t.agency_id), 'clock', k.kind,
	    'level', a.escalation_level + 1));
end $$;

-- Apply what is due, at most p_limit clocks: missed deadlines first, earliest
-- first, then warnings.  Each claim walks its partial index in order and
-- skips rows another daemon holds (SKIP LOCKED), so several daemons never act
-- twice and the cost follows the clocks handled, not the clocks running.
-- Returns how many were handled and when the next one is due.
create function escalate_due(p_limit integer, out handled integer, out next_due timestamptz)
language plpgsql security definer set search_path = hotline, pg_temp as $$
declare
	k clocks%rowtype;
begin
	handled := 0;
	for k in select * from clocks
	    where stopped_at is null and fired_at is null and set_aside_at is null
		and due_at <= now()
	    order by due_at
	    for update skip locked
	    limit p_limit loop
		perform clock_handle(k);
		handled := handled + 1;
	end loop;
	if handled < p_limit then
		for k in select * from clocks
		    where stopped_at is null and fired_at is null and warned_at is null
			and set_aside_at is null and warn_at <= now()
		    order by warn_at
		    for update skip locked
		    limit p_limit - handled loop
			perform clock_handle(k);
			handled := handled + 1;
		end loop;
	end if;
	next_due := clock_next_due();
end $$;

-- The clocks escalate_due would take next (not locked): the daemon bisects
-- this list when a batch keeps failing.
create function clock_due_ids(p_limit integer)
returns bigint[]
language sql stable security definer set search_path = hotline, pg_temp as $$
	select coalesce(array_agg(id order by at, id), '{}') from (
		(select id, due_at as at from clocks
		    where stopped_at is null and fired_at is null and set_aside_at is null
			and due_at <= now()
		    order by due_at limit p_limit)
		union
		(select id, warn_at from clocks
		    where stopped_at is null and fired_at is null and warned_at is null
			and set_aside_at is null and warn_at <= now()
		    order by warn_at limit p_limit)
		order by at, id limit p_limit) x
$$;

-- Apply the given clocks if they still need attention (the daemon's retry of
-- part of a failed batch).  Returns how many were handled and the next due.
create function escalate_clocks(p_ids bigint[], out handled integer, out next_due timestamptz)
language plpgsql security definer set search_path = hotline, pg_temp as $$
declare
	k clocks%rowtype;
begin
	handled := 0;
	for k in select * from clocks
	    where id = any (p_ids) and stopped_at is null and fired_at is null
		and set_aside_at is null
		and (due_at <= now() or (warned_at is null and warn_at <= now()))
	    order by due_at, id
	    for update skip locked loop
		perform clock_handle(k);
		handled := handled + 1;
	end loop;
	next_due := clock_next_due();
end $$;

-- Set aside a clock whose handling fails on its own (SQLSTATE given), so that
-- it stops blocking the others; it stays visible to administrators.
create function clock_set_aside(p_id bigint, p_sqlstate text)
returns boolean
language sql security definer set search_path = hotline, pg_temp as $$
	with x as (update clocks set set_aside_at = now(), set_aside_reason = p_sqlstate
	    where id = p_id and stopped_at is null and fired_at is null and set_aside_at is null
	    returning 1)
	select exists (select 1 from x)
$$;

-- The categories of a case, as every view of it shows them.
create function case_categories_json(p_case_id bigint)
returns jsonb language sql stable as $$
	select coalesce(jsonb_agg(jsonb_build_object('category', k.category,
	    'subcategory', k.subcategory) order by k.category, k.subcategory), '[]')
	from case_categories k where k.case_id = p_case_id
$$;

-- An assignment as its agency sees it in the queue.
create function assignment_json(p_id bigint)
returns jsonb language sql stable as $$
	select jsonb_build_object(
	    'assignment_id', a.assignment_id, 'case_number', c.case_number, 'role', a.role,
	    'state', a.state, 'risk_level', c.risk_level, 'region_code', c.region_code,
	    'escalation_level', a.escalation_level, 'created_at', api_ts(a.created_at),
	    'agency', g.code,
	    'categories', case_categories_json(c.id),
	    'clocks', (select coalesce(jsonb_agg(jsonb_build_object('kind', k.kind,
		'due_at', api_ts(k.due_at), 'status', case when k.stopped_at is not null then 'stopped'
		    when k.fired_at is not null then 'missed' when k.warned_at is not null then 'warning'
		    else 'running' end) order by k.due_at), '[]')
		from clocks k where k.assignment_id = a.id))
	from assignments a join cases c on c.id = a.case_id join agencies g on g.id = a.agency_id
	where a.id = p_id
$$;

-- GET /v1/queue: the agency's open work, most urgent first.
create function queue_list(p_client_id bigint, p_state text, p_limit integer)
returns table (status integer, code text, response jsonb)
language plpgsql stable security definer set search_path = hotline, pg_temp as $$
declare
	ac record;
begin
	select * into ac from api_client(p_client_id, '{agency}', 'only an agency may use this endpoint');
	if ac.status is not null then
		return query select ac.status, ac.code, ac.response;
		return;
	end if;
	return query select 200, null::text, jsonb_build_object('assignments', coalesce(jsonb_agg(
	    assignment_json(q.id) order by q.risk_level, q.next_due nulls last, q.id), '[]'))
	from (select a.id, c.risk_level, (select min(k.due_at) from clocks k where k.assignment_id = a.id
		and k.stopped_at is null and k.fired_at is null) as next_due
	    from assignments a join cases c on c.id = a.case_id
	    where a.agency_id = ac.agency_id
		and (case when p_state is null then a.state in ('open', 'acknowledged', 'accepted',
		    'case_opened', 'prosecution') else a.state = p_state end)
	    order by c.risk_level, next_due nulls last, a.id
	    limit greatest(1, least(coalesce(p_limit, 50), 500))) q;
end $$;

-- The assignment of this agency by its public id (null if not its own).
create function own_assignment(p_agency bigint, p_assignment text)
returns bigint language sql stable as $$
	select a.id from assignments a
	where a.assignment_id = uuid_or_null(p_assignment) and a.agency_id = p_agency
$$;

-- POST /v1/assignments/{id}/ack: acknowledge receipt (stops that clock only).
create function assignment_ack(p_client_id bigint, p_idem_key text, p_request_hash bytea,
    p_assignment text)
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
		update assignments set state = 'acknowledged', acknowledged_at = now() where id = v_id;
		perform clock_stop(v_id, 'acknowledge');
		perform case_event(a.case_id, 'acknowledged', p_client_id,
		    jsonb_build_object('assignment', a.assignment_id));
	elsif a.state not in ('acknowledged', 'accepted', 'case_opened', 'prosecution') then
		return query select *, false from api_fail(409, 'invalid_transition', null,
		    'this assignment can no longer be acknowledged');
		return;
	end if;
	v_resp := assignment_json(v_id);
	return query select * from mutation_store(p_client_id, p_idem_key, m.endpoint,
	    p_request_hash, 200, v_resp);
end $$;

-- The transitions an outcome may make, from which states.
create function outcome_allowed(p_from text, p_outcome text, p_kind text)
returns boolean language sql immutable as $$
	select case p_outcome
	    when 'accepted' then p_kind = 'police' and p_from in ('open', 'acknowledged')
	    when 'case_opened' then p_kind = 'police' and p_from in ('open', 'acknowledged', 'accepted')
	    when 'declined' then p_kind = 'police' and p_from in ('open', 'acknowledged', 'accepted')
	    when 'prosecution' then p_kind = 'police' and p_from = 'case_opened'
	    when 'resolved' then p_from in ('open', 'acknowledged', 'accepted', 'case_opened', 'prosecution')
	    when 'closed' then p_from in ('declined', 'resolved', 'prosecution')
	    else false end
$$;

-- POST /v1/cases/{n}/events: a note, an outcome, feedback to the reporter, or a
-- procuratorate's supervision record.
create function case_post_event(p_client_id bigint, p_idem_key text, p_request_hash bytea,
    p_case_number text, p_body jsonb)
returns table (status integer, code text, response jsonb, replayed boolean)
language plpgsql security definer set search_path = hotline, pg_temp as $$
declare
	m record;
	c cases%rowtype;
	a assignments%rowtype;
	v_type text := p_body->>'type';
	v_outcome text := p_body->>'outcome';
	v_seq integer;
	s record;
	v_resp jsonb;
	v_data jsonb;
begin
	select * into m from mutation_begin(p_client_id, '{agency}', p_idem_key, 'events',
	    p_case_number, p_request_hash);
	if m.status is not null then
		return query select m.status, m.code, m.response, m.replayed;
		return;
	end if;
	select * into c from cases where case_number = p_case_number;
	-- The agency's own live assignment on this case, primary first.
	select * into a from assignments x where x.case_id = c.id and x.agency_id = m.agency_id
	    order by (x.state in ('transferred', 'closed')), (x.role <> 'primary'), x.id limit 1
	    for update;
	if c.id is null or a.id is null then
		return query select *, false from api_fail(404, 'not_found', null, 'no such case');
		return;
	end if;
	v_data := jsonb_build_object('assignment', a.assignment_id, 'type', v_type);
	if v_type = 'outcome' then
		if a.role <> 'primary' then
			return query select *, false from api_fail(403, 'forbidden', 'type',
			    'only the primary assignee records outcomes');
			return;
		end if;
		if not outcome_allowed(a.state, v_outcome, m.agency_kind) then
			return query select *, false from api_fail(409, 'invalid_transition', 'outcome',
			    format('outcome %s is not allowed from state %s for this agency',
			    v_outcome, a.state));
			return;
		end if;
		update assignments set state = v_outcome,
		    acknowledged_at = coalesce(acknowledged_at, now()) where id = a.id;
		perform clock_stop(a.id, 'acknowledge');
		perform clock_stop(a.id, 'first_action');
		if v_outcome in ('resolved', 'closed', 'declined') then
			perform clock_stop(a.id, 'resolve');
			perform clock_stop(a.id, 'investigation');
		end if;
		if v_outcome = 'closed' then
			perform clock_stop(a.id, null);
		end if;
		for s in select * from statutory_clocks where outcome = v_outcome loop
			perform clock_start(a.id, s.clock, s.within);
		end loop;
		v_data := v_data || jsonb_strip_nulls(jsonb_build_object('outcome', v_outcome,
		    'police_case_number', p_body->>'police_case_number'));
	elsif v_type = 'feedback' then
		if m.agency_kind <> 'police' or a.role <> 'primary' then
			return query select *, false from api_fail(403, 'forbidden', 'type',
			    'feedback to the reporter is given by the primary police assignee');
			return;
		end if;
		perform clock_stop(a.id, 'feedback');
		perform clock_stop(a.id, 'decline_notice');
	elsif v_type = 'supervision' then
		if m.agency_kind <> 'procuratorate' then
			return query select *, false from api_fail(403, 'forbidden', 'type',
			    'supervision records are the procuratorate''s');
			return;
		end if;
		v_data := v_data || jsonb_build_object('supervision', p_body->>'supervision');
	elsif v_type = 'note' then
		if a.state in ('open') then
			perform clock_stop(a.id, 'first_action');
		end if;
	end if;
	v_seq := case_event(c.id, v_type, p_client_id, v_data,
	    sealed_in(coalesce(p_body->>'text', p_body->>'reason')));
	-- A case is closed when no primary assignment is live any more.
	if v_outcome = 'closed' and not exists (select 1 from assignments x
	    where x.case_id = c.id and x.role = 'primary' and x.state not in ('closed', 'transferred')) then
		update cases set status = 'closed', closed_at = now() where id = c.id;
	end if;
	v_resp := jsonb_build_object('case_number', c.case_number, 'seq', v_seq,
	    'assignment', assignment_json(a.id));
	return query select * from mutation_store(p_client_id, p_idem_key, m.endpoint,
	    p_request_hash, 201, v_resp);
end $$;

-- POST /v1/assignments/{id}/transfer: hand the work to another agency.
create function assignment_transfer(p_client_id bigint, p_idem_key text,
    p_request_hash bytea, p_assignment text, p_body jsonb)
returns table (status integer, code text, response jsonb, replayed boolean)
language plpgsql security definer set search_path = hotline, pg_temp as $$
declare
	m record;
	v_id bigint;
	a assignments%rowtype;
	v_target bigint;
	v_new bigint;
	v_resp jsonb;
begin
	select * into m from mutation_begin(p_client_id, '{agency}', p_idem_key, 'transfer',
	    p_assignment, p_request_hash);
	if m.status is not null then
		return query select m.status, m.code, m.response, m.replayed;
		return;
	end if;
	v_id := own_assignment(m.agency_id, p_assignment);
	if v_id is null then
		return query select *, false from api_fail(404, 'not_found', null, 'no such assignment');
		return;
	end if;
	select g.id into v_target from agencies g where g.code = p_body->>'target_agency';
	if v_target is null then
		return query select *, false from api_fail(422, 'unknown_agency', 'target_agency',
		    'no such agency');
		return;
	end if;
	if v_target = m.agency_id then
		return query select *, false from api_fail(422, 'invalid_value', 'target_agency',
		    'an assignment cannot be transferred to its own agency');
		return;
	end if;
	select * into a from assignments where id = v_id for update;
	if a.state not in ('open', 'acknowledged', 'accepted') then
		return query select *, false from api_fail(409, 'invalid_transition', null,
		    'this assignment can no longer be transferred');
		return;
	end if;
	update assignments set state = 'transferred' where id = v_id;
	perform clock_stop(v_id, null);
	v_new := assignment_create(a.case_id, v_target, a.role, a.escalation_level, null, v_id,
	    p_client_id);
	perform case_event(a.case_id, 'transferred', p_client_id, jsonb_build_object(
	    'from', a.assignment_id, 'to', (select assignment_id from assignments where id = v_new),
	    'agency', p_body->>'target_agency'), sealed_in(p_body->>'reason'));
	v_resp := jsonb_build_object('transferred', assignment_json(v_id), 'new', assignment_json(v_new));
	return query select * from mutation_store(p_client_id, p_idem_key, m.endpoint,
	    p_request_hash, 201, v_resp);
end $$;

-- The region prefix an agency oversees (320100 -> 3201, 320000 -> 32).
create function region_prefix(p_code text)
returns text language sql immutable as $$
	select case when p_code like '%0000' then left(p_code, 2)
	    when p_code like '%00' then left(p_code, 4) else p_code end
$$;

-- GET /v1/supervision/overdue: every overdue or escalated assignment in the
-- procuratorate's region, across agencies.
create function supervision_overdue(p_client_id bigint)
returns table (status integer, code text, response jsonb)
language plpgsql stable security definer set search_path = hotline, pg_temp as $$
declare
	ac record;
	v_prefix text;
begin
	select * into ac from api_client(p_client_id, '{procuratorate}',
	    'only a procuratorate may see the supervision list');
	if ac.status is not null then
		return query select ac.status, ac.code, ac.response;
		return;
	end if;
	select region_prefix(region_code) into v_prefix from agencies where id = ac.agency_id;
	return query select 200, null::text, jsonb_build_object('assignments', coalesce(jsonb_agg(
	    assignment_json(a.id) order by a.id), '[]'))
	from assignments a join cases c on c.id = a.case_id
	where c.region_code like v_prefix || '%'
	    and (a.escalation_level > 0 or exists (select 1 from clocks k
		where k.assignment_id = a.id and k.fired_at is not null));
end $$;

-- The earliest moment a clock needs attention (for the daemon's timer): two
-- index lookups, however many clocks are running.
create function clock_next_due()
returns timestamptz
language sql stable security definer set search_path = hotline, pg_temp as $$
	select least(
	    (select min(warn_at) from clocks where stopped_at is null and fired_at is null
		and warned_at is null and set_aside_at is null),
	    (select min(due_at) from clocks where stopped_at is null and fired_at is null
		and set_aside_at is null))
$$;

comment on table routing_rules is 'Which agency kind gets which categories, at which risk levels, regions and reporting institutions, in which role.';
comment on table deadlines is 'The service clocks of a primary assignment by risk level: acknowledge, first action, resolve.';
comment on table statutory_clocks is 'The statutory clocks an agency''s outcome starts (feedback to the reporter, decline notice).';
comment on table settings is 'Settings that are data (warning share of a clock, retention, access-request hours, ...).';
comment on table assignments is 'An agency''s piece of work on a case: its role, state and escalation level.';
comment on table clocks is 'Every clock of an assignment as a row with its warning and due times; set aside (with its SQLSTATE) when its handling fails on its own.';

comment on function agency_for(text, text) is 'The agency of a kind for a region: the region''s own, else the nearest ancestor''s.';
comment on function route_plan(jsonb, smallint, text, text) is 'Routing as a pure function of a case''s facts and the rule tables: the agencies and roles it must reach.';
comment on function case_event(bigint, text, bigint, jsonb, sealed) is 'Appends an event (and its sealed note) to a case''s history; returns its seq.';
comment on function clock_start(bigint, text, interval) is 'Starts a clock on an assignment (warning at the configured share); notifies the daemons when it is the earliest.';
comment on function clock_stop(bigint, text) is 'Stops a kind of clock (or every clock with null) on an assignment.';
comment on function assignment_create(bigint, bigint, text, integer, bigint, bigint, bigint) is 'Creates an assignment with its service clocks (primary only) and its history event; notifies the queues.';
comment on function case_route(bigint, text, bigint) is 'Routes a new case: one assignment per agency of its route plan.';
comment on function escalation_target(bigint) is 'The next agency up an escalation chain: parent, coordination office, then the procuratorate''s supervision.';
comment on function clock_handle(clocks) is 'Handles one claimed clock: a warning, or the deadline missed with one escalation per assignment.';
comment on function escalate_due(integer) is 'API: applies at most p_limit due clocks (missed deadlines, then warnings), SKIP LOCKED; returns how many and the next due time.';
comment on function clock_due_ids(integer) is 'API: the clocks escalate_due would take next, for the daemon to bisect a failing batch.';
comment on function escalate_clocks(bigint[]) is 'API: applies the given clocks if they still need attention; returns how many and the next due time.';
comment on function clock_set_aside(bigint, text) is 'API: sets aside a clock whose handling fails on its own, with the SQLSTATE.';
comment on function case_categories_json(bigint) is 'The categories of a case as every view of it shows them, in order.';
comment on function assignment_json(bigint) is 'An assignment as its agency sees it in the queue.';
comment on function queue_list(bigint, text, integer) is 'API GET /v1/queue: the agency''s open work, most urgent first; returns (status, code, response).';
comment on function own_assignment(bigint, text) is 'The assignment of this agency by its public id (null if not its own).';
comment on function assignment_ack(bigint, text, bytea, text) is 'API POST /v1/assignments/{id}/ack; returns (status, code, response, replayed).';
comment on function outcome_allowed(text, text, text) is 'Whether an outcome may be recorded from a state by an agency of this kind.';
comment on function case_post_event(bigint, text, bytea, text, jsonb) is 'API POST /v1/cases/{n}/events: a note, an outcome, feedback or a supervision record; returns (status, code, response, replayed).';
comment on function assignment_transfer(bigint, text, bytea, text, jsonb) is 'API POST /v1/assignments/{id}/transfer; returns (status, code, response, replayed).';
comment on function region_prefix(text) is 'The region prefix an agency oversees (320100 -> 3201, 320000 -> 32).';
comment on function supervision_overdue(bigint) is 'API GET /v1/supervision/overdue: overdue or escalated assignments in the procuratorate''s region; returns (status, code, response).';
comment on function clock_next_due() is 'API: the earliest moment a clock needs attention (two index lookups).';

revoke execute on all functions in schema hotline from public;
grant execute on function queue_list(bigint, text, integer),
    assignment_ack(bigint, text, bytea, text),
    case_post_event(bigint, text, bytea, text, jsonb),
    assignment_transfer(bigint, text, bytea, text, jsonb),
    supervision_overdue(bigint), escalate_due(integer), clock_next_due(),
    clock_due_ids(integer), escalate_clocks(bigint[]), clock_set_aside(bigint, text) to hotlined;

reset role;
