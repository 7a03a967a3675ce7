-- Statistics for evaluation (考核): the statistician role, a per-day rollup
-- of counts kept up to date from a queue, and the figures read from it with
-- small counts suppressed.  Statistics hold codes and counts only: no name,
-- number, narrative or case number ever reaches them.
--
-- How the rollup is kept: every change that a figure depends on appends a
-- history event, inserts a call or decides a clock; a trigger puts its key
-- in stats_pending (one small row; no index, no lock anyone else waits
-- for).  stats_refresh(), run by the daemons' timer, takes a batch of keys,
-- adds each one's contribution to stats_daily (and recomputes what is
-- overdue on the cases touched) and deletes the keys, in one transaction:
-- each contribution is counted exactly once, whatever commits when.  Every
-- figure is dated by the day (China Standard Time) it happened: a case by
-- its creation, a call by its start, an acknowledgement, first action,
-- outcome, transfer, escalation or decided clock by its own time.  Those
-- facts never change once recorded, so a day's counts only grow.
-- The figures' functions build working tables per query: hotline_owner
-- may create temporary tables whatever PUBLIC may.
do $$
begin
	execute format('grant temporary on database %I to hotline_owner', current_database());
end $$;

set role hotline_owner;
set search_path = hotline, pg_temp;

alter table clients drop constraint clients_role_check;
alter table clients add constraint clients_role_check
    check (role in ('operator', 'gateway', 'agency', 'admin', 'statistician'));

insert into settings (name, value) values
	('stats_min_count', '5');	-- counts below this are suppressed in statistics

-- What the statistics have not taken in yet: a history event (case_id, seq),
-- a call, or a clock that was just stopped or fired.
create table stats_pending (
	case_id		bigint,
	seq		integer,
	call_id		bigint,
	clock_id	bigint,
	check (num_nonnulls(case_id, call_id, clock_id) = 1),
	check ((case_id is null) = (seq is null))
);
comment on table stats_pending is 'Statistics: the history events, calls and decided clocks stats_refresh has not counted yet.';

-- A case's dimensions, as statistics group it (fixed at intake: its region,
-- source, risk, categories and the agencies it was routed to never change).
-- Arrays hold NULL alone where a dimension does not apply (a call's case has
-- no reporter, no situations).
create table stats_cases (
	case_id			bigint primary key references cases (id),
	day			date not null,
	region			text not null,
	source			text not null,
	risk_level		smallint not null,
	reporter_profession	text,
	institution_type	text,
	categories		text[] not null,
	subcategories		text[] not null,
	situations		smallint[] not null,
	agencies		text[] not null
);
comment on table stats_cases is 'Statistics: each case''s dimensions (region, source, risk, reporter''s profession, institution type, categories, category/subcategory pairs, situations, agencies routed to); codes only.';

-- The rollup: how many of each figure happened on a day, for each
-- combination of dimensions.  A multi-valued dimension is an array (a case
-- with two categories counts once under each when grouped by category, once
-- in all otherwise), NULL alone where it does not apply.
create table stats_daily (
	day			date not null,
	figure			text not null,
	bucket			integer not null default 0,
	region			text,
	source			text,
	risk_level		smallint,
	reporter_profession	text,
	institution_type	text,
	categories		text[] not null,
	subcategories		text[] not null,
	situations		smallint[] not null,
	agencies		text[] not null,
	n			bigint not null check (n > 0),
	constraint stats_daily_key unique nulls not distinct (day, figure, bucket, region,
	    source, risk_level, reporter_profession, institution_type, categories, subcategories,
	    situations, agencies)
);
comment on table stats_daily is 'Statistics: the per-day rollup, n of each figure (cases, reports, calls.<disposition>, acknowledge and first_action by duration bucket, clocks.<kind>.<result>, police.<outcome>) per combination of dimensions.';
comment on column stats_daily.bucket is 'For acknowledge and first_action: the duration rounded up to its bucket, in seconds (stats_bucket); 0 otherwise.';

-- The assignments overdue now: live, with a missed clock (as of the last
-- refresh), with their case's dimensions (the figures read no other table).
create table stats_overdue (
	assignment_id		bigint primary key references assignments (id),
	case_id			bigint not null references cases (id),
	agency			text not null,
	region			text not null,
	source			text not null,
	risk_level		smallint not null,
	reporter_profession	text,
	institution_type	text,
	categories		text[] not null,
	subcategories		text[] not null,
	situations		smallint[] not null
);
create index stats_overdue_case on stats_overdue (case_id);
comment on table stats_overdue is 'Statistics: the live assignments that have missed a clock, as of the last refresh, with their case''s dimensions.';

