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
-- The report comes from a school of 320102 about a child of 320104: the
-- school's county's education bureau is informed.
select id as edu_i from hotline.agencies where code = 'education-320102' \gset
select id as proc_city from hotline.agencies where code = 'procuratorate-320100' \gset
select id as proc_a from hotline.agencies where code = 'procuratorate-320102' \gset
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
begin; select pg_temp.look('agency:' || :edu_i) \g /dev/null
commit;
begin; select pg_temp.look('agency:' || :proc_city) \g /dev/null
commit;
begin; select pg_temp.look('agency:' || :proc_a) \g /dev/null
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
	where scope = 'agency:' || :edu_i) = :'report_no'
    and not exists (select 1 from seen where scope = 'agency:' || :health_c),
    'another county''s police and education see only the case assigned to them; an agency with no assignment sees none');
select pg_temp.tap((select string_agg(case_number, ',' order by case_number) from seen
	where scope = 'agency:' || :proc_city) = (select string_agg(n, ',' order by n) from unnest(array[:'call_no', :'report_no']) n),
    'the city procuratorate reaches every case in its region (legal supervision)');
select pg_temp.tap((select string_agg(case_number, ',' order by case_number) from seen
	where scope = 'agency:' || :proc_a) = :'call_no',
    'a county procuratorate reaches the case of its own county and none of another county of its city',
    (select string_agg(case_number, ',' order by case_number) from seen where scope = 'agency:' || :proc_a));
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


-- ------------------------------------------------------------ a leak through a careless function
-- The smallest careless function: a case's number and narrative by number,
-- no check at all.  Each scope in its own transaction, as the daemon sets it.
set role hotline_owner;
create function hotline.leak(p text) returns setof text
language sql stable security definer set search_path = hotline, pg_temp as
$$ select case_number || narrative::text from cases where case_number = p $$;
grant execute on function hotline.leak(text) to hotlined;
reset role;
select id as health_a from hotline.agencies where code = 'health-320102' \gset
create temporary table leaked (scope text, n bigint, got text);
grant all on leaked to hotlined;
reset hotline.scope;
set role hotlined;
begin;
select set_config('hotline.scope', 'agency:' || :police_c, true) \g /dev/null
insert into leaked select 'foreign agency', count(*), min(l) from hotline.leak(:'call_no') l;
commit;
begin;
select set_config('hotline.scope', 'agency:' || :health_c, true) \g /dev/null
insert into leaked select 'idle agency', count(*), min(l) from hotline.leak(:'call_no') l;
commit;
begin;
select set_config('hotline.scope', 'agency:' || :police_a, true) \g /dev/null
insert into leaked select 'assigned agency', count(*), min(l) from hotline.leak(:'call_no') l;
commit;
begin;
select set_config('hotline.scope', 'agency:' || :health_a, true) \g /dev/null
insert into leaked select 'assigned health', count(*), min(l) from hotline.leak(:'call_no') l;
commit;
begin;
select set_config('hotline.scope', '', true) \g /dev/null
insert into leaked select 'empty', count(*), min(l) from hotline.leak(:'call_no') l;
commit;
insert into leaked select 'unset', count(*), min(l) from hotline.leak(:'call_no') l;
begin;
select set_config('hotline.scope', 'client:' || :op2, true) \g /dev/null
insert into leaked select 'other operator', count(*), min(l) from hotline.leak(:'call_no') l;
commit;
begin;
select set_config('hotline.scope', 'client:' || :op, true) \g /dev/null
insert into leaked select 'creator', count(*), min(l) from hotline.leak(:'call_no') l;
commit;
reset role;
set hotline.scope = 'system';
select pg_temp.tap((select got from leaked where scope = 'assigned agency')
	= :'call_no' || pg_temp.sealed('（测试）邻居来电称多次听到孩子哭喊并看到身上有淤青。')::text
    and (select n from leaked where scope = 'assigned health') = 1
    and (select n from leaked where scope = 'creator') = 1,
    'the careless function returns the case to an assigned agency and to its creator',
    (select string_agg(scope || '=' || n, ' ') from leaked));
select pg_temp.tap((select string_agg(scope, ',' order by scope) from leaked where n = 0)
	= 'empty,foreign agency,idle agency,other operator,unset',
    'and nothing to another agency, an empty or unset scope, or another operator',
    (select string_agg(scope || '=' || n, ' ') from leaked));

-- hotline_owner itself, selecting directly, under a foreign agency's scope:
-- no rows, table by table; the superuser (who bypasses RLS) sees them.
select id as call_id from hotline.cases where case_number = :'call_no' \gset
select id as report_id from hotline.cases where case_number = :'report_no' \gset
create temporary table owner_rows (who text, tbl text, n bigint);
grant all on owner_rows to hotline_owner;
create function pg_temp.count_rows(p_who text, p_case bigint default null) returns void
language plpgsql as $$
declare
	t text;
	n bigint;
begin
	foreach t in array array['cases', 'children', 'case_categories', 'reports', 'case_events',
	    'assignments', 'clocks', 'calls'] loop
		execute format('select count(*) from hotline.%I x where $1 is null or %s', t,
		    case t when 'cases' then 'x.id = $1'
		    when 'clocks' then 'x.assignment_id in (select a.id from hotline.assignments a where a.case_id = $1)'
		    else 'x.case_id = $1' end) into n using p_case;
		insert into owner_rows values (p_who, t, n);
	end loop;
end $$;
begin;
select set_config('hotline.scope', 'agency:' || :health_c, true) \g /dev/null
select pg_temp.count_rows('superuser') \g /dev/null
set local role hotline_owner;
select pg_temp.count_rows('owner:foreign') \g /dev/null
commit;
begin;
select set_config('hotline.scope', 'agency:' || :police_a, true) \g /dev/null
set local role hotline_owner;
select pg_temp.count_rows('owner:police_a') \g /dev/null
commit;
begin;
select set_config('hotline.scope', 'agency:' || :police_c, true) \g /dev/null
set local role hotline_owner;
select pg_temp.count_rows('owner:police_c') \g /dev/null
commit;
select pg_temp.count_rows('call case', :call_id) \g /dev/null
select pg_temp.count_rows('report case', :report_id) \g /dev/null
create function pg_temp.rows_of(p_who text) returns text language sql as $$
	select string_agg(tbl || '=' || n, ',' order by tbl) from owner_rows where who = p_who
$$;
select pg_temp.tap((select count(*) from owner_rows where who = 'superuser' and n > 0) = 8,
    'the superuser, under a foreign agency''s scope, sees rows in cases, children, case_categories, reports, case_events, assignments, clocks, calls',
    pg_temp.rows_of('superuser'));
select pg_temp.tap((select count(*) from owner_rows where who = 'owner:foreign' and n = 0) = 8,
    'hotline_owner under that scope sees none of them', pg_temp.rows_of('owner:foreign'));
select pg_temp.tap(pg_temp.rows_of('owner:police_a') = pg_temp.rows_of('call case')
    and pg_temp.rows_of('owner:police_c') = pg_temp.rows_of('report case')
    and pg_temp.rows_of('call case') <> pg_temp.rows_of('report case'),
    'under an assigned agency''s scope, hotline_owner sees exactly that case''s rows in each table',
    pg_temp.rows_of('owner:police_a') || ' / ' || pg_temp.rows_of('call case') || ' // '
	|| pg_temp.rows_of('owner:police_c') || ' / ' || pg_temp.rows_of('report case'));

