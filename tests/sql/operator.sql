-- Hotline centres and the operator's work (014-020): the centre scope as a
-- second line of defence, the migration's city rule, clocks tightened to a
-- raised risk level and never loosened, the old values of a correction
-- purged with the case, the lookup log append-only, work_key's answers, and
-- a caseload that holds no personal data.
\ir fixtures.psql

\set opened '{"categories":[{"category":"bullying","subcategory":"physical"}],"risk_level":3,"child":{"name":"测试儿童壬","birth_date":"2014-06-01","region_code":"320104"},"narrative":"（测试）学生来电称在校被欺凌。"}'
select pg_temp.seal(:'opened') as opened \gset

-- Scopes as the daemon sets them (daemon/api.c): a submission "intake", an
-- operator's reads and work its centre's.
create function pg_temp.as_scope(p_scope text, p_sql text) returns jsonb language plpgsql as $$
declare
	v jsonb;
begin
	perform set_config('hotline.scope', p_scope, true);
	execute p_sql into v;
	return v;
end $$;
-- A read's rows (status, code, response) under a scope.
create function pg_temp.as_scope_rows(p_scope text, p_sql text)
returns table (status integer, code text, response jsonb) language plpgsql as $$
begin
	perform set_config('hotline.scope', p_scope, true);
	return query execute p_sql;
end $$;
-- An API function's rows (status, code, response, replayed) under a scope.
create function pg_temp.api_as(p_scope text, p_sql text)
returns table (status integer, code text, response jsonb, replayed boolean) language plpgsql as $$
begin
	perform set_config('hotline.scope', p_scope, true);
	return query execute p_sql;
end $$;

set role hotlined;
insert into out select 'open', * from hotline.case_open(:op, 'o-1', '\x01', :'opened');
reset role;
select response->>'case_number' as n from out where k = 'open' \gset
select pg_temp.tap((select centre from hotline.cases where case_number = :'n') = '320100'
    and (select source from hotline.cases where case_number = :'n') = 'call'
    and (select count(*) from hotline.assignments a join hotline.cases c on c.id = a.case_id
	where c.case_number = :'n') = 1,
    'case_open makes a call case of the operator''s centre, routed at once (bullying at level 3: education)');

-- A call on the case, and one without a case, both of the centre.
select pg_temp.seal(:'call') || jsonb_build_object('disposition', 'follow_up', 'case_number', :'n')
    - '$key' as on_case \gset
set role hotlined;
insert into out select 'on-case', * from hotline.intake_call(:op2, 'o-2', '\x02', :'on_case');
insert into out select 'no-case', * from hotline.intake_call(:op2, 'o-3', '\x03', :'call');
insert into out select 'other-centre', * from hotline.intake_call(:opb, 'o-4', '\x04',
    (:'on_case')::jsonb || '{"started_at": "2026-11-01T10:00:00+08:00", "ended_at": "2026-11-01T10:01:00+08:00"}');
reset role;
select pg_temp.tap((select status from out where k = 'on-case') = 201
    and (select response->>'case_number' from out where k = 'on-case') = :'n'
    and (select status || ':' || code || ':' || (response->'error'->>'field') from out
	where k = 'other-centre') = '422:unknown_case:case_number'
    and (select count(*) from hotline.calls k join hotline.cases c on c.id = k.case_id
	where c.case_number = :'n' and k.dek_uid is null and k.centre = '320100') = 1,
    'another seat of the centre logs a call on the case (under its key, no key of its own); another centre''s seat cannot');

-- A function that forgets every check, under each scope.
set role hotline_owner;
create function hotline.careless_operator()
returns table (cases bigint, calls bigint, digests bigint, corrections bigint, links bigint)
language sql stable security definer set search_path = hotline, pg_temp as $$
	select (select count(*) from cases), (select count(*) from calls),
	    (select count(*) from identifiers), (select count(*) from child_corrections),
	    (select count(*) from case_links)
$$;
grant execute on function hotline.careless_operator() to hotlined;
reset role;
create temporary table seen_by (scope text, cases bigint, calls bigint);
grant all on seen_by to hotlined;
reset hotline.scope;
set role hotlined;
begin;
select set_config('hotline.scope', 'centre:320100', true) \g /dev/null
insert into seen_by select 'nanjing', cases, calls from hotline.careless_operator();
commit;
begin;
select set_config('hotline.scope', 'centre:320500', true) \g /dev/null
insert into seen_by select 'suzhou', cases, calls from hotline.careless_operator();
commit;
begin;
select set_config('hotline.scope', 'centre:x', true) \g /dev/null
insert into seen_by select 'malformed', cases, calls from hotline.careless_operator();
commit;
reset role;
set hotline.scope = 'system';
select pg_temp.tap((select cases || '/' || calls from seen_by where scope = 'nanjing') = '1/2'
    and (select cases + calls from seen_by where scope = 'suzhou') = 0
    and (select cases + calls from seen_by where scope = 'malformed') = 0,
    'with its API checks bypassed, a centre''s scope still reaches only its case and its calls (with or without a case); another centre''s, or a malformed one, nothing',
    (select string_agg(scope || '=' || cases || '/' || calls, ' ') from seen_by));

