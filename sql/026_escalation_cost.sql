-- What firing a clock costs, and passes that share the work:
--
--   * escalate_due_shard is escalate_due on a shard of the cases (p_shard
--     of p_shards, by case id): the daemon runs a pass as escalation_workers
--     statements at once, each on the clocks of its own cases.  Two of them
--     never touch one case, so they never wait for each other's row locks
--     (a case's history, its assignments) and never deadlock; on a machine
--     with more than one core a burst of due clocks is fired by several
--     backends at once.  escalate_due stays, for a daemon of an earlier
--     release, as the one shard of one.
--   * A missed clock writes its assignment once: the overdue mark and the
--     next due time its firing leaves, in one update, before the clock's;
--     the clock's trigger (clock_moved) then finds them already there.  It
--     wrote two versions of the row before, neither HOT.
--   * A new assignment (an escalated copy, a routing, a transfer's
--     receiver) is inserted with the next due time of the clocks it starts,
--     and starts them in one INSERT, reading the settings and the earliest
--     running clock once: it started them one by one, each reading both
--     partial indexes of the running clocks and each moving the
--     assignment's next_due forward in a new version of the row.
set role hotline_owner;
set search_path = hotline, pg_temp;

-- Apply what is due in one shard (the clocks of the cases whose id is
-- p_shard modulo p_shards), at most p_limit clocks: missed deadlines first,
-- earliest first, then warnings.  As escalate_due(integer) otherwise.
create function escalate_due_shard(p_limit integer, p_shard integer, p_shards integer,
    out handled integer, out next_due timestamptz)
language plpgsql security definer set search_path = hotline, pg_temp as $$
declare
	k clocks%rowtype;
begin
	if p_shards is null or p_shards < 1 or p_shard is null or p_shard < 0
	    or p_shard >= p_shards then
		raise exception 'escalate_due_shard: shard % of % does not exist', p_shard, p_shards
		    using errcode = '22023';
	end if;
	handled := 0;
	for k in select * from clocks
	    where stopped_at is null and fired_at is null and set_aside_at is null
		and due_at <= now() and case_id % p_shards = p_shard
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
			and case_id % p_shards = p_shard
		    order by warn_at
		    for update skip locked
		    limit p_limit - handled loop
			perform clock_handle(k);
			handled := handled + 1;
		end loop;
	end if;
	next_due := clock_first_due();
end $$;

-- escalate_due (a daemon of an earlier release calls it) is the one shard
-- of one: the claiming loop is written once.
create or replace function escalate_due(p_limit integer, out handled integer,
    out next_due timestamptz)
language sql security definer set search_path = hotline, pg_temp as $$
	select s.handled, s.next_due from escalate_due_shard(p_limit, 0, 1) s
$$;

-- Handle one clock that needs attention (claimed, locked by the caller), as
-- migration 010 does; a missed clock's assignment is written once.
create or replace function clock_handle(k clocks)
returns void language plpgsql as $$
declare
	a assignments%rowtype;
	t record;
	v_new bigint;
	v_due timestamptz;
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
	-- What clock_moved will compute once this clock has fired.
	select coalesce(min(x.due_at), 'infinity') into v_due from clocks x
	    where x.assignment_id = a.id and x.stopped_at is null and x.fired_at is null
		and x.id <> k.id;
	if a.overdue_at is null or a.next_due is distinct from v_due then
		update assignments set overdue_at = coalesce(overdue_at, now()), next_due = v_due
		    where id = a.id;
	end if;
	update clocks set fired_at = now(), warned_at = coalesce(warned_at, now())
	    where id = k.id;
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

-- Create an assignment with its clocks and its history event, as migration
-- 010 does: the clocks a primary starts (not a transfer's receiver, which
-- carries the sender's) go in with one INSERT, and the assignment with
-- their earliest due time.
create or replace function assignment_create(p_case_id bigint, p_agency bigint, p_role text,
    p_level integer, p_escalated_from bigint, p_transferred_from bigint, p_actor bigint)
returns bigint language plpgsql as $$
declare
	v_id bigint;
	v_uuid uuid;
	c cases%rowtype;
	d deadlines%rowtype;
	g agencies%rowtype;
	v_ack interval;
	v_kinds text[];
	v_within interval[];
	v_share float8;
	v_next timestamptz;
begin
	select * into g from agencies where id = p_agency;
	if p_role = 'primary' then
		select * into c from cases where id = p_case_id;
		select * into d from deadlines where risk_level = c.risk_level;
		v_ack := d.acknowledge;
		if g.kind = 'police' and c.source = 'report' then
			v_ack := least(v_ack, (select value::interval from settings
			    where name = 'report_police_acknowledge'));
		end if;
		if p_transferred_from is null then
			v_kinds := array['acknowledge', 'first_action', 'resolve'];
			v_within := array[v_ack, d.first_action, d.resolve];
			if p_escalated_from is null and g.kind = 'education' and exists (select 1
			    from case_categories where case_id = p_case_id and category = 'bullying') then
				v_kinds := v_kinds || 'investigation'::text;
				v_within := v_within || (select value::interval from settings
				    where name = 'bullying_investigation');
			end if;
		end if;
	end if;
	insert into assignments (case_id, agency_id, role, escalation_level, escalated_from,
	    transferred_from, overdue_at, next_due)
	values (p_case_id, p_agency, p_role, p_level, p_escalated_from, p_transferred_from,
	    case when p_escalated_from is not null then now() end,
	    now() + (select min(w) from unnest(v_within) w))
	returning id, assignment_id into v_id, v_uuid;
	if v_kinds is not null then
		v_share := (select value::float8 from settings where name = 'warn_share');
		v_next := clock_first_due();
		insert into clocks (assignment_id, case_id, kind, warn_at, due_at)
		select v_id, p_case_id, u.kind, now() + u.within * v_share, now() + u.within
		from unnest(v_kinds, v_within) with ordinality u (kind, within, n)
		order by u.n;
		-- Daemons are told only when a new clock needs attention before
		-- every other running one (as clock_start does).
		if v_next is null or now() + (select min(w) from unnest(v_within) w) * v_share
		    < v_next then
			perform pg_notify('hotline_clock', '');
		end if;
	elsif p_role = 'primary' then
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
	end if;
	perform case_event(p_case_id, 'assigned', p_actor, jsonb_build_object(
	    'assignment', v_uuid, 'agency', g.code, 'role', p_role,
	    'escalation_level', p_level));
	perform pg_notify('hotline_queue', '');
	return v_id;
end $$;

comment on function escalate_due_shard(integer, integer, integer) is 'API: applies at most p_limit due clocks of one shard (cases whose id is p_shard modulo p_shards: passes on different shards never touch one case), missed deadlines then warnings, SKIP LOCKED; returns how many and the next due time.';
comment on function clock_handle(clocks) is 'Handles one claimed clock: a warning, or the deadline missed (the assignment written once), escalating unless a live copy is above the work already.';
comment on function assignment_create(bigint, bigint, text, integer, bigint, bigint, bigint) is 'Creates an assignment with its clocks (one INSERT, the assignment carrying their earliest due time; primary only: a transfer''s receiver carries the sender''s; police on a report acknowledge within report_police_acknowledge; the routed education bureau of a bullying case gets the investigation clock) and its history event; notifies the queues.';

revoke execute on all functions in schema hotline from public;
grant execute on function escalate_due_shard(integer, integer, integer) to hotlined;

reset role;
