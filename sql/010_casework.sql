-- Casework that follows the law: the assignment state machine and its
-- clocks (domain.md, "Deadlines", "Police and agency outcomes").
--
--   * Police accept a mandatory report immediately (opinion art. 8): their
--     acknowledge clock on a report is never later than the setting
--     report_police_acknowledge (1 hour), whatever the risk level.
--   * An agency that finds a case outside its jurisdiction
--     (outside_jurisdiction) has 24 hours to transfer it (police criminal
--     procedure rules art. 175): the transfer clock, which the transfer
--     stops.  A transfer goes to an agency of the same kind and buys no
--     time: the receiver's clocks are the sender's running ones with their
--     due times; only its acknowledgement is its own.
--   * 立案 and 移送审查起诉 put the case on criminal procedure: they stop the
--     resolve clock; the reporting unit is told before 移送审查起诉 (a
--     feedback with notice "prosecution"); 不予立案 stops the resolve and
--     investigation clocks and starts the decline notice clock.
--   * Any action of an assignment (a note, an outcome, feedback) stops its
--     first-action clock, whatever its state.
--   * Escalation: each missed clock escalates unless a copy above the work
--     is still live, so an assignment escalates again for a later clock
--     once its earlier copy has stood down; copies follow the work below
--     them: when the assignment below acts, the copies above it that have
--     not taken the work over (still open or acknowledged) stand down
--     (returned), leaving their queues.
--   * The bullying investigation clock is the school's: it starts at intake
--     on the routed education bureau's assignment, and neither escalation
--     nor a transfer restarts it.
--   * Inform and supervise assignments are closed by their agency once
--     acknowledged; closing the last primary assignment (escalated copies
--     aside) closes the case and all its remaining live work.
--   * Only live assignments act: one transferred away, closed or stood down
--     can no longer post to the case nor take its data key.
--   * Notes and reasons are bound to their place in the history: the
--     daemon seals each under the field name note:<id> and sends the id
--     ("$note"), kept in the event's data (hash-chained).
--   * A procuratorate records supervision (立案监督, 检察建议, addressed to an
--     agency of its region) on any case in its region.
set role hotline_owner;
set search_path = hotline, pg_temp;
select set_config('hotline.scope', 'system', true);

alter table assignments drop constraint assignments_state_check;
alter table assignments add constraint assignments_state_check check (state in ('open',
    'acknowledged', 'accepted', 'case_opened', 'declined', 'outside_jurisdiction',
    'transferred', 'prosecution', 'resolved', 'closed', 'returned'));
alter table assignments add column overdue_at timestamptz;
comment on column assignments.state is 'open, acknowledged, accepted (受案), case_opened (立案), declined (不予立案), outside_jurisdiction (to be transferred), transferred (移送), prosecution (移送审查起诉), resolved, closed; returned: an escalated copy that stood down because the work below it resumed.';
comment on column assignments.overdue_at is 'When the assignment first missed a clock, or was created by escalation (the procuratorate''s overdue list); null if never.';
create index assignments_overdue on assignments (id) where overdue_at is not null;
update assignments a set overdue_at = coalesce(
    case when a.escalation_level > 0 then a.created_at end,
    (select min(k.fired_at) from clocks k where k.assignment_id = a.id))
where a.escalation_level > 0 or exists (select 1 from clocks k
    where k.assignment_id = a.id and k.fired_at is not null);

insert into settings (name, value) values ('report_police_acknowledge', '1 hour');
insert into statutory_clocks (outcome, clock, within, description) values
	('outside_jurisdiction', 'transfer', '24 hours',
	    '不属于本机关管辖的, 24小时内移送 (公安机关办理刑事案件程序规定第175条)');

-- The procuratorate's supervision records (立案监督, 检察建议), each also an
-- event of its case's history.
create table supervision_records (
	id		bigint generated always as identity primary key,
	case_id		bigint not null,
	seq		integer not null,
	agency_id	bigint not null references agencies (id),
	supervision	text not null check (supervision in ('case_filing_supervision',
			    'procuratorial_suggestion')),
	recipient_id	bigint not null references agencies (id),
	at		timestamptz not null default now(),
	foreign key (case_id, seq) references case_events (case_id, seq)
);
create index supervision_records_agency on supervision_records (agency_id, id);
comment on table supervision_records is 'A procuratorate''s supervision records (立案监督, 检察建议) with the agency each is addressed to; each is also its case''s history event (case_id, seq).';
alter table supervision_records enable row level security;
alter table supervision_records force row level security;
create policy scope on supervision_records using (rls_all() or rls_case(case_id))
    with check (rls_all() or rls_case(case_id));