-- When the statistics last took in everything committed.
create table stats_state (
	id		boolean primary key default true check (id),
	refreshed_at	timestamptz
);
insert into stats_state (refreshed_at) values (null);
comment on table stats_state is 'Statistics: when stats_refresh last found nothing left to count (the figures'' as_of).';

-- The day (China Standard Time) of an instant.
create function stats_day(p timestamptz)
returns date language sql immutable parallel safe as $$
	select (p at time zone 'Asia/Shanghai')::date
$$;

-- A duration rounded up to its bucket, in seconds: whole seconds up to the
-- next 10 s below 10 minutes, the next minute below 2 hours, the next 15
-- minutes below 48 hours, the next hour beyond.
create function stats_bucket(p interval)
returns integer language sql immutable parallel safe as $$
	select case when s <= 0 then 0
	    when s <= 600 then ceil(s / 10.0)::integer * 10
	    when s <= 7200 then ceil(s / 60.0)::integer * 60
	    when s <= 172800 then ceil(s / 900.0)::integer * 900
	    else ceil(s / 3600.0)::integer * 3600 end
	from (select ceil(extract(epoch from p))::bigint as s) x
$$;

-- Queue the key of a history event, a call or a decided clock for the
-- statistics.
create function stats_enqueue() returns trigger
language plpgsql set search_path = hotline, pg_temp as $$
begin
	if tg_table_name = 'case_events' then
		insert into stats_pending (case_id, seq) values (new.case_id, new.seq);
	elsif tg_table_name = 'calls' then
		insert into stats_pending (call_id) values (new.id);
	else
		insert into stats_pending (clock_id) values (new.id);
	end if;
	return null;
end $$;

-- Events no figure depends on are left out: 'assigned' (the routing at
-- intake is read with the case; later assignments come with 'escalated' or
-- 'transferred'), warnings, access requests, purges.
create trigger stats_pending_event after insert on case_events
	for each row when (new.kind not in ('assigned', 'clock_warning', 'access_requested',
	    'access_approved', 'access_denied', 'purged'))
	execute function stats_enqueue();
create trigger stats_pending_call after insert on calls
	for each row execute function stats_enqueue();
create trigger stats_pending_clock after update of stopped_at, fired_at on clocks
	for each row when ((old.stopped_at is null and new.stopped_at is not null)
	    or (old.fired_at is null and new.fired_at is not null))
	execute function stats_enqueue();

-- The dimensions of a case, from its rows (one row, or none).
create function stats_case_row(p_case_id bigint)
returns setof stats_cases language sql stable as $$
	select c.id, stats_day(c.created_at), c.region_code, c.source, c.risk_level,
	    r.reporter_profession, r.institution_type,
	    array(select distinct k.category from case_categories k where k.case_id = c.id
		order by 1),
	    array(select distinct k.category || '/' || k.subcategory from case_categories k
		where k.case_id = c.id order by 1),
	    coalesce(r.situations, '{NULL}'),
	    coalesce(nullif(array(select distinct g.code from assignments a
		join agencies g on g.id = a.agency_id
		where a.case_id = c.id and a.escalated_from is null and a.transferred_from is null
		order by 1), '{}'), '{NULL}')
	from cases c left join reports r on r.case_id = c.id
	where c.id = p_case_id
$$;

-- What one history event adds to the figures: (figure, duration bucket,
-- agency).  An acknowledgement (or an outcome recorded first) and a first
-- action (a note, outcome or feedback) of a primary assignment, each once;
-- 受案, 立案 and 不予立案 recorded by the police; a transfer away from the
-- police (移送); an escalation.
create function stats_event_figures(e case_events)
returns table (figure text, bucket integer, agency text)
language plpgsql stable set search_path = hotline, pg_temp as $$
declare
	a assignments%rowtype;
	g agencies%rowtype;
begin
	select * into a from assignments x
	where x.assignment_id = uuid_or_null(coalesce(e.data->>'assignment', e.data->>'from'));
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

-- What a decided clock adds: met (stopped by its due time), missed (fired,
-- or stopped after it), or transferred (stopped because its assignment was
-- handed to another agency).
create function stats_clock_figure(k clocks)
returns text language sql stable set search_path = hotline, pg_temp as $$
	select 'clocks.' || k.kind || '.' || case
	    when k.fired_at is not null then 'missed'
	    when exists (select 1 from assignments a join case_events e on e.case_id = a.case_id
		and e.kind = 'transferred' and e.data->>'from' = a.assignment_id::text
		where a.id = k.assignment_id and e.at = k.stopped_at) then 'transferred'
	    when k.stopped_at <= k.due_at then 'met'
	    else 'missed' end
	where k.kind ~ '^[a-z][a-z_]{0,31}$'
