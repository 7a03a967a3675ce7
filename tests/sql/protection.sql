-- Row-level security as a second line of defence: with the API functions'
-- own checks bypassed (a deliberately careless function), the daemon's role
-- still sees only what the scope of its transaction allows.
\ir fixtures.psql

set role hotlined;
insert into out select 'call', * from hotline.intake_call(:op, 'p-1', '\x01', :'call_case');
insert into out select 'report', * from hotline.intake_report(:gw, 'p-2', '\x02', :'report');
insert into out select 'silent', * from hotline.intake_call(:op, 'p-3', '\x03', :'call');
reset role;
select (select response->>'case_number' from out where k = 'call') as call_no,
    (select response->>'case_number' from out where k = 'report') as report_no \gset
select id as police_a from hotline.agencies where code = 'police-320102' \gset
select id as police_c from hotline.agencies where code = 'police-320104' \gset
select id as edu_c from hotline.agencies where code = 'education-320104' \gset
select id as proc_city from hotline.agencies where code = 'procuratorate-320100' \gset
select id as health_c from hotline.agencies where code = 'health-320104' \gset

-- A function that forgets every check: what would leak through a bug in the
-- API's own authorization.  Owned by hotline_owner like the real ones.
set role hotline_owner;
create function hotline.careless_cases()
returns table (case_number text, narrative bytea, child_name bytea, reporter bytea, events bigint,
    assignments bigint, clocks bigint, calls bigint, categories bigint, notes bigint)
language sql stable security definer set search_path = hotline, pg_temp as $$
	select c.case_number, c.narrative, (select h.name from children h where h.case_id = c.id),
	    (select r.reporter_name from reports r where r.case_id = c.id),
	    (select count(*) from case_events e where e.case_id = c.id),
	    (select count(*) from assignments a where a.case_id = c.id),
	    (select count(*) from clocks k join assignments a on a.id = k.assignment_id where a.case_id = c.id),
	    (select count(*) from calls k where k.case_id = c.id),
	    (select count(*) from case_categories g where g.case_id = c.id),
	    (select count(*) from case_notes n where n.case_id = c.id)
	from cases c
$$;
create function hotline.careless_calls() returns bigint
language sql stable security definer set search_path = hotline, pg_temp as
$$ select count(*) from calls $$;
grant execute on function hotline.careless_cases(), hotline.careless_calls() to hotlined;
reset role;

create temporary table seen (scope text, case_number text, has_data boolean, events bigint,
    assignments bigint, clocks bigint);
grant all on seen to hotlined;
create temporary table calls_seen (scope text, n bigint);
grant all on calls_seen to hotlined;
create function pg_temp.look(p_scope text) returns void language plpgsql as $$
begin
	perform set_config('hotline.scope', p_scope, true);
	insert into seen select p_scope, c.case_number, c.narrative is not null and c.child_name is not null,
	    c.events, c.assignments, c.clocks from hotline.careless_cases() c;
	insert into calls_seen select p_scope, hotline.careless_calls();
end $$;

-- Each scope in its own transaction, as the daemon does (SET LOCAL); outside
-- them the session has none (fixtures.psql set one for the other files).
reset hotline.scope;
set role hotlined;
begin; select pg_temp.look('agency:' || :police_a) \g /dev/null
commit;
begin; select pg_temp.look('agency:' || :police_c) \g /dev/null
commit;
begin; select pg_temp.look('agency:' || :edu_c) \g /dev/null
commit;
begin; select pg_temp.look('agency:' || :proc_city) \g /dev/null
commit;
begin; select pg_temp.look('agency:' || :health_c) \g /dev/null
commit;
begin; select pg_temp.look('client:' || :op) \g /dev/null
commit;
begin; select pg_temp.look('client:' || :op2) \g /dev/null
commit;
begin; select pg_temp.look('client:' || :gw) \g /dev/null
commit;
begin; select pg_temp.look('') \g /dev/null
commit;
begin; select pg_temp.look('agency:x') \g /dev/null
commit;
begin; select pg_temp.look('system') \g /dev/null
commit;
-- After the transaction the scope is gone: nothing is visible.
insert into seen select 'after', case_number, true, events, assignments, clocks
    from hotline.careless_cases();
