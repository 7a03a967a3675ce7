-- case_view through the daemon's role: who sees which case, what the view
-- holds, and that the reporter's identity is withheld from other agencies.
\ir fixtures.psql

set role hotlined;
insert into out select 'call', * from hotline.intake_call(:op, 'v-1', '\x01', :'call_case');
insert into out select 'report', * from hotline.intake_report(:gw, 'v-2', '\x02',
    jsonb_set(:'report', '{child,region_code}', '"320102"'));
insert into out select 'gw3', * from hotline.intake_report(:gw3, 'v-3', '\x03', :'report');
reset role;
select response->>'case_number' as call_no, (select response->>'case_number' from out where k = 'report') as report_no,
    (select response->>'case_number' from out where k = 'gw3') as gw3_no
from out where k = 'call' \gset

-- Who sees what: (client, case) -> visible?
create temporary table seen (who text, which text, visible boolean, view jsonb);
grant all on seen to hotlined;
set role hotlined;
insert into seen select w.n, c.n, v is not null, v
from (values ('op', :op), ('op2', :op2), ('opb', :opb), ('gw', :gw), ('gw2', :gw2), ('admin', :adm),
	('police', :police), ('police4', :police4), ('proc', :proc), ('edu', :edu), ('gone', :gone),
	('gw3', :gw3)) w (n, id)
cross join (values ('call', :'call_no'), ('report', :'report_no'), ('gw3', :'gw3_no')) c (n, number)
cross join lateral hotline.case_view(w.id, c.number) v;
reset role;

select pg_temp.tap((select string_agg(who, ',' order by who) from seen where which = 'call' and visible)
    = 'admin,op,op2,police,proc',
    'a call case: every seat of its centre, an admin (redacted) and the agencies assigned to it (another centre''s operator, gateways, other agencies: no)',
    (select string_agg(who, ',' order by who) from seen where which = 'call' and visible));
select pg_temp.tap((select string_agg(who, ',' order by who) from seen where which = 'report' and visible)
    = 'admin,edu,gw,police,proc',
    'a report case: its gateway, an admin (redacted) and the agencies assigned to it',
    (select string_agg(who, ',' order by who) from seen where which = 'report' and visible));
select hotline.client_revoke('t-gw3') \g /dev/null
set role hotlined;
select pg_temp.tap(hotline.case_view(:gw3, :'gw3_no') is null
    and (select visible from seen where who = 'gw3' and which = 'gw3'),
    'a creator sees its case until it is revoked');
select pg_temp.tap(hotline.case_view(:adm, '2026-320102-99999999') is null
    and hotline.case_view(:adm, '../' || :'call_no') is null and hotline.case_view(:adm, '') is null
    and hotline.case_view(:adm, null) is null and hotline.case_view(-1, :'call_no') is null,
    'an unknown or malformed case number, or an unknown client, gives null');
reset role;

-- The shape of the view.  Personal values come sealed, each with the name of
-- its field, and "$key" carries the case's wrapped data key for the daemon.
create function pg_temp.enc(p text, f text) returns jsonb language sql immutable as $$
	select jsonb_build_object('$enc', translate(encode(pg_temp.sealed(p), 'base64'), E'\n', ''), 'f', f)