-- Whether an assignment in this state may still act on its case: not once
-- transferred away, closed or stood down.
create function assignment_live(p_state text)
returns boolean language sql immutable as $$
	select p_state not in ('transferred', 'closed', 'returned')
$$;

-- An assignment and those it was transferred from, in turn: one piece of
-- work passed between agencies.
create function assignment_lineage(p_id bigint)
returns table (id bigint) language sql stable as $$
	with recursive back (id) as (
		select p_id
		union all
		select a.transferred_from from assignments a join back b on a.id = b.id
		where a.transferred_from is not null)
	select id from back
$$;

-- The copies escalated above a piece of work (from it or from an agency it
-- was transferred from), and above them, including their own transfers.
create function assignment_copies(p_id bigint)
returns table (id bigint) language sql stable as $$
	with recursive up (id) as (
		select a.id from assignments a
		where a.escalated_from in (select l.id from assignment_lineage(p_id) l)
		union all
		select a.id from assignments a join up u
		    on a.escalated_from = u.id or a.transferred_from = u.id)
	select id from up
$$;

-- The work below acted: the copies above it that have not taken the work
-- over (still open or acknowledged) stand down, their clocks stop, and each
-- step is in the history.
create function escalation_stand_down(p_id bigint, p_actor bigint, p_cause text)
returns void language plpgsql as $$
declare
	x assignments%rowtype;
begin
	for x in select a.* from assignments a where a.id in (select id from assignment_copies(p_id))
	    and a.state in ('open', 'acknowledged') order by a.id for update loop
		update assignments set state = 'returned' where id = x.id;
		perform clock_stop(x.id, null);
		perform case_event(x.case_id, 'returned', p_actor, jsonb_build_object(
		    'assignment', x.assignment_id,
		    'to', (select assignment_id from assignments where id = p_id),
		    'agency', (select code from agencies where id = x.agency_id), 'cause', p_cause));
	end loop;
end $$;

-- Create an assignment with its clocks (primary only) and history.  A
-- transfer's receiver takes the sender's running clocks with their due
-- times (its acknowledgement is its own: the sender's if still running,
-- else a new one); other assignments get the service clocks of the case's
-- risk level, a police assignment on a report an acknowledge clock of at
-- most report_police_acknowledge; and the education bureau routed to a
-- bullying case the investigation clock, which starts here, at intake.
create or replace function assignment_create(p_case_id bigint, p_agency bigint, p_role text,
    p_level integer, p_escalated_from bigint, p_transferred_from bigint, p_actor bigint)
returns bigint language plpgsql as $$
declare
	v_id bigint;
	c cases%rowtype;
	d deadlines%rowtype;
	v_kind text := (select kind from agencies where id = p_agency);
	v_ack interval;
