-- Statistics (sql/021_stats.sql): the queue the intake and agency work fill,
-- the rollup stats_refresh keeps, the figures of stats_view against what
-- this file did through the API, small-count suppression on a rollup made
-- by hand, the request checks, who may read which figures, the CSV.
\ir fixtures.psql

select hotline.client_upsert('t-stat', 'statistician', null, repeat('5', 64)) as stat \gset
select hotline.client_upsert('t-stat-gone', 'statistician', null, repeat('6', 64)) as stat_gone \gset
select hotline.client_revoke('t-stat-gone') \g /dev/null
-- The exact figures first: no suppression (counts of 1 are shown).
update hotline.settings set value = '1' where name = 'stats_min_count';
select hotline.stats_day(now()) as today \gset

-- One figure of stats_view, by a client, grouped by by, at a path of its
-- cells: e.g. fig(:stat, 'agency', 'police-320102', '{police,accepted}').
-- The period runs from the calls' day in the fixtures to tomorrow.
create function pg_temp.fig(p_client bigint, p_by text, p_key text, p_path text[])
returns jsonb language sql as $$
	select c #> p_path
	from jsonb_array_elements((select response from hotline.stats_view(p_client,
	    '2026-11-01', (current_date + 1)::text, null, p_by))->'cells') c
	where p_by is null or c->>p_by is not distinct from p_key
$$;
grant execute on function pg_temp.fig(bigint, text, text, text[]) to hotlined;

-- ------------------------------------------------------------ the queue
select count(*) as before from hotline.stats_pending \gset
set role hotlined;
insert into out select 'r1', * from hotline.intake_report(:gw, 's-1', '\x01',
    jsonb_set(:'report', '{child,region_code}', '"320102"'));
reset role;
select pg_temp.tap(count(*) = :before + 1 and count(*) filter (where case_id is not null) = :before + 1,
    'a report queues one key for the statistics (its created event; its routing is read with it)')
from hotline.stats_pending;
set role hotlined;
insert into out select 'c1', * from hotline.intake_call(:op, 's-2', '\x02', :'call');
insert into out select 'c2', * from hotline.intake_call(:op, 's-3', '\x03', :'call_case');
reset role;
select pg_temp.tap(count(*) = :before + 4 and count(*) filter (where call_id is not null) = 2,
    'a call queues its own key, and one that opens a case the case''s too')
from hotline.stats_pending;

select response->>'case_number' as r1, (select response->>'case_number' from out where k = 'c2') as c2
from out where k = 'r1' \gset
set role hotlined;
create temporary table refreshed as select * from hotline.stats_refresh(1000);
reset role;
select pg_temp.tap(taken = :before + 4 and not more and not busy
    and not exists (select 1 from hotline.stats_pending)
    and (select refreshed_at from hotline.stats_state) is not null,
    'stats_refresh takes every key, empties the queue and records when', format('%s', refreshed))
from refreshed;
set role hotlined;
select pg_temp.tap(taken = 0 and not more, 'a second refresh finds nothing to count')
from hotline.stats_refresh(1000);
reset role;

-- The rollup against the tables it summarises, counted here independently.
select pg_temp.tap(
    (select coalesce(sum(n), 0) from hotline.stats_daily where figure = 'cases')
	= (select count(*) from hotline.cases)
    and (select coalesce(sum(n), 0) from hotline.stats_daily where figure = 'reports')
	= (select count(*) from hotline.reports)
    and (select string_agg(figure || '=' || n, ',' order by figure) from (select figure, sum(n) n
	from hotline.stats_daily where figure like 'calls.%' group by 1) x)
	= (select string_agg('calls.' || disposition || '=' || n, ',' order by 'calls.' || disposition)
	    from (select disposition, count(*) n from hotline.calls group by 1) y),
    'the rollup counts every case, report and call (by disposition) once');
select pg_temp.tap(s.region = '320102' and s.source = 'report' and s.risk_level = 2
    and s.reporter_profession = 'teacher' and s.institution_type = 'school'
    and s.categories = '{abuse}' and s.subcategories = '{abuse/neglect,abuse/sexual_abuse}'
    and s.situations = '{2,6}'
    and s.agencies = '{civil_affairs-320102,education-320102,police-320102,procuratorate-320102}'
    and s.day = :'today',
    'a report''s dimensions: region, source, risk, profession, institution type, categories, situations, the agencies routed to',
    row_to_json(s)::text)
