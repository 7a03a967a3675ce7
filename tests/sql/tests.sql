-- SQL-level tests of the API functions and of the daemon role's privileges.
-- Each check prints one TAP line.
\set QUIET on
set search_path = hotline, public;
set hotline.scope = 'system';
\o /dev/null
select hotline.client_upsert('t-op', 'operator', null, repeat('a', 64));
select hotline.client_upsert('t-gw', 'gateway', null, repeat('b', 64));
select hotline.client_upsert('t-gw2', 'gateway', null, repeat('c', 64));
select hotline.client_upsert('t-admin', 'admin', null, repeat('d', 64));
select hotline.client_upsert('t-police', 'agency', 'police-320102', repeat('e', 64));
select hotline.client_upsert('t-gone', 'gateway', null, repeat('f', 64));
select hotline.client_revoke('t-gone');
\o

create temporary table ids as select name, id from hotline.clients;
grant select on ids to hotlined;
create temporary table out (k text primary key, status int, response jsonb, replayed boolean);
grant all on out to hotlined;

\set report '{"reporter":{"name":"AQAAAAAAAAAAAAAAAHNlYWxlZC1pbi10ZXN0AAAAAAAAAAAAAAAAAAAAAA==","phone":"AQAAAAAAAAAAAAAAAHNlYWxlZC1pbi10ZXN0AAAAAAAAAAAAAAAAAAAAAA==","profession":"teacher"},"institution":{"name":"AQAAAAAAAAAAAAAAAHNlYWxlZC1pbi10ZXN0AAAAAAAAAAAAAAAAAAAAAA==","type":"school"},"child":{"region_code":"320104"},"situations":[6,2],"suspected":true,"discovered_at":"2026-11-01T08:00:00+08:00","reported_at":"2026-11-01T09:00:00+08:00","narrative":"AQAAAAAAAAAAAAAAAHNlYWxlZC1pbi10ZXN0AAAAAAAAAAAAAAAAAAAAAA==","immediate_danger":false,"$key":{"uid":"6f1c8e2a-0000-4000-8000-000000000002","kid":"ktest","wrapped":"q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6ur"}}'
\set call '{"started_at":"2026-11-01T09:00:00+08:00","ended_at":"2026-11-01T09:10:00+08:00","caller_type":"unknown","disposition":"silent","$key":{"uid":"6f1c8e2a-0000-4000-8000-000000000003","kid":"ktest","wrapped":"q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6ur"}}'

set role hotlined;
insert into out select 'r1', * from hotline.intake_report((select id from ids where name = 't-gw'), 'k1', '\x01', :'report');
insert into out select 'r1again', * from hotline.intake_report((select id from ids where name = 't-gw'), 'k1', '\x01', :'report');
insert into out select 'r1other', * from hotline.intake_report((select id from ids where name = 't-gw'), 'k1', '\x02', :'report');
insert into out select 'callkey', * from hotline.intake_call((select id from ids where name = 't-op'), 'k1', '\x01', :'call');
insert into out select 'role', * from hotline.intake_call((select id from ids where name = 't-gw'), 'k2', '\x01', :'call');
insert into out select 'gone', * from hotline.intake_report((select id from ids where name = 't-gone'), 'k3', '\x01', :'report');
insert into out select 'nobody', * from hotline.intake_report(-1, 'k3', '\x01', :'report');
insert into out select 'region', * from hotline.intake_report((select id from ids where name = 't-gw'), 'k4', '\x01', jsonb_set(:'report', '{child,region_code}', '"999999"'));
reset role;

select case when status = 201 and response->>'case_number' ~ '^\d{4}-320104-\d{8}$'
    and response->>'receipt_id' ~ '^R[A-Z2-7]{20}$' and (response->>'risk_level')::int = 2
    and not replayed then 'ok' else 'not ok' end || ' - a report is stored with case number, receipt and risk'
from out where k = 'r1';
select case when (select count(*) from hotline.case_categories c join hotline.cases k on k.id = c.case_id
    where k.case_number = (select response->>'case_number' from out where k = 'r1')) = 2
    then 'ok' else 'not ok' end || ' - situations 2 and 6 give two categories';
select case when a.response = b.response and b.replayed and b.status = 201
    then 'ok' else 'not ok' end || ' - the same key and hash replay the stored response'