begin
	insert into assignments (case_id, agency_id, role, escalation_level, escalated_from,
	    transferred_from, overdue_at)
	values (p_case_id, p_agency, p_role, p_level, p_escalated_from, p_transferred_from,
	    case when p_escalated_from is not null then now() end)
	returning id into v_id;
	if p_role = 'primary' then
		select * into c from cases where id = p_case_id;
		select * into d from deadlines where risk_level = c.risk_level;
		v_ack := d.acknowledge;
		if v_kind = 'police' and c.source = 'report' then
			v_ack := least(v_ack, (select value::interval from settings
			    where name = 'report_police_acknowledge'));
		end if;
		if p_transferred_from is not null then
			insert into clocks (assignment_id, case_id, kind, started_at, warn_at, due_at,
			    warned_at)
			select v_id, k.case_id, k.kind, k.started_at, k.warn_at, k.due_at, k.warned_at
			from clocks k where k.assignment_id = p_transferred_from and k.stopped_at is null
			    and k.fired_at is null and k.set_aside_at is null and k.kind <> 'transfer'
			order by k.id;
			if not exists (select 1 from clocks k where k.assignment_id = v_id
			    and k.kind = 'acknowledge') then
				perform clock_start(v_id, 'acknowledge', v_ack);
			end if;
		else
			perform clock_start(v_id, 'acknowledge', v_ack);
			perform clock_start(v_id, 'first_action', d.first_action);
			perform clock_start(v_id, 'resolve', d.resolve);
			if p_escalated_from is null and v_kind = 'education' and exists (select 1
			    from case_categories where case_id = p_case_id and category = 'bullying') then
				perform clock_start(v_id, 'investigation', (select value::interval
				    from settings where name = 'bullying_investigation'));
			end if;
		end if;
	end if;
	perform case_event(p_case_id, 'assigned', p_actor, jsonb_build_object(
	    'assignment', (select assignment_id from assignments where id = v_id),
	    'agency', (select code from agencies where id = p_agency), 'role', p_role,
	    'escalation_level', p_level));
	perform pg_notify('hotline_queue', '');
	return v_id;
end $$;

-- Handle one clock that needs attention (claimed, locked by the caller): a
-- warning before its deadline, or the deadline missed.  A missed clock
-- escalates one level unless a copy above this work is still live (not
-- stood down): once per clock, never two live copies of one piece of work.
-- A clock of an assignment that no longer acts is stopped instead.  Every
-- lookup is by key.
create or replace function clock_handle(k clocks)
returns void language plpgsql as $$
declare
	a assignments%rowtype;
	t record;
	v_new bigint;
begin
	select * into a from assignments where id = k.assignment_id;
	if not assignment_live(a.state) then
		update clocks set stopped_at = now() where id = k.id;
		return;
	end if;
	if k.due_at > now() then
		update clocks set warned_at = now() where id = k.id;
		perform case_event(a.case_id, 'clock_warning', null, jsonb_build_object(
		    'assignment', a.assignment_id, 'clock', k.kind, 'due_at', api_ts(k.due_at)));
		return;
	end if;
	update clocks set fired_at = now(), warned_at = coalesce(warned_at, now())
	    where id = k.id;
	if a.overdue_at is null then
		update assignments set overdue_at = now() where id = a.id;
	end if;
	perform case_event(a.case_id, 'clock_missed', null, jsonb_build_object(
	    'assignment', a.assignment_id, 'clock', k.kind, 'due_at', api_ts(k.due_at),
	    'agency', (select code from agencies where id = a.agency_id)));
	select * into t from escalation_target(a.agency_id);
	if t.agency_id is null or exists (select 1 from assignments x
	    where x.escalated_from in (select l.id from assignment_lineage(a.id) l)
		and x.state <> 'returned') then
		return;
	end if;
	v_new := assignment_create(a.case_id, t.agency_id, t.role, a.escalation_level + 1,
	    a.id, null, null);
	perform case_event(a.case_id, 'escalated', null, jsonb_build_object(
	    'from', a.assignment_id, 'to', (select assignment_id from assignments where id = v_new),
	    'agency', (select code from agencies where id = t.agency_id), 'clock', k.kind,
	    'level', a.escalation_level + 1));
end $$;

-- An assignment as its agency sees it in the queue; an escalated copy also
-- shows the work below it (the assignment it escalated from, its agency and
-- state).
create or replace function assignment_json(p_id bigint)
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
	    || coalesce((select jsonb_build_object('escalated_from', jsonb_build_object(
		'assignment_id', b.assignment_id, 'agency', bg.code, 'state', b.state))
		from assignments b join agencies bg on bg.id = b.agency_id
		where b.id = a.escalated_from), '{}')
	from assignments a join cases c on c.id = a.case_id join agencies g on g.id = a.agency_id
	where a.id = p_id
$$;

-- GET /v1/queue: the agency's open work, most urgent first.
create or replace function queue_list(p_client_id bigint, p_state text, p_limit integer)
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
		    'case_opened', 'outside_jurisdiction', 'prosecution') else a.state = p_state end)
	    order by c.risk_level, next_due nulls last, a.id
	    limit greatest(1, least(coalesce(p_limit, 50), 500))) q;