from hotline.stats_cases s join hotline.cases c on c.id = s.case_id where c.case_number = :'r1';
select pg_temp.tap(s.source = 'call' and s.reporter_profession is null and s.situations = '{NULL}'
    and s.categories = '{abuse,psychological}'
    and s.subcategories = '{abuse/physical_abuse,psychological/anxiety_depression}',
    'a call''s case has no reporter and no situations', row_to_json(s)::text)
from hotline.stats_cases s join hotline.cases c on c.id = s.case_id where c.case_number = :'c2';
select pg_temp.tap(not exists (select 1 from hotline.stats_daily d, unnest(d.categories || d.subcategories
	|| d.agencies || array[d.region, d.source, d.reporter_profession, d.institution_type]) v
	where v ~ '测试|1380000'),
    'the rollup holds codes only');

-- ------------------------------------------------------------ agency work
-- The police of 320102 acknowledge the report, record 受案, a note and the
-- feedback; they hand the call's case over to 320104; the health bureau
-- misses its acknowledgement, which escalates.
select a.assignment_id as r1_police
from hotline.assignments a join hotline.cases c on c.id = a.case_id
join hotline.agencies g on g.id = a.agency_id
where c.case_number = :'r1' and g.code = 'police-320102' \gset
select a.assignment_id as c2_police, (select x.assignment_id from hotline.assignments x
	join hotline.agencies y on y.id = x.agency_id
	where x.case_id = a.case_id and y.code = 'health-320102') as c2_health
from hotline.assignments a join hotline.cases c on c.id = a.case_id
join hotline.agencies g on g.id = a.agency_id
where c.case_number = :'c2' and g.code = 'police-320102' \gset
set role hotlined;
insert into out select 'ack', * from hotline.assignment_ack(:police, 's-4', '\x04', :'r1_police');
insert into out select 'acc', * from hotline.case_post_event(:police, 's-5', '\x05', :'r1',
    '{"type":"outcome","outcome":"accepted"}');
insert into out select 'note', * from hotline.case_post_event(:police, 's-6', '\x06', :'r1',
    jsonb_build_object('type', 'note', 'text', encode(pg_temp.sealed('（测试）已走访'), 'base64')));
insert into out select 'fb', * from hotline.case_post_event(:police, 's-7', '\x07', :'r1',
    '{"type":"feedback"}');
insert into out select 'tr', * from hotline.assignment_transfer(:police, 's-8', '\x08', :'c2_police',
    jsonb_build_object('target_agency', 'police-320104',
    'reason', encode(pg_temp.sealed('（测试）属地'), 'base64')));
reset role;
update hotline.clocks set due_at = now() - interval '1 second', warn_at = now() - interval '2 seconds'
where kind = 'acknowledge' and assignment_id = (select id from hotline.assignments
    where assignment_id = :'c2_health');
set role hotlined;
select pg_temp.tap(handled = 1, 'the health bureau''s acknowledgement falls due')
from hotline.escalate_due(10);
select * from hotline.stats_refresh(1000) \g /dev/null
reset role;
select pg_temp.tap(bool_and(status < 300), 'the agency work is accepted',
    string_agg(k || ':' || status, ',')) from out where k in ('ack', 'acc', 'note', 'fb', 'tr');

select extract(epoch from acknowledged_at - created_at) as ack_s
from hotline.assignments where assignment_id = :'r1_police' \gset
select extract(epoch from e.at - a.created_at) as fa_s
from hotline.assignments a join hotline.case_events e on e.case_id = a.case_id
where a.assignment_id = :'r1_police' and e.kind = 'outcome' \gset
set role hotlined;
create temporary table police as select pg_temp.fig(:stat, 'agency', 'police-320102', '{}') as f;
create temporary table health as select pg_temp.fig(:stat, 'agency', 'health-320102', '{}') as f;
reset role;
select pg_temp.tap(f->'acknowledge' = jsonb_build_object('count', 1,
	'median_seconds', hotline.stats_bucket(make_interval(secs => :ack_s)),
	'p90_seconds', hotline.stats_bucket(make_interval(secs => :ack_s)))
    and f->'first_action' = jsonb_build_object('count', 1,
	'median_seconds', hotline.stats_bucket(make_interval(secs => :fa_s)),
	'p90_seconds', hotline.stats_bucket(make_interval(secs => :fa_s))),
    'the police''s acknowledgement and first action (the 受案, before the note), each counted once with its time',
    f::text)
