-- Routing as a pure function of a case's facts and the rule table
-- (route_targets): every statutory situation x reporting institution type x
-- risk level x where the child and the institution are, against what the
-- law says (written out below, independently of the rules); the categories
-- a report names; calls by category and risk; the parent region's agencies
-- where a district has none, the coordination office where no rule
-- matches, the default office where none is above the region; and the
-- escalation chain (escalation_target).
\ir fixtures.psql
-- route_targets and escalation_target are internal: they resolve names
-- through the search_path of their caller (the intake functions set it).
set search_path = hotline, public;

-- A plan as "agency:role,..." in agency order.
create function pg_temp.plan(p_source text, p_categories jsonb, p_risk smallint, p_region text,
    p_institution text, p_institution_region text)
returns text language sql as $$
	select string_agg(g.code || ':' || p.role, ',' order by g.code)
	from hotline.route_targets(p_source, p_categories, p_risk, p_region, p_institution,
	    p_institution_region) p
	join hotline.agencies g on g.id = p.agency_id
$$;

-- ------------------------------------------------------------ the law
-- What a mandatory report of one situation must reach (domain.md, "Default
-- routing"), written without the rule table: the police of the child's
-- county as primary; abuse (situations other than 5) the procuratorate
-- supervising, civil affairs for abandonment (6) and the missing (7); the
-- crisis team for disability or death (5); the institution's sector
-- department in its county; and 秦淮区's own rule for neglect (demo data).
create function pg_temp.law(p_situation int, p_institution text, p_child text, p_inst text)
returns text language sql immutable as $$
	select string_agg(code || ':' || role, ',' order by code) from (
		select distinct on (code) code, role from (values
		    ('police-' || p_child, 'primary', true),
		    ('procuratorate-' || p_child, 'supervise', p_situation <> 5),
		    ('civil_affairs-' || p_child, 'inform', p_situation in (6, 7)),
		    ('health-' || p_child, 'primary', p_situation = 5),
		    ('coordination-' || p_child, 'inform', p_situation = 6 and p_child = '320104'),
		    ('education-' || p_inst, 'inform', p_institution in ('school', 'kindergarten')),
		    ('health-' || p_inst, 'inform', p_institution in ('nursery', 'hospital', 'clinic')),
		    ('civil_affairs-' || p_inst, 'inform',
			p_institution in ('welfare_institution', 'social_work_agency'))) x (code, role, applies)
		where applies
		order by code, case role when 'primary' then 1 when 'supervise' then 2 else 3 end) y
$$;

create temporary table matrix as
select s.situation, t.type, r.level, w.child, w.inst,
    pg_temp.plan('report', hotline.report_categories(array[s.situation]::smallint[], null),
	r.level::smallint, w.child, t.type, w.inst) as got,
    pg_temp.law(s.situation, t.type, w.child, coalesce(w.inst, w.child)) as want
from hotline.situations s
cross join unnest(array['school', 'kindergarten', 'nursery', 'hospital', 'clinic',
    'welfare_institution', 'social_work_agency', 'hotel', 'residents_committee',
    'villagers_committee', 'other']) t (type)
cross join generate_series(1, 4) r (level)
cross join (values ('320102', '320102'), ('320102', '320104'), ('320102', null),
    ('320104', '320104'), ('320104', '320102'), ('320104', null)) w (child, inst);
select pg_temp.tap(count(*) = 9 * 11 * 4 * 6 and count(*) filter (where got = want) = count(*),
    format('every situation x institution type x risk level x child''s and institution''s county'
	' reaches what the law says (%s of %s plans)', count(*) filter (where got = want), count(*)),
    string_agg(format('%s/%s/%s/%s/%s: %s, want %s', situation, type, level, child, inst, got, want),
	'; ') filter (where got is distinct from want))
from matrix;
select pg_temp.tap(bool_and(got like '%police-' || child || ':primary%'),
    'every mandatory report reaches the police of the child''s county as primary, whatever its situation')
from matrix;
select pg_temp.tap(got = 'health-320102:primary,police-320102:primary',
    'a child disabled by a beating or self-harm (situation 5) reaches the police as well as the crisis team', got)
from matrix where situation = 5 and type = 'hotel' and level = 2 and child = '320102' and inst is null;
select pg_temp.tap(got like '%health-320104:inform%' and got not like '%education%',
    'a nursery for under-threes (托育) informs health, not education', got)
from matrix where situation = 1 and type = 'nursery' and level = 2 and child = '320102' and inst = '320104';
select pg_temp.tap(got like '%education-320104:inform%' and got not like '%education-320102%',
    'the sector department informed is the institution''s county''s, not the child''s', got)
from matrix where situation = 2 and type = 'school' and level = 2 and child = '320102' and inst = '320104';

-- ------------------------------------------------------------ categories a report names
select pg_temp.tap(hotline.report_categories('{4}', null)
	= '[{"category": "abuse", "subcategory": "physical_abuse"}]'
    and hotline.report_categories('{4}', '[{"category":"bullying","subcategory":"physical"}]')
	= '[{"category": "bullying", "subcategory": "physical"}]'
    and hotline.report_categories('{4,2}', '[{"category":"bullying","subcategory":"physical"}]')
	= '[{"category": "abuse", "subcategory": "sexual_abuse"}, {"category": "bullying", "subcategory": "physical"}]'
    and hotline.report_categories('{5}', '[{"category":"psychological","subcategory":"suicidal"},{"category":"abuse","subcategory":"physical_abuse"}]')
	= '[{"category": "abuse", "subcategory": "physical_abuse"}, {"category": "psychological", "subcategory": "suicidal"}]',
    'a report''s categories: those it names for its situations, the default of the others');
select pg_temp.tap(hotline.situation_allows('{4}', 'bullying', 'physical')
    and hotline.situation_allows('{4}', 'abuse', 'physical_abuse')
    and not hotline.situation_allows('{7}', 'bullying', 'physical')
    and not hotline.situation_allows('{2}', 'psychological', 'self_harm'),
    'situation 4 may be abuse or bullying; situation 7 is never bullying, situation 2 never self-harm');
create temporary table bullying as
select r.level, pg_temp.plan('report', hotline.report_categories('{4}',
    '[{"category":"bullying","subcategory":"physical"}]'), r.level::smallint, '320102', 'school',
    '320104') as got
from generate_series(1, 4) r (level);
select pg_temp.tap(got = 'education-320104:primary,police-320102:primary,police-320104:primary,procuratorate-320104:supervise',
    'a beating named bullying at risk ' || level || ': the school''s county''s education bureau, its police and procuratorate, and the child''s county''s police', got)
from bullying where level in (1, 2);
select pg_temp.tap(got = 'education-320104:primary,police-320102:primary',
    'the same bullying at risk ' || level || ': the school''s education bureau and the police the report goes to', got)
from bullying where level in (3, 4);

-- ------------------------------------------------------------ calls
create temporary table plans as
select 'bullying-3' as t, pg_temp.plan('call', '[{"category":"bullying","subcategory":"cyber"}]',
    3::smallint, '320102', null, null) as got
union all
select 'bullying-1', pg_temp.plan('call', '[{"category":"bullying","subcategory":"cyber"}]',
    1::smallint, '320102', null, null)
union all
select 'suicide-1', pg_temp.plan('call', '[{"category":"psychological","subcategory":"suicidal"}]',
    1::smallint, '320104', null, null)
union all
select 'suicide-2', pg_temp.plan('call', '[{"category":"psychological","subcategory":"suicidal"}]',
    2::smallint, '320104', null, null)
union all
select 'legal', pg_temp.plan('call', '[{"category":"legal","subcategory":"rights_complaint"},{"category":"psychological","subcategory":"study_pressure"}]',
    4::smallint, '320102', null, null);
select pg_temp.tap(got = 'education-320102:primary', 'a call about bullying at level 3: education only', got)
from plans where t = 'bullying-3';
select pg_temp.tap(got = 'education-320102:primary,police-320102:primary,procuratorate-320102:supervise',
    'a call about bullying at level 1: police too, with the procuratorate supervising', got)
from plans where t = 'bullying-1';
select pg_temp.tap(got = 'health-320104:primary,police-320104:primary',
    'a call about a suicide in progress: the crisis team and the police', got)
from plans where t = 'suicide-1';
select pg_temp.tap(got = 'health-320104:primary',
    'a call about suicidal thoughts at level 2: the crisis team alone (only reports go to the police whatever the risk)', got)
from plans where t = 'suicide-2';
select pg_temp.tap(got = 'health-320102:primary,legal_aid-320102:primary,procuratorate-320102:inform',
    'a call with two categories reaches every agency each needs', got)
from plans where t = 'legal';

-- ------------------------------------------------------------ region-specific rules
select pg_temp.tap(pg_temp.plan('call', '[{"category":"abuse","subcategory":"neglect"}]', 3::smallint,
	'320104', null, null) like '%coordination-320104:inform%'
    and pg_temp.plan('call', '[{"category":"abuse","subcategory":"neglect"}]', 3::smallint,
	'320102', null, null) not like '%coordination%',
    '秦淮区''s own rule (region_prefix 320104) informs its coordination office of neglect; 玄武区''s cases are not');

-- ------------------------------------------------------------ fallbacks
-- A district without agencies of its own falls back to the city's.
insert into hotline.regions (code, name, parent_code) values ('320105', '测试区', '320100');
select pg_temp.tap(got = 'legal_aid-320100:primary',
    'a region without its own agency is served by its parent''s', got)
from pg_temp.plan('call', '[{"category":"legal","subcategory":"legal_aid"}]', 4::smallint, '320105',
    null, null) got;

-- With no matching rule a case goes to the coordination office: never unrouted.
begin;
delete from hotline.routing_rules where category = 'legal';
select pg_temp.tap(got = 'coordination-320104:primary',
    'a case no rule matches goes to the coordination office', got)
from pg_temp.plan('call', '[{"category":"legal","subcategory":"legal_aid"}]', 4::smallint, '320104',
    null, null) got;
rollback;

-- 瑶海区 (340102) has its police and no coordination office above it: what
-- no agency of its own serves goes to the default office.
select pg_temp.tap(got = 'coordination-320100:primary',
    'a call no agency of a region serves, where no coordination office is above it, goes to the default office', got)
from pg_temp.plan('call', '[{"category":"psychological","subcategory":"anxiety_depression"}]',
    3::smallint, '340102', null, null) got;
select pg_temp.tap(got = 'police-340102:primary',
    'a report there reaches its police', got)
from pg_temp.plan('report', '[{"category":"psychological","subcategory":"self_harm"}]',
    2::smallint, '340102', 'hotel', null) got;
create temporary table unroutable (client bigint, body jsonb, refused text);
grant all on unroutable to hotlined;
insert into unroutable (client, body)
select :op, jsonb_set(jsonb_set(:'call_case'::jsonb, '{open_case,child,region_code}', '"340102"'),
    '{open_case,categories}', '[{"category":"psychological","subcategory":"anxiety_depression"}]');
begin;
update hotline.settings set value = '' where name = 'default_office';
select pg_temp.tap(got is null, 'without a default office the plan is empty', got)
from pg_temp.plan('call', '[{"category":"psychological","subcategory":"anxiety_depression"}]',
    3::smallint, '340102', null, null) got;
set role hotlined;
do $$
begin
	perform * from hotline.intake_call((select client from unroutable), 'unroutable', '\x01',
	    (select body from unroutable));
	update unroutable set refused = 'no';
exception when object_not_in_prerequisite_state then
	update unroutable set refused = 'yes';
end $$;
reset role;
select refused from unroutable \gset
rollback;
select pg_temp.tap(:'refused' = 'yes' and not exists (select 1 from hotline.cases
	where region_code = '340102'),
    'and a case that would have no assignment is refused (55000), never committed', :'refused');

-- ------------------------------------------------------------ escalation
-- county -> city -> coordination office -> procuratorate, then nowhere.
create function pg_temp.next_up(p_agency text) returns text language sql as $$
	select g.code || ':' || t.role from hotline.escalation_target(
	    (select id from hotline.agencies where code = p_agency)) t
	join hotline.agencies g on g.id = t.agency_id
$$;
select pg_temp.tap(pg_temp.next_up('police-320102') = 'police-320100:primary'
    and pg_temp.next_up('police-320100') = 'coordination-320100:primary'
    and pg_temp.next_up('coordination-320100') = 'procuratorate-320100:supervise'
    and (select t.agency_id from hotline.escalation_target(
	(select id from hotline.agencies where code = 'procuratorate-320100')) t) is null,
    'the escalation chain climbs county, city, coordination, procuratorate',
    concat_ws(' ', pg_temp.next_up('police-320102'), pg_temp.next_up('police-320100'),
	pg_temp.next_up('coordination-320100'), pg_temp.next_up('procuratorate-320100')));
select pg_temp.tap(pg_temp.next_up('police-340102') = 'coordination-320100:primary',
    'an agency with nothing above it escalates to the default office', pg_temp.next_up('police-340102'));
