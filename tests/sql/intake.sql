-- intake_call and intake_report through the daemon's role: calls with and
-- without a case, reports, idempotent replay and key reuse, unknown regions
-- and categories, roles, batching several submissions in one transaction,
-- and one report among refusals.
\ir fixtures.psql

-- ------------------------------------------------------------ a call without a case
create temporary table before as select pg_temp.counts() as c;
set role hotlined;
insert into out select 'silent', * from hotline.intake_call(:op, 'silent-1', '\x01', :'call');
reset role;
select pg_temp.tap(status = 201 and not replayed
    and (select array_agg(k order by k) from jsonb_object_keys(response) k) = '{call_id,received_at}'
    and response->>'call_id' ~ '^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$'
    and response->>'received_at' ~ '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z$',
    'a call without a case is 201 {call_id, received_at}', response::text)
from out where k = 'silent';
select pg_temp.tap(c.case_id is null and c.disposition = 'silent' and c.language = 'zh'
    and c.client_id = :op and c.caller_phone is null and c.topic_category is null
    and c.started_at = '2026-11-01T01:00:00Z' and c.ended_at = '2026-11-01T01:10:00Z'
    and (select count(*) from hotline.cases) = 0,
    'the call is stored (language defaults to zh) and opens no case')
from hotline.calls c where c.call_id = (select (response->>'call_id')::uuid from out where k = 'silent');
select pg_temp.tap(i.status = 201 and i.endpoint = 'calls' and i.request_hash = '\x01'
    and i.response = o.response, 'its idempotency record holds the 201 response')
from hotline.idempotency i, out o where i.client_id = :op and i.key = 'silent-1' and o.k = 'silent';

-- ------------------------------------------------------------ a call that opens a case
set role hotlined;
insert into out select 'opened', * from hotline.intake_call(:op, 'opened-1', '\x02', :'call_case');
reset role;
select pg_temp.tap(status = 201 and not replayed
    and (select array_agg(k order by k) from jsonb_object_keys(response) k) = '{call_id,case_number,received_at}'
    and response->>'case_number' ~ '^\d{4}-320102-\d{8}$'
    and left(response->>'case_number', 4) = to_char(now() at time zone 'Asia/Shanghai', 'YYYY'),
    'a call that opens a case gets YYYY-<child region>-NNNNNNNN (year in Asia/Shanghai)', response::text)
from out where k = 'opened';
select pg_temp.tap(c.source = 'call' and c.risk_level = 2 and c.region_code = '320102'
    and c.status = 'open' and c.created_by = :op
    and c.narrative = pg_temp.sealed('（测试）邻居来电称多次听到孩子哭喊并看到身上有淤青。')
    and k.case_id = c.id and k.disposition = 'case_opened' and k.topic_category = 'abuse'
    and k.topic_subcategory = 'physical_abuse' and k.caller_phone = pg_temp.sealed('13800000001')
    and k.summary = pg_temp.sealed('（测试）疑似家暴，已开案。')
    and c.dek_uid = '6f1c8e2a-0000-4000-8000-000000000001' and c.dek_kid = 'ktest'
    and octet_length(c.dek_wrapped) = 60 and k.dek_uid is null and k.dek_wrapped is null,
    'the case is stored sealed with its wrapped data key, and the call (sealed under the case''s key) is linked to it')
from hotline.cases c join hotline.calls k on k.call_id = (select (response->>'call_id')::uuid from out where k = 'opened')
where c.case_number = (select response->>'case_number' from out where k = 'opened');
select pg_temp.tap(h.name = pg_temp.sealed(:'child'::jsonb->>'name')
    and h.birth_date = pg_temp.sealed(:'child'::jsonb->>'birth_date')
    and h.id_number = pg_temp.sealed(:'child'::jsonb->>'id_number')
    and h.phone = pg_temp.sealed(:'child'::jsonb->>'phone')
    and h.school = pg_temp.sealed(:'child'::jsonb->>'school')
    and h.address = pg_temp.sealed(:'child'::jsonb->>'address')
    and h.gender = 'female' and h.age = 11 and h.region_code = '320102',
    'the child is stored field by field, personal fields sealed as the daemon sent them',
    (to_jsonb(h) - 'case_id')::text)
