-- The reference data of 002 and the demo data: exactly what the domain and
-- the contract say.
\ir fixtures.psql

select pg_temp.tap(string_agg(category || '/' || code, ' ' order by category, code)
    = 'abuse/domestic_violence abuse/exploitation abuse/neglect abuse/other_serious abuse/physical_abuse'
    ' abuse/sexual_abuse abuse/trafficking_missing bullying/cyber bullying/extortion bullying/physical'
    ' bullying/relational bullying/sexual_harassment bullying/verbal legal/custody_guardianship'
    ' legal/delinquency_prevention legal/legal_aid legal/legal_consultation legal/rights_complaint'
    ' psychological/anxiety_depression psychological/crisis_trauma psychological/relationship_distress'
    ' psychological/self_harm psychological/study_pressure psychological/suicidal'
    and bool_and(name ~ '[\u4e00-\u9fff]'),
    'the four categories have exactly the contract''s 24 subcategories, with Chinese names')
from hotline.subcategories;
select pg_temp.tap(string_agg(situation || ':' || min_risk || ':' || category || '/' || subcategory, ' ' order by situation)
    = '1:2:abuse/sexual_abuse 2:2:abuse/sexual_abuse 3:2:abuse/sexual_abuse 4:2:abuse/physical_abuse'
    ' 5:2:psychological/self_harm 6:3:abuse/neglect 7:1:abuse/trafficking_missing 8:2:abuse/exploitation'
    ' 9:2:abuse/other_serious'
    and bool_and(description_zh <> '' and description_en <> ''),
    'the nine situations map to risk and category as in the contract, described in Chinese and English')
from hotline.situations;
select pg_temp.tap(string_agg(level || colour || name, ' ' order by level) = '1红critical 2橙high 3黄medium 4蓝low',
    'four risk levels, 红 critical to 蓝 low') from hotline.risk_levels;
select pg_temp.tap(string_agg(kind, ' ' order by kind)
    = 'civil_affairs coordination education health legal_aid police procuratorate',
    'seven agency kinds') from hotline.agency_kinds;
select pg_temp.tap(string_agg(code || '<' || coalesce(parent_code, '-') || ':' || name, ' ' order by code)
    = '320000<-:江苏省 320100<320000:南京市 320102<320100:玄武区 320104<320100:秦淮区'
      ' 320500<320000:苏州市 340000<-:安徽省 340100<340000:合肥市 340102<340100:瑶海区',
    'demo regions: Jiangsu, Nanjing, 玄武区 and 秦淮区, Suzhou (a second hotline centre), and Anhui, Hefei and 瑶海区, with their parents')
from hotline.regions;
select pg_temp.tap(count(*) = 22
    and count(*) filter (where a.code = a.kind || '-' || a.region_code) = 22
    and count(*) filter (where a.region_code = '320100' and a.parent_id is null) = 7
    and count(*) filter (where a.region_code like '3201__' and a.region_code <> '320100'
	and p.kind = a.kind and p.region_code = '320100') = 14
    and count(*) filter (where a.region_code like '34%') = 1
    and count(*) filter (where a.kind = 'coordination' and a.region_code like '34%') = 0,
    'demo agencies: one of each kind per Nanjing region, <kind>-<region>, districts under the city''s; 瑶海区 its police alone')
from hotline.agencies a left join hotline.agencies p on p.id = a.parent_id;
select pg_temp.tap((select value from hotline.settings where name = 'default_office') = 'coordination-320100'
    and exists (select 1 from hotline.routing_rules where region_prefix = '320104'),
    'the demo sets the default office and a rule of one region''s own');
select pg_temp.tap(string_agg(situation || ':' || category || '/' || subcategory, ' '
	order by situation, category, subcategory) like '%4:bullying/physical%'
    and bool_and(situation in (1, 4, 5, 9)),
    'situation_categories names what a report may say besides the default: situation 4 bullying among them')
from hotline.situation_categories;
select pg_temp.tap((select name from hotline.agencies where code = 'police-320102') = '南京市玄武区公安分局'
    and (select name from hotline.agencies where code = 'police-320100') = '南京市公安局'
    and (select name from hotline.agencies where code = 'procuratorate-320104') = '南京市秦淮区人民检察院',
    'demo agencies have their Chinese names');