from police;
select pg_temp.tap(f->'police' = '{"accepted": 1, "case_opened": 0, "declined": 0, "transferred": 1}',
    'the police recorded one 受案 and one transfer (移送)', f->>'police')
from police;
select pg_temp.tap(f->'clocks'->'acknowledge' = '{"met": 1, "missed": 0, "escalated": 0, "transferred": 1,
	"met_share": 1, "missed_share": 0, "escalated_share": 0}'
    and f->'clocks'->'first_action'->'met' = '1' and f->'clocks'->'first_action'->'transferred' = '1'
    and f->'clocks'->'resolve'->'transferred' = '1' and f->'clocks'->'resolve'->'met' = '0'
    and f->'clocks'->'feedback'->'met' = '1'
    and f->'overdue' = '0',
    'their clocks: met by the acknowledgement, the 受案 and the feedback; stopped by the transfer; none overdue',
    f->>'clocks')
from police;
select pg_temp.tap(f->'clocks'->'acknowledge' = '{"met": 0, "missed": 1, "escalated": 1, "transferred": 0,
	"met_share": 0, "missed_share": 1, "escalated_share": 1}'
    and f->'overdue' = '1' and f->'acknowledge'->'count' = '0',
    'the health bureau missed its acknowledgement, which escalated, and is overdue now',
    f::text)
from health;
select pg_temp.tap(coalesce(pg_temp.fig(:stat, 'agency', 'health-320100', '{cases}'), '0') = '0'
    and coalesce(pg_temp.fig(:stat, 'agency', 'police-320104', '{cases}'), '0') = '0',
    'the agencies a case reached later (escalation, transfer) do not count it among the cases routed to them');
select pg_temp.tap(pg_temp.fig(:stat, 'source', 'report', '{cases}') = '1'
    and pg_temp.fig(:stat, 'source', 'call', '{cases}') = '1'
    and pg_temp.fig(:stat, 'source', 'call', '{calls,silent}') = '1'
    and pg_temp.fig(:stat, 'source', 'call', '{calls,case_opened}') = '1'
    and pg_temp.fig(:stat, 'source', 'report', '{reports}') = '1',
    'by source: the report''s case, the call''s case, and the calls by disposition');
select pg_temp.tap(pg_temp.fig(:stat, 'category', 'abuse', '{cases}') = '2'
    and pg_temp.fig(:stat, 'category', 'psychological', '{cases}') = '1'
    and pg_temp.fig(:stat, 'subcategory', 'abuse/neglect', '{cases}') = '1'
    and pg_temp.fig(:stat, 'situation', '6', '{cases}') = '1'
    and pg_temp.fig(:stat, 'situation', null, '{cases}') = '1'
    and pg_temp.fig(:stat, null, null, '{cases}') = '2',
    'a case with several categories or situations counts once under each, and once in all');

-- The overdue assignment is done with: it leaves the overdue figure.
set role hotlined;
select * from hotline.stats_refresh(1000) \g /dev/null
reset role;
select pg_temp.tap(count(*) = 1, 'stats_overdue lists the one live assignment with a missed clock')
from hotline.stats_overdue;

-- ------------------------------------------------------------ a refresh that fails
-- A refresh rolled back leaves its keys queued: they are counted once, later.
set role hotlined;
insert into out select 'r2', * from hotline.intake_report(:gw, 's-9', '\x09', :'report');
reset role;
select sum(n) as cases_before from hotline.stats_daily where figure = 'cases' \gset
begin;
set local role hotlined;
select * from hotline.stats_refresh(1000) \g /dev/null
rollback;
select pg_temp.tap(count(*) = 1, 'a refresh rolled back leaves its key queued') from hotline.stats_pending;
set role hotlined;
select * from hotline.stats_refresh(1000) \g /dev/null
select * from hotline.stats_refresh(1000) \g /dev/null
reset role;
select pg_temp.tap(sum(n) = :cases_before + 1, 'and it is counted once', sum(n)::text)
from hotline.stats_daily where figure = 'cases';