end $$;

-- POST /v1/assignments/{id}/ack: acknowledge receipt (stops that clock
-- only); the copies escalated above this work stand down.
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
		update assignments set state = 'acknowledged', acknowledged_at = now() where id = v_id;
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

-- The transitions a primary assignment's outcome may make, from which
-- states, for an agency of this kind.  (An inform or supervise assignment
-- only closes, once acknowledged: see case_post_event.)
create or replace function outcome_allowed(p_from text, p_outcome text, p_kind text)
returns boolean language sql immutable as $$
	select case p_outcome
	    when 'accepted' then p_kind = 'police' and p_from in ('open', 'acknowledged')
	    when 'case_opened' then p_kind = 'police' and p_from in ('open', 'acknowledged', 'accepted')
	    when 'declined' then p_kind = 'police' and p_from in ('open', 'acknowledged', 'accepted')
	    when 'outside_jurisdiction' then p_from in ('open', 'acknowledged', 'accepted')
	    when 'prosecution' then p_kind = 'police' and p_from = 'case_opened'
	    when 'resolved' then p_from in ('open', 'acknowledged', 'accepted', 'case_opened', 'prosecution')
	    when 'closed' then p_from in ('declined', 'resolved', 'prosecution')
	    else false end
$$;

-- Close a case: each of its remaining live assignments is closed (its
-- clocks stopped, an event each), then the case.
create function case_close(p_case_id bigint, p_actor bigint)
returns void language plpgsql as $$
declare
	x assignments%rowtype;
begin
	for x in select * from assignments where case_id = p_case_id and assignment_live(state)
	    order by id for update loop
		update assignments set state = 'closed' where id = x.id;
		perform clock_stop(x.id, null);
		perform case_event(p_case_id, 'assignment_closed', p_actor, jsonb_build_object(
		    'assignment', x.assignment_id, 'agency', (select code from agencies
			where id = x.agency_id), 'cause', 'case_closed'));
	end loop;
	update cases set status = 'closed', closed_at = now() where id = p_case_id;
	perform case_event(p_case_id, 'case_closed', p_actor, '{}');
end $$;

-- The note id the daemon sealed an event's free text under ("$note": 32
-- hex digits), as it goes into the event's data; null when the body has no
-- free text or (an older client) no id.  A malformed id is a fault.
create function note_id(p_body jsonb)
returns jsonb language plpgsql immutable as $$
begin
	if p_body->>'$note' is null or (p_body->>'text' is null and p_body->>'reason' is null) then
		return '{}';
	end if;
	if p_body->>'$note' !~ '^[0-9a-f]{32}$' then
		raise exception 'note_id: malformed note id' using errcode = 'invalid_parameter_value';
	end if;
	return jsonb_build_object('note_id', p_body->>'$note');
end $$;

-- POST /v1/cases/{n}/events: a note, an outcome, feedback to the reporting
-- unit, or a procuratorate's supervision record, by the agency's live
-- assignment on the case (a procuratorate records supervision on any case
-- of its region without one).
create or replace function case_post_event(p_client_id bigint, p_idem_key text,
    p_request_hash bytea, p_case_number text, p_body jsonb)
