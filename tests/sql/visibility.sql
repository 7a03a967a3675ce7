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
from (values ('op', :op), ('op2', :op2), ('gw', :gw), ('gw2', :gw2), ('admin', :adm),
	('police', :police), ('police4', :police4), ('proc', :proc), ('edu', :edu), ('gone', :gone),
	('gw3', :gw3)) w (n, id)
cross join (values ('call', :'call_no'), ('report', :'report_no'), ('gw3', :'gw3_no')) c (n, number)
cross join lateral hotline.case_view(w.id, c.number) v;
reset role;

select pg_temp.tap((select string_agg(who, ',' order by who) from seen where which = 'call' and visible)
    = 'admin,op,police,proc',
    'a call case: its operator, an admin and the agencies assigned to it (another operator, gateways, other agencies: no)',
    (select string_agg(who, ',' order by who) from seen where which = 'call' and visible));
select pg_temp.tap((select string_agg(who, ',' order by who) from seen where which = 'report' and visible)
    = 'admin,edu,gw,police,proc',
    'a report case: its gateway, an admin and the agencies assigned to it',
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

-- The shape of the view.
select pg_temp.tap((select array_agg(k order by k) from jsonb_object_keys(view) k)
    = '{assignments,case_number,categories,child,created_at,history,narrative,region_code,report,risk_level,source,status}'
    and view->>'source' = 'report' and view->>'status' = 'open' and view->'risk_level' = '2'
    and view->>'region_code' = '320102' and view->>'case_number' = :'report_no'
    and view->>'created_at' ~ '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z$'
    and view->>'narrative' = :'report'::jsonb->>'narrative'
    and view->'child' = jsonb_set(:'report'::jsonb->'child', '{region_code}', '"320102"')
    and view->'categories' = '[{"category":"abuse","subcategory":"neglect"},{"category":"abuse","subcategory":"sexual_abuse"}]',
    'a report case shows the contract''s fields, the child as submitted', view::text)
from seen where who = 'gw' and which = 'report';
select pg_temp.tap(view->'report' = jsonb_build_object('receipt_id',
	(select response->>'receipt_id' from out where k = 'report'),
	'reporter', :'report'::jsonb->'reporter', 'institution', :'report'::jsonb->'institution',
	'situations', '[2,6]'::jsonb, 'suspected', true, 'discovered_at', '2026-11-01T00:30:00Z',
	'reported_at', '2026-11-01T01:05:00.250000Z', 'immediate_danger', false,
	'actions_taken', :'report'::jsonb->'actions_taken'),
    'its report part holds the report as submitted, timestamps in UTC', view->>'report')
from seen where who = 'gw' and which = 'report';
select pg_temp.tap((select array_agg(k order by k) from jsonb_object_keys(view) k)
    = '{assignments,calls,case_number,categories,child,created_at,history,narrative,region_code,risk_level,source,status}'
    and view->>'source' = 'call'
    and view->'calls' = jsonb_build_array(jsonb_build_object('call_id',
	(select response->>'call_id' from out where k = 'call'), 'started_at', '2026-11-01T01:00:00Z',
	'ended_at', '2026-11-01T01:12:30Z', 'caller_type', 'about_child', 'disposition', 'case_opened'))
    and view->'child' = :'call_case'::jsonb#>'{open_case,child}',
    'a call case shows its calls instead of a report', view::text)
from seen where who = 'op' and which = 'call';
select pg_temp.tap(view->'history'->0 = jsonb_build_object('seq', 1, 'at', view->'created_at',
	'kind', 'created', 'actor', :gw)
    and (select bool_and((select bool_and(k in ('seq', 'at', 'kind', 'actor', 'assignment', 'agency',
	'clock', 'outcome', 'from', 'to', 'role', 'level')) from jsonb_object_keys(h) k))
	from jsonb_array_elements(view->'history') h)
    and view->>'history' not like '%测试%' and view->>'history' not like '%1380000%',
    'the history starts with created by the gateway and holds no personal data', view->>'history')
from seen where who = 'gw' and which = 'report';
select pg_temp.tap(bool_and(view = (select view from seen where who = 'gw' and which = 'report')),
    'an admin, the police and the procuratorate see what the gateway sees')
from seen where which = 'report' and who in ('admin', 'police', 'proc');
select pg_temp.tap(view->'report'->'reporter' = '{"withheld": true}'
    and view - 'report' = (select view - 'report' from seen where who = 'gw' and which = 'report')
    and (view->'report') - 'reporter' = (select (view->'report') - 'reporter' from seen
	where who = 'gw' and which = 'report'),
    'another agency (education) sees the case but not the reporter''s identity', view->>'report')
from seen where who = 'edu' and which = 'report';