from hotline.children h join hotline.cases c on c.id = h.case_id
where c.case_number = (select response->>'case_number' from out where k = 'opened');
select pg_temp.tap((select string_agg(category || '/' || subcategory, ',' order by category, subcategory)
    from hotline.case_categories g join hotline.cases c on c.id = g.case_id
    where c.case_number = (select response->>'case_number' from out where k = 'opened'))
    = 'abuse/physical_abuse,psychological/anxiety_depression', 'the case carries the categories of open_case');
select pg_temp.tap(e.seq = 1 and e.kind = 'created' and e.actor = :op
    and e.at = c.created_at and e.hash is not null,
    'the first history event is created, by the operator')
from hotline.case_events e join hotline.cases c on c.id = e.case_id
where c.case_number = (select response->>'case_number' from out where k = 'opened') and e.seq = 1;
select pg_temp.tap(not exists (select 1 from hotline.case_events e, jsonb_each_text(:'child'::jsonb) p
    where p.key in ('name', 'birth_date', 'id_number', 'phone', 'school', 'address')
	and e.data::text like '%' || p.value || '%')
    and not exists (select 1 from hotline.case_events e where e.data::text like '%测试%'
	or e.data::text like '%1380000%'),
    'no history event holds personal data');
select pg_temp.tap(r.received_at = c.created_at and o.response->>'received_at' = hotline.api_ts(r.received_at),
    'received_at is the commit''s transaction time, in UTC')
from out o join hotline.calls r on r.call_id = (o.response->>'call_id')::uuid
join hotline.cases c on c.id = r.case_id where o.k = 'opened';

-- ------------------------------------------------------------ reports
set role hotlined;
insert into out select 'report', * from hotline.intake_report(:gw, 'report-1', '\x03', :'report');
insert into out select 'danger', * from hotline.intake_report(:gw, 'report-2', '\x04',
    jsonb_set(jsonb_set(:'report', '{immediate_danger}', 'true'), '{situations}', '[6]'));
insert into out select 'neglect', * from hotline.intake_report(:gw, 'report-3', '\x05',
    jsonb_set(:'report', '{situations}', '[6]'));
insert into out select 'missing', * from hotline.intake_report(:gw, 'report-4', '\x06',
    jsonb_set(:'report', '{situations}', '[9,7]'));
insert into out select 'selfharm', * from hotline.intake_report(:gw, 'report-5', '\x07',
    (:'report'::jsonb - 'actions_taken') #- '{institution,region_code}' #- '{reporter,id_number}'
    || '{"situations":[5]}');
reset role;
select pg_temp.tap(status = 201 and not replayed
    and (select array_agg(k order by k) from jsonb_object_keys(response) k) = '{case_number,receipt_id,received_at,risk_level}'
    and response->>'case_number' ~ '^\d{4}-320104-\d{8}$'
    and response->>'receipt_id' ~ '^R[A-Z2-7]{20}$'
    and response->'risk_level' = '2',
    'a report is 201 {case_number (child''s region), receipt_id R+20 base32, risk_level, received_at}',
    response::text)
from out where k = 'report';
select pg_temp.tap((select string_agg(k || ':' || (response->>'risk_level'), ',' order by k) from out
    where k in ('report', 'danger', 'neglect', 'missing', 'selfharm'))
    = 'danger:1,missing:1,neglect:3,report:2,selfharm:2',
    'risk: 1 with immediate danger, else the lowest min_risk of the situations');
select pg_temp.tap(string_agg(o.k || '=' || (select string_agg(category || '/' || subcategory, '+'
	order by category, subcategory) from hotline.case_categories where case_id = c.id), ' ' order by o.k)
    = 'missing=abuse/other_serious+abuse/trafficking_missing report=abuse/neglect+abuse/sexual_abuse selfharm=psychological/self_harm',
    'categories are the distinct categories of the situations',
    string_agg(o.k || '=' || (select string_agg(category || '/' || subcategory, '+'
	order by category, subcategory) from hotline.case_categories where case_id = c.id), ' ' order by o.k))