$$;

-- Count what is pending, at most p_limit keys: their contributions are added
-- to the rollup, the overdue assignments of the cases they touch recomputed,
-- and the keys deleted, in this one transaction.  taken: how many; more:
-- whether the batch was full (call again); busy: another refresh holds the
-- lock (nothing done).  Its cost follows the keys taken: every lookup is by
-- key.
create function stats_refresh(p_limit integer, out taken integer, out more boolean,
    out busy boolean)
language plpgsql security definer set search_path = hotline, pg_temp as $$
declare
	v_ev_case bigint[];
	v_ev_seq integer[];
	v_calls bigint[];
	v_clocks bigint[];
	v_cases bigint[];
begin
	taken := 0;
	more := false;
	busy := not pg_try_advisory_xact_lock(hashtextextended('hotline.stats_refresh', 12355));
	if busy then
		return;
	end if;
	with p as (delete from stats_pending where ctid = any (array(
	    select ctid from stats_pending limit greatest(p_limit, 1)))
	    returning *)
	select count(*), coalesce(array_agg(case_id) filter (where case_id is not null), '{}'),
	    coalesce(array_agg(seq) filter (where case_id is not null), '{}'),
	    coalesce(array_agg(call_id) filter (where call_id is not null), '{}'),
	    coalesce(array_agg(clock_id) filter (where clock_id is not null), '{}')
	into taken, v_ev_case, v_ev_seq, v_calls, v_clocks
	from p;
	more := taken >= greatest(p_limit, 1);
	select coalesce(array_agg(distinct x), '{}') into v_cases from (
	    select unnest(v_ev_case) x
	    union all
	    select k.case_id from clocks k where k.id = any (v_clocks)) y;
	insert into stats_cases
	    select s.* from unnest(v_cases) c (id) cross join lateral stats_case_row(c.id) s
	    on conflict (case_id) do nothing;

	insert into stats_daily as d (day, figure, bucket, region, source, risk_level,
	    reporter_profession, institution_type, categories, subcategories, situations, agencies, n)
	select x.day, x.figure, x.bucket, x.region, x.source, x.risk_level, x.reporter_profession,
	    x.institution_type, x.categories, x.subcategories, x.situations, x.agencies, count(*)
	from (
		-- A new case, and a new report.
		select s.day, f.figure, 0 as bucket, s.region, s.source, s.risk_level,
		    s.reporter_profession, s.institution_type, s.categories, s.subcategories,
		    s.situations, s.agencies
		from unnest(v_ev_case, v_ev_seq) p (case_id, seq)
		join case_events e on e.case_id = p.case_id and e.seq = p.seq and e.kind = 'created'
		join stats_cases s on s.case_id = p.case_id
		cross join (values ('cases'), ('reports')) f (figure)
		where f.figure = 'cases' or s.source = 'report'
		union all
		-- A call, by its disposition and topic; the case it opened gives
		-- its region and risk.
		select stats_day(k.started_at), 'calls.' || k.disposition, 0, c.region_code, 'call',
		    c.risk_level, null, null, array[k.topic_category],
		    array[k.topic_category || '/' || k.topic_subcategory], '{NULL}', '{NULL}'
		from calls k left join cases c on c.id = k.case_id
		where k.id = any (v_calls)
		union all
		-- Agency work, by the agency of the assignment.
		select stats_day(e.at), w.figure, w.bucket, s.region, s.source, s.risk_level,
		    s.reporter_profession, s.institution_type, s.categories, s.subcategories,
		    s.situations, array[w.agency]
		from unnest(v_ev_case, v_ev_seq) p (case_id, seq)
		join case_events e on e.case_id = p.case_id and e.seq = p.seq and e.kind <> 'created'
		join stats_cases s on s.case_id = p.case_id
		cross join lateral stats_event_figures(e) w
		union all
		-- Decided clocks.
		select stats_day(coalesce(k.fired_at, k.stopped_at)), stats_clock_figure(k), 0,
		    s.region, s.source, s.risk_level, s.reporter_profession, s.institution_type,
		    s.categories, s.subcategories, s.situations, array[g.code]
		from clocks k join assignments a on a.id = k.assignment_id
		join agencies g on g.id = a.agency_id
		join stats_cases s on s.case_id = k.case_id
		where k.id = any (v_clocks) and stats_clock_figure(k) is not null) x
	group by x.day, x.figure, x.bucket, x.region, x.source, x.risk_level, x.reporter_profession,
	    x.institution_type, x.categories, x.subcategories, x.situations, x.agencies
	on conflict on constraint stats_daily_key do update set n = d.n + excluded.n;

	delete from stats_overdue where case_id = any (v_cases);
	with late as materialized (
		select a.id, a.case_id, a.agency_id from assignments a
		where a.case_id = any (v_cases)
		    and a.state in ('open', 'acknowledged', 'outside_jurisdiction', 'accepted', 'case_opened',
			'prosecution')
		    and exists (select 1 from clocks k where k.assignment_id = a.id
			and k.fired_at is not null))
	insert into stats_overdue
	select l.id, l.case_id, g.code, s.region, s.source, s.risk_level, s.reporter_profession,
	    s.institution_type, s.categories, s.subcategories, s.situations
	from late l join stats_cases s on s.case_id = l.case_id join agencies g on g.id = l.agency_id;

	if not more then
		update stats_state set refreshed_at = now();
	end if;