from out a, out b where a.k = 'r1' and b.k = 'r1again';
select case when status = 422 and response->'error'->>'code' = 'idempotency_key_reused'
    then 'ok' else 'not ok' end || ' - the same key with another hash is 422' from out where k = 'r1other';
select case when status = 201 then 'ok' else 'not ok' end
    || ' - keys are per client and per endpoint owner' from out where k = 'callkey';
select case when status = 403 and response->'error'->>'code' = 'forbidden'
    then 'ok' else 'not ok' end || ' - a gateway may not log calls' from out where k = 'role';
select case when status = 403 and response->'error'->>'code' = 'client_revoked'
    then 'ok' else 'not ok' end || ' - a revoked client is refused in the database too' from out where k = 'gone';
select case when status = 403 and response->'error'->>'code' = 'client_unknown'
    then 'ok' else 'not ok' end || ' - an unknown client id is refused' from out where k = 'nobody';
select case when status = 422 and response->'error'->>'field' = 'child.region_code'
    and (select count(*) from hotline.idempotency where key = 'k4') = 0
    then 'ok' else 'not ok' end || ' - an unknown region is 422 and consumes no key' from out where k = 'region';
select case when (select count(*) from hotline.cases) = 1 then 'ok' else 'not ok' end
    || ' - only the accepted report created a case';

-- Visibility of the case view.
set role hotlined;
select case when hotline.case_view((select id from ids where name = 't-gw'),
    (select response->>'case_number' from out where k = 'r1')) is not null
    then 'ok' else 'not ok' end || ' - the filing gateway sees its case';
select case when hotline.case_view((select id from ids where name = 't-admin'),
    (select response->>'case_number' from out where k = 'r1')) is not null
    then 'ok' else 'not ok' end || ' - an admin sees the case';
select case when hotline.case_view((select id from ids where name = 't-gw2'),
    (select response->>'case_number' from out where k = 'r1')) is null
    and hotline.case_view((select id from ids where name = 't-police'),
    (select response->>'case_number' from out where k = 'r1')) is null
    then 'ok' else 'not ok' end || ' - another gateway and an agency do not';
reset role;

-- The daemon's role owns nothing and may touch no table directly.
create temporary table denied (n int, total int);
grant all on denied to hotlined;
do $$
declare
	t text;
	op text;
	n int := 0;
	total int := 0;
begin
	set local role hotlined;
	foreach t in array array['clients', 'cases', 'children', 'calls', 'reports',
	    'case_events', 'idempotency', 'agencies', 'regions', 'situations'] loop
		foreach op in array array['select * from hotline.%I', 'delete from hotline.%I',
		    'insert into hotline.%I default values', 'truncate hotline.%I'] loop
			total := total + 1;
			begin
				execute format(op, t);
			exception when insufficient_privilege then
				n := n + 1;
			end;
		end loop;
	end loop;
	insert into denied values (n, total);
end $$;
select case when n = total then 'ok' else 'not ok' end
    || format(' - the daemon role is refused every direct table access (%s of %s)', n, total)
from denied;
select case when (select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = 'hotline' and pg_get_userbyid(c.relowner) = 'hotlined') = 0
    then 'ok' else 'not ok' end || ' - the daemon role owns no object';
select case when not has_table_privilege('hotlined', 'hotline.cases', 'select')
    and not has_table_privilege('hotlined', 'hotline.idempotency', 'insert')
    and not has_function_privilege('hotlined', 'hotline.client_upsert(text,text,text,text,boolean)', 'execute')
    and not has_function_privilege('hotlined', 'hotline.case_create(text,text,smallint,bigint,text,jsonb,jsonb,jsonb)', 'execute')
    and has_function_privilege('hotlined', 'hotline.intake_report(bigint,text,bytea,jsonb)', 'execute')
    then 'ok' else 'not ok' end || ' - the daemon role may only execute the API functions';
select case when (select setting from pg_settings where name = 'synchronous_commit') = 'on'
    and exists (select 1 from pg_db_role_setting s join pg_roles r on r.oid = s.setrole
        where r.rolname = 'hotlined' and 'synchronous_commit=on' = any (s.setconfig))
    then 'ok' else 'not ok' end || ' - the daemon role commits synchronously';