$$;
\set rchild '{"name":"测试儿童丙","gender":"female","age":9,"region_code":"320104"}'
select pg_temp.tap((select array_agg(k order by k) from jsonb_object_keys(view) k)
    = '{$key,access,assignments,case_number,categories,child,created_at,history,linked_cases,narrative,region_code,related_cases,report,risk_level,source,status}'
    and view->>'access' = 'full'
    and view->>'source' = 'report' and view->>'status' = 'open' and view->'risk_level' = '2'
    and view->>'region_code' = '320102' and view->>'case_number' = :'report_no'
    and view->>'created_at' ~ '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z$'
    and view->'narrative' = pg_temp.enc('（测试）学生向班主任透露被亲属猥亵，身体有异常。', 'case.narrative')
    and view->'child' = jsonb_build_object('name', pg_temp.enc('测试儿童丙', 'child.name'),
	'gender', 'female', 'age', 9, 'region_code', '320102')
    and view->'$key' = jsonb_build_object('uid', '6f1c8e2a-0000-4000-8000-000000000001', 'kid', 'ktest',
	'wrapped', translate(encode(decode(repeat('ab', 60), 'hex'), 'base64'), E'\n', ''))
    and view->'categories' = '[{"category":"abuse","subcategory":"neglect"},{"category":"abuse","subcategory":"sexual_abuse"}]',
    'a report case shows the contract''s fields, personal ones sealed with their field names, and the wrapped key',
    concat_ws(' | ', view->'narrative', view->'child', view->'$key', (select array_agg(k order by k) from jsonb_object_keys(view) k)))
from seen where who = 'gw' and which = 'report';
select pg_temp.tap(view->'report' = jsonb_build_object('receipt_id',
	(select response->>'receipt_id' from out where k = 'report'),
	'reporter', '{"withheld": true}'::jsonb,
	'institution', jsonb_build_object('name', pg_temp.enc('测试市第一小学', 'institution.name'),
	    'type', 'school', 'region_code', '320102'),
	'situations', '[2,6]'::jsonb, 'suspected', true, 'discovered_at', '2026-11-01T00:30:00Z',
	'reported_at', '2026-11-01T01:05:00.250000Z', 'immediate_danger', false,
	'actions_taken', pg_temp.enc('（测试）已通知学校安保并陪同学生。', 'report.actions_taken')),
    'its report part holds the report as submitted, timestamps in UTC; the filing gateway does not see the reporter',
    view->>'report')
from seen where who = 'gw' and which = 'report';
select pg_temp.tap((select array_agg(k order by k) from jsonb_object_keys(view) k)
    = '{$key,access,assignments,calls,case_number,categories,child,created_at,history,linked_cases,narrative,region_code,related_cases,risk_level,source,status}'
    and view->>'source' = 'call'
    and view->'calls' = jsonb_build_array(jsonb_build_object('call_id',
	(select response->>'call_id' from out where k = 'call'), 'started_at', '2026-11-01T01:00:00Z',
	'ended_at', '2026-11-01T01:12:30Z', 'caller_type', 'about_child', 'disposition', 'case_opened',
	'caller_phone', pg_temp.enc('13800000001', 'call.caller_phone'),
	'summary', pg_temp.enc('（测试）疑似家暴，已开案。', 'call.summary')))
    and view->'child'->'id_number' = pg_temp.enc('320102201503120025', 'child.id_number')
    and view->'child'->'birth_date' = pg_temp.enc('2015-03-12', 'child.birth_date'),
    'a call case shows its calls (number and summary sealed) instead of a report', view::text)
from seen where who = 'op' and which = 'call';
select pg_temp.tap(view->'history'->0 = jsonb_build_object('seq', 1, 'at', view->'created_at',
	'kind', 'created', 'actor', :gw)
    and (select bool_and((select bool_and(k in ('seq', 'at', 'kind', 'actor', 'assignment', 'agency',
	'clock', 'outcome', 'from', 'to', 'role', 'level', 'access_request', 'note', 'categories', 'fields',
	'call', 'disposition', 'linked', 'was')) from jsonb_object_keys(h) k))
	from jsonb_array_elements(view->'history') h)
    and view->>'history' not like '%测试%' and view->>'history' not like '%1380000%',
    'the history starts with created by the gateway and holds no personal data', view->>'history')
from seen where who = 'gw' and which = 'report';
select pg_temp.tap(bool_and(view->'report'->'reporter' = jsonb_build_object(
	'name', pg_temp.enc('测试教师乙', 'reporter.name'), 'phone', pg_temp.enc('13800000002', 'reporter.phone'),
	'id_number', pg_temp.enc('11010519491231002X', 'reporter.id_number'), 'profession', 'teacher')
    and view - 'report' = (select view - 'report' from seen where who = 'gw' and which = 'report')),
    'the primary police see what the gateway sees, and the reporter (sealed)')