-- ------------------------------------------------------------ durations
select pg_temp.tap(string_agg(hotline.stats_bucket(make_interval(secs => s))::text, ',' order by s)
    = '0,10,10,20,600,660,7200,8100,172800,176400',
    'durations round up to 10 s below 10 minutes, a minute below 2 hours, 15 minutes below 48 hours, then an hour',
    string_agg(hotline.stats_bucket(make_interval(secs => s))::text, ',' order by s))
from unnest(array[0, 0.2, 10, 10.5, 600, 600.5, 7200, 7200.5, 172800, 172800.5]) s;
-- Percentiles from buckets: ten acknowledgements of 1 to 10 minutes.
insert into hotline.stats_daily (day, figure, bucket, region, source, risk_level, categories,
    subcategories, situations, agencies, n)
select '2001-01-01', 'acknowledge', m * 60, '320102', 'report', 2, '{abuse}', '{abuse/neglect}',
    '{6}', '{police-320102}', 1 from generate_series(1, 10) m;
select pg_temp.tap(c->'acknowledge' = '{"count": 10, "median_seconds": 300, "p90_seconds": 540}',
    'the median and the 90th percentile are the smallest durations half and 90 % do not exceed',
    c->>'acknowledge')
from jsonb_array_elements((select response from hotline.stats_view(:stat, '2001-01-01', '2001-01-01',
    null, null))->'cells') c;

-- ------------------------------------------------------------ suppression
-- A rollup made by hand on 2001-02-01: cases by region and category, with
-- every report a case of its own (no call cases), in three counties.
update hotline.settings set value = '5' where name = 'stats_min_count';
insert into hotline.regions (code, name, parent_code) values ('320105', '测试区', '320100')
on conflict do nothing;
create temporary table grid (region text, category text, n integer);
insert into grid values
	('320102', 'abuse', 3), ('320102', 'bullying', 9), ('320102', 'legal', 20),
	('320104', 'abuse', 12), ('320104', 'bullying', 8), ('320104', 'legal', 30),
	('320105', 'abuse', 15), ('320105', 'bullying', 2), ('320105', 'legal', 40);
insert into hotline.stats_daily (day, figure, region, source, risk_level, categories, subcategories,
    situations, agencies, n)
select '2001-02-01', f, g.region, 'report', 3, array[g.category], array[g.category || '/x'], '{NULL}',
    '{NULL}', g.n
from grid g cross join (values ('cases'), ('reports')) x (f);
create temporary table sup as
select c.key[1] as region, c.key[2] as category, c.value, c.suppressed
from hotline.stats_cells('2001-02-01', '2001-02-01', null, '{region,category}', null) c
where c.figure = 'cases';
select pg_temp.tap((select string_agg(region || '/' || category, ',' order by region, category)
	from sup where suppressed and value between 1 and 4) = '320102/abuse,320105/bullying',
    'counts below the threshold are suppressed (320102 abuse 3, 320105 bullying 2)');
select pg_temp.tap(not exists (select 1 from sup s join hotline.stats_cells('2001-02-01', '2001-02-01',
	null, '{region,category}', null) c on c.key = array[s.region, s.category]
	where not c.suppressed and c.value between 1 and 4),
    'no figure of the cells shows a count below the threshold');
select pg_temp.tap(bool_and(n = 0 or n >= 2), 'every line (a county''s categories, a category''s counties) holds no suppressed count or at least two',
    string_agg(l || '=' || n, ','))
from (select 'region ' || region as l, count(*) filter (where suppressed) as n from sup group by region
    union all
    select 'category ' || category, count(*) filter (where suppressed) from sup group by category) x;
select pg_temp.tap((select string_agg(region || '/' || category, ',' order by region, category)
	from sup where suppressed)
	= '320102/abuse,320102/bullying,320104/abuse,320104/bullying,320105/abuse,320105/bullying',
    'the complements are the smallest others of each line: 320102 bullying, then 320104 bullying and abuse, 320105 abuse',
    (select string_agg(region || '/' || category, ',' order by region, category) from sup where suppressed));
-- A county's total (its line's sum) is published: the suppressed cells of
-- its line cannot be told apart from it.
select pg_temp.tap(c.value = 32 and not c.suppressed
    and (select sum(value) from sup where region = '320102' and not suppressed) = 20,
    'with a county''s total known, its two suppressed counts are known only together (32 - 20 = 12)')
from hotline.stats_cells('2001-02-01', '2001-02-01', null, '{region}', null) c
where c.key = '{320102}' and c.figure = 'cases';
select pg_temp.tap(bool_and(not c.suppressed),
    'totals of at least the threshold over a whole category are published',
    string_agg(c.key[1] || ':' || c.value || ':' || c.suppressed, ','))