-- Routing is a pure function of a case's facts and the rule table.
create temporary table plans as
select 'trafficking' as t, string_agg(g.code || ':' || p.role, ',' order by g.code) as got
from hotline.route_plan('[{"category":"abuse","subcategory":"trafficking_missing"}]', 1::smallint,
    '320104', 'hotel') p join hotline.agencies g on g.id = p.agency_id
union all
select 'bullying-3', string_agg(g.code || ':' || p.role, ',' order by g.code)
from hotline.route_plan('[{"category":"bullying","subcategory":"cyber"}]', 3::smallint, '320102', null) p
    join hotline.agencies g on g.id = p.agency_id
union all
select 'bullying-1', string_agg(g.code || ':' || p.role, ',' order by g.code)
from hotline.route_plan('[{"category":"bullying","subcategory":"cyber"}]', 1::smallint, '320102', null) p
    join hotline.agencies g on g.id = p.agency_id
union all
select 'school-abuse', string_agg(g.code || ':' || p.role, ',' order by g.code)
from hotline.route_plan('[{"category":"abuse","subcategory":"sexual_abuse"},{"category":"abuse","subcategory":"neglect"}]',
    2::smallint, '320102', 'school') p join hotline.agencies g on g.id = p.agency_id;
select case when got = 'civil_affairs-320104:inform,police-320104:primary,procuratorate-320104:supervise'
    then 'ok' else 'not ok' end || ' - trafficking: county police, procuratorate, civil affairs (' || got || ')'
from plans where t = 'trafficking';
select case when got = 'education-320102:primary' then 'ok' else 'not ok' end
    || ' - bullying at level 3: education only (' || got || ')' from plans where t = 'bullying-3';
select case when got = 'education-320102:primary,police-320102:primary,procuratorate-320102:supervise'
    then 'ok' else 'not ok' end || ' - bullying at level 1: police too (' || got || ')'
from plans where t = 'bullying-1';
select case when got = 'civil_affairs-320102:inform,education-320102:inform,police-320102:primary,procuratorate-320102:supervise'
    then 'ok' else 'not ok' end || ' - two abuse subcategories from a school: one assignment per agency (' || got || ')'
from plans where t = 'school-abuse';

-- A district without agencies of its own falls back to the city's.
insert into hotline.regions (code, name, parent_code) values ('320105', '测试区', '320100');
select case when (select string_agg(g.code || ':' || p.role, ',' order by g.code)
    from hotline.route_plan('[{"category":"legal","subcategory":"legal_aid"}]', 4::smallint, '320105', null) p
    join hotline.agencies g on g.id = p.agency_id) = 'legal_aid-320100:primary'
    then 'ok' else 'not ok' end || ' - a region without its own agency is served by its parent''s';

-- With no matching rule a case goes to the coordination office: never unrouted.
begin;
delete from hotline.routing_rules where category = 'legal';
select case when (select string_agg(g.code || ':' || p.role, ',')
    from hotline.route_plan('[{"category":"legal","subcategory":"legal_aid"}]', 4::smallint, '320104', null) p
    join hotline.agencies g on g.id = p.agency_id) = 'coordination-320104:primary'
    then 'ok' else 'not ok' end || ' - a case no rule matches goes to the coordination office';
rollback;

-- Escalation targets: county -> city -> coordination office -> procuratorate.
select case when (select g.code || ':' || t.role from hotline.escalation_target(
        (select id from hotline.agencies where code = 'police-320102')) t
        join hotline.agencies g on g.id = t.agency_id) = 'police-320100:primary'
    and (select g.code || ':' || t.role from hotline.escalation_target(
        (select id from hotline.agencies where code = 'police-320100')) t
        join hotline.agencies g on g.id = t.agency_id) = 'coordination-320100:primary'
    and (select g.code || ':' || t.role from hotline.escalation_target(
        (select id from hotline.agencies where code = 'coordination-320100')) t
        join hotline.agencies g on g.id = t.agency_id) = 'procuratorate-320100:supervise'
    and (select t.agency_id from hotline.escalation_target(
        (select id from hotline.agencies where code = 'procuratorate-320100')) t) is null
    then 'ok' else 'not ok' end || ' - the escalation chain climbs county, city, coordination, procuratorate';