from out o join hotline.cases c on c.case_number = o.response->>'case_number'
where o.k in ('report', 'missing', 'selfharm');
select pg_temp.tap(r.client_id = :gw and r.receipt_id = o.response->>'receipt_id'
    and r.reporter_name = pg_temp.sealed('测试教师乙') and r.reporter_phone = pg_temp.sealed('13800000002')
    and r.reporter_id_number = pg_temp.sealed('11010519491231002X') and r.reporter_profession = 'teacher'
    and r.institution_name = pg_temp.sealed('测试市第一小学') and r.institution_type = 'school'
    and r.institution_region = '320102' and r.situations = '{2,6}' and r.suspected
    and r.discovered_at = '2026-11-01T00:30:00Z' and r.reported_at = '2026-11-01T01:05:00.25Z'
    and not r.immediate_danger and r.actions_taken = pg_temp.sealed('（测试）已通知学校安保并陪同学生。')
    and c.source = 'report' and c.created_by = :gw and c.region_code = '320104'
    and (select kind from hotline.case_events where case_id = c.id and seq = 1) = 'created',
    'the report, its case and its first history event are stored')
from out o join hotline.cases c on c.case_number = o.response->>'case_number'
join hotline.reports r on r.case_id = c.id where o.k = 'report';
select pg_temp.tap(r.institution_region is null and r.reporter_id_number is null and r.actions_taken is null,
    'optional report fields absent are stored as null')
from out o join hotline.cases c on c.case_number = o.response->>'case_number'
join hotline.reports r on r.case_id = c.id where o.k = 'selfharm';
select pg_temp.tap(count(distinct response->>'receipt_id') = 5 and count(distinct response->>'case_number') = 5,
    'every report gets its own receipt id and case number')
from out where k in ('report', 'danger', 'neglect', 'missing', 'selfharm');
select pg_temp.tap((select max(right(response->>'case_number', 8)) from out where k = 'selfharm')
    > (select right(response->>'case_number', 8) from out where k = 'opened'),
    'case numbers come from one global sequence, whatever the region');

-- ------------------------------------------------------------ idempotent replay
drop table before;
create temporary table before as select pg_temp.counts() as c;
set role hotlined;
insert into out select 'report-again', * from hotline.intake_report(:gw, 'report-1', '\x03', :'report');
insert into out select 'opened-again', * from hotline.intake_call(:op, 'opened-1', '\x02', :'call_case');
insert into out select 'report-other', * from hotline.intake_report(:gw, 'report-1', '\x99', :'report');
insert into out select 'opened-other', * from hotline.intake_call(:op, 'opened-1', '\x02ff', :'call');
reset role;
select pg_temp.tap(a.status = b.status and a.response = b.response and b.replayed and not a.replayed,
    'the same key and hash replay the stored report response (replayed = true)')
from out a, out b where a.k = 'report' and b.k = 'report-again';
select pg_temp.tap(a.status = b.status and a.response = b.response and b.replayed,
    'the same key and hash replay the stored call response (same call_id and case number)')
from out a, out b where a.k = 'opened' and b.k = 'opened-again';
select pg_temp.tap(status = 422 and not replayed and response = '{"error":{"code":"idempotency_key_reused",
    "message":"this Idempotency-Key was used for a different request"}}',
    'the same key with another body is 422 idempotency_key_reused (no field)', response::text)
from out where k = 'report-other';
select pg_temp.tap(status = 422 and response->'error'->>'code' = 'idempotency_key_reused',
    'the same for a call', response::text) from out where k = 'opened-other';
select pg_temp.tap(pg_temp.counts() = c, 'replays and reused keys store nothing', pg_temp.counts() || ' vs ' || c)
from before;
insert into hotline.idempotency (client_id, key, endpoint, request_hash, status, response)
values (:op, 'other-endpoint', 'reports', '\x01', 201, '{}');
set role hotlined;
insert into out select 'endpoint', * from hotline.intake_call(:op, 'other-endpoint', '\x01', :'call');
reset role;
select pg_temp.tap(status = 422 and response->'error'->>'code' = 'idempotency_key_reused',
    'a key stored for another endpoint is 422 even with the same hash', response::text)
from out where k = 'endpoint';
set role hotlined;
insert into out select 'other-client', * from hotline.intake_report(:gw2, 'report-1', '\x03', :'report');
reset role;
select pg_temp.tap(status = 201 and not replayed and response->>'case_number'
    <> (select response->>'case_number' from out where k = 'report'),
    'keys of different clients never collide', response::text) from out where k = 'other-client';

-- ------------------------------------------------------------ unknown regions and categories
drop table before;
create temporary table before as select pg_temp.counts() as c;
set role hotlined;
insert into out select 'r-child', * from hotline.intake_report(:gw, 'bad-1', '\x10',
    jsonb_set(:'report', '{child,region_code}', '"999999"'));
insert into out select 'r-inst', * from hotline.intake_report(:gw, 'bad-2', '\x11',
    jsonb_set(:'report', '{institution,region_code}', '"320199"'));