-- ------------------------------------------------------------ the API under the daemon's scopes
-- Approvers, and the scope the daemon sets for each client (daemon/api.c).
select hotline.client_upsert('t-edu-a', 'agency', 'education-320102', repeat('1', 64), true) as edu_a,
    hotline.client_upsert('t-edu-b', 'agency', 'education-320102', repeat('2', 64), true) as edu_b,
    hotline.client_upsert('t-proc-a', 'agency', 'procuratorate-320102', repeat('3', 64), true) as proc_a,
    hotline.client_upsert('t-health-a', 'agency', 'health-320102', repeat('4', 64), true) as health_appr,
    hotline.client_upsert('t-admin2', 'admin', null, repeat('7', 64)) as adm2 \gset
create temporary table scopes as select id as client_id, case role when 'admin' then 'admin'
    when 'agency' then 'agency:' || agency_id when 'operator' then 'centre:' || centre
    else 'client:' || id end as scope from hotline.clients;
grant select on scopes to hotlined;
-- Each wrapper sets its transaction's scope first, as the daemon does.
create function pg_temp.scope_of(p_client bigint) returns text language sql stable as
$$ select coalesce((select scope from pg_temp.scopes where client_id = p_client), '') $$;
create function pg_temp.view_as(p_client bigint, p_case text) returns jsonb language plpgsql as $$
begin
	perform set_config('hotline.scope', pg_temp.scope_of(p_client), true);
	return hotline.case_view(p_client, p_case);
end $$;
create function pg_temp.key_as(p_client bigint, p_case text) returns jsonb language plpgsql as $$
begin
	perform set_config('hotline.scope', pg_temp.scope_of(p_client), true);
	return hotline.case_key(p_client, p_case, null);
end $$;
create function pg_temp.call(p_client bigint, p_key text, p_body jsonb)
returns table (status integer, code text, response jsonb, replayed boolean) language plpgsql as $$
begin
	perform set_config('hotline.scope', 'intake:' || p_client, true);
	return query select * from hotline.intake_call(p_client, p_key,
	    sha256(convert_to(p_body::text, 'UTF8')), p_body);
end $$;
create function pg_temp.report(p_client bigint, p_key text, p_body jsonb)
returns table (status integer, code text, response jsonb, replayed boolean) language plpgsql as $$
begin
	perform set_config('hotline.scope', 'intake:' || p_client, true);
	return query select * from hotline.intake_report(p_client, p_key,
	    sha256(convert_to(p_body::text, 'UTF8')), p_body);
end $$;
create function pg_temp.post(p_client bigint, p_key text, p_case text, p_body jsonb)
returns table (status integer, code text, response jsonb, replayed boolean) language plpgsql as $$
begin
	perform set_config('hotline.scope', pg_temp.scope_of(p_client), true);
	return query select * from hotline.case_post_event(p_client, p_key,
	    sha256(convert_to(p_body::text, 'UTF8')), p_case, p_body);
end $$;
create function pg_temp.ar_create(p_client bigint, p_key text, p_case text, p_body jsonb)
returns table (status integer, code text, response jsonb, replayed boolean) language plpgsql as $$
begin
	perform set_config('hotline.scope', pg_temp.scope_of(p_client), true);
	return query select * from hotline.access_request_create(p_client, p_key,
	    sha256(convert_to(p_body::text, 'UTF8')), p_case, p_body);
end $$;
create function pg_temp.ar_decide(p_client bigint, p_key text, p_request text, p_decision text)
returns table (status integer, code text, response jsonb, replayed boolean) language plpgsql as $$
begin
	perform set_config('hotline.scope', pg_temp.scope_of(p_client), true);
	return query select * from hotline.access_request_decide(p_client, p_key, '\x01', p_request,
	    p_decision);
end $$;
create function pg_temp.ar_list(p_client bigint, p_state text)
returns table (status integer, code text, response jsonb) language plpgsql as $$
begin
	perform set_config('hotline.scope', pg_temp.scope_of(p_client), true);
	return query select * from hotline.access_request_list(p_client, p_state);
end $$;
create function pg_temp.log_view(p_client bigint, p_case text)
returns table (status integer, code text, response jsonb) language plpgsql as $$
begin
	perform set_config('hotline.scope', pg_temp.scope_of(p_client), true);
	return query select * from hotline.access_log_view(p_client, p_case);
end $$;
-- A sealed value as case_view shows it.
create function pg_temp.enc(p text, f text) returns jsonb language sql immutable as $$
	select jsonb_build_object('$enc', translate(encode(pg_temp.sealed(p), 'base64'), E'\n', ''), 'f', f)
$$;
-- Run as the superuser: one case_view as hotlined, and how many access-log
-- rows it added.
create temporary table logged (who text, which text, access text, added bigint);
create function pg_temp.logged_view(p_who text, p_which text, p_client bigint, p_case text)
returns void language plpgsql as $$
declare
	n0 bigint;
	v jsonb;
begin
	select count(*) into n0 from hotline.access_log;
	set local role hotlined;
	v := pg_temp.view_as(p_client, p_case);
	reset role;
	insert into logged values (p_who, p_which, coalesce(v->>'access', 'none'),
	    (select count(*) from hotline.access_log) - n0);
end $$;
create temporary table views (k text primary key, view jsonb);
grant all on views to hotlined;

