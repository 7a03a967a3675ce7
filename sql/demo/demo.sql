-- Demo data (not a migration): Jiangsu province 320000, Nanjing city 320100
-- and its districts 玄武区 320102 and 秦淮区 320104, and one agency of every
-- kind for the city and each district (code <kind>-<region>); Suzhou city
-- 320500, the region of a second 12355 centre (no agencies of its own).  A
-- district agency's parent is the city agency of the same kind; city
-- agencies have no parent.  Beside them 合肥市瑶海区 340102 with its police
-- alone, the default office (Nanjing's coordination office) and a rule of
-- 秦淮区's own.  Idempotent: re-running brings the rows back to these values.
set role hotline_owner;
set search_path = hotline, pg_temp;

insert into regions (code, name, parent_code) values
	('320000', '江苏省', null),
	('320100', '南京市', '320000'),
	('320102', '玄武区', '320100'),
	('320104', '秦淮区', '320100'),
	('320500', '苏州市', '320000'),
	('340000', '安徽省', null),
	('340100', '合肥市', '340000'),
	('340102', '瑶海区', '340100')
on conflict (code) do update set name = excluded.name, parent_code = excluded.parent_code;

-- City agencies first (no parent), then the districts' (parent: the city's).
with kinds (kind, suffix) as (values
	('police', '公安局'),
	('procuratorate', '人民检察院'),
	('education', '教育局'),
	('civil_affairs', '民政局'),
	('health', '卫生健康委员会'),
	('legal_aid', '法律援助中心'),
	('coordination', '未成年人保护工作领导小组办公室'))
insert into agencies (code, kind, region_code, name, parent_id)
select k.kind || '-320100', k.kind, '320100', '南京市' || k.suffix, null from kinds k
on conflict (code) do update set kind = excluded.kind, region_code = excluded.region_code,
    name = excluded.name, parent_id = excluded.parent_id;

with kinds (kind, suffix) as (values
	('police', '公安分局'),
	('procuratorate', '人民检察院'),
	('education', '教育局'),
	('civil_affairs', '民政局'),
	('health', '卫生健康委员会'),
	('legal_aid', '法律援助中心'),
	('coordination', '未成年人保护工作领导小组办公室'))
insert into agencies (code, kind, region_code, name, parent_id)
select k.kind || '-' || r.code, k.kind, r.code, '南京市' || r.name || k.suffix,
    (select a.id from agencies a where a.code = k.kind || '-320100')
from kinds k cross join regions r
where r.code in ('320102', '320104')
on conflict (code) do update set kind = excluded.kind, region_code = excluded.region_code,
    name = excluded.name, parent_id = excluded.parent_id;

-- 瑶海区 has its police and nothing above them: no coordination office
-- serves it, so its cases and escalations go to the default office.
insert into agencies (code, kind, region_code, name, parent_id)
values ('police-340102', 'police', '340102', '合肥市公安局瑶海分局', null)
on conflict (code) do update set kind = excluded.kind, region_code = excluded.region_code,
    name = excluded.name, parent_id = excluded.parent_id;

-- The office of last resort (setting default_office): Nanjing's.
insert into settings (name, value) values ('default_office', 'coordination-320100')
on conflict (name) do update set value = excluded.value;

-- A region's own rule: 秦淮区's pilot tells its coordination office of every
-- child left without care (abuse/neglect).
insert into routing_rules (category, subcategory, risk_min, risk_max, region_prefix, agency_kind,
    role, note)
select 'abuse', 'neglect', 1, 4, '320104', 'coordination', 'inform',
    '秦淮区试点: 监护缺失告知区未保办'
where not exists (select 1 from routing_rules where region_prefix = '320104'
    and category = 'abuse' and subcategory = 'neglect' and agency_kind = 'coordination');

reset role;