reset role;

select pg_temp.tap((select string_agg(case_number, ',' order by case_number) from seen
	where scope = 'agency:' || :police_a) = :'call_no'
    and (select has_data and events > 0 and assignments > 0 and clocks > 0 from seen
	where scope = 'agency:' || :police_a),
    'with its agency set, the county police reach their own case (and its history, assignments, clocks) and no other',
    (select string_agg(scope || '=' || case_number, ' ') from seen));
select pg_temp.tap((select string_agg(case_number, ',' order by case_number) from seen
	where scope = 'agency:' || :police_c) = :'report_no'
    and (select string_agg(case_number, ',' order by case_number) from seen
	where scope = 'agency:' || :edu_c) = :'report_no'
    and not exists (select 1 from seen where scope = 'agency:' || :health_c),
    'another county''s police and education see only the case assigned to them; an agency with no assignment sees none');
select pg_temp.tap((select string_agg(case_number, ',' order by case_number) from seen
	where scope = 'agency:' || :proc_city) = (select string_agg(n, ',' order by n) from unnest(array[:'call_no', :'report_no']) n),
    'the city procuratorate reaches every case in its region (legal supervision)');
select pg_temp.tap((select string_agg(case_number, ',' order by case_number) from seen
	where scope = 'client:' || :op) = :'call_no'
    and (select string_agg(case_number, ',' order by case_number) from seen
	where scope = 'client:' || :gw) = :'report_no'
    and not exists (select 1 from seen where scope = 'client:' || :op2),
    'an operator or gateway reaches only what it created');
select pg_temp.tap(not exists (select 1 from seen where scope in ('', 'agency:x', 'after')),
    'no scope, a malformed scope, or a finished transaction: no rows at all');
select pg_temp.tap((select count(*) from seen where scope = 'system') >= 2,
    'the daemon''s own timers (system) reach everything');
select pg_temp.tap((select n from calls_seen where scope = 'client:' || :op) = 2
    and (select n from calls_seen where scope = 'client:' || :op2) = 0
    and (select n from calls_seen where scope = 'agency:' || :police_a) = 1
    and (select n from calls_seen where scope = 'agency:' || :police_c) = 0,
    'a call that opened no case is its operator''s alone; a case''s call goes with its case',
    (select string_agg(scope || '=' || n, ' ') from calls_seen));

set hotline.scope = 'system';

-- The real API functions under a scope that does not match the client.
set role hotlined;
begin;
select set_config('hotline.scope', 'agency:' || :police_c, true) \g /dev/null
select pg_temp.tap(hotline.case_view(:police, :'call_no') is null,
    'case_view for the county police under another agency''s scope finds nothing');
commit;
begin;
select set_config('hotline.scope', 'agency:' || :police_a, true) \g /dev/null
select pg_temp.tap(hotline.case_view(:police, :'call_no') is not null,
    'and finds the case under its own');
commit;
reset role;

-- Writes are held to the scope too: hotline_owner itself, scoped to one
-- agency, cannot change another agency's rows.
set role hotline_owner;
begin;
select set_config('hotline.scope', 'agency:' || :police_c, true) \g /dev/null
update hotline.assignments set state = 'closed' where agency_id = :police_a;
select pg_temp.tap(not exists (select 1 from hotline.assignments where agency_id = :police_a),
    'the table owner, scoped to one agency, sees none of another agency''s assignments');
rollback;
reset role;
select pg_temp.tap(not exists (select 1 from hotline.assignments where agency_id = :police_a and state = 'closed'),
    'and its update touched none of them');

-- The history and the access log are append-only for everyone.
create function pg_temp.refused(p text) returns boolean language plpgsql as $$
begin
	execute p;
	return false;
exception when insufficient_privilege then
	return true;
end $$;
select pg_temp.tap(pg_temp.refused('update hotline.case_events set kind = ''x''')
    and pg_temp.refused('delete from hotline.case_events')
    and pg_temp.refused('truncate hotline.case_events cascade')
    and pg_temp.refused('delete from hotline.access_log')
    and pg_temp.refused('update hotline.access_log set basis = ''admin''')
    and pg_temp.refused('truncate hotline.access_log'),
    'even the superuser cannot update, delete or truncate the history or the access log');