insert into out select 'r-both', * from hotline.intake_report(:gw, 'bad-3', '\x12',
    jsonb_set(jsonb_set(:'report', '{institution,region_code}', '"320199"'), '{child,region_code}', '"999999"'));
insert into out select 'c-child', * from hotline.intake_call(:op, 'bad-4', '\x13',
    jsonb_set(:'call_case', '{open_case,child,region_code}', '"320105"'));
insert into out select 'c-topic', * from hotline.intake_call(:op, 'bad-5', '\x14',
    jsonb_set(:'call', '{topic}', '{"category":"weather"}'));
insert into out select 'c-topic-sub', * from hotline.intake_call(:op, 'bad-6', '\x15',
    jsonb_set(:'call', '{topic}', '{"category":"bullying","subcategory":"self_harm"}'));
insert into out select 'c-cat-sub', * from hotline.intake_call(:op, 'bad-7', '\x16',
    jsonb_set(:'call_case', '{open_case,categories,1,subcategory}', '"physical"'));
insert into out select 'c-cat', * from hotline.intake_call(:op, 'bad-8', '\x17',
    jsonb_set(jsonb_set(:'call_case', '{open_case,categories,0,category}', '"nosuch"'),
    '{open_case,child,region_code}', '"999999"'));
reset role;
select pg_temp.tap(string_agg(k || '=' || status || ':' || (response->'error'->>'code') || ':'
	|| (response->'error'->>'field'), ' ' order by k)
    = 'c-cat=422:unknown_category:open_case.categories[0].category'
    || ' c-cat-sub=422:unknown_category:open_case.categories[1].subcategory'
    || ' c-child=422:unknown_region:open_case.child.region_code'
    || ' c-topic=422:unknown_category:topic.category'
    || ' c-topic-sub=422:unknown_category:topic.subcategory'
    || ' r-both=422:unknown_region:institution.region_code'
    || ' r-child=422:unknown_region:child.region_code'
    || ' r-inst=422:unknown_region:institution.region_code',
    'unknown regions and categories are 422 with the exact field (first in document order)',
    string_agg(k || '=' || status || ':' || (response->'error'->>'code') || ':'
	|| (response->'error'->>'field'), ' ' order by k))
from out where k in ('r-child', 'r-inst', 'r-both', 'c-child', 'c-topic', 'c-topic-sub', 'c-cat-sub', 'c-cat');
select pg_temp.tap(bool_and((select array_agg(x order by x) from jsonb_object_keys(response->'error') x)
    = '{code,field,message}' and response->'error'->>'message' <> '' and not replayed
    and (select array_agg(x) from jsonb_object_keys(response) x) = '{error}'),
    'error bodies are {"error": {code, field, message}}')
from out where k in ('r-child', 'r-inst', 'r-both', 'c-child', 'c-topic', 'c-topic-sub', 'c-cat-sub', 'c-cat');
select pg_temp.tap(pg_temp.counts() = c,
    'a refused submission stores nothing and draws no case number', pg_temp.counts() || ' vs ' || c)
from before;
set role hotlined;
insert into out select 'fixed', * from hotline.intake_report(:gw, 'bad-1', '\x1f', :'report');
reset role;
select pg_temp.tap(status = 201 and not replayed,
    'an error consumes no key: the corrected request under the same key is 201', response::text)
from out where k = 'fixed';

-- ------------------------------------------------------------ roles
drop table before;
create temporary table before as select pg_temp.counts() as c;
set role hotlined;
insert into out select 'gw-call', * from hotline.intake_call(:gw, 'role-1', '\x20', :'call');
insert into out select 'op-report', * from hotline.intake_report(:op, 'role-2', '\x21', :'report');
insert into out select 'admin-report', * from hotline.intake_report(:adm, 'role-3', '\x22', :'report');
insert into out select 'agency-call', * from hotline.intake_call(:police, 'role-4', '\x23', :'call');
insert into out select 'revoked', * from hotline.intake_report(:gone, 'role-5', '\x24', :'report');
insert into out select 'unknown', * from hotline.intake_report(-1, 'role-6', '\x25', :'report');
insert into out select 'unknown-call', * from hotline.intake_call(0, 'role-7', '\x26', :'call');
reset role;
select pg_temp.tap(string_agg(k || '=' || status || ':' || (response->'error'->>'code')
	|| coalesce(':' || (response->'error'->>'field'), ''), ' ' order by k)
    = 'admin-report=403:forbidden agency-call=403:forbidden gw-call=403:forbidden'
    || ' op-report=403:forbidden revoked=403:client_revoked unknown=403:client_unknown'
    || ' unknown-call=403:client_unknown',
    'wrong role, revoked and unknown clients are 403 (forbidden, client_revoked, client_unknown)',
    string_agg(k || '=' || status || ':' || (response->'error'->>'code'), ' ' order by k))
