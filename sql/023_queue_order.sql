-- The agencies' side at volume: what a queue, a claim and the overdue list
-- read follows the page asked for, not the backlog behind it.
--
--   * What the queue orders by is kept on the assignment, by triggers on the
--     tables that change it (so that any function, now or later, that
--     re-grades a case or moves a clock keeps it right): the case's risk
--     level and region, and next_due, the earliest due time of its running
--     clocks ('infinity' without one, so that it sorts last).  One index,
--     (agency, state, risk, next_due, id), gives "most urgent first" for an
--     agency and a state directly; the default list (every state with open
--     work) reads at most a page per state and keeps the first page of them.
--   * Keyset paging: a page's next_cursor is its last entry's place in that
--     order.
--   * since=: the assignments that appeared after an answer.  Each
--     assignment records the transaction that created it (created_xid), and
--     an answer gives as next_since the oldest transaction still running
--     when it was read (its snapshot's xmin): nothing created before that
--     can appear later.  since= lists, in the order they appeared, only what
--     was created at or after it by transactions that have all ended, so
--     an assignment committed out of order is never skipped.
--   * Row-level security is cheap per row for an agency: its own assignment
--     rows pass on their agency column, its cases by a lookup whose plan is
--     kept, before rls_case; and what a claim and an acknowledgement call
--     keeps its plans (assignment_json, clock_stop, ... in PL/pgSQL).
--   * The procuratorate's overdue list reads partial indexes of overdue
--     work by region (county, city, province: one column each), newest
--     first, live work apart from ended work.
--   * A daemon's long polls are woken by one query for every waiting agency
--     (queue_touched), after which only the waiters of agencies that got new
--     work query again.
set role hotline_owner;
set search_path = hotline, pg_temp;
select set_config('hotline.scope', 'system', true);

------------------------------------------------------------------------------
-- What the queue orders by, on the assignment.
------------------------------------------------------------------------------
alter table assignments add column risk_level smallint,
    add column region_code text,
    add column next_due timestamptz,
    add column created_xid bigint,
    add column region_city text generated always as (left(region_code, 4)) stored,
    add column region_province text generated always as (left(region_code, 2)) stored;

update assignments a set risk_level = c.risk_level, region_code = c.region_code,
    next_due = coalesce((select min(k.due_at) from clocks k where k.assignment_id = a.id
	and k.stopped_at is null and k.fired_at is null), 'infinity')
from cases c where c.id = a.case_id;

alter table assignments alter column risk_level set not null,
    alter column region_code set not null,
    alter column next_due set not null,
    alter column created_xid set default pg_current_xact_id()::text::bigint;

comment on column assignments.risk_level is 'The case''s risk level (kept by triggers: assignment_denormalise, case_assignments_follow).';
comment on column assignments.region_code is 'The case''s region, the child''s county (kept by triggers, like risk_level).';
comment on column assignments.region_city is 'The city prefix of region_code (4 digits): the overdue list of a city''s procuratorate.';
comment on column assignments.region_province is 'The province prefix of region_code (2 digits): the overdue list of a province''s procuratorate.';
comment on column assignments.next_due is 'The earliest due time of the assignment''s running clocks (not stopped, not fired), ''infinity'' without one (kept by triggers on clocks).';
comment on column assignments.created_xid is 'The transaction that created the assignment (pg_current_xact_id), for since=; null for assignments older than this column.';

-- The queue's order for an agency and a state (replaces (agency_id, state)).
create index assignments_queue on assignments (agency_id, state, risk_level, next_due, id);
drop index assignments_agency;
drop index assignments_overdue;
-- What appeared since a transaction, for an agency.
create index assignments_since on assignments (agency_id, created_xid, id)
    where created_xid is not null;
-- The overdue work of a region, newest first: live work, and ended work.
create index assignments_overdue_county on assignments (region_code, id)
    where overdue_at is not null and state not in ('transferred', 'closed', 'returned');
create index assignments_overdue_city on assignments (region_city, id)
    where overdue_at is not null and state not in ('transferred', 'closed', 'returned');
create index assignments_overdue_province on assignments (region_province, id)
    where overdue_at is not null and state not in ('transferred', 'closed', 'returned');
create index assignments_ended_county on assignments (region_code, id)
    where overdue_at is not null and state in ('transferred', 'closed', 'returned');
create index assignments_ended_city on assignments (region_city, id)
    where overdue_at is not null and state in ('transferred', 'closed', 'returned');
create index assignments_ended_province on assignments (region_province, id)
    where overdue_at is not null and state in ('transferred', 'closed', 'returned');

-- The triggers keeping these columns run in the scope of the statement
-- that fired them, and see what they must: every policy is by case, and a
-- statement that may write a case, a clock or an assignment sees that case
-- (a row they could not see would be left wrong; tests/sql/queue.sql checks
-- them under the agencies' scopes).

-- A new assignment takes its case's risk level and region (unless the
-- insert gives them: a set-based intake inserts the case in the same
-- statement, where this trigger cannot see it yet); its clocks, all started
-- after it, bring next_due down from 'infinity' (unless the insert gives
-- it too: intake knows its clocks' due times, and its clocks then find
-- their assignment's next_due already where they would bring it).
create function assignment_denormalise() returns trigger
language plpgsql set search_path = hotline, pg_temp as $$
begin
	if new.risk_level is null or new.region_code is null then
		select c.risk_level, c.region_code into new.risk_level, new.region_code
		    from cases c where c.id = new.case_id;
	end if;
	new.next_due := coalesce(new.next_due, 'infinity');
	return new;
end $$;
create trigger assignment_denormalise before insert on assignments
	for each row execute function assignment_denormalise();

-- A case re-graded (or moved): its assignments follow.
create function case_assignments_follow() returns trigger
language plpgsql set search_path = hotline, pg_temp as $$
begin
	update assignments set risk_level = new.risk_level, region_code = new.region_code
	    where case_id = new.id;
	return null;
end $$;
create trigger case_assignments_follow after update of risk_level, region_code on cases
	for each row when (old.risk_level is distinct from new.risk_level
	    or old.region_code is distinct from new.region_code)
	execute function case_assignments_follow();

-- A clock started running: its assignment's next_due comes forward to it if
-- it is the earliest.  (A row trigger: a statement trigger with a
-- transition table cost three times as much for the one-row inserts of
-- clock_start.)
create function clock_started() returns trigger
language plpgsql set search_path = hotline, pg_temp as $$
begin
	update assignments set next_due = new.due_at
	    where id = new.assignment_id and next_due > new.due_at;
	return null;
end $$;
create trigger clock_started after insert on clocks
	for each row when (new.stopped_at is null and new.fired_at is null)
	execute function clock_started();

-- A clock stopped, fired or moved: its assignment's next_due again.
create function clock_moved() returns trigger
language plpgsql set search_path = hotline, pg_temp as $$
declare
	v_due timestamptz;
begin
	select coalesce(min(k.due_at), 'infinity') into v_due from clocks k
	    where k.assignment_id = new.assignment_id and k.stopped_at is null
		and k.fired_at is null;
	update assignments set next_due = v_due
	    where id = new.assignment_id and next_due is distinct from v_due;
	return null;
end $$;
create trigger clock_moved after update on clocks
	for each row when (old.due_at is distinct from new.due_at
	    or (old.stopped_at is null) <> (new.stopped_at is null)
	    or (old.fired_at is null) <> (new.fired_at is null))
	execute function clock_moved();

------------------------------------------------------------------------------
-- Row-level security that costs little per row for an agency.  rls_case is
-- a SQL function with a sub-select, which PostgreSQL cannot inline: called
-- from a policy inside another function's statement it is planned afresh
-- at every call (some 0.1 ms a row).  The policies of what the agencies'
-- lists read test the agency's scope first with functions that keep their
-- plans (PL/pgSQL), and its own assignments by their agency column; any
-- other scope goes on to rls_case as before.
------------------------------------------------------------------------------
-- Whether the scope is this agency's.
create function rls_agency(p_agency_id bigint)
returns boolean language sql stable parallel safe as $$
	select hotline.rls_kind() = 'agency' and p_agency_id = hotline.rls_id()
$$;

-- Whether an agency scope may see the rows of a case (rls_case's test for
-- an agency, with its plan kept).
create function rls_agency_case(p_case_id bigint)
returns boolean language plpgsql stable parallel safe as $$
begin
	return hotline.rls_kind() = 'agency' and exists (select 1 from hotline.case_access a
	    where a.case_id = p_case_id and a.agency_id = hotline.rls_id());
end $$;

-- An agency's own assignment is always on a case it sees (case_access has
-- the row: case_access_assignment), so these only spare the lookups.  What
-- may be written is unchanged: a row for the agency itself is not enough,
-- the case must be one it sees.
alter policy scope on assignments
    using (rls_all() or rls_agency(agency_id) or rls_agency_case(case_id) or rls_case(case_id))
    with check (rls_all() or rls_agency_case(case_id) or rls_case(case_id));
alter policy scope on cases using (rls_all() or rls_agency_case(id) or rls_case(id))
    with check (rls_all() or rls_agency_case(id) or rls_case(id));
alter policy scope on clocks using (rls_all() or rls_agency_case(case_id) or rls_case(case_id))
    with check (rls_all() or rls_agency_case(case_id) or rls_case(case_id));
alter policy scope on case_categories
    using (rls_all() or rls_agency_case(case_id) or rls_case(case_id))
    with check (rls_all() or rls_agency_case(case_id) or rls_case(case_id));
alter policy scope on case_events
    using (rls_all() or rls_agency_case(case_id) or rls_case(case_id))
    with check (rls_all() or rls_agency_case(case_id) or rls_case(case_id));

------------------------------------------------------------------------------
-- Plans kept for what a claim and an acknowledgement call.  A SQL function
-- that PostgreSQL cannot inline is planned afresh in every statement that
-- calls it (about 1 ms for assignment_json, which every queue answer and
-- acknowledgement builds); a PL/pgSQL function keeps its plans for the
-- session.  The same text, in PL/pgSQL.
------------------------------------------------------------------------------
-- The categories of a case, as every view of it shows them.
create or replace function case_categories_json(p_case_id bigint)
returns jsonb language plpgsql stable as $$
begin
	return (select coalesce(jsonb_agg(jsonb_build_object('category', k.category,
	    'subcategory', k.subcategory) order by k.category, k.subcategory), '[]')
	    from case_categories k where k.case_id = p_case_id);
end $$;

-- Stop a kind of clock (or all with null) on an assignment.
create or replace function clock_stop(p_assignment bigint, p_kind text)
returns void language plpgsql as $$
begin
	update clocks set stopped_at = now()
	where assignment_id = p_assignment and stopped_at is null and fired_at is null
	    and (p_kind is null or kind = p_kind);
end $$;

-- assignment_json, which other work changes too, keeps the body the last
-- migration gave it (one SELECT of the assignment p_id): it is only
-- wrapped, as the value that PL/pgSQL returns.
do $$
declare
	f record;
	v_body text;
begin
	select p.prosrc, l.lanname into f from pg_proc p join pg_language l on l.oid = p.prolang
	    where p.oid = 'assignment_json(bigint)'::regprocedure;
	if f.lanname = 'plpgsql' then
		return;
	end if;
	v_body := regexp_replace(f.prosrc, '[\s;]+$', '');
	if f.lanname <> 'sql' or v_body ~ ';' or v_body !~* '^\s*select\M' then
		raise exception 'assignment_json is no longer one SELECT in SQL: wrap it by hand';
	end if;
	execute format('create or replace function assignment_json(p_id bigint) returns jsonb '
	    'language plpgsql stable as %L', E'\nbegin\n\treturn (' || v_body || E');\nend ');
end $$;

-- The copies above a piece of work are found by key whatever its value:
-- one plan, not one per call (the recursive walk is costlier to plan than
-- to run, and its estimate keeps PostgreSQL planning it afresh).
alter function escalation_stand_down(bigint, bigint, text) set plan_cache_mode = force_generic_plan;

------------------------------------------------------------------------------
-- GET /v1/queue: keyset pages and since=.
------------------------------------------------------------------------------
-- The states of open work: the queue without state=.
create function queue_live_states()
returns text[] language sql immutable as $$
	select '{open,acknowledged,accepted,case_opened,outside_jurisdiction,prosecution}'::text[]
$$;

-- A page of the queue's order after a place in it, for an agency and a
-- state: read in index order, nothing beyond the page.  PL/pgSQL with one
-- generic plan: a SQL function is inlined into its caller's statement, which
-- was then planned afresh at every call (0.3 ms, six times its running).
-- No search_path of its own: only queue_page calls it, with hotline's.
create function queue_after(p_agency bigint, p_state text, p_risk smallint,
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

-- A keyset cursor of the queue's order: <risk>.<next_due in microseconds
-- since 1970, or inf>.<id>.  Null when malformed.
create function queue_cursor_parse(p text, out risk smallint, out due timestamptz,
    out id bigint)
language plpgsql immutable as $$
declare
	m text[] := regexp_match(p, '^([1-4])\.([0-9]{1,18}|inf)\.([1-9][0-9]{0,17})$');
begin
	if m is null then
		return;
	end if;
	risk := m[1]::smallint;
	due := case when m[2] = 'inf' then 'infinity'::timestamptz
	    else 'epoch'::timestamptz + (m[2]::bigint / 1000000) * interval '1 second'
		+ (m[2]::bigint % 1000000) * interval '1 microsecond' end;
	id := m[3]::bigint;
end $$;

-- The cursor of a place in the queue's order.
create function queue_cursor(p_risk smallint, p_due timestamptz, p_id bigint)
returns text language sql stable as $$
	select p_risk || '.' || case when p_due = 'infinity' then 'inf'
	    else (extract(epoch from p_due) * 1000000)::bigint::text end || '.' || p_id
$$;

-- GET /v1/queue?state=&limit=&cursor=&since=: the agency's work, most
-- urgent first (risk level, then the earliest running clock), a page at a
-- time; with since=, only what appeared after it, in the order it
-- appeared.  Besides the answer: mark, the transaction horizon the answer
-- was read at (a long poll waits for work created at or after it), found,
-- how many assignments it holds, and pending, whether work newer than the
-- horizon exists that since= will list once the transactions before it
-- have ended.
create function queue_page(p_client_id bigint, p_state text, p_limit integer,
    p_cursor text, p_since text)
returns table (status integer, code text, response jsonb, mark bigint, found integer,
    pending boolean)
language plpgsql stable security definer set search_path = hotline, pg_temp as $$
declare
	ac record;
	v_limit integer := greatest(1, least(coalesce(p_limit, 50), 500));
	v_states text[] := case when p_state is null then queue_live_states() else array[p_state] end;
	v_xmin bigint := pg_snapshot_xmin(pg_current_snapshot())::text::bigint;
	v_risk smallint := 0;
	v_due timestamptz := '-infinity';
	v_id bigint := 0;
	m text[];
	v_xid bigint;
	v_after bigint := 0;
	v_ids bigint[];
	v_last record;
	v_next jsonb := '{}';
	v_pending boolean := false;
begin
	select * into ac from api_client(p_client_id, '{agency}', 'only an agency may use this endpoint');
	if ac.status is not null then
		return query select ac.status, ac.code, ac.response, null::bigint, 0, false;
		return;
	end if;
	if p_cursor is not null and p_since is not null then
		return query select *, null::bigint, 0, false from api_fail(400, 'inconsistent', 'cursor',
		    'cursor pages the queue in order of urgency and since lists what is new: use one');
		return;
	end if;
	if p_since is not null then
		m := regexp_match(p_since, '^([0-9]{1,18})(?:\.([1-9][0-9]{0,17}))?$');
		if m is null then
			return query select *, null::bigint, 0, false from api_fail(400, 'invalid_value',
			    'since', 'must be the next_since of an answer');
			return;
		end if;
		v_xid := m[1]::bigint;
		v_after := coalesce(m[2]::bigint, 0);
		select array_agg(x.id order by x.created_xid, x.id), max(x.created_xid)
		    into v_ids, v_xid
		from (select a.id, a.created_xid from assignments a
		    where a.agency_id = ac.agency_id and a.created_xid >= v_xid
			and a.created_xid < v_xmin and (a.created_xid, a.id) > (v_xid, v_after)
			and a.state = any (v_states)
		    order by a.created_xid, a.id limit v_limit) x;
		v_pending := exists (select 1 from assignments a where a.agency_id = ac.agency_id
		    and a.created_xid >= v_xmin and a.state = any (v_states));
		v_next := jsonb_build_object('next_since', case when cardinality(v_ids) = v_limit
		    then v_xid || '.' || v_ids[v_limit]
		    else greatest(v_xmin, m[1]::bigint)::text end);
	else
		if p_cursor is not null then
			select * into v_risk, v_due, v_id from queue_cursor_parse(p_cursor);
			if v_id is null then
				return query select *, null::bigint, 0, false from api_fail(400,
				    'invalid_value', 'cursor', 'must be the next_cursor of a page');
				return;
			end if;
		end if;
		select array_agg(q.id order by q.risk_level, q.next_due, q.id) into v_ids from (
			select q.* from unnest(v_states) s
			    cross join lateral queue_after(ac.agency_id, s, v_risk, v_due, v_id,
				v_limit) q
			order by q.risk_level, q.next_due, q.id limit v_limit) q;
		if cardinality(v_ids) = v_limit then
			select a.risk_level, a.next_due into v_last from assignments a
			    where a.id = v_ids[v_limit];
			v_next := jsonb_build_object('next_cursor',
			    queue_cursor(v_last.risk_level, v_last.next_due, v_ids[v_limit]));
		end if;
		v_next := v_next || jsonb_build_object('next_since', v_xmin::text);
	end if;
	return query select 200, null::text, jsonb_build_object('assignments',
	    coalesce((select jsonb_agg(assignment_json(i.id) order by i.n)
		from unnest(v_ids) with ordinality i (id, n)), '[]')) || v_next,
	    v_xmin, coalesce(cardinality(v_ids), 0), v_pending;
end $$;

-- Which of these agencies (each with the horizon its waiting requests read
-- at) have assignments created at or after it: the daemon's long polls of
-- the others have nothing new to look at.
create function queue_touched(p_agencies bigint[], p_marks bigint[])
returns bigint[]
language sql stable security definer set search_path = hotline, pg_temp as $$
	select coalesce(array_agg(t.agency order by t.agency), '{}')
	from unnest(p_agencies, p_marks) t (agency, mark)
	where exists (select 1 from assignments a where a.agency_id = t.agency
	    and a.created_xid >= t.mark)
$$;

------------------------------------------------------------------------------
-- GET /v1/supervision/overdue from the overdue indexes of the region.
------------------------------------------------------------------------------
-- The overdue work of a region (prefix of 2, 4 or 6 digits) newest first,
-- from the index of its level: live work (p_ended false, p_state null or
-- a live state) or ended work.  Planned for the values given (EXECUTE), so
-- that each bound is an index condition.
create function overdue_ids(p_prefix text, p_ended boolean, p_state text, p_kind text,
    p_since timestamptz, p_cursor bigint, p_limit integer)
returns bigint[] language plpgsql stable set search_path = hotline, pg_temp as $$
declare
	v_ids bigint[];
begin
	execute format('select coalesce(array_agg(x.id order by x.id desc), ''{}'') from ('
	    'select a.id from assignments a join agencies g on g.id = a.agency_id '
	    'where a.%I = $1 and a.overdue_at is not null and a.state %s '
	    '(''transferred'', ''closed'', ''returned'') and a.id < $2 %s %s %s '
	    'order by a.id desc limit $3) x',
	    case length(p_prefix) when 2 then 'region_province' when 4 then 'region_city'
		else 'region_code' end,
	    case when p_ended then 'in' else 'not in' end,
	    case when p_state is not null then 'and a.state = $4' else '' end,
	    case when p_kind is not null then 'and g.kind = $5' else '' end,
	    case when p_since is not null then 'and a.overdue_at >= $6' else '' end)
	    into v_ids
	    using p_prefix, coalesce(p_cursor, 9223372036854775807), p_limit, p_state, p_kind,
		p_since;
	return v_ids;
end $$;

-- GET /v1/supervision/overdue?state=&kind=&since=&cursor=&limit=: the work
-- of the procuratorate's region that missed a clock or was escalated,
-- newest first, across agencies; closed, transferred and returned work only
-- when state asks for it.  since: overdue at or after; cursor: the
-- next_cursor of the page before.  (supervision_overdue_list's answer, from
-- the overdue indexes of the region.)
create function supervision_overdue_page(p_client_id bigint, p_state text, p_kind text,
    p_since timestamptz, p_cursor bigint, p_limit integer)
returns table (status integer, code text, response jsonb)
language plpgsql stable security definer set search_path = hotline, pg_temp as $$
declare
	sc record;
	v_limit integer := greatest(1, least(coalesce(p_limit, 100), 500));
	v_ids bigint[];
begin
	select * into sc from supervision_client(p_client_id);
	if sc.status is not null then
		return query select sc.status, sc.code, sc.response;
		return;
	end if;
	v_ids := overdue_ids(sc.prefix, p_state is not null and not assignment_live(p_state),
	    p_state, p_kind, p_since, p_cursor, v_limit);
	return query select 200, null::text, jsonb_build_object('assignments',
	    coalesce((select jsonb_agg(assignment_json(i) order by i desc) from unnest(v_ids) i), '[]'))
	    || case when cardinality(v_ids) = v_limit then jsonb_build_object('next_cursor',
		v_ids[v_limit]::text) else '{}' end;
end $$;

comment on function assignment_denormalise() is 'Trigger: a new assignment takes its case''s risk level and region, and next_due ''infinity'' until its clocks start (each unless the insert gives it).';
comment on function case_assignments_follow() is 'Trigger: a case re-graded or moved carries its risk level and region to its assignments.';
comment on function clock_started() is 'Trigger: a clock started running brings its assignment''s next_due forward if it is the earliest.';
comment on function clock_moved() is 'Trigger: a clock stopped, fired or moved recomputes its assignment''s next_due.';
comment on function rls_agency(bigint) is 'Row-level security: whether the scope is this agency''s (its own assignments, without a case_access lookup).';
comment on function rls_agency_case(bigint) is 'Row-level security: whether an agency scope may see the rows of a case (as rls_case, with its plan kept).';
comment on function case_categories_json(bigint) is 'The categories of a case as every view of it shows them, in order.';
comment on function clock_stop(bigint, text) is 'Stops a kind of clock (or every clock with null) on an assignment.';
comment on function queue_live_states() is 'The assignment states of open work, which the queue lists without state=.';
comment on function queue_after(bigint, text, smallint, timestamptz, bigint, integer) is 'A page of an agency''s assignments in one state after a place in the queue''s order (risk, next_due, id).';
comment on function queue_cursor_parse(text) is 'A queue cursor (<risk>.<next_due in µs or inf>.<id>) as its place in the order; nulls when malformed.';
comment on function queue_cursor(smallint, timestamptz, bigint) is 'The queue cursor of a place in the order (risk, next_due, id).';
comment on function queue_page(bigint, text, integer, text, text) is 'API GET /v1/queue: a page of the agency''s work most urgent first, or with since= what appeared after an answer; returns (status, code, response) and for long polls the horizon read at, the count and whether newer work is pending.';
comment on function queue_touched(bigint[], bigint[]) is 'API: of these agencies, those with assignments created at or after the horizon given for each (the daemon''s long-poll wake-up).';
comment on function overdue_ids(text, boolean, text, text, timestamptz, bigint, integer) is 'The ids of a page of a region''s overdue work, newest first, from the overdue indexes of its level.';
comment on function supervision_overdue_page(bigint, text, text, timestamptz, bigint, integer) is 'API GET /v1/supervision/overdue: overdue or escalated work of the procuratorate''s region, filtered and paged from the overdue indexes; returns (status, code, response).';

-- queue_page and supervision_overdue_page replace them (daemons are stopped
-- for an upgrade: README, "Upgrades").
drop function queue_list(bigint, text, integer);
drop function supervision_overdue_list(bigint, text, text, timestamptz, bigint, integer);

revoke execute on all functions in schema hotline from public;
grant execute on function queue_page(bigint, text, integer, text, text),
    queue_touched(bigint[], bigint[]),
    supervision_overdue_page(bigint, text, text, timestamptz, bigint, integer) to hotlined;

reset role;