from hotline.stats_cells('2001-02-01', '2001-02-01', null, '{category}', null) c
where c.figure = 'cases';
-- Cases less reports is a count too: 30 cases of which 28 reports gives two
-- call cases, so that cell's cases and reports are suppressed together.
update hotline.stats_daily set n = 28
where day = '2001-02-01' and figure = 'reports' and region = '320104' and categories = '{legal}';
select pg_temp.tap(bool_and(c.suppressed) and count(*) = 2,
    'a cell whose cases less reports is below the threshold has both suppressed')
from hotline.stats_cells('2001-02-01', '2001-02-01', '320104', '{category}', null) c
where c.key = '{legal}' and c.figure in ('cases', 'reports');
-- The threshold is a setting.
update hotline.settings set value = '1' where name = 'stats_min_count';
select pg_temp.tap(not bool_or(c.suppressed), 'with stats_min_count 1 nothing is suppressed')
from hotline.stats_cells('2001-02-01', '2001-02-01', null, '{region,category}', null) c;
update hotline.settings set value = '13' where name = 'stats_min_count';
select pg_temp.tap(count(*) filter (where c.suppressed) > (select count(*) from sup where suppressed),
    'with a higher threshold more is suppressed')
from hotline.stats_cells('2001-02-01', '2001-02-01', null, '{region,category}', null) c
where c.figure = 'cases';
update hotline.settings set value = '5' where name = 'stats_min_count';
select pg_temp.tap((select response->'cells'->0->'cases' from hotline.stats_view(:stat, '2001-02-01',
	'2001-02-01', '320102', 'category')) = '"suppressed"'
    and (select response->>'threshold' from hotline.stats_view(:stat, '2001-02-01', '2001-02-01',
	null, null)) = '5',
    'the API shows a suppressed count as "suppressed", and the threshold');

-- ------------------------------------------------------------ who reads what
set role hotlined;
create temporary table who as
select w.n, v.status, v.code, v.response
from (values ('stat', :stat), ('admin', :adm), ('police', :police), ('op', :op), ('gw', :gw),
    ('gone', :stat_gone), ('nobody', -1)) w (n, id)
cross join lateral hotline.stats_view(w.id, (current_date - 1)::text, (current_date + 1)::text, null,
    'agency') v;
reset role;
select pg_temp.tap((select string_agg(n || ':' || status || coalesce(':' || code, ''), ',' order by n) from who)
    = 'admin:200,gone:403:client_revoked,gw:403:forbidden,nobody:403:client_unknown,op:403:forbidden,police:200,stat:200',
    'statisticians, administrators and agencies read statistics; operators, gateways, revoked and unknown clients do not',
    (select string_agg(n || ':' || status || coalesce(':' || code, ''), ',' order by n) from who));
select pg_temp.tap(response->>'agency' = 'police-320102'
    and (select array_agg(c->>'agency') from jsonb_array_elements(response->'cells') c) = '{police-320102}'
    and (select response->>'agency' from who where n = 'stat') is null
    and (select jsonb_array_length(response->'cells') from who where n = 'stat') > 3,
    'an agency gets its own agency''s figures only', response::text)
from who where n = 'police';
select pg_temp.tap(not (response::text ~ '测试|1380000|20[0-9]{2}-[0-9]{6}-[0-9]{8}|R[A-Z2-7]{20}'),
    'the figures hold no name, number, narrative, case number or receipt')
from who where n = 'stat';

-- ------------------------------------------------------------ requests
create temporary table bad as
select t.what, v.status, v.code, v.response->'error'->>'field' as field
from (values
	('no from', null, '2026-01-31', null, null),
	('no to', '2026-01-01', null, null, null),
	('not a date', '2026-02-30', '2026-03-01', null, null),
	('short date', '2026-2-01', '2026-03-01', null, null),
	('19xx', '1999-12-31', '2026-03-01', null, null),
	('backwards', '2026-03-01', '2026-02-01', null, null),
	('bad region', '2026-01-01', '2026-01-31', '32010', null),
	('unknown region', '2026-01-01', '2026-01-31', '999999', null),
	('unknown dimension', '2026-01-01', '2026-01-31', null, 'region,colour'),
	('twice', '2026-01-01', '2026-01-31', null, 'region,category,region'),
	('empty word', '2026-01-01', '2026-01-31', null, 'region,,category')) t (what, f, tt, r, b)