from seen where which = 'report' and who = 'police';
select pg_temp.tap(bool_and(view->>'access' = 'redacted' and view->'report'->'reporter' = '{"withheld": true}'
    and view->'narrative' = '{"withheld": true}' and view->'child'->>'withheld' = 'true'
    and not view ? '$key' and view::text not like '%$enc%'
    and view->'history' = (select s.view->'history' from seen s where s.which = seen.which
	and s.who = case seen.which when 'call' then 'op' else 'gw' end)
    and view->'assignments' = (select s.view->'assignments' from seen s where s.which = seen.which
	and s.who = case seen.which when 'call' then 'op' else 'gw' end))
    and count(*) = 2,
    'an admin (without an approved access request) gets every case redacted: timeline and assignments, no personal data, never the reporter',
    string_agg(view::text, ' / '))
from seen where who = 'admin' and which in ('call', 'report');
select pg_temp.tap(bool_and(view->>'access' = 'redacted' and view->'report'->'reporter' = '{"withheld": true}'
    and view->'narrative' = '{"withheld": true}'
    and view->'child' = '{"withheld": true, "gender": "female", "age": 9, "region_code": "320102"}'
    and view->'report'->'institution' = '{"withheld": true, "type": "school", "region_code": "320102"}'
    and view->'report'->'actions_taken' = '{"withheld": true}'
    and not view ? '$key' and not view ? 'related_cases' and view::text not like '%$enc%'
    and view->'history' = (select view->'history' from seen where who = 'gw' and which = 'report')
    and view->'assignments' = (select view->'assignments' from seen where who = 'gw' and which = 'report')),
    'an inform (education) and a supervise (procuratorate) agency get the redacted case: timeline, no personal data',
    string_agg(view::text, ' / '))
from seen where which = 'report' and who in ('edu', 'proc');
select pg_temp.tap(view->>'access' = 'full' and view->'child'->'name' = pg_temp.enc('测试儿童甲', 'child.name'),
    'a primary health bureau on a call case sees the child', view::text)
from seen where who = 'police' and which = 'call';
select pg_temp.tap(view->>'access' = 'redacted', 'the supervising procuratorate gets the call case redacted',
    view::text)
from seen where who = 'proc' and which = 'call';
select pg_temp.tap((select count(*) from hotline.access_log l join hotline.cases c on c.id = l.case_id
	where c.case_number = :'report_no') = 2
    and (select string_agg(k.name || ':' || l.basis || ':' || l.reporter, ',' order by k.name)
	from hotline.access_log l join hotline.cases c on c.id = l.case_id join hotline.clients k
	on k.id = l.client_id where c.case_number = :'report_no')
	= 't-gw:creator:false,t-police:primary:true',
    'each full view of the report case wrote one access-log row with its basis; redacted views none');

-- ------------------------------------------------------------ a case of another county
-- A report about a child of 320104 (no institution region): its gateway and
-- an admin see it; another gateway and the police of 320102 do not.
set role hotlined;
insert into out select 'far', * from hotline.intake_report(:gw, 'v-4', '\x04',
    :'report'::jsonb #- '{institution,region_code}');
reset role;
select response->>'case_number' as far_no from out where k = 'far' \gset
set role hotlined;
select pg_temp.tap(hotline.case_view(:gw, :'far_no') is not null, 'the filing gateway sees its case');
select pg_temp.tap(hotline.case_view(:adm, :'far_no')->>'access' = 'redacted', 'an admin sees the case, redacted');
select pg_temp.tap(hotline.case_view(:gw2, :'far_no') is null and hotline.case_view(:police, :'far_no') is null,
    'another gateway and an agency do not');
reset role;