end $$;

-- The statistics' dimensions (the by= words) and how each is read from a
-- rollup row d: a column, or an array to unnest.
create function stats_dimension(p_name text, out expr text, out multi boolean)
language sql immutable as $$
	select x.expr, x.multi from (values
	    ('category', 'categories', true),
	    ('subcategory', 'subcategories', true),
	    ('risk_level', 'risk_level::text', false),
	    ('region', 'region', false),
	    ('agency', 'agencies', true),
	    ('source', 'source', false),
	    ('reporter_profession', 'reporter_profession', false),
	    ('institution_type', 'institution_type', false),
	    ('situation', 'situations', true)) x (name, expr, multi)
	where x.name = p_name
$$;

-- A statistics request checked: the period (from, to: dates in China
-- Standard Time, inclusive), the region (a code whose subtree is counted,
-- or null for all) and the dimensions to group by (comma-separated words,
-- each once).  status is null if they are good; else the 400 or 422 row.
create function stats_request(p_from text, p_to text, p_region text, p_by text,
    out d_from date, out d_to date, out region text, out dims text[],
    out status integer, out code text, out response jsonb)
language plpgsql stable set search_path = hotline, pg_temp as $$
declare
	f text;
	w text;
begin
	foreach f in array array['from', 'to'] loop
		w := case f when 'from' then p_from else p_to end;
		if w is null then
			select * into status, code, response from api_fail(400, 'missing_field', f,
			    'a period needs from and to (YYYY-MM-DD)');
			return;
		end if;
		if w !~ '^20[0-9]{2}-[0-9]{2}-[0-9]{2}$' then
			select * into status, code, response from api_fail(400, 'invalid_value', f,
			    'must be a date YYYY-MM-DD between 2000 and 2099');
			return;
		end if;
		begin
			if f = 'from' then
				d_from := w::date;
			else
				d_to := w::date;
			end if;
		exception when others then
			select * into status, code, response from api_fail(400, 'invalid_value', f,
			    'must be a date YYYY-MM-DD between 2000 and 2099');
			return;
		end;
	end loop;
	if d_to < d_from then
		select * into status, code, response from api_fail(400, 'inconsistent', 'to',
		    'must not be before from');
		return;
	end if;
	if p_region is not null then
		if p_region !~ '^[1-9][0-9]{5}$' then
			select * into status, code, response from api_fail(400, 'invalid_value', 'region',
			    'must be a region code of six digits');
			return;
		end if;
		select * into status, code, response from check_region(p_region, 'region');
		if status is not null then
			return;
		end if;
		region := p_region;
	end if;
	dims := '{}';
	if p_by is not null and p_by <> '' then
		foreach w in array string_to_array(p_by, ',') loop
			if (stats_dimension(w)).expr is null then
				select * into status, code, response from api_fail(400, 'invalid_value', 'by',
				    'must be words among category, subcategory, risk_level, region, agency, '
				    'source, reporter_profession, institution_type, situation, separated by commas');
				return;
			end if;
			if w = any (dims) then
				select * into status, code, response from api_fail(400, 'duplicate_item', 'by',
				    'names a dimension twice');
				return;
			end if;
			dims := dims || w;
		end loop;
	end if;
end $$;

-- A key without its i-th element: the line of cells along dimension i.
create function stats_line(p_key text[], p_i integer)
returns text[] language sql immutable as $$
	select p_key[1:p_i - 1] || p_key[p_i + 1:]
$$;