returns table (status integer, code text, response jsonb, replayed boolean)
language plpgsql security definer set search_path = hotline, pg_temp as $$
declare
	m record;
	c cases%rowtype;
	a assignments%rowtype;
	g agencies%rowtype;
	v_type text := p_body->>'type';
	v_outcome text := p_body->>'outcome';
	v_region boolean := false;
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
	    and assignment_live(x.state)
	    order by (x.role <> 'primary'), x.id limit 1
	    for update;
	if m.agency_kind = 'procuratorate' and c.id is not null then
		v_region := c.region_code like (select region_prefix(x.region_code) from agencies x
		    where x.id = m.agency_id) || '%';
	end if;
	if c.id is null or (a.id is null and not (v_type = 'supervision' and v_region)) then
		if exists (select 1 from assignments x where x.case_id = c.id
		    and x.agency_id = m.agency_id) then
			return query select *, false from api_fail(409, 'invalid_transition', null,
			    'this agency''s work on the case has ended (transferred, closed or returned)');
		else
			return query select *, false from api_fail(404, 'not_found', null, 'no such case');
		end if;
		return;
	end if;
	v_data := jsonb_strip_nulls(jsonb_build_object('assignment', a.assignment_id, 'type', v_type))
	    || note_id(p_body);
	if v_type = 'outcome' then
		if a.role <> 'primary' and v_outcome <> 'closed' then
			return query select *, false from api_fail(403, 'forbidden', 'outcome',
			    'only the primary assignee records outcomes; an informed or supervising agency closes its assignment');
			return;
		end if;
		if (a.role = 'primary' and not outcome_allowed(a.state, v_outcome, m.agency_kind))
		    or (a.role <> 'primary' and a.state <> 'acknowledged') then
			return query select *, false from api_fail(409, 'invalid_transition', 'outcome',
			    format('outcome %s is not allowed from state %s for this agency',
			    v_outcome, a.state));
			return;
		end if;
		if v_outcome = 'prosecution' and c.source = 'report' and not exists (select 1
		    from case_events e where e.case_id = c.id and e.kind = 'feedback'
			and e.data->>'notice' = 'prosecution'
			and e.data->>'assignment' = a.assignment_id::text) then
			return query select *, false from api_fail(409, 'invalid_transition', 'outcome',
			    'the reporting unit is told before 移送审查起诉: post feedback with notice prosecution first');
			return;
		end if;
		update assignments set state = v_outcome,
		    acknowledged_at = coalesce(acknowledged_at, now()) where id = a.id;
		perform clock_stop(a.id, 'acknowledge');
		perform clock_stop(a.id, 'first_action');
		if v_outcome in ('case_opened', 'prosecution', 'declined', 'resolved') then
			perform clock_stop(a.id, 'resolve');
		end if;
		if v_outcome in ('declined', 'resolved') then
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
		if p_body->>'notice' = 'prosecution' and a.state <> 'case_opened' then
			return query select *, false from api_fail(409, 'invalid_transition', 'notice',
			    'the notice of 移送审查起诉 is given once a criminal case is open (立案)');
			return;
		end if;
		perform clock_stop(a.id, 'first_action');
		perform clock_stop(a.id, 'feedback');
		perform clock_stop(a.id, 'decline_notice');
		v_data := v_data || jsonb_strip_nulls(jsonb_build_object('notice', p_body->>'notice'));
	elsif v_type = 'supervision' then
		if m.agency_kind <> 'procuratorate' then
			return query select *, false from api_fail(403, 'forbidden', 'type',
			    'supervision records are the procuratorate''s');
			return;
		end if;
		select x.* into g from agencies x where x.code = p_body->>'recipient_agency';
		if g.id is null then
			return query select *, false from api_fail(422, 'unknown_agency', 'recipient_agency',
			    'no such agency');
			return;
		end if;
		if g.region_code not like (select region_prefix(x.region_code) from agencies x
		    where x.id = m.agency_id) || '%' then
			return query select *, false from api_fail(422, 'invalid_value', 'recipient_agency',
			    'must be an agency of this procuratorate''s region');
			return;
		end if;
		v_data := v_data || jsonb_build_object('supervision', p_body->>'supervision',
		    'recipient', g.code);
	elsif v_type = 'note' then
		perform clock_stop(a.id, 'first_action');
	end if;
	v_seq := case_event(c.id, v_type, p_client_id, v_data,
	    sealed_in(coalesce(p_body->>'text', p_body->>'reason')));
	if v_type = 'supervision' then
		insert into supervision_records (case_id, seq, agency_id, supervision, recipient_id)
		values (c.id, v_seq, m.agency_id, p_body->>'supervision', g.id);
	else
		-- The work acted: the copies escalated above it stand down.
		perform escalation_stand_down(a.id, p_client_id, coalesce(v_outcome, v_type));
	end if;
	-- Closing the last primary assignment (escalated copies aside) closes
	-- the case and the rest of its live work.
	if v_outcome = 'closed' and a.role = 'primary' and not exists (select 1 from assignments x
	    where x.case_id = c.id and x.role = 'primary' and x.escalation_level = 0
		and assignment_live(x.state)) then
		perform case_close(c.id, p_client_id);
	end if;
	v_resp := jsonb_build_object('case_number', c.case_number, 'seq', v_seq);
	if a.id is not null then
		v_resp := v_resp || jsonb_build_object('assignment', assignment_json(a.id));
	end if;
	return query select * from mutation_store(p_client_id, p_idem_key, m.endpoint,
	    p_request_hash, 201, v_resp);