cross join lateral hotline.stats_view(:stat, t.f, t.tt, t.r, t.b) v;
select pg_temp.tap(string_agg(what || ':' || status || ':' || code || ':' || field, ', '
	order by what collate "C")
    = '19xx:400:invalid_value:from, backwards:400:inconsistent:to, bad region:400:invalid_value:region, '
      'empty word:400:invalid_value:by, no from:400:missing_field:from, no to:400:missing_field:to, '
      'not a date:400:invalid_value:from, short date:400:invalid_value:from, '
      'twice:400:duplicate_item:by, unknown dimension:400:invalid_value:by, '
      'unknown region:422:unknown_region:region',
    'bad periods, regions and dimensions are refused with the field at fault',
    string_agg(what || ':' || status || ':' || code || ':' || field, ', ' order by what collate "C"))
from bad;
insert into hotline.stats_daily (day, figure, region, source, risk_level, categories, subcategories,
    situations, agencies, n)
select '2002-01-01', 'cases', '320102', 'report', 1 + i % 4, '{abuse}', array['abuse/s' || i], '{NULL}',
    '{NULL}', 1 from generate_series(1, 5001) i;
select pg_temp.tap(status = 400 and code = 'too_long' and response->'error'->>'field' = 'by',
    'a grouping of more than 5000 cells is refused', response::text)
from hotline.stats_view(:stat, '2002-01-01', '2002-01-01', null, 'subcategory');

-- ------------------------------------------------------------ CSV
create temporary table csv as select row_number() over () as i, line
from hotline.stats_csv('2001-02-01', '2001-02-01', '320100', 'region,category') line;
select pg_temp.tap((select line from csv where i = 1) = 'region,category,figure,value'
    and (select count(*) from csv) = 1 + 9 * (select count(*) from hotline.stats_cells('2001-02-01',
	'2001-02-01', null, '{region}', null) where key = '{320102}')
    and exists (select 1 from csv where line = '320102,abuse,cases,suppressed')
    and exists (select 1 from csv where line = '320105,legal,cases,40')
    and exists (select 1 from csv where line = '320105,legal,acknowledge.median_seconds,'),
    'stats_csv: a header row, then every figure of every cell, suppressed ones as "suppressed"',
    (select string_agg(line, E'\n') from (select line from csv order by i limit 6) x));
create temporary table refused (what text, state text);
do $$
begin
	perform hotline.stats_csv('2026-01-01', '2025-01-01', null, null);
	insert into refused values ('backwards', null);
exception when others then
	insert into refused values ('backwards', sqlstate || ' ' || sqlerrm);
end $$;
select pg_temp.tap(state = '22023 stats: to: must not be before from',
    'stats_csv refuses a bad request with the API''s message', state)
from refused;

-- ------------------------------------------------------------ privileges
select pg_temp.tap(has_function_privilege('hotlined', 'hotline.stats_view(bigint,text,text,text,text)', 'execute')
    and has_function_privilege('hotlined', 'hotline.stats_refresh(integer)', 'execute')
    and not has_function_privilege('hotlined', 'hotline.stats_csv(text,text,text,text)', 'execute')
    and not has_function_privilege('hotlined', 'hotline.stats_table(text,text,text,text)', 'execute')
    and not has_function_privilege('hotlined', 'hotline.stats_cells(date,date,text,text[],text,integer)', 'execute'),
    'hotlined may read the figures and refresh them; the CSV and the raw cells are the administrator''s');
create temporary table denied (what text, refused boolean);
grant all on denied to hotlined;
do $$
declare
	op text;
begin
	set local role hotlined;
	foreach op in array array['select * from hotline.stats_daily', 'select * from hotline.stats_cases',
	    'delete from hotline.stats_pending', 'select hotline.stats_csv(''2026-01-01'', ''2026-01-01'', null, null)'] loop
		begin
			execute op;
			insert into denied values (op, false);
		exception when insufficient_privilege then
			insert into denied values (op, true);
		end;
	end loop;
end $$;
select pg_temp.tap(bool_and(refused), 'the daemon''s role reads no statistics table directly',
    string_agg(what, '; ') filter (where not refused)) from denied;
select pg_temp.codes_agree();