from out where k in ('gw-call', 'op-report', 'admin-report', 'agency-call', 'revoked', 'unknown', 'unknown-call');
select pg_temp.tap(pg_temp.counts() = c, 'refused clients store nothing', pg_temp.counts() || ' vs ' || c)
from before;
-- A client revoked after filing gets 403 on a retry, not the stored response.
set role hotlined;
insert into out select 'gw3-first', * from hotline.intake_report(:gw3, 'gw3-1', '\x30', :'report');
reset role;
select hotline.client_revoke('t-gw3') \g /dev/null
set role hotlined;
insert into out select 'gw3-retry', * from hotline.intake_report(:gw3, 'gw3-1', '\x30', :'report');
reset role;
select pg_temp.tap(a.status = 201 and b.status = 403 and b.response->'error'->>'code' = 'client_revoked',
    'a revoked client''s retry is 403, not a replay', b.response::text)
from out a, out b where a.k = 'gw3-first' and b.k = 'gw3-retry';

-- ------------------------------------------------------------ batches
-- The daemon writes several submissions in one transaction: an expected error
-- must not abort the others, and a key repeated within the batch replays.
drop table before;
create temporary table before as select pg_temp.counts() as c;
begin;
set local role hotlined;
insert into out select 'b1', * from hotline.intake_report(:gw, 'batch-1', '\x40', :'report');
insert into out select 'b2', * from hotline.intake_report(:gw, 'batch-2', '\x41',
    jsonb_set(:'report', '{child,region_code}', '"999999"'));
insert into out select 'b3', * from hotline.intake_call(:gw, 'batch-3', '\x42', :'call');
insert into out select 'b4', * from hotline.intake_call(:op, 'batch-4', '\x43', :'call_case');
insert into out select 'b5', * from hotline.intake_report(:gw, 'batch-1', '\x40', :'report');
insert into out select 'b6', * from hotline.intake_report(:gw, 'batch-1', '\x44', :'report');
commit;
select pg_temp.tap(string_agg(k || '=' || status || ':' || replayed, ' ' order by k)
    = 'b1=201:false b2=422:false b3=403:false b4=201:false b5=201:true b6=422:false',
    'errors inside one transaction do not abort the others; a key repeated in it replays',
    string_agg(k || '=' || status || ':' || replayed, ' ' order by k))
from out where k like 'b_';
select pg_temp.tap((select response from out where k = 'b1') = (select response from out where k = 'b5')
    and (select count(*) from hotline.reports r join hotline.cases c on c.id = r.case_id
	where c.case_number in (select response->>'case_number' from out where k in ('b1', 'b5'))) = 1,
    'the batch stored the report once');