-- The figures of a period, grouped by the dimensions p_by, for the region
-- subtree p_region (null: all) and, for an agency's own figures, p_agency
-- (its code; null: every agency): one row per cell and figure, its value
-- and whether it is suppressed.  Every cell lists every figure (zero where
-- nothing happened); a value is null where it has no meaning (the median of
-- no durations, the share of no decided clocks).  Overdue is a figure of
-- now: counted when the period reaches today.  More than p_max cells raise
-- program_limit_exceeded.
--
-- Suppression (proto/protocol.md, "Statistics"): the figures of a cell come
-- in families (cases and reports; each call disposition; acknowledge; first
-- action; each clock kind; each police outcome; overdue).  A family is
-- suppressed in a cell when one of its counts (or cases less reports, or
-- missed less escalated) is between 1 and stats_min_count - 1.  Then, for
-- every dimension, each line of cells along it (equal in every other
-- dimension) that holds exactly one suppressed family also has its smallest
-- other non-zero family suppressed, preferring one that is not the only
-- non-zero cell of another line; repeated until no line holds exactly one.
create function stats_cells(p_from date, p_to date, p_region text, p_by text[],
    p_agency text, p_max integer default 5000)
returns table (key text[], figure text, value numeric, suppressed boolean)
language plpgsql set search_path = hotline, pg_temp as $$
declare
	v_min integer := (select s.value::integer from settings s where s.name = 'stats_min_count');
	v_prefix text := case when p_region is not null then region_prefix(p_region) end;
	v_m integer := coalesce(array_length(p_by, 1), 0);
	v_keys text[] := '{}';
	v_from text := '';
	v_where text := '';
	d record;
	v_i integer;
	v_changed integer;
	v_n integer;
	v_t text;