-- ------------------------------------------------------------ access requests
-- A report case in 320102: police primary, procuratorate supervise,
-- education (the school's) inform.
set role hotlined;
insert into out select 'ar', * from pg_temp.report(:gw, 'ar-1', jsonb_set(:'report', '{child,region_code}', '"320102"'));
reset role;
select response->>'case_number' as ar_no, (select id from hotline.cases where case_number = response->>'case_number') as ar_id
from out where k = 'ar' \gset
set role hotlined;
insert into views select 'ar:edu:before', pg_temp.view_as(:edu, :'ar_no');
insert into out select 'ar-req', * from pg_temp.ar_create(:edu_a, 'ar-req', :'ar_no',
    '{"purpose": "核实学生安置情况（测试）", "hours": 24}');
reset role;
select response#>>'{access_request,access_request_id}' as ar_req from out where k = 'ar-req' \gset
set role hotlined;
insert into out select 'ar-self', * from pg_temp.ar_decide(:edu_a, 'ar-d1', :'ar_req', 'approve');
insert into out select 'ar-nonappr', * from pg_temp.ar_decide(:edu, 'ar-d2', :'ar_req', 'approve');
insert into out select 'ar-other', * from pg_temp.ar_decide(:health_appr, 'ar-d3', :'ar_req', 'approve');
insert into views select 'ar:edu:pending', pg_temp.view_as(:edu, :'ar_no');
insert into out select 'ar-ok', * from pg_temp.ar_decide(:edu_b, 'ar-d4', upper(:'ar_req'), 'approve');
insert into out select 'ar-twice', * from pg_temp.ar_decide(:edu_b, 'ar-d5', :'ar_req', 'deny');
insert into views select 'ar:edu:approved', pg_temp.view_as(:edu, :'ar_no');
insert into views select 'ar:edu_a:approved', pg_temp.view_as(:edu_a, :'ar_no');
reset role;

select pg_temp.tap(view->>'access' = 'redacted' and view->'narrative' = '{"withheld": true}'
    and view::text not like '%$enc%',
    'an inform agency (the school''s education bureau) gets the redacted case', view::text)
from views where k = 'ar:edu:before';
select pg_temp.tap(status = 201 and not replayed
    and (response->'access_request') - 'access_request_id' - 'created_at' = jsonb_build_object(
	'case_number', :'ar_no', 'agency', 'education-320102', 'purpose', '核实学生安置情况（测试）',
	'hours', 24, 'state', 'pending', 'requested_by', 't-edu-a')
    and (select requested_by = :edu_a and purpose = '核实学生安置情况（测试）' and hours = 24
	from hotline.access_requests where request_id = :'ar_req'::uuid),
    'access_request_create is 201 with a pending request (purpose, hours, requester)', response::text)
from out where k = 'ar-req';
select pg_temp.tap((select status = 403 and response->'error'->>'code' = 'forbidden'
	and response->'error'->>'message' like '%requester%' from out where k = 'ar-self')
    and (select status = 403 and response->'error'->>'code' = 'forbidden'
	and response->'error'->>'message' like '%approver%' from out where k = 'ar-nonappr')
    and (select status = 404 and response->'error'->>'code' = 'not_found' from out where k = 'ar-other')
    and (select view->>'access' from views where k = 'ar:edu:pending') = 'redacted',
    'the requester (an approver) cannot approve its own request (403), nor a non-approver of the agency (403); another agency''s approver gets 404; pending is still redacted',
    (select string_agg(k || '=' || status || ' ' || (response->'error')::text, '; ') from out
	where k in ('ar-self', 'ar-nonappr', 'ar-other')));
select pg_temp.tap(status = 200 and response#>>'{access_request,state}' = 'approved'
    and response#>>'{access_request,decided_by}' = 't-edu-b'
    and (response#>>'{access_request,valid_until}')::timestamptz
	- (response#>>'{access_request,decided_at}')::timestamptz = interval '24 hours'
    and (select status = 409 and response->'error'->>'code' = 'invalid_transition'
	from out where k = 'ar-twice'),
    'the agency''s other approver approves (200) for the hours asked; a second decision is 409',
    response::text)
from out where k = 'ar-ok';
select pg_temp.tap(bool_and(view->>'access' = 'full'
	and view->'child'->'name' = pg_temp.enc('测试儿童丙', 'child.name')
	and view->'narrative' = pg_temp.enc('（测试）学生向班主任透露被亲属猥亵，身体有异常。', 'case.narrative')
	and view->'report'->'institution'->'name' = pg_temp.enc('测试市第一小学', 'institution.name')
	and view->'report'->'reporter' = '{"withheld": true}' and view ? '$key'),
    'once approved, every client of that agency gets the full case, the reporter still withheld (not police or procuratorate)',
    string_agg(view::text, ' / '))
from views where k in ('ar:edu:approved', 'ar:edu_a:approved');
select pg_temp.tap((select string_agg(k.name || ':' || l.basis || ':' || l.reporter || ':'
	|| (r.request_id = :'ar_req'::uuid), ',' order by k.id)
	from hotline.access_log l join hotline.clients k on k.id = l.client_id
	left join hotline.access_requests r on r.id = l.access_request where l.case_id = :ar_id)
	= 't-edu:access_request:false:true,t-edu-a:access_request:false:true',
    'each of those reads is in the access log on the basis of the access request',
    (select string_agg(l.client_id || ':' || l.basis, ',') from hotline.access_log l where l.case_id = :ar_id));
select pg_temp.tap((select string_agg(kind || ':' || (actor = case kind when 'access_requested' then :edu_a
	else :edu_b end) || ':' || (data->>'access_request' = :'ar_req'), ',' order by seq)
	from hotline.case_events where case_id = :ar_id and kind like 'access%')
	= 'access_requested:true:true,access_approved:true:true'
    and (select data->>'agency' from hotline.case_events where case_id = :ar_id
	and kind = 'access_requested') = 'education-320102'
    and exists (select 1 from views, jsonb_array_elements(view->'history') h where k = 'ar:edu:approved'
	and h->>'kind' = 'access_approved' and h->>'access_request' = :'ar_req')
    and hotline.case_history_verify(:'ar_no') is null,
    'the history has access_requested (by the requester) and access_approved (by the approver), chained');

-- Expiry: the approval ends at valid_until (moved into the past).
update hotline.access_requests set valid_until = now() - interval '1 second' where request_id = :'ar_req';
set role hotlined;
insert into views select 'ar:edu:expired', pg_temp.view_as(:edu, :'ar_no');
insert into out (k, status, code, response) select 'ar-l-expired', * from pg_temp.ar_list(:edu, 'expired');
insert into out (k, status, code, response) select 'ar-l-approved', * from pg_temp.ar_list(:edu, 'approved');
reset role;
select pg_temp.tap((select view->>'access' = 'redacted' and view::text not like '%$enc%'
	from views where k = 'ar:edu:expired')
    and (select status = 200 and response->'access_requests' @> jsonb_build_array(jsonb_build_object(
	'access_request_id', :'ar_req', 'state', 'expired')) from out where k = 'ar-l-expired')
    and (select status = 200 and response->'access_requests' = '[]' from out where k = 'ar-l-approved'),
    'after valid_until the view is redacted again, and the request is listed as expired',
    (select view->>'access' from views where k = 'ar:edu:expired'));

-- The deny path, and what may not be asked.
set role hotlined;
insert into views select 'ar:proc:before', pg_temp.view_as(:proc, :'ar_no');
insert into out select 'ar-preq', * from pg_temp.ar_create(:proc, 'ar-preq', :'ar_no', '{"purpose": "法律监督（测试）"}');
reset role;
select response#>>'{access_request,access_request_id}' as ar_preq from out where k = 'ar-preq' \gset
set role hotlined;
insert into out select 'ar-pother', * from pg_temp.ar_decide(:edu_b, 'ar-d6', :'ar_preq', 'approve');
insert into out select 'ar-deny', * from pg_temp.ar_decide(:proc_a, 'ar-d7', :'ar_preq', 'deny');
insert into out select 'ar-after-deny', * from pg_temp.ar_decide(:proc_a, 'ar-d8', :'ar_preq', 'approve');
insert into views select 'ar:proc:denied', pg_temp.view_as(:proc, :'ar_no');
insert into out select 'ar-primary', * from pg_temp.ar_create(:police, 'ar-prim', :'ar_no', '{"purpose": "x"}');
insert into out select 'ar-long', * from pg_temp.ar_create(:edu, 'ar-long', :'ar_no', '{"purpose": "x", "hours": 73}');
insert into out select 'ar-max', * from pg_temp.ar_create(:edu, 'ar-max', :'ar_no', '{"purpose": "x", "hours": 72}');
insert into out select 'ar-stranger', * from pg_temp.ar_create(:police4, 'ar-str', :'ar_no', '{"purpose": "x"}');
insert into out select 'ar-op', * from pg_temp.ar_create(:op, 'ar-op', :'ar_no', '{"purpose": "x"}');
reset role;
select response#>>'{access_request,access_request_id}' as ar_max from out where k = 'ar-max' \gset
set role hotlined;
insert into out select 'ar-admin', * from pg_temp.ar_decide(:adm, 'ar-d9', :'ar_max', 'approve');
insert into views select 'ar:edu:admin-approved', pg_temp.view_as(:edu, :'ar_no');
insert into out (k, status, code, response) select 'ar-l-edu', * from pg_temp.ar_list(:edu, null);
insert into out (k, status, code, response) select 'ar-l-adm', * from pg_temp.ar_list(:adm, null);
insert into out (k, status, code, response) select 'ar-l-op', * from pg_temp.ar_list(:op, null);
reset role;
select pg_temp.tap((select view->>'access' from views where k = 'ar:proc:before') = 'redacted'
    and (select status = 201 and response#>>'{access_request,hours}' = '24' from out where k = 'ar-preq')
    and (select status from out where k = 'ar-pother') = 404
    and (select status = 200 and response#>>'{access_request,state}' = 'denied'
	and response#>>'{access_request,decided_by}' = 't-proc-a'
	and not response->'access_request' ? 'valid_until' from out where k = 'ar-deny')
    and (select status from out where k = 'ar-after-deny') = 409
    and (select view->>'access' from views where k = 'ar:proc:denied') = 'redacted'
    and exists (select 1 from hotline.case_events where case_id = :ar_id and kind = 'access_denied'
	and actor = :proc_a and data->>'access_request' = :'ar_preq'),
    'a supervising procuratorate''s request (default hours) denied by its approver: 200 denied, recorded, still redacted',
    (select string_agg(k || '=' || status, ' ') from out where k like 'ar-p%' or k like 'ar-%deny'));
select pg_temp.tap((select status = 409 and response->'error'->>'code' = 'access_not_needed'
	from out where k = 'ar-primary')
    and (select status = 422 and response->'error'->>'code' = 'out_of_range'
	and response->'error'->>'field' = 'hours' from out where k = 'ar-long')
    and (select status = 201 and response#>>'{access_request,hours}' = '72' from out where k = 'ar-max')
    and (select status = 404 from out where k = 'ar-stranger')
    and (select status = 403 from out where k = 'ar-op')
    and (select count(*) from hotline.access_requests) = 3,
    'the primary needs no access (409 access_not_needed); more than access_hours_max is 422; an unassigned agency 404, an operator 403; refusals store nothing',
    (select string_agg(k || '=' || status, ' ') from out where k in ('ar-primary', 'ar-long', 'ar-max', 'ar-stranger', 'ar-op')));
select pg_temp.tap(status = 200 and response#>>'{access_request,decided_by}' = 't-admin'
    and (response#>>'{access_request,valid_until}')::timestamptz
	- (response#>>'{access_request,decided_at}')::timestamptz = interval '72 hours'
    and (select view->>'access' from views where k = 'ar:edu:admin-approved') = 'full',
    'an administrator may approve too, for up to access_hours_max', response::text)
from out where k = 'ar-admin';
select pg_temp.tap((select status = 200 and (select array_agg(r->>'access_request_id' order by r->>'access_request_id')
	from jsonb_array_elements(response->'access_requests') r)
	= (select array_agg(x order by x) from unnest(array[:'ar_req', :'ar_max']) x) from out where k = 'ar-l-edu')
    and (select status = 200 and jsonb_array_length(response->'access_requests') = 3 from out where k = 'ar-l-adm')
    and (select status = 403 from out where k = 'ar-l-op'),
    'access_request_list: an agency its own requests, an administrator all, an operator 403',
    (select string_agg(k || '=' || status || ' ' || response::text, ' / ') from out where k like 'ar-l-%'));

-- ------------------------------------------------------------ the access log
set role hotlined;
insert into out select 'al', * from pg_temp.call(:op, 'al-1', :'call_case');
reset role;
select response->>'case_number' as al_no from out where k = 'al' \gset
select pg_temp.logged_view(w, 'al', c, :'al_no') from (values ('op', :op), ('op2', :op2),
    ('opb', :opb), ('police', :police), ('proc', :proc), ('edu', :edu), ('gw', :gw),
    ('admin', :adm), ('admin2', :adm)) v (w, c) \g /dev/null
select pg_temp.tap(string_agg(who || ':' || access || ':' || added, ',' order by who collate "C")
	= 'admin:redacted:0,admin2:redacted:0,edu:none:0,gw:none:0,op:full:1,op2:full:1,opb:none:0,'
	'police:full:1,proc:redacted:0',
    'every full view adds exactly one access-log row, a redacted or refused view none (an admin''s too)',
    string_agg(who || ':' || access || ':' || added, ',' order by who))
from logged where which = 'al';
select pg_temp.tap(string_agg(k.name || ':' || l.basis || ':' || coalesce(g.code, '-') || ':' || l.reporter,
	',' order by k.name, l.id)
	= 't-op:centre:-:false,t-op2:centre:-:false,t-police:primary:police-320102:false',
    'each row names the client, its agency and the basis (a call case has no reporter to read; '
    'an operator reads as a seat of the centre that opened the case)',
    string_agg(k.name || ':' || l.basis, ','))
from hotline.access_log l join hotline.cases c on c.id = l.case_id join hotline.clients k on k.id = l.client_id
left join hotline.agencies g on g.id = l.agency_id where c.case_number = :'al_no';
set role hotlined;
insert into out (k, status, code, response) select 'al-adm', * from pg_temp.log_view(:adm, :'al_no');
insert into out (k, status, code, response) select 'al-ar', * from pg_temp.log_view(:adm, :'ar_no');
insert into out (k, status, code, response) select 'al-unknown', * from pg_temp.log_view(:adm, '2026-320102-99999999');
insert into out (k, status, code, response) select 'al-' || w, l.* from (values ('police', :police),
    ('edu', :edu), ('op', :op), ('gw', :gw), ('proc', :proc)) v (w, c), pg_temp.log_view(c, :'al_no') l;
reset role;
select pg_temp.tap(status = 200 and response->>'case_number' = :'al_no'
    and (select string_agg(r->>'client' || ':' || (r->>'basis'), ',' order by r->>'client', r->>'at')
	from jsonb_array_elements(response->'reads') r)
	= 't-op:centre,t-op2:centre,t-police:primary'
    and (select status = 200 and response->'reads' @> jsonb_build_array(jsonb_build_object('client', 't-edu',
	'basis', 'access_request', 'access_request_id', :'ar_req', 'purpose', '核实学生安置情况（测试）',
	'agency', 'education-320102', 'reporter', false)) from out where k = 'al-ar')
    and (select status from out where k = 'al-unknown') = 404,
    'access_log_view shows an administrator every read (with the request and its purpose); unknown case 404',
    response::text)
from out where k = 'al-adm';
select pg_temp.tap(count(*) = 5 and bool_and(status = 403 and response->'error'->>'code' = 'forbidden'),
    'access_log_view is 403 for agencies, operators and gateways',
    string_agg(k || '=' || status, ' '))
from out where k in ('al-police', 'al-edu', 'al-op', 'al-gw', 'al-proc');

-- ------------------------------------------------------------ an administrator's access request
-- An admin sees a case redacted; with its own request approved by another
-- admin, in full for the hours asked, logged, but never the reporter.
set role hotlined;
insert into out select 'aa-rep', * from pg_temp.report(:gw, 'aa-rep', jsonb_set(:'report',
    '{child,region_code}', '"320102"'));
reset role;
select response->>'case_number' as aa_no from out where k = 'aa-rep' \gset
-- An admin's request, approved by another admin.
create function pg_temp.admin_access(p_admin bigint, p_admin2 bigint, p_case text, p_key text)
returns text language plpgsql as $$
declare
	v_req text;
begin
	select response#>>'{access_request,access_request_id}' into v_req from pg_temp.ar_create(
	    p_admin, p_key, p_case, '{"purpose": "核查转办记录（测试）", "hours": 2}');
	perform pg_temp.ar_decide(p_admin2, p_key, v_req, 'approve');
	return v_req;
end $$;
set role hotlined;
insert into views select 'aa:admin:before', pg_temp.view_as(:adm, :'aa_no');
insert into out select 'aa-req', * from pg_temp.ar_create(:adm, 'aa-1', :'aa_no',
    '{"purpose": "核查转办记录（测试）", "hours": 2}');
reset role;
select response#>>'{access_request,access_request_id}' as aa_req from out where k = 'aa-req' \gset
set role hotlined;
insert into out select 'aa-self', * from pg_temp.ar_decide(:adm, 'aa-2', :'aa_req', 'approve');
insert into out select 'aa-appr', * from pg_temp.ar_decide(:edu_a, 'aa-3', :'aa_req', 'approve');
insert into views select 'aa:admin:pending', pg_temp.view_as(:adm, :'aa_no');
insert into out select 'aa-ok', * from pg_temp.ar_decide(:adm2, 'aa-4', :'aa_req', 'approve');
insert into views select 'aa:admin:approved', pg_temp.view_as(:adm, :'aa_no');
insert into views select 'aa:admin2:approved', pg_temp.view_as(:adm2, :'aa_no');
insert into out select 'aa-again', * from pg_temp.ar_create(:adm, 'aa-5', :'aa_no', '{"purpose": "x"}');
reset role;
select pg_temp.tap(view->>'access' = 'redacted' and view->'narrative' = '{"withheld": true}'
    and view->'report'->'reporter' = '{"withheld": true}' and view::text not like '%$enc%',
    'an admin sees a case redacted: no narrative, no child''s name, no reporter', view::text)
from views where k = 'aa:admin:before';
select pg_temp.tap((select status = 201 and response->'access_request'->>'state' = 'pending'
	and not response->'access_request' ? 'agency' from out where k = 'aa-req')
    and (select status = 403 and code = 'forbidden' from out where k = 'aa-self')
    and (select status = 404 and code = 'not_found' from out where k = 'aa-appr')
    and (select view->>'access' = 'redacted' from views where k = 'aa:admin:pending'),
    'an admin asks for access (a request of no agency): it may not approve it itself, an agency''s approver cannot see it, and until approved the case stays redacted',
    (select string_agg(k || '=' || status, ' ') from out where k like 'aa-%'));
select pg_temp.tap((select status = 200 and response#>>'{access_request,decided_by}' = 't-admin2'
	from out where k = 'aa-ok')
    and view->>'access' = 'full'
    and view->'narrative' = pg_temp.enc('（测试）学生向班主任透露被亲属猥亵，身体有异常。', 'case.narrative')
    and view->'child'->'name' = pg_temp.enc('测试儿童丙', 'child.name')
    and view->'report'->'reporter' = '{"withheld": true}'
    and (select view->>'access' from views where k = 'aa:admin2:approved') = 'redacted'
    and (select status = 409 and code = 'access_not_needed' from out where k = 'aa-again'),
    'approved by another admin, the requesting admin (and no other) sees the child and the narrative, never the reporter',
    view::text)
from views where k = 'aa:admin:approved';
select pg_temp.tap(l.basis = 'access_request' and not l.reporter and l.agency_id is null
    and r.request_id::text = :'aa_req',
    'its read is in the access log: basis access_request, the request, without the reporter')
from hotline.access_log l join hotline.access_requests r on r.id = l.access_request
join hotline.cases c on c.id = l.case_id where c.case_number = :'aa_no';
update hotline.access_requests set valid_until = now() - interval '1 second' where request_id = :'aa_req';
set role hotlined;
select pg_temp.tap(pg_temp.view_as(:adm, :'aa_no')->>'access' = 'redacted',
    'once the approval expires the admin''s view is redacted again');
reset role;

-- ------------------------------------------------------------ identifiers and related cases
set role hotlined;
insert into out select 'id1', * from pg_temp.call(:op, 'id-1', :'call_case'::jsonb
    || jsonb_build_object('$digests', jsonb_build_object('child_id', repeat('1a', 32))));
insert into out select 'id2', * from pg_temp.report(:gw, 'id-2', :'report'::jsonb
    || jsonb_build_object('$digests', jsonb_build_object('child_id', repeat('1a', 32),
	'child_name_birth', repeat('4d', 32))));
insert into out select 'id3', * from pg_temp.call(:op, 'id-3', :'call_case'::jsonb
    || jsonb_build_object('$digests', jsonb_build_object('child_id', repeat('2b', 32))));
reset role;
select (select response->>'case_number' from out where k = 'id1') as id1_no,
    (select response->>'case_number' from out where k = 'id2') as id2_no,
    (select response->>'case_number' from out where k = 'id3') as id3_no \gset
-- The admin reads them with approved access requests.
set role hotlined;
select pg_temp.admin_access(:adm, :adm2, :'id1_no', 'id-a1'),
    pg_temp.admin_access(:adm, :adm2, :'id2_no', 'id-a2'),
    pg_temp.admin_access(:adm, :adm2, :'id3_no', 'id-a3') \g /dev/null
insert into views select 'id1:admin', pg_temp.view_as(:adm, :'id1_no');
insert into views select 'id2:admin', pg_temp.view_as(:adm, :'id2_no');
insert into views select 'id3:admin', pg_temp.view_as(:adm, :'id3_no');
insert into views select 'id1:police', pg_temp.view_as(:police, :'id1_no');
reset role;
select pg_temp.tap((select view->'related_cases' from views where k = 'id1:admin') = jsonb_build_array(
	jsonb_build_object('case_number', :'id2_no', 'source', 'report', 'status', 'open',
	    'created_at', (select hotline.api_ts(created_at) from hotline.cases where case_number = :'id2_no'),
	    'matched', '["id"]'::jsonb))
    and (select jsonb_agg(r->>'case_number') from views, jsonb_array_elements(view->'related_cases') r
	where k = 'id2:admin') = jsonb_build_array(:'id1_no')
    and (select view->'related_cases' from views where k = 'id3:admin') = '[]',
    'two cases with the same child_id digest link each other in related_cases; a third with another does not',
    (select string_agg(k || '=' || (view->'related_cases')::text, ' / ') from views where k like 'id_:admin'));
select pg_temp.tap(view->>'access' = 'full' and view->'related_cases' = '[]',
    'a related case the viewer may not see is not listed (the 320102 police, the report is 320104''s)',
    view->>'related_cases')
from views where k = 'id1:police';
set role hotlined;
insert into out select 'ph1', * from pg_temp.call(:op, 'ph-1', :'call'::jsonb
    || jsonb_build_object('$digests', jsonb_build_object('caller_phone', repeat('3c', 32))));
insert into out select 'ph2', * from pg_temp.call(:op2, 'ph-2', :'call'::jsonb
    || '{"started_at": "2026-11-02T10:00:00+08:00", "ended_at": "2026-11-02T10:05:00+08:00"}'
    || jsonb_build_object('$digests', jsonb_build_object('caller_phone', repeat('3c', 32))));
insert into out select 'ph3', * from pg_temp.call(:op, 'ph-3', :'call'::jsonb
    || jsonb_build_object('$digests', jsonb_build_object('caller_phone', repeat('3c', 32))));
insert into out select 'ph4', * from pg_temp.call(:op, 'ph-4', :'call'::jsonb
    || jsonb_build_object('$digests', jsonb_build_object('caller_phone', repeat('5e', 32))));
reset role;
select pg_temp.tap((select status = 201 and not response ? 'earlier_calls' from out where k = 'ph1')
    and (select response->'earlier_calls' from out where k = 'ph2')
	= '{"count": 1, "last_at": "2026-11-01T01:00:00Z"}'
    and (select response->'earlier_calls' from out where k = 'ph3')
	= '{"count": 2, "last_at": "2026-11-02T02:00:00Z"}'
    and (select not response ? 'earlier_calls' from out where k = 'ph4'),
    'a caller_phone digest seen before gives earlier_calls {count, last_at} (whichever operator took them); a new one none',
    (select string_agg(k || '=' || response::text, ' / ') from out where k like 'ph_'));

-- ------------------------------------------------------------ data keys (master-key rotation)
set role hotlined;
insert into out select 'dk1', * from pg_temp.call(:op, 'dk-1', jsonb_set(:'call_case', '{$key,kid}', '"kold"'));
insert into out select 'dk2', * from pg_temp.call(:op, 'dk-2', jsonb_set(:'call', '{$key,kid}', '"kold"'));
reset role;
select (select id from hotline.cases where case_number = (select response->>'case_number' from out where k = 'dk1')) as dk_case,
    (select id from hotline.calls where call_id = (select (response->>'call_id')::uuid from out where k = 'dk2')) as dk_call \gset
create temporary table dk (step text, kid text, keys bigint);
insert into dk select 'before', * from hotline.data_key_counts();
select pg_temp.tap((select keys from dk where step = 'before' and kid = 'kold') = 2
    and (select keys from dk where step = 'before' and kid = 'ktest')
	= (select count(*) from hotline.cases where dek_kid = 'ktest')
	+ (select count(*) from hotline.calls where case_id is null and dek_kid = 'ktest')
    and (select count(*) from dk where step = 'before') = 2,
    'data_key_counts counts the live data keys (cases, calls without a case) by master key',
    (select string_agg(kid || '=' || keys, ',') from dk));
select pg_temp.tap((select array_agg(ref || ':' || kid || ':' || (wrapped = decode(repeat('ab', 60), 'hex'))
	order by ref) from hotline.data_key_pending('ktest', 1000))
	= array['call:' || :dk_call || ':kold:true', 'case:' || :dk_case || ':kold:true']
    and (select count(*) from hotline.data_key_pending('kold', 1000))
	= (select keys from dk where step = 'before' and kid = 'ktest')
    and not exists (select 1 from hotline.data_key_pending('kold', 1000) where kid = 'kold')
    and (select count(*) from hotline.data_key_pending('kold', 1)) = 1,
    'data_key_pending lists the keys under any other master key, up to the limit',
    (select string_agg(ref || ':' || kid, ',') from hotline.data_key_pending('ktest', 1000)));
select hotline.data_key_rewrap('case:' || :dk_case, 'kwrong', 'knew', decode(repeat('cd', 60), 'hex')) as rw_wrong \gset
select dek_kid || ':' || (dek_wrapped = decode(repeat('ab', 60), 'hex')) as rw_wrong_row from hotline.cases where id = :dk_case \gset
select hotline.data_key_rewrap('case:' || :dk_case, 'kold', 'knew', decode(repeat('cd', 60), 'hex')) as rw_ok,
    hotline.data_key_rewrap('case:' || :dk_case, 'kold', 'knew', decode(repeat('ef', 60), 'hex')) as rw_again \gset
select hotline.data_key_rewrap('call:' || :dk_call, 'kold', 'knew', decode(repeat('cd', 60), 'hex')) as rw_call \gset
insert into dk select 'after', * from hotline.data_key_counts();
select pg_temp.tap(not :'rw_wrong'::boolean and :'rw_wrong_row' = 'kold:true'
    and :'rw_ok'::boolean and not :'rw_again'::boolean and :'rw_call'::boolean
    and c.dek_kid = 'knew' and c.dek_wrapped = decode(repeat('cd', 60), 'hex')
    and c.dek_uid = '6f1c8e2a-0000-4000-8000-000000000001'
    and c.narrative = pg_temp.sealed('（测试）邻居来电称多次听到孩子哭喊并看到身上有淤青。'),
    'data_key_rewrap: false under the wrong old master key (nothing changed), true under the right one (key replaced, ciphertexts untouched), false once done',
    concat_ws(',', :'rw_wrong', :'rw_wrong_row', :'rw_ok', :'rw_again', :'rw_call', c.dek_kid))
from hotline.cases c where c.id = :dk_case;
select pg_temp.tap((select string_agg(kid || '=' || keys, ',' order by kid) from dk where step = 'after')
	= 'knew=2,ktest=' || (select keys from dk where step = 'before' and kid = 'ktest'),
    'and the counts move from the old master key to the new one',
    (select string_agg(kid || '=' || keys, ',' order by kid) from dk where step = 'after'));
create temporary table raised (what text, state text);
do $$
begin
	perform hotline.data_key_rewrap('bogus:1', 'kold', 'knew', decode(repeat('cd', 60), 'hex'));
	insert into raised values ('rewrap', null);
exception when others then
	insert into raised values ('rewrap', sqlstate);
end $$;
select pg_temp.tap(state = '22023', 'data_key_rewrap refuses a malformed reference (22023)', state)
from raised where what = 'rewrap';

-- ------------------------------------------------------------ audit of the history chains
set role hotlined;
insert into out select 'au' || i, c.* from generate_series(1, 5) i,
    pg_temp.call(:op, 'au-' || i, :'call_case') c;
reset role;
create temporary table au as select o.k, c.id, c.case_number,
    (select max(seq) from hotline.case_events e where e.case_id = c.id) as last
from out o join hotline.cases c on c.case_number = o.response->>'case_number' where o.k like 'au_';
begin;
select set_config('hotline.scope', '', true) \g /dev/null
select count(*) as audit_unscoped from hotline.audit_verify() \gset
commit;
select pg_temp.tap(count(*) = (select count(*) from hotline.cases) and bool_and(a.first_bad is null)
    and bool_and(a.events = c.history_len and a.events = (select count(*) from hotline.case_events e
	where e.case_id = c.id))
    and (select min(last) from au) >= 4 and :audit_unscoped = 0,
    'audit_verify reports every case intact, with its number of events (and, without a scope, no case at all)',
    string_agg(a.case_number || '=' || coalesce(a.first_bad::text, 'ok'), ' ') filter (where a.first_bad is not null))
from hotline.audit_verify() a join hotline.cases c on c.case_number = a.case_number;
-- Behind the triggers' back (replica mode disables them): one case each.
set session_replication_role = replica;
update hotline.case_events set data = data || '{"x": 1}' where seq = 2 and case_id = (select id from au where k = 'au1');
delete from hotline.case_events where seq = 3 and case_id = (select id from au where k = 'au2');
delete from hotline.case_events e using au where au.k = 'au3' and e.case_id = au.id and e.seq = au.last;
update hotline.case_events set seq = 1000 where seq = 2 and case_id = (select id from au where k = 'au4');
update hotline.case_events set seq = 2 where seq = 3 and case_id = (select id from au where k = 'au4');
update hotline.case_events set seq = 3 where seq = 1000 and case_id = (select id from au where k = 'au4');
reset session_replication_role;
create temporary table audited as select * from hotline.audit_verify();
select pg_temp.tap(string_agg(au.k || '=' || coalesce(a.first_bad::text, 'ok') || '/' || a.events, ',' order by au.k)
	= format('au1=2/1,au2=3/2,au3=%s/%s,au4=2/1,au5=ok/%s', (select last from au where k = 'au3'), (select last - 1 from au where k = 'au3'),
	    (select last from au where k = 'au5')),
    'audit_verify finds a changed event, a deleted middle event, a deleted last event (by history_len/history_head) and two swapped events, each at its seq (events: those verified before it)',
    string_agg(au.k || '=' || coalesce(a.first_bad::text, 'ok') || '/' || a.events, ',' order by au.k))
from au join audited a on a.case_number = au.case_number;
select pg_temp.tap(count(*) = 4, 'only the tampered cases are reported',
    string_agg(case_number || '=' || first_bad, ' '))
from audited where first_bad is not null;
select pg_temp.tap(bool_and(hotline.case_history_verify(au.case_number) is not distinct from a.first_bad)
    and count(*) = 5,
    'case_history_verify agrees with audit_verify for each of them',
    string_agg(au.k || '=' || coalesce(hotline.case_history_verify(au.case_number)::text, 'ok'), ','))
from au join audited a on a.case_number = au.case_number;

-- ------------------------------------------------------------ purge (crypto-shredding)
set role hotlined;
insert into out select 'pg', * from pg_temp.report(:gw, 'pg-1', jsonb_set(:'report', '{child,region_code}', '"320102"'));
reset role;
select response->>'case_number' as pg_no, (select id from hotline.cases where case_number = response->>'case_number') as pg_id
from out where k = 'pg' \gset
set role hotlined;
insert into out select 'pg-note', * from pg_temp.post(:police, 'pg-n', :'pg_no', jsonb_build_object('type', 'note',
    'text', encode(pg_temp.sealed('（测试）已联系监护人。'), 'base64')));
insert into views select 'pg:police:before', pg_temp.view_as(:police, :'pg_no');
reset role;
create temporary table pg_before as select
    (select jsonb_agg(to_jsonb(g) order by g.category, g.subcategory) from hotline.case_categories g where g.case_id = :pg_id) as cats,
    (select jsonb_agg(to_jsonb(a) order by a.id) from hotline.assignments a where a.case_id = :pg_id) as asg,
    (select to_jsonb(c) - 'narrative' - 'dek_kid' - 'dek_wrapped' - 'purged_at' - 'history_len' - 'history_head'
	from hotline.cases c where c.id = :pg_id) as kept,
    (select max(seq) from hotline.case_events where case_id = :pg_id) as last;
select pg_temp.tap((select status from out where k = 'pg-note') = 201
    and exists (select 1 from views, jsonb_array_elements(view->'history') h where k = 'pg:police:before'
	and h->'note' = pg_temp.enc('（测试）已联系监护人。', 'note')),
    'before the purge, the case holds a sealed note (the primary police''s view)');
select hotline.case_purge(:'pg_no') as purged1 \gset
select hotline.case_purge(:'pg_no') as purged2 \gset
do $$
begin
	perform hotline.case_purge('2026-320102-99999999');
	insert into raised values ('purge', null);
exception when others then
	insert into raised values ('purge', sqlstate);
end $$;
select pg_temp.tap(:'purged1'::boolean and c.narrative is null and c.dek_wrapped is null and c.dek_kid is null
    and c.purged_at is not null
    and to_jsonb(c) - 'narrative' - 'dek_kid' - 'dek_wrapped' - 'purged_at' - 'history_len' - 'history_head'
	= (select kept from pg_before),
    'case_purge clears the narrative and destroys the wrapped data key; risk, region, status, key id stay',
    (to_jsonb(c) - 'dek_wrapped')::text)
from hotline.cases c where c.id = :pg_id;
select pg_temp.tap(h.name is null and h.birth_date is null and h.id_number is null and h.phone is null
    and h.school is null and h.address is null and h.gender = 'female' and h.age = 9 and h.region_code = '320102'
    and r.reporter_name is null and r.reporter_phone is null and r.reporter_id_number is null
    and r.institution_name is null and r.actions_taken is null and r.reporter_profession = 'teacher'
    and r.situations = '{2,6}'
    and (select count(*) = 1 and bool_and(text is null) from hotline.case_notes where case_id = :pg_id),
    'the child''s, the report''s and the notes'' sealed columns are cleared; gender, age, regions, situations stay',
    (to_jsonb(h) || to_jsonb(r))::text)
from hotline.children h join hotline.reports r on r.case_id = h.case_id where h.case_id = :pg_id;
select pg_temp.tap((select kind = 'purged' and actor is null and data = '{"reason": "request"}'
	and seq = (select last + 1 from pg_before)
	from hotline.case_events where case_id = :pg_id order by seq desc limit 1)
    and (select jsonb_agg(to_jsonb(g) order by g.category, g.subcategory) from hotline.case_categories g
	where g.case_id = :pg_id) = (select cats from pg_before)
    and (select jsonb_agg(to_jsonb(a) order by a.id) from hotline.assignments a where a.case_id = :pg_id)
	= (select asg from pg_before)
    and hotline.case_history_verify(:'pg_no') is null,
    'a purged event is appended (chained); categories and assignments are kept');
select pg_temp.logged_view(w, 'pg', c, :'pg_no') from (values ('admin', :adm), ('police', :police),
    ('edu', :edu), ('gw', :gw)) v (w, c) \g /dev/null
set role hotlined;
insert into views select 'pg:admin:after', pg_temp.view_as(:adm, :'pg_no');
insert into views select 'pg:police:key', pg_temp.key_as(:police, :'pg_no');
insert into out select 'pg-ar', * from pg_temp.ar_create(:edu, 'pg-ar', :'pg_no', '{"purpose": "x"}');
reset role;
select pg_temp.tap(view->>'access' = 'purged' and view ? 'purged_at' and not view ? '$key'
    and view::text not like '%$enc%'
    and view->'narrative' = '{"purged": true}'
    and view->'child' = '{"purged": true, "gender": "female", "age": 9, "region_code": "320102"}'
    and view->'report'->'reporter' = '{"purged": true}'
    and exists (select 1 from jsonb_array_elements(view->'history') h where h->'note' = '{"purged": true}')
    and jsonb_array_length(view->'categories') = 2
    and jsonb_array_length(view->'assignments') = (select jsonb_array_length(asg) from pg_before),
    'case_view shows the purged case with {"purged": true} markers, no sealed value and no key', view::text)
from views where k = 'pg:admin:after';
select pg_temp.tap(string_agg(who || ':' || access || ':' || added, ',' order by who)
	= 'admin:purged:0,edu:purged:0,gw:purged:0,police:purged:0',
    'every viewer gets access "purged", and no access-log row is written',
    string_agg(who || ':' || access || ':' || added, ',' order by who))
from logged where which = 'pg';
select pg_temp.tap(not :'purged2'::boolean
    and (select state from raised where what = 'purge') = 'P0002'
    and (select view from views where k = 'pg:police:key') = '{"purged": true}'
    and (select status = 409 and response->'error'->>'code' = 'case_purged' from out where k = 'pg-ar')
    and not hotline.data_key_rewrap('case:' || :pg_id, 'ktest', 'knew', decode(repeat('cd', 60), 'hex'))
    and not exists (select 1 from hotline.data_key_pending('knew', 1000) where ref = 'case:' || :pg_id),
    'a second purge is false, an unknown case P0002; its key is gone for case_key, access requests and rotation',
    concat_ws(',', :'purged2', (select state from raised where what = 'purge')));

-- ------------------------------------------------------------ retention
update hotline.settings set value = '30' where name = 'retention_call_days';
update hotline.settings set value = '10' where name = 'retention_case_years';
set role hotlined;
insert into out select 'rt-old', * from pg_temp.call(:op, 'rt-1', pg_temp.seal(:'call'::jsonb
    || '{"caller_phone": "13800000009", "summary": "（测试）来电后挂断。"}')
    || jsonb_build_object('$digests', jsonb_build_object('caller_phone', repeat('6f', 32))));
insert into out select 'rt-new', * from pg_temp.call(:op, 'rt-2', pg_temp.seal(:'call'::jsonb
    || '{"caller_phone": "13800000009", "summary": "（测试）来电后挂断。"}'));
insert into out select 'rt-' || w, c.* from unnest(array['closed11', 'closed9', 'open12']) w,
    pg_temp.call(:op, 'rt-' || w, :'call_case') c;
reset role;
create temporary table rt as select o.k, (o.response->>'call_id')::uuid as call_id, o.response->>'case_number' as case_number
from out o where o.k like 'rt-%';
update hotline.calls set started_at = now() - interval '40 days', ended_at = now() - interval '40 days' + interval '10 minutes'
    where call_id = (select call_id from rt where k = 'rt-old');
update hotline.calls set started_at = now() - interval '10 days', ended_at = now() - interval '10 days' + interval '10 minutes'
    where call_id = (select call_id from rt where k = 'rt-new');
update hotline.cases set status = 'closed', created_at = now() - interval '11 years 2 months',
    closed_at = now() - interval '11 years' where case_number = (select case_number from rt where k = 'rt-closed11');
update hotline.cases set status = 'closed', created_at = now() - interval '9 years 2 months',
    closed_at = now() - interval '9 years' where case_number = (select case_number from rt where k = 'rt-closed9');
update hotline.cases set created_at = now() - interval '12 years' where case_number = (select case_number from rt where k = 'rt-open12');
create temporary table plan1 as select * from hotline.retention_plan();
select pg_temp.tap(exists (select 1 from plan1 p join hotline.calls k on k.call_id::text = p.ref
	where p.kind = 'call' and k.call_id = (select call_id from rt where k = 'rt-old') and p.since = k.started_at)
    and exists (select 1 from plan1 p join hotline.cases c on c.case_number = p.ref
	where p.kind = 'case' and p.ref = (select case_number from rt where k = 'rt-closed11') and p.since = c.closed_at)
    and not exists (select 1 from plan1 where ref = (select call_id::text from rt where k = 'rt-new'))
    and not exists (select 1 from plan1 where ref in (select case_number from rt where k in ('rt-closed9', 'rt-open12')))
    and not exists (select 1 from plan1 p join hotline.cases c on c.case_number = p.ref where c.status = 'open'),
    'retention_plan: a call without a case after retention_call_days (40 days, not 10), a case closed retention_case_years ago (11, not 9); never an open case',
    (select string_agg(kind || ':' || ref, ' ') from plan1));
create temporary table purged as select * from hotline.retention_purge();
create temporary table plan2 as select * from hotline.retention_plan();
select pg_temp.tap((select array_agg(kind || ':' || ref order by kind, ref) from purged)
	= (select array_agg(kind || ':' || ref order by kind, ref) from plan1)
    and not exists (select 1 from plan2),
    'retention_purge purges what the plan listed; the plan is then empty',
    (select string_agg(kind || ':' || ref, ' ') from plan2));
select pg_temp.tap((select caller_phone is null and summary is null and dek_wrapped is null and dek_kid is null
	and purged_at is not null and dek_uid is not null and disposition = 'silent'
	from hotline.calls where call_id = (select call_id from rt where k = 'rt-old'))
    and not exists (select 1 from hotline.identifiers i join hotline.calls k on k.id = i.call_id
	where k.call_id = (select call_id from rt where k = 'rt-old'))
    and (select caller_phone = pg_temp.sealed('13800000009') and summary is not null
	and dek_wrapped is not null and purged_at is null
	from hotline.calls where call_id = (select call_id from rt where k = 'rt-new')),
    'the old call''s number, summary, key and digest are gone; the recent call is untouched');
select pg_temp.tap((select c.purged_at is not null and c.narrative is null and c.dek_wrapped is null
	and k.caller_phone is null and k.summary is null and k.purged_at is not null
	and (select data->>'reason' from hotline.case_events where case_id = c.id and kind = 'purged') = 'retention'
	from hotline.cases c join hotline.calls k on k.case_id = c.id
	where c.case_number = (select case_number from rt where k = 'rt-closed11'))
    and (select count(*) from hotline.cases where purged_at is null and dek_wrapped is not null
	and case_number in (select case_number from rt where k in ('rt-closed9', 'rt-open12'))) = 2,
    'the old closed case is purged (its call too, reason retention); the others keep their data');
update hotline.settings set value = '5' where name = 'retention_call_days';
select pg_temp.tap(exists (select 1 from hotline.retention_plan() where kind = 'call'
	and ref = (select call_id::text from rt where k = 'rt-new')),
    'retention_call_days decides: at 5 days the 10-day-old call is due');
update hotline.settings set value = '30' where name = 'retention_call_days';

-- ------------------------------------------------------------ append-only
-- The history and the access log are append-only for everyone (here with
-- rows in both, so that the row triggers have something to refuse).
create function pg_temp.refused(p text) returns boolean language plpgsql as $$
begin
	execute p;
	return false;
exception when insufficient_privilege then
	return true;
end $$;
select count(*) as log_rows, (select count(*) from hotline.case_events) as event_rows from hotline.access_log \gset
select pg_temp.refused('update hotline.case_events set kind = ''x''')
    and pg_temp.refused('delete from hotline.case_events')
    and pg_temp.refused('truncate hotline.case_events cascade')
    and pg_temp.refused('delete from hotline.access_log')
    and pg_temp.refused('update hotline.access_log set basis = ''admin''')
    and pg_temp.refused('truncate hotline.access_log') as all_refused \gset
select pg_temp.tap(:log_rows > 0 and :event_rows > 0 and :'all_refused'::boolean
    and (select count(*) from hotline.access_log) = :log_rows
    and (select count(*) from hotline.case_events) = :event_rows,
    'even the superuser cannot update, delete or truncate the history or the access log (rows and all)',
    :log_rows || ' ' || :event_rows);

-- ------------------------------------------------------------ the code column
select pg_temp.codes_agree();
