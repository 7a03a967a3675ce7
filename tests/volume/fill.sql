-- Fill a database with a year's volume of work, set-based, as the superuser:
-- :n cases (default 100000), one in two a mandatory report and the others
-- opened by the hotline seat 'console' (its centre's caseload), and as many
-- calls that opened no case (that seat's centre's calls), spread round robin
-- over the counties :counties (default the four of 杭州市 (330100) below; a
-- code not among them is added under 杭州市 with its seven agencies, so that
-- -v counties=330108 puts every case in one county's queues), each case with its
-- three assignments (county police primary, procuratorate supervise,
-- education inform), the primary's three service clocks and the case's
-- history (hash-chained by the usual trigger).  Four in five cases are open,
-- with their clocks running and due days or weeks ahead (they never fall due
-- during a test run); the rest were closed, their clocks stopped.  One open
-- case in ten missed its acknowledgement long ago (overdue), one case in
-- twenty has a supervision record.
--
-- Every sealed value is copied from the case :'template' (a report filed
-- through the daemon), with its data key: a filled case opens like the
-- template.  The keyed digests are random, so no filled case is "related"
-- to another.
--
--   psql -v n=100000 -v template=2026-320102-00000001 [-v counties=330102,...] \
--       -f tests/volume/fill.sql
\set ON_ERROR_STOP 1
\if :{?n}
\else
\set n 100000
\endif
\if :{?counties}
\else
\set counties 330102,330105,330106,330108
\endif
set client_min_messages = warning;
set search_path = hotline, pg_temp;
set hotline.scope = 'system';
set synchronous_commit = off;

begin;
insert into regions (code, name, parent_code) values
	('330000', '浙江省', null),
	('330100', '杭州市', '330000'),
	('330102', '上城区', '330100'),
	('330105', '拱墅区', '330100'),
	('330106', '西湖区', '330100'),
	('330108', '滨江区', '330100')
on conflict (code) do nothing;
insert into regions (code, name, parent_code)
select c, c || ' 区', '330100' from unnest(string_to_array(:'counties', ',')) c
on conflict (code) do nothing;

with kinds (kind) as (values ('police'), ('procuratorate'), ('education'), ('civil_affairs'),
    ('health'), ('legal_aid'), ('coordination'))
insert into agencies (code, kind, region_code, name, parent_id)
select k.kind || '-330100', k.kind, '330100', '杭州市 ' || k.kind, null from kinds k
on conflict (code) do nothing;
with kinds (kind) as (values ('police'), ('procuratorate'), ('education'), ('civil_affairs'),
    ('health'), ('legal_aid'), ('coordination'))
insert into agencies (code, kind, region_code, name, parent_id)
select k.kind || '-' || r.code, k.kind, r.code, r.name || ' ' || k.kind,
    (select a.id from agencies a where a.code = k.kind || '-330100')
from kinds k cross join regions r
where r.code = any (string_to_array(:'counties', ','))
on conflict (code) do nothing;

-- The filled cases, numbered after everything that exists.
create temp table fill as
select x.*, to_char(x.created_at, 'YYYY') || '-' || x.region || '-' || lpad(x.n::text, 8, '0')
    as case_number
from (select g as i,
	c.list[1 + g % cardinality(c.list)] as region,
	(1 + (g / 7) % 4)::smallint as risk,
	g % 5 = 0 as closed,
	g % 2 = 0 as by_call,
	now() - (g % 300) * interval '1 day' - (g % 1440) * interval '1 minute' as created_at,
	nextval('case_number_seq') as n
    from generate_series(1, :n) g, (select string_to_array(:'counties', ',') as list) c) x;

-- A case opened by the seat belongs to its centre (the cases_centre trigger).
insert into cases (case_number, source, region_code, risk_level, status, created_by, created_at,
    closed_at, narrative, dek_uid, dek_kid, dek_wrapped)
select f.case_number, case when f.by_call then 'call' else 'report' end, f.region, f.risk,
    case when f.closed then 'closed' else 'open' end,
    case when f.by_call then o.id else t.created_by end, f.created_at,
    case when f.closed then f.created_at + interval '20 days' end,
    t.narrative, t.dek_uid, t.dek_kid, t.dek_wrapped
from fill f, cases t, clients o where t.case_number = :'template' and o.name = 'console';

-- Half the open cases' primaries are acknowledged, chosen by a digest of the
-- index so that the choice does not follow the county round robin.
create temp table filled as
select c.id, c.region_code, c.created_at, c.status = 'closed' as closed, f.i, f.by_call,
    md5(f.i::text) < '8' as acked
from cases c join fill f on c.case_number = f.case_number;
create index on filled (id);
analyze filled;

insert into children (case_id, name, gender, age, birth_date, id_number, phone, school, address,
    region_code)
select f.id, t.name, t.gender, t.age, t.birth_date, t.id_number, t.phone, t.school, t.address,
    f.region_code
from filled f, children t join cases tc on tc.id = t.case_id
where tc.case_number = :'template';

insert into reports (case_id, client_id, receipt_id, reporter_name, reporter_phone,
    reporter_id_number, reporter_profession, institution_name, institution_type,
    institution_region, situations, suspected, discovered_at, reported_at, immediate_danger,
    actions_taken)
select f.id, t.client_id,
    'R' || translate(upper(substr(md5('fill' || f.id), 1, 20)), '01890', 'ABCDE'),
    t.reporter_name, t.reporter_phone, t.reporter_id_number, t.reporter_profession,
    t.institution_name, t.institution_type, f.region_code, t.situations, t.suspected,
    f.created_at - interval '1 hour', f.created_at, false, t.actions_taken
from filled f, reports t join cases tc on tc.id = t.case_id
where tc.case_number = :'template' and not f.by_call;

insert into case_categories (case_id, category, subcategory)
select f.id, 'abuse', (array['physical_abuse', 'sexual_abuse', 'neglect', 'domestic_violence'])[1 + f.i % 4]
from filled f;

insert into identifiers (kind, digest, case_id)
select 'id', sha256(('fill-id-' || f.id)::bytea), f.id from filled f;

-- Three assignments a case: open or acknowledged while the case is open.
insert into assignments (case_id, agency_id, role, state, created_at, acknowledged_at)
select f.id, g.id, x.role,
    case when f.closed then 'closed' when x.role = 'primary' and f.acked then 'acknowledged'
	else 'open' end,
    f.created_at,
    case when f.closed or (x.role = 'primary' and f.acked) then f.created_at + interval '5 minutes' end
from filled f
cross join (values ('police', 'primary'), ('procuratorate', 'supervise'),
    ('education', 'inform')) x (kind, role)
join agencies g on g.kind = x.kind and g.region_code = f.region_code;

-- The primary's service clocks: running ones are due days to weeks ahead.
insert into clocks (assignment_id, case_id, kind, started_at, warn_at, due_at, stopped_at)
select a.id, a.case_id, k.kind, f.created_at,
    case when f.closed then f.created_at + k.within * 0.8 else now() + k.ahead * 0.8 end,
    case when f.closed then f.created_at + k.within else now() + k.ahead end,
    case when f.closed or (k.kind = 'acknowledge' and a.state = 'acknowledged')
	then f.created_at + interval '5 minutes' end
from filled f join assignments a on a.case_id = f.id and a.role = 'primary'
cross join (values ('acknowledge', interval '1 hour', interval '3 days'),
    ('first_action', interval '4 hours', interval '5 days'),
    ('resolve', interval '14 days', interval '20 days')) k (kind, within, ahead);

-- One open case in ten missed its acknowledgement a day after it came in
-- (the procuratorate's overdue list).
update clocks k set due_at = f.created_at + interval '1 hour',
    warn_at = f.created_at + interval '48 minutes', warned_at = f.created_at + interval '48 minutes',
    fired_at = f.created_at + interval '1 hour'
from filled f join assignments a on a.case_id = f.id and a.role = 'primary'
where k.assignment_id = a.id and k.kind = 'acknowledge' and not f.closed and f.i % 10 = 1;
update assignments a set overdue_at = f.created_at + interval '1 hour'
from filled f where a.case_id = f.id and a.role = 'primary' and not f.closed and f.i % 10 = 1;

-- The history: created, then one event per assignment, in order (a row-level
-- BEFORE trigger sees the rows this statement inserted before it, so each
-- event chains to the one before).
analyze assignments;
insert into case_events (case_id, seq, at, kind, actor, data)
select e.case_id, e.seq, e.at, e.kind, e.actor, e.data from (
	select f.id as case_id, 1 as seq, f.created_at as at, 'created' as kind,
	    c.created_by as actor, jsonb_build_object('source', c.source, 'risk_level', c.risk_level,
	    'categories', jsonb_build_array(jsonb_build_object('category', k.category,
	    'subcategory', k.subcategory))) as data
	from filled f join cases c on c.id = f.id join case_categories k on k.case_id = f.id
	union all
	select a.case_id, 1 + row_number() over (partition by a.case_id order by a.id), a.created_at,
	    'assigned', null, jsonb_build_object('assignment', a.assignment_id, 'agency', g.code,
	    'role', a.role, 'escalation_level', 0)
	from assignments a join filled f on f.id = a.case_id join agencies g on g.id = a.agency_id) e
order by e.case_id, e.seq;

-- One case in twenty has a supervision record of its county's procuratorate,
-- addressed to its police (the fifth event, after the three assignments).
insert into case_events (case_id, seq, at, kind, actor, data)
select f.id, 5, f.created_at + interval '2 days', 'supervision', null, jsonb_build_object(
    'assignment', a.assignment_id, 'type', 'supervision', 'supervision', 'procuratorial_suggestion',
    'recipient', 'police-' || f.region_code)
from filled f join assignments a on a.case_id = f.id and a.role = 'supervise'
where f.i % 20 = 3
order by f.id;
insert into supervision_records (case_id, seq, agency_id, supervision, recipient_id, at)
select f.id, 5, a.agency_id, 'procuratorial_suggestion', p.id, f.created_at + interval '2 days'
from filled f join assignments a on a.case_id = f.id and a.role = 'supervise'
join agencies p on p.code = 'police-' || f.region_code
where f.i % 20 = 3;

-- The idempotency records of the last 8 days (older keys expire).
insert into idempotency (client_id, key, endpoint, request_hash, status, response, created_at)
select c.created_by, 'fill-' || f.id, case when f.by_call then 'cases' else 'reports' end,
    sha256(('fill-' || f.id)::bytea), 201,
    jsonb_build_object('case_number', c.case_number), f.created_at
from filled f join cases c on c.id = f.id
where f.created_at > now() - interval '8 days';

-- As many calls that opened no case (silent, hang-up, counselled, ...).
insert into calls (client_id, started_at, ended_at, caller_type, caller_phone, language,
    summary, disposition, dek_uid, dek_kid, dek_wrapped)
select o.id, f.created_at, f.created_at + interval '4 minutes', 'about_child', t.narrative, 'zh',
    t.narrative, (array['counselled', 'information', 'silent', 'hang_up', 'prank'])[1 + f.i % 5],
    t.dek_uid, t.dek_kid, t.dek_wrapped
from filled f, cases t, clients o
where t.case_number = :'template' and o.name = 'console';
insert into identifiers (kind, digest, call_id)
select 'phone', sha256(('fill-phone-' || (id % 50000))::bytea), id from calls
where id > (select coalesce(max(call_id), 0) from identifiers);
commit;

analyze;
select format('filled: %s cases, %s assignments, %s running clocks, %s calls',
    (select count(*) from cases), (select count(*) from assignments),
    (select count(*) from clocks where stopped_at is null and fired_at is null),
    (select count(*) from calls));