begin
	for v_i in 1 .. v_m loop
		d := stats_dimension(p_by[v_i]);
		if d.multi then
			v_from := v_from || format(' cross join lateral unnest(r.%s) u%s (v)', d.expr, v_i);
			v_keys := v_keys || format('u%s.v::text', v_i);
			if p_by[v_i] = 'agency' and p_agency is not null then
				v_where := format(' where u%s.v = $4', v_i);
			end if;
		else
			v_keys := v_keys || format('r.%s', d.expr);
		end if;
	end loop;
	foreach v_t in array array['stats_raw', 'stats_fig', 'stats_fam'] loop
		if to_regclass('pg_temp.' || v_t) is not null then
			execute format('drop table pg_temp.%I', v_t);
		end if;
	end loop;
	create temporary table stats_raw (key text[], figure text, bucket integer, n numeric)
	    on commit drop;
	execute format($q$
		insert into stats_raw
		select %s, r.figure, r.bucket, sum(r.n)
		from (select d.figure, d.bucket, d.n, d.region, d.source, d.risk_level,
			d.reporter_profession, d.institution_type, d.categories, d.subcategories,
			d.situations, d.agencies
		    from stats_daily d
		    where d.day between $1 and $2 and ($3::text is null or d.region like $3 || '%%')
			and ($4::text is null or $4 = any (d.agencies))
		    union all
		    select 'overdue', 0, 1, o.region, o.source, o.risk_level, o.reporter_profession,
			o.institution_type, o.categories, o.subcategories, o.situations,
			array[o.agency]
		    from stats_overdue o
		    where $2 >= stats_day(now()) and ($3::text is null or o.region like $3 || '%%')
			and ($4::text is null or o.agency = $4)) r%s%s
		group by 1, 2, 3 $q$,
	    case when v_m = 0 then '''{}''::text[]'
		else 'array[' || array_to_string(v_keys, ', ') || ']::text[]' end, v_from, v_where)
	    using p_from, p_to, v_prefix, p_agency;
	if (select count(distinct r.key) from stats_raw r) > p_max then
		raise exception 'stats: more than % cells', p_max using errcode = 'program_limit_exceeded';
	end if;

	-- Every cell, every figure: the counts, then the durations' count,
	-- median and 90th percentile (the smallest bucket that half, or 90 %,
	-- of the durations do not exceed).
	create temporary table stats_fig (key text[], family text, figure text, value numeric,
	    counted boolean) on commit drop;
	with names (figure, family) as (
		select 'calls.' || x, 'calls.' || x from unnest(array['counselled', 'information',
		    'referred', 'silent', 'hang_up', 'prank', 'abusive', 'case_opened', 'follow_up']) x
		union all
		values ('cases', 'cases'), ('reports', 'cases'), ('overdue', 'overdue')
		union all
		select 'police.' || x, 'police.' || x
		from unnest(array['accepted', 'case_opened', 'declined', 'transferred']) x
		union all
		select 'clocks.' || k.kind || '.' || x, 'clocks.' || k.kind
		from (select distinct split_part(r.figure, '.', 2) as kind from stats_raw r
		    where r.figure like 'clocks.%') k
		cross join unnest(array['met', 'missed', 'escalated', 'transferred']) x),
	sums as (select r.key, r.figure, sum(r.n) as n from stats_raw r
	    where r.figure not in ('acknowledge', 'first_action') group by 1, 2)
	insert into stats_fig
	select k.key, n.family, n.figure, coalesce(s.n, 0), true
	from (select distinct r.key from stats_raw r) k cross join names n
	left join sums s on s.key = k.key and s.figure = n.figure;
	with b as (select r.key, r.figure as w, r.bucket, sum(r.n) as n from stats_raw r
	    where r.figure in ('acknowledge', 'first_action') group by 1, 2, 3),
	c as (select b.*, sum(b.n) over (partition by b.key, b.w order by b.bucket) as cum,
	    sum(b.n) over (partition by b.key, b.w) as total from b),
	p as (select c.key, c.w, max(c.total) as total,
	    min(c.bucket) filter (where c.cum >= 0.5 * c.total) as median,
	    min(c.bucket) filter (where c.cum >= 0.9 * c.total) as p90
	    from c group by 1, 2)
	insert into stats_fig
	select k.key, w.w, w.w || '.' || f.f, case f.f when 'count' then coalesce(p.total, 0)
	    when 'median_seconds' then p.median else p.p90 end, f.f = 'count'
	from (select distinct r.key from stats_raw r) k
	cross join (values ('acknowledge'), ('first_action')) w (w)
	cross join (values ('count'), ('median_seconds'), ('p90_seconds')) f (f)
	left join p on p.key = k.key and p.w = w.w;

	-- The families, which are suppressed as a whole; alone: in how many
	-- lines the cell is the only one with a non-zero count.
	create temporary table stats_fam on commit drop as
	select f.key, f.family, coalesce(sum(f.value) filter (where f.counted), 0) as size,
	    coalesce(bool_or(f.counted and f.value between 1 and v_min - 1), false)
	    or coalesce(sum(f.value) filter (where f.figure = 'cases')
		- sum(f.value) filter (where f.figure = 'reports'), 0) between 1 and v_min - 1
	    or coalesce(sum(f.value) filter (where f.figure like 'clocks.%.missed')
		- sum(f.value) filter (where f.figure like 'clocks.%.escalated'), 0)
		between 1 and v_min - 1 as suppressed,
	    0 as alone
	from stats_fig f group by 1, 2;
	for v_i in 1 .. v_m loop
		update stats_fam f set alone = f.alone + 1
		from (select x.family, stats_line(x.key, v_i) as l from stats_fam x where x.size > 0
		    group by 1, 2 having count(*) = 1) y
		where y.family = f.family and y.l = stats_line(f.key, v_i) and f.size > 0;
	end loop;
	loop
		v_changed := 0;
		for v_i in 1 .. v_m loop
			with line as (select x.family, stats_line(x.key, v_i) as l from stats_fam x
			    group by 1, 2 having count(*) filter (where x.suppressed) = 1),
			pick as (select distinct on (f.family, stats_line(f.key, v_i)) f.family, f.key
			    from stats_fam f join line on line.family = f.family
				and line.l = stats_line(f.key, v_i)
			    where not f.suppressed and f.size > 0
			    order by f.family, stats_line(f.key, v_i), f.alone > 0, f.size, f.key)
			update stats_fam f set suppressed = true
			from pick where pick.family = f.family and pick.key = f.key;
			get diagnostics v_n = row_count;
			v_changed := v_changed + v_n;
		end loop;
		exit when v_changed = 0;
	end loop;

	-- Shares of the decided clocks (met and missed) of each kind.
	insert into stats_fig
	select x.key, x.family, x.family || '.' || s.name, case when x.met + x.missed > 0
	    then trim_scale(round(s.part / (x.met + x.missed), 4)) end, false
	from (select f.key, f.family,
		sum(f.value) filter (where f.figure like '%.met') as met,
		sum(f.value) filter (where f.figure like '%.missed') as missed,
		sum(f.value) filter (where f.figure like '%.escalated') as escalated
	    from stats_fig f where f.family like 'clocks.%' group by 1, 2) x
	cross join lateral (values ('met_share', x.met), ('missed_share', x.missed),
	    ('escalated_share', x.escalated)) s (name, part);

	return query select f.key, f.figure, f.value, m.suppressed
	from stats_fig f join stats_fam m on m.key = f.key and m.family = f.family
	order by f.key, case when f.family like 'calls.%' then 1 when f.family = 'cases' then 2
	    when f.family = 'acknowledge' then 3 when f.family = 'first_action' then 4
	    when f.family like 'clocks.%' then 5 when f.family like 'police.%' then 6 else 7 end,
	    f.figure;
end $$;

-- The cells of stats_cells as JSON: one object per cell, its dimensions
-- (risk_level and situation as numbers) and its figures nested by the
-- dots of their names; a suppressed value is the string "suppressed".
create function stats_json(p_from date, p_to date, p_region text, p_by text[], p_agency text)
returns jsonb language sql set search_path = hotline, pg_temp as $$
	with c as (select * from stats_cells(p_from, p_to, p_region, p_by, p_agency)),
	v as (select c.key, string_to_array(c.figure, '.') as p,
	    case when c.suppressed then to_jsonb('suppressed'::text) else to_jsonb(c.value) end as j
	    from c),
	l3 as (select v.key, v.p[1] as a, v.p[2] as b, jsonb_object_agg(v.p[3], v.j) as j
	    from v where cardinality(v.p) = 3 group by 1, 2, 3),
	tops as (select v.key, v.p[1] as t, v.j from v where cardinality(v.p) = 1
	    union all
	    select x.key, x.a, jsonb_object_agg(x.b, x.j) from (
		select v.key, v.p[1] as a, v.p[2] as b, v.j from v where cardinality(v.p) = 2
		union all
		select l3.key, l3.a, l3.b, l3.j from l3) x
	    group by 1, 2),
	figs as (select tops.key, jsonb_object_agg(tops.t, tops.j) as j from tops group by 1),
	dims as (select figs.key, coalesce(jsonb_object_agg(b.name, case when b.name in ('risk_level',
		'situation') then to_jsonb(figs.key[b.i]::integer) else to_jsonb(figs.key[b.i]) end)
		filter (where b.name is not null), '{}') as j
	    from figs left join unnest(p_by) with ordinality b (name, i) on true group by 1)
	select coalesce(jsonb_agg(dims.j || '{"clocks": {}}' || figs.j order by figs.key), '[]')
	from figs join dims on dims.key = figs.key
$$;

-- GET /v1/stats: the figures of a period (from, to), for a region subtree,
-- grouped by the by= dimensions, for statisticians and administrators; an
-- agency gets its own agency's figures only.
create function stats_view(p_client_id bigint, p_from text, p_to text, p_region text,
    p_by text)
returns table (status integer, code text, response jsonb)
language plpgsql security definer set search_path = hotline, pg_temp as $$
declare
	ac record;
	q record;
	v_agency text;
	v_cells jsonb;
begin
	select * into ac from api_client(p_client_id, '{statistician,admin,agency}',
	    'only statisticians, administrators and agencies read statistics');
	if ac.status is not null then
		return query select ac.status, ac.code, ac.response;
		return;
	end if;
	select * into q from stats_request(p_from, p_to, p_region, p_by);
	if q.status is not null then
		return query select q.status, q.code, q.response;
		return;
	end if;
	if (ac.client).role = 'agency' then
		select g.code into v_agency from agencies g where g.id = ac.agency_id;
	end if;
	begin
		v_cells := stats_json(q.d_from, q.d_to, q.region, q.dims, v_agency);
	exception when program_limit_exceeded then
		return query select * from api_fail(400, 'too_long', 'by',
		    'the figures would have more than 5000 cells: group by fewer dimensions, or narrow the region or the period');
		return;
	end;
	return query select 200, null::text, jsonb_build_object('from', q.d_from, 'to', q.d_to,
	    'region', q.region, 'agency', v_agency, 'by', to_jsonb(q.dims),
	    'threshold', (select s.value::integer from settings s where s.name = 'stats_min_count'),
	    'as_of', (select api_ts(x.refreshed_at) from stats_state x), 'cells', v_cells);
end $$;

-- A CSV field: as it is, or quoted when it holds a comma, a quote or a line
-- break.
create function stats_csv_field(p text)
returns text language sql immutable as $$
	select case when p is null then ''
	    when p ~ '[",\r\n]' then '"' || replace(p, '"', '""') || '"' else p end
$$;

-- A statistics request checked for hotlinectl: raises
-- invalid_parameter_value with the API's message when it is bad.
create function stats_admin_request(p_from text, p_to text, p_region text, p_by text,
    out d_from date, out d_to date, out region text, out dims text[])
language plpgsql stable set search_path = hotline, pg_temp as $$
declare
	q record;
begin
	select * into q from stats_request(p_from, p_to, p_region, p_by);
	if q.status is not null then
		raise exception 'stats: %: %', q.response#>>'{error,field}', q.response#>>'{error,message}'
		    using errcode = 'invalid_parameter_value';
	end if;
	d_from := q.d_from;
	d_to := q.d_to;
	region := q.region;
	dims := q.dims;
end $$;

-- hotlinectl stats --csv: the same figures as GET /v1/stats, with the same
-- suppression, as the lines of a CSV file: a header row (the by= dimensions,
-- figure, value), then one row per cell and figure; a suppressed value is
-- "suppressed", a value without meaning empty.  Administrators only.
create function stats_csv(p_from text, p_to text, p_region text, p_by text)
returns setof text
language plpgsql security definer set search_path = hotline, pg_temp as $$
declare
	q record;
begin
	select * into q from stats_admin_request(p_from, p_to, p_region, p_by);
	return next array_to_string(q.dims || array['figure', 'value'], ',');
	return query select array_to_string(array(select stats_csv_field(x) from unnest(c.key) x)
	    || stats_csv_field(c.figure)
	    || case when c.suppressed then 'suppressed' else coalesce(c.value::text, '') end, ',')
	from stats_cells(q.d_from, q.d_to, q.region, q.dims, null, 100000) c;
end $$;

-- hotlinectl stats: the same rows for reading: the cell (its dimensions'
-- values, "-" where one does not apply), the figure, the value.
-- Administrators only.
create function stats_table(p_from text, p_to text, p_region text, p_by text)
returns table (cell text, figure text, value text)
language plpgsql security definer set search_path = hotline, pg_temp as $$
declare
	q record;
begin
	select * into q from stats_admin_request(p_from, p_to, p_region, p_by);
	return query select array_to_string(array(select coalesce(x, '-') from unnest(c.key) x), ' '),
	    c.figure, case when c.suppressed then 'suppressed' else c.value::text end
	from stats_cells(q.d_from, q.d_to, q.region, q.dims, null, 100000) c;
end $$;

-- What is pending now, as it would be taken in: everything a database made
-- before statistics existed (its history, calls and decided clocks).
select set_config('hotline.scope', 'system', true);
insert into stats_pending (case_id, seq)
    select e.case_id, e.seq from case_events e where e.kind not in ('assigned', 'clock_warning',
    'access_requested', 'access_approved', 'access_denied', 'purged');
insert into stats_pending (call_id) select k.id from calls k;
insert into stats_pending (clock_id) select k.id from clocks k
    where k.stopped_at is not null or k.fired_at is not null;

comment on function stats_day(timestamptz) is 'Statistics: the day (China Standard Time) of an instant.';
comment on function stats_bucket(interval) is 'Statistics: a duration rounded up to its bucket, in seconds (10 s below 10 min, 1 min below 2 h, 15 min below 48 h, 1 h beyond).';
comment on function stats_enqueue() is 'Trigger: queues for the statistics a history event, a new call, or a clock just stopped or fired.';
comment on function stats_case_row(bigint) is 'Statistics: a case''s dimensions, from its rows.';
comment on function stats_event_figures(case_events) is 'Statistics: what a history event adds (acknowledgement, first action, police outcome or transfer, escalation), with its duration bucket and agency.';
comment on function stats_clock_figure(clocks) is 'Statistics: the figure of a decided clock (clocks.<kind>.met, missed or transferred).';
comment on function stats_refresh(integer) is 'API: counts at most p_limit pending keys into the rollup and recomputes the overdue assignments of their cases; returns how many, whether more wait, and whether another refresh was busy.';
comment on function stats_dimension(text) is 'Statistics: how a by= dimension is read from a rollup row (a column, or an array to unnest); null for an unknown word.';
comment on function stats_request(text, text, text, text) is 'Statistics: a request''s period, region and dimensions checked; status null if good, else the 400 or 422 row.';
comment on function stats_line(text[], integer) is 'Statistics: a cell''s key without its i-th dimension (its line along that dimension).';
comment on function stats_cells(date, date, text, text[], text, integer) is 'Statistics: every figure of every cell of a period, region and grouping (an agency''s own, if given), with small counts and their complements suppressed.';
comment on function stats_json(date, date, text, text[], text) is 'Statistics: the cells of stats_cells as a JSON array of objects.';
comment on function stats_view(bigint, text, text, text, text) is 'API GET /v1/stats: figures of a period and region grouped by dimensions (statisticians, administrators; an agency its own); returns (status, code, response).';
comment on function stats_csv_field(text) is 'Statistics: a value as a CSV field (quoted if it must be).';
comment on function stats_admin_request(text, text, text, text) is 'Statistics: a request checked for hotlinectl (raises invalid_parameter_value with the API''s message).';
comment on function stats_csv(text, text, text, text) is 'Admin (hotlinectl stats --csv): the figures of GET /v1/stats, suppressed alike, as CSV lines with a header row.';
comment on function stats_table(text, text, text, text) is 'Admin (hotlinectl stats): the figures of GET /v1/stats, suppressed alike, as (cell, figure, value) rows.';

revoke execute on all functions in schema hotline from public;
grant execute on function stats_view(bigint, text, text, text, text), stats_refresh(integer)
    to hotlined;

reset role;