-- The migration's rule for operators registered before centres.
select pg_temp.tap(hotline.region_city('320102') = '320100' and hotline.region_city('320100') = '320100'
    and hotline.region_city('320000') = '320000' and hotline.region_city('999999') = '999999',
    'region_city: a county''s city, a city itself, a province (no city) itself, an unknown code itself');

-- Clocks: raised to level 1 they are brought forward from their start;
-- lowered, nothing moves.
create temporary table clocks_at (k text, kind text, started_at timestamptz, warn_at timestamptz,
    due_at timestamptz);
create function pg_temp.education_clocks() returns table (kind text, started_at timestamptz,
    warn_at timestamptz, due_at timestamptz) language sql as $$
	select k.kind, k.started_at, k.warn_at, k.due_at from hotline.clocks k
	join hotline.assignments a on a.id = k.assignment_id
	join hotline.agencies g on g.id = a.agency_id
	join hotline.cases c on c.id = a.case_id
	where c.case_number = current_setting('test.case') and g.code = 'education-320104'
$$;
select set_config('test.case', :'n', false) \g /dev/null
insert into clocks_at select 'before', * from pg_temp.education_clocks();
set role hotlined;
insert into out select 'raise', * from pg_temp.api_as('centre:320100', format(
    'select * from hotline.case_risk_set(%s, %L, %L, %L, %L)', :op, 'o-5', '\x05', :'n',
    jsonb_build_object('risk_level', 1, 'reason', encode(pg_temp.sealed('（测试）升级'), 'base64'))));
reset role;
insert into clocks_at select 'raised', * from pg_temp.education_clocks();
select pg_temp.tap((select status from out where k = 'raise') = 201
    and (select string_agg(kind || '=' || extract(epoch from due_at - started_at)::int || '/'
	|| extract(epoch from warn_at - started_at)::int, ',' order by kind)
	from clocks_at where k = 'raised')
	= 'acknowledge=600/480,first_action=3600/2880,investigation=864000/691200,resolve=604800/483840',
    'raised to level 1, the running service clocks are due 10 min, 1 h and 7 days after they started (warned at 80 %); the statutory investigation clock keeps its 10 days',
    (select string_agg(kind || '=' || (due_at - started_at), ',') from clocks_at where k = 'raised'));
set role hotlined;
insert into out select 'lower', * from pg_temp.api_as('centre:320100', format(
    'select * from hotline.case_risk_set(%s, %L, %L, %L, %L)', :op, 'o-6', '\x06', :'n',
    jsonb_build_object('risk_level', 4, 'reason', encode(pg_temp.sealed('（测试）降级'), 'base64'))));
reset role;
select pg_temp.tap((select status from out where k = 'lower') = 201
    and not exists (select kind, warn_at, due_at from pg_temp.education_clocks()
	except select kind, warn_at, due_at from clocks_at where k = 'raised')
    and (select risk_level from hotline.cases where case_number = :'n') = 4,
    'lowered to level 4, no clock moves');

-- A correction keeps the old values; a purge destroys them with the rest.
select jsonb_build_object('name', encode(pg_temp.sealed('测试儿童癸'), 'base64'), 'age', 12) as fix \gset
set role hotlined;
insert into out select 'fix', * from pg_temp.api_as('centre:320100', format(
    'select * from hotline.case_child_correct(%s, %L, %L, %L, %L)', :op, 'o-7', '\x07', :'n',
    :'fix'));
reset role;
select pg_temp.tap((select status from out where k = 'fix') = 201
    and (select w.name = pg_temp.sealed('测试儿童壬') and w.age is null and w.birth_date is null
	from hotline.child_corrections w join hotline.cases c on c.id = w.case_id where c.case_number = :'n')
    and (select h.name = pg_temp.sealed('测试儿童癸') and h.age = 12 from hotline.children h
	join hotline.cases c on c.id = h.case_id where c.case_number = :'n'),
    'a correction replaces the child''s details and keeps the replaced name (sealed) with its event (an age it did not have is no old value)');
