-- Demo data: Jiangsu province, Nanjing city and two of its districts, and
-- one agency of every kind in each.  Idempotent.  Not a migration.
set role hotline_owner;
set search_path = hotline, pg_temp;

insert into regions (code, name, parent_code) values
	('320000', '江苏省', null),
	('320100', '南京市', '320000'),
	('320102', '南京市玄武区', '320100'),
	('320104', '南京市秦淮区', '320100')
on conflict (code) do nothing;

-- City agencies first (no parent), then the districts' (parent: the city's).
create temporary table demo_kinds (kind text, suffix text) on commit drop;
insert into demo_kinds values
	('police', '公安局'),
	('procuratorate', '人民检察院'),
	('education', '教育局'),
	('civil_affairs', '民政局'),
	('health', '卫生健康委员会'),
	('legal_aid', '法律援助中心'),
	('coordination', '未成年人保护工作领导小组办公室');

insert into agencies (code, kind, region_code, name)
select k.kind || '-320100', k.kind, '320100', '南京市' || k.suffix from demo_kinds k
on conflict (code) do nothing;

insert into agencies (code, kind, region_code, name, parent_id)
select k.kind || '-' || r.code, k.kind, r.code, r.name ||
    case when k.kind = 'police' then '公安分局' else k.suffix end,
    (select a.id from agencies a where a.code = k.kind || '-320100')
from demo_kinds k cross join regions r
where r.code in ('320102', '320104')
on conflict (code) do nothing;

reset role;
