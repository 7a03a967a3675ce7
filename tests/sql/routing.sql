-- Routing as a pure function of a case's facts and the rule table
-- (route_plan): who gets a case, the parent region's agencies where a
-- district has none, the coordination office where no rule matches; and the
-- escalation chain (escalation_target).
\ir fixtures.psql
-- route_plan and escalation_target are internal: they resolve names through
-- the search_path of their caller (the intake functions set it to hotline).
set search_path = hotline, public;

-- A plan as "agency:role,..." in agency order.
create function pg_temp.plan(p_categories jsonb, p_risk smallint, p_region text, p_institution text)
returns text language sql as $$
	select string_agg(g.code || ':' || p.role, ',' order by g.code)
	from hotline.route_plan(p_categories, p_risk, p_region, p_institution) p
	join hotline.agencies g on g.id = p.agency_id
$$;

-- ------------------------------------------------------------ plans
create temporary table plans as
select 'trafficking' as t, pg_temp.plan('[{"category":"abuse","subcategory":"trafficking_missing"}]',
    1::smallint, '320104', 'hotel') as got
union all
select 'bullying-3', pg_temp.plan('[{"category":"bullying","subcategory":"cyber"}]', 3::smallint,
    '320102', null)
union all
select 'bullying-1', pg_temp.plan('[{"category":"bullying","subcategory":"cyber"}]', 1::smallint,
    '320102', null)
union all
select 'school-abuse', pg_temp.plan('[{"category":"abuse","subcategory":"sexual_abuse"},{"category":"abuse","subcategory":"neglect"}]',
    2::smallint, '320102', 'school');
select pg_temp.tap(got = 'civil_affairs-320104:inform,police-320104:primary,procuratorate-320104:supervise',
    'trafficking: county police, procuratorate, civil affairs', got)
from plans where t = 'trafficking';
select pg_temp.tap(got = 'education-320102:primary', 'bullying at level 3: education only', got)
from plans where t = 'bullying-3';
select pg_temp.tap(got = 'education-320102:primary,police-320102:primary,procuratorate-320102:supervise',
    'bullying at level 1: police too', got)
from plans where t = 'bullying-1';
select pg_temp.tap(got = 'civil_affairs-320102:inform,education-320102:inform,police-320102:primary,procuratorate-320102:supervise',
    'two abuse subcategories from a school: one assignment per agency', got)
from plans where t = 'school-abuse';

-- ------------------------------------------------------------ fallbacks
-- A district without agencies of its own falls back to the city's.
insert into hotline.regions (code, name, parent_code) values ('320105', '测试区', '320100');
select pg_temp.tap(got = 'legal_aid-320100:primary',
    'a region without its own agency is served by its parent''s', got)
from pg_temp.plan('[{"category":"legal","subcategory":"legal_aid"}]', 4::smallint, '320105', null) got;

-- With no matching rule a case goes to the coordination office: never unrouted.
begin;
delete from hotline.routing_rules where category = 'legal';
select pg_temp.tap(got = 'coordination-320104:primary',
    'a case no rule matches goes to the coordination office', got)
from pg_temp.plan('[{"category":"legal","subcategory":"legal_aid"}]', 4::smallint, '320104', null) got;
rollback;

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