select hotline.case_purge(:'n') \g /dev/null
select pg_temp.tap((select w.name is null from hotline.child_corrections w join hotline.cases c
	on c.id = w.case_id where c.case_number = :'n')
    and (select e->'was' from jsonb_array_elements(hotline.case_view(:adm, :'n')->'history') e
	where e->>'kind' = 'child_corrected') = '{"purged": true}',
    'purging the case destroys the old values too; the history says so');

-- work_key: an operator's centre's case, a gateway's own report, nothing else.
set role hotlined;
insert into out select 'r', * from hotline.intake_report(:gw, 'o-8', '\x08', :'report');
reset role;
select response->>'receipt_id' as rc, response->>'case_number' as rn from out where k = 'r' \gset
set role hotlined;
insert into out select 'open2', * from hotline.case_open(:op, 'o-9', '\x09', :'opened');
reset role;
select response->>'case_number' as n2 from out where k = 'open2' \gset
select agency_id as police_agency from hotline.clients where id = :police \gset
create temporary table keys (who text, got jsonb);
grant all on keys to hotlined;
set role hotlined;
insert into keys select 'op2', pg_temp.as_scope('centre:320100', format(
    'select hotline.work_key(%s, %L, null, true)', :op2, :'n2'));
insert into keys select 'opb', pg_temp.as_scope('centre:320500', format(
    'select hotline.work_key(%s, %L, null, false)', :opb, :'n2'));
insert into keys select 'purged', pg_temp.as_scope('centre:320100', format(
    'select hotline.work_key(%s, %L, null, false)', :op, :'n'));
insert into keys select 'gw', pg_temp.as_scope('client:' || :gw, format(
    'select hotline.work_key(%s, null, %L, false)', :gw, :'rc'));
insert into keys select 'gw2', pg_temp.as_scope('client:' || :gw2, format(
    'select hotline.work_key(%s, null, %L, false)', :gw2, :'rc'));
insert into keys select 'police', pg_temp.as_scope('agency:' || :police_agency, format(
    'select hotline.work_key(%s, %L, null, false)', :police, :'rn'));
reset role;
select pg_temp.tap((select got->>'uid' = '6f1c8e2a-0000-4000-8000-000000000001'
	and got->'child'->'name' = jsonb_build_object('$enc',
	    translate(encode(pg_temp.sealed('测试儿童壬'), 'base64'), E'\n', ''), 'f', 'child.name')
	from keys where who = 'op2')
    and (select got from keys where who = 'opb') is null
    and (select got from keys where who = 'purged') = '{"purged": true}'
    and (select got ? 'wrapped' and not got ? 'child' from keys where who = 'gw')
    and (select got from keys where who = 'gw2') is null
    and (select got from keys where who = 'police') is null,
    'work_key: a seat of the centre gets the case''s key (and the child''s sealed name for a correction); another centre, another gateway, an agency nothing; a purged case says so',
    (select string_agg(who || '=' || coalesce(got::text, 'null'), ' ') from keys));

-- The caseload holds no personal data.
set role hotlined;
insert into out select 'list', *, false from pg_temp.as_scope_rows('centre:320100', format(
    'select * from hotline.case_list(%s, null, null, null, null, 10)', :op));
reset role;
select pg_temp.tap(status = 200 and jsonb_array_length(response->'cases') = 2
    and response::text not like '%$enc%' and response::text not like '%测试%'
    and response->'cases'->0->>'case_number' = :'n2',
    'case_list: the centre''s cases, newest first, without a sealed or personal value', response::text)
from out where k = 'list';

-- The lookup log is append-only.
set role hotlined;
insert into out select 'look', *, false from pg_temp.as_scope_rows('centre:320100', format(
    'select * from hotline.child_cases(%s, %L, %L)', :op, 'id', repeat('ab', 32)));
reset role;
create temporary table log_refused (what text, refused boolean);
do $$
declare
	op text;
begin
	foreach op in array array['update hotline.lookup_log set calls = 1',
	    'delete from hotline.lookup_log', 'truncate hotline.lookup_log'] loop
		begin
			execute op;
			insert into log_refused values (op, false);
		exception when insufficient_privilege then
			insert into log_refused values (op, true);
		end;
	end loop;
end $$;
select pg_temp.tap((select status from out where k = 'look') = 200
    and (select count(*) from hotline.lookup_log where kind = 'id' and cases = 0) = 1
    and (select bool_and(refused) from log_refused),
    'a lookup that finds nothing is logged too, and the lookup log is append-only');

select pg_temp.codes_agree();