end $$;

-- POST /v1/assignments/{id}/transfer: hand the work to another agency of
-- the same kind.  The receiver's clocks carry the time left (assignment_create);
-- the sender's stop, its transfer clock with them.
create or replace function assignment_transfer(p_client_id bigint, p_idem_key text,
    p_request_hash bytea, p_assignment text, p_body jsonb)
returns table (status integer, code text, response jsonb, replayed boolean)
language plpgsql security definer set search_path = hotline, pg_temp as $$
declare
	m record;
	v_id bigint;
	a assignments%rowtype;
	g agencies%rowtype;
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
	select x.* into g from agencies x where x.code = p_body->>'target_agency';
	if g.id is null then
		return query select *, false from api_fail(422, 'unknown_agency', 'target_agency',
		    'no such agency');
		return;
	end if;
	if g.id = m.agency_id then
		return query select *, false from api_fail(422, 'invalid_value', 'target_agency',
		    'an assignment cannot be transferred to its own agency');
		return;
	end if;
	if g.kind <> m.agency_kind then
		return query select *, false from api_fail(422, 'invalid_value', 'target_agency',
		    'must be an agency of the same kind as this one');
		return;
	end if;
	select * into a from assignments where id = v_id for update;
	if a.state not in ('open', 'acknowledged', 'accepted', 'outside_jurisdiction') then
		return query select *, false from api_fail(409, 'invalid_transition', null,
		    'this assignment can no longer be transferred');
		return;
	end if;
	v_new := assignment_create(a.case_id, g.id, a.role, a.escalation_level, null, v_id,
	    p_client_id);
	update assignments set state = 'transferred' where id = v_id;
	perform clock_stop(v_id, null);
	perform case_event(a.case_id, 'transferred', p_client_id, jsonb_build_object(
	    'from', a.assignment_id, 'to', (select assignment_id from assignments where id = v_new),
	    'agency', g.code, 'role', a.role) || note_id(p_body), sealed_in(p_body->>'reason'));
	v_resp := jsonb_build_object('transferred', assignment_json(v_id), 'new', assignment_json(v_new));
	return query select * from mutation_store(p_client_id, p_idem_key, m.endpoint,
	    p_request_hash, 201, v_resp);
end $$;

-- The wrapped data key of a case the agency client may write to (to seal a
-- note or a reason before posting it): through a live assignment of its
-- own, or for a procuratorate a case of its region.  {"uid", "kid",
-- "wrapped"}, {"purged": true}, {"ended": true} when the agency's only
-- assignments there no longer act, or null.
create or replace function case_key(p_client_id bigint, p_case_number text, p_assignment text)
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
		    where a.agency_id = ac.agency_id and a.assignment_id = uuid_or_null(p_assignment)
			and assignment_live(a.state);
	else
		select x.* into c from cases x where x.case_number = p_case_number
		    and (exists (select 1 from assignments a where a.case_id = x.id
			and a.agency_id = ac.agency_id and assignment_live(a.state))
		    or (ac.agency_kind = 'procuratorate' and x.region_code like (select
			region_prefix(g.region_code) from agencies g where g.id = ac.agency_id) || '%'));
	end if;
	if c.id is null then
		if (p_assignment is not null and exists (select 1 from assignments a
		    where a.assignment_id = uuid_or_null(p_assignment) and a.agency_id = ac.agency_id))
		    or (p_assignment is null and exists (select 1 from assignments a
			join cases x on x.id = a.case_id
			where x.case_number = p_case_number and a.agency_id = ac.agency_id)) then
			return '{"ended": true}'::jsonb;
		end if;
		return null;
	end if;
	if c.purged_at is not null then
		return '{"purged": true}'::jsonb;
	end if;
	return case_data_key(c);
end $$;