-- ------------------------------------------------------------ one report among refusals
-- A report (child in 320104, no institution region), its replay and its key
-- reused, the same key for a call, and refusals around it: of all of them
-- only the report makes a case.
select count(*) as cases_before from hotline.cases \gset
select (:'report'::jsonb #- '{institution,region_code}')::text as plain_report \gset
set role hotlined;
insert into out select 'm-report', * from hotline.intake_report(:gw, 'mixed-1', '\x01', :'plain_report');
insert into out select 'm-again', * from hotline.intake_report(:gw, 'mixed-1', '\x01', :'plain_report');
insert into out select 'm-other', * from hotline.intake_report(:gw, 'mixed-1', '\x02', :'plain_report');
insert into out select 'm-call', * from hotline.intake_call(:op, 'mixed-1', '\x01', :'call');
insert into out select 'm-role', * from hotline.intake_call(:gw, 'mixed-2', '\x01', :'call');
insert into out select 'm-gone', * from hotline.intake_report(:gone, 'mixed-3', '\x01', :'plain_report');
insert into out select 'm-nobody', * from hotline.intake_report(-1, 'mixed-3', '\x01', :'plain_report');
insert into out select 'm-region', * from hotline.intake_report(:gw, 'mixed-4', '\x01',
    jsonb_set(:'plain_report', '{child,region_code}', '"999999"'));
reset role;
select pg_temp.tap(status = 201 and response->>'case_number' ~ '^\d{4}-320104-\d{8}$'
    and response->>'receipt_id' ~ '^R[A-Z2-7]{20}$' and (response->>'risk_level')::int = 2
    and not replayed,
    'a report is stored with case number, receipt and risk', response::text)
from out where k = 'm-report';
select pg_temp.tap((select count(*) from hotline.case_categories c join hotline.cases k on k.id = c.case_id
    where k.case_number = (select response->>'case_number' from out where k = 'm-report')) = 2,
    'situations 2 and 6 give two categories');
select pg_temp.tap(a.response = b.response and b.replayed and b.status = 201,
    'the same key and hash replay the stored response', b.response::text)
from out a, out b where a.k = 'm-report' and b.k = 'm-again';
select pg_temp.tap(status = 422 and response->'error'->>'code' = 'idempotency_key_reused',
    'the same key with another hash is 422', response::text) from out where k = 'm-other';
select pg_temp.tap(status = 201, 'keys are per client and per endpoint owner', response::text)
from out where k = 'm-call';
select pg_temp.tap(status = 403 and response->'error'->>'code' = 'forbidden',
    'a gateway may not log calls', response::text) from out where k = 'm-role';
select pg_temp.tap(status = 403 and response->'error'->>'code' = 'client_revoked',
    'a revoked client is refused in the database too', response::text) from out where k = 'm-gone';
select pg_temp.tap(status = 403 and response->'error'->>'code' = 'client_unknown',
    'an unknown client id is refused', response::text) from out where k = 'm-nobody';
select pg_temp.tap(status = 422 and response->'error'->>'field' = 'child.region_code'
    and (select count(*) from hotline.idempotency where key = 'mixed-4') = 0,
    'an unknown region is 422 and consumes no key', response::text) from out where k = 'm-region';
select pg_temp.tap(count(*) = :cases_before + 1, 'only the accepted report created a case',
    count(*) || ' cases, ' || :cases_before || ' before')
from hotline.cases;

-- ------------------------------------------------------------ one statement for a batch
-- The daemon sends a batch of reports as one call of intake_reports: each
-- submission is answered by its own row (n), refusals and replays among
-- them, and the accepted ones are written with their routing, clocks and
-- hash-chained history as a report filed alone is.
create temporary table bat as select * from hotline.intake_reports(
    array[:gw, :gw, :gw, :gone, :gw]::bigint[],
    array['set-1', 'set-2', 'mixed-1', 'set-4', 'set-5'],
    array['\x51', '\x52', '\x01', '\x54', '\x55']::bytea[],
    jsonb_build_array(:'plain_report'::jsonb,
	jsonb_set(:'plain_report', '{child,region_code}', '"999999"'),
	:'plain_report'::jsonb, :'plain_report'::jsonb, :'report'::jsonb))
    with ordinality as b (n, status, code, response, replayed, place);
select pg_temp.tap(string_agg(n || ':' || status || ':' || coalesce(code, '-') || ':' || replayed, ' '
	order by n) = '1:201:-:false 2:422:unknown_region:false 3:201:-:true 4:403:client_revoked:false 5:201:-:false',
    'intake_reports answers each submission of a batch by its own row: accepted, refused and replayed alike',
    string_agg(n || ':' || status || ':' || coalesce(code, '-') || ':' || replayed, ' ' order by n))
from bat;
select pg_temp.tap(b.response = o.response, 'a replay within a batch is the stored response', b.response::text)
from bat b, out o where b.n = 3 and o.k = 'm-report';
select pg_temp.tap(count(*) = 2 and count(distinct c.case_number) = 2
    and bool_and(c.case_number = b.response->>'case_number' and r.receipt_id = b.response->>'receipt_id'
	and c.risk_level = (b.response->>'risk_level')::int and i.response = b.response
	and i.request_hash = case b.n when 1 then '\x51'::bytea else '\x55' end),
    'the accepted reports of a batch are stored with their numbers, receipts and idempotency records')
from bat b join hotline.cases c on c.case_number = b.response->>'case_number'
join hotline.reports r on r.case_id = c.id
join hotline.idempotency i on i.client_id = :gw and i.key = 'set-' || b.n
where b.status = 201 and not b.replayed;
-- Each is as a report filed alone: its categories, its assignments in
-- routing order with one history event each, the primaries' clocks.
create temporary table alone as select * from hotline.intake_report(:gw, 'set-alone', '\x56', :'report');
create function pg_temp.shape(p_number text) returns text language sql as $$
	select concat_ws(' | ',
	    (select string_agg(k.category || '/' || k.subcategory, ',' order by k.category, k.subcategory)
		from hotline.case_categories k where k.case_id = c.id),
	    (select string_agg(e.seq || ':' || e.kind || ':' || coalesce(g.code, '') || ':'
		|| coalesce(e.data->>'role', ''), ',' order by e.seq)
		from hotline.case_events e left join hotline.assignments a
		    on a.assignment_id = (e.data->>'assignment')::uuid
		left join hotline.agencies g on g.id = a.agency_id where e.case_id = c.id),
	    (select string_agg(g.code || ':' || k.kind || ':' || (k.due_at - k.started_at)::text,
		',' order by k.id)
		from hotline.clocks k join hotline.assignments a on a.id = k.assignment_id
		join hotline.agencies g on g.id = a.agency_id where k.case_id = c.id),
	    (select string_agg(g.code, ',' order by g.code) from hotline.case_access x
		join hotline.agencies g on g.id = x.agency_id where x.case_id = c.id))
	from hotline.cases c where c.case_number = p_number
$$;
select pg_temp.tap(pg_temp.shape(b.response->>'case_number') = pg_temp.shape(a.response->>'case_number')
    and pg_temp.shape(b.response->>'case_number') like '%:acknowledge:01:00:00%',
    'a report written in a batch has the categories, assignments, history and clocks of one filed alone',
    pg_temp.shape(b.response->>'case_number') || ' // ' || pg_temp.shape(a.response->>'case_number'))
from bat b, alone a where b.n = 5;
select pg_temp.tap(count(*) = 3 and bool_and(a.first_bad is null and a.events = c.history_len
	and a.events = (select count(*) from hotline.case_events e where e.case_id = c.id)
	and a.events >= 3),
    'the history written by a batch verifies (audit_verify: chain, length and last hash)',
    string_agg(a.case_number || '=' || coalesce(a.first_bad::text, 'ok'), ' '))
from hotline.cases c cross join lateral hotline.audit_verify(c.case_number) a
where c.case_number in (select response->>'case_number' from bat where n in (1, 5)
    union select response->>'case_number' from alone);
-- The procuratorates over a case's region see it: the region's own, its
-- city's and its province's, looked up by key.
insert into hotline.agencies (code, kind, region_code, name)
    values ('procuratorate-320000', 'procuratorate', '320000', '测试省检察院'),
	('procuratorate-340102', 'procuratorate', '340102', '测试区检察院');
set role hotlined;
insert into out select 'proc-' || b.n, b.status, b.code, b.response, b.replayed
from hotline.intake_reports(array[:gw, :gw]::bigint[], array['set-p1', 'set-p2'],
    array['\x61', '\x62']::bytea[], jsonb_build_array(:'plain_report'::jsonb,
	jsonb_set(:'plain_report', '{child,region_code}', '"340102"'))) b;
reset role;
select pg_temp.tap(string_agg(o.k || '=' || (select string_agg(g.code, ',' order by g.code)
	from hotline.case_access x join hotline.agencies g on g.id = x.agency_id
	where x.case_id = c.id and g.kind = 'procuratorate'), ' ' order by o.k)
	= 'proc-1=procuratorate-320000,procuratorate-320100,procuratorate-320104 proc-2=procuratorate-340102'
    and bool_and((select count(*) from hotline.agencies g where g.kind = 'procuratorate'
	and c.region_code like hotline.region_prefix(g.region_code) || '%') = (select count(*)
	from hotline.case_access x join hotline.agencies g on g.id = x.agency_id
	where x.case_id = c.id and g.kind = 'procuratorate')),
    'a new case is seen by the procuratorates of its region, its city and its province, and no other',
    string_agg(o.k || '=' || (select string_agg(g.code, ',' order by g.code)
	from hotline.case_access x join hotline.agencies g on g.id = x.agency_id
	where x.case_id = c.id and g.kind = 'procuratorate'), ' ' order by o.k))
from out o join hotline.cases c on c.case_number = o.response->>'case_number' where o.k like 'proc-%';

-- ------------------------------------------------------------ the code column
select pg_temp.codes_agree();
