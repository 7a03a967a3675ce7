-- Demo data (not a migration): Jiangsu province 320000, Nanjing city 320100
-- and its districts 玄武区 320102 and 秦淮区 320104, and one agency of every
-- kind for the city and each district (code <kind>-<region>); Suzhou city
-- 320500, the region of a second 12355 centre (no agencies of its own).  A
-- district agency's parent is the city agency of the same kind; city
-- agencies have no parent.  Idempotent: re-running brings the rows back to
-- these values.
set role hotline_owner;
set search_path = hotline, pg_temp;

insert into regions (code, name, parent_code) values
	('320000', '江苏省', null),
	('320100', '南京市', '320000'),
	('320102', '玄武区', '320100'),
	('320104', '秦淮区', '320100'),
	('320500', '苏州市', '320000')
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

reset role;