------------------------------------------------------------------------------
-- The work already in the database, brought under these rules.
------------------------------------------------------------------------------
-- 立案, 移送审查起诉 and 不予立案 stopped their resolve clock (and 不予立案 the
-- investigation clock).
update clocks k set stopped_at = now() from assignments a
where a.id = k.assignment_id and k.stopped_at is null and k.fired_at is null
    and ((k.kind = 'resolve' and a.state in ('case_opened', 'prosecution', 'declined'))
	or (k.kind = 'investigation' and a.state = 'declined'));
-- Copies whose work below acted after they were made stand down.
do $$
declare
	x record;
begin
	for x in select distinct on (c.id) c.id as copy, b.id as below, e.kind
	    from assignments c join assignments b on b.id = c.escalated_from
	    join case_events e on e.case_id = b.case_id and e.at > c.created_at
		and e.kind in ('acknowledged', 'outcome', 'feedback', 'note')
		and e.data->>'assignment' = b.assignment_id::text
	    where c.state in ('open', 'acknowledged')
	    order by c.id, e.seq loop
		perform escalation_stand_down(x.below, null, x.kind);
	end loop;
end $$;
-- A closed case keeps no live work.
do $$
declare
	x record;
begin
	for x in select a.*, g.code from assignments a join cases c on c.id = a.case_id
	    join agencies g on g.id = a.agency_id
	    where c.status = 'closed' and assignment_live(a.state) order by a.id loop
		update assignments set state = 'closed' where id = x.id;
		perform clock_stop(x.id, null);
		perform case_event(x.case_id, 'assignment_closed', null, jsonb_build_object(
		    'assignment', x.assignment_id, 'agency', x.code, 'cause', 'case_closed'));
	end loop;
end $$;

comment on function assignment_live(text) is 'Whether an assignment in this state may still act on its case (not transferred, closed or returned).';
comment on function assignment_lineage(bigint) is 'An assignment and those it was transferred from, in turn.';
comment on function assignment_copies(bigint) is 'The copies escalated above a piece of work (from it or an assignment it was transferred from), and above them.';
comment on function escalation_stand_down(bigint, bigint, text) is 'The work below acted: the copies above it still open or acknowledged stand down (returned), with their clocks stopped and an event each.';
comment on function assignment_create(bigint, bigint, text, integer, bigint, bigint, bigint) is 'Creates an assignment with its clocks (primary only: a transfer''s receiver carries the sender''s; police on a report acknowledge within report_police_acknowledge; the routed education bureau of a bullying case gets the investigation clock) and its history event; notifies the queues.';
comment on function clock_handle(clocks) is 'Handles one claimed clock: a warning, or the deadline missed, escalating unless a live copy is above the work already.';
comment on function assignment_json(bigint) is 'An assignment as its agency sees it in the queue (an escalated copy with the work below it).';
comment on function queue_list(bigint, text, integer) is 'API GET /v1/queue: the agency''s open work, most urgent first; returns (status, code, response).';
comment on function assignment_ack(bigint, text, bytea, text) is 'API POST /v1/assignments/{id}/ack: stops the acknowledge clock, stands down the copies above; returns (status, code, response, replayed).';
comment on function outcome_allowed(text, text, text) is 'Whether a primary assignment''s outcome may be recorded from a state by an agency of this kind.';
comment on function case_close(bigint, bigint) is 'Closes a case and its remaining live assignments (clocks stopped, an event each).';
comment on function note_id(jsonb) is 'The note id ({"note_id"}) a body''s free text was sealed under ("$note"), for the event''s data; {} without one.';
comment on function case_post_event(bigint, text, bytea, text, jsonb) is 'API POST /v1/cases/{n}/events: a note, an outcome, feedback or a supervision record by a live assignment (supervision: any case of the procuratorate''s region); returns (status, code, response, replayed).';
comment on function assignment_transfer(bigint, text, bytea, text, jsonb) is 'API POST /v1/assignments/{id}/transfer to an agency of the same kind; the receiver carries the time left; returns (status, code, response, replayed).';
comment on function case_key(bigint, text, text) is 'API: the wrapped data key of a case the agency may write to (a live assignment, or a procuratorate''s region), to seal a note before posting it.';

revoke execute on all functions in schema hotline from public;

reset role;
