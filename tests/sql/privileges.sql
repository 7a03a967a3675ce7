-- The daemon's role and the ownership of the schema; the history's
-- append-only hash chain; client_list, idempotency_expire and the admin
-- functions; a few constraints.
\ir fixtures.psql

-- ------------------------------------------------------------ the daemon's role
-- Every table (whatever migration made it), every operation: refused.
create temporary table denied (what text, refused boolean);
grant all on denied to hotlined;
do $$
declare
	t text;
	c1 text;
	op text;
begin
	set local role hotlined;
	for t, c1 in select c.relname, (select a.attname from pg_attribute a where a.attrelid = c.oid
		and a.attnum > 0 and not a.attisdropped and a.attidentity = '' and a.attgenerated = ''
		order by a.attnum limit 1)
	    from pg_class c join pg_namespace n on n.oid = c.relnamespace
	    where n.nspname = 'hotline' and c.relkind in ('r', 'p', 'v', 'm') order by 1 loop
		foreach op in array array['select * from hotline.%I limit 1',
		    'insert into hotline.%I default values', 'update hotline.%I set %I = %I',
		    'delete from hotline.%I', 'truncate hotline.%I'] loop
			-- (update sets the first column to itself)
			op := format(op, t, c1, c1);
			begin
				execute op;
				insert into denied values (op, false);
			exception when insufficient_privilege then
				insert into denied values (op, true);
			when others then
				insert into denied values (op || ' (' || sqlstate || ')', false);
			end;
		end loop;
	end loop;
	foreach op in array array['select nextval(''hotline.case_number_seq'')',
	    'select setval(''hotline.case_number_seq'', 1)', 'select last_value from hotline.case_number_seq',
	    'select hotline.client_upsert(''x'', ''admin'', null, repeat(''0'', 64))',
	    'select hotline.client_revoke(''t-op'')',
	    'select hotline.case_create(''call'', ''320102'', 1::smallint, 1, ''x'', ''{}'', ''[]'', ''{}'')',
	    'select hotline.audit_verify()', 'select hotline.case_purge(''x'')',
	    'select hotline.retention_plan()', 'select hotline.retention_purge()',
	    'select hotline.data_key_counts()', 'select hotline.data_key_pending(''k'', 1)',
	    'select hotline.data_key_rewrap(''case:1'', ''a'', ''b'', ''\x01'')',
	    'select hotline.access_log_list(''x'')', 'select hotline.case_purge_id(1, ''x'')',
	    'select hotline.rls_case(1)', 'select hotline.identifiers_record(1, null, ''{}'')',
	    'select hotline.mutation_store(1, ''k'', ''calls'', ''\x01'', 201, ''{}'')',
	    'select hotline.mutation_begin(1, ''{operator}'', ''k'', ''calls'', null, ''\x01'')',
	    'select hotline.api_client(1, ''{operator}'')',
	    'select hotline.receipt_new()', 'select hotline.case_history_verify(''x'')',
	    'create table hotline.mine (x int)', 'create function hotline.mine() returns int language sql as ''select 1''',
	    'create table public.mine (x int)'] loop
		begin
			execute op;
			insert into denied values (op, false);
		exception when insufficient_privilege then
			insert into denied values (op, true);
		when others then
			insert into denied values (op || ' (' || sqlstate || ')', false);
		end;
	end loop;
end $$;
select pg_temp.tap(bool_and(refused) and count(*) > 50,
    format('hotlined is refused every direct table access, the sequence, internal and admin functions, and CREATE (%s of %s)',
	count(*) filter (where refused), count(*)),
    string_agg(what, '; ') filter (where not refused))
from denied;

-- The core of it: the tables every submission touches, each refused select,
-- insert, delete and truncate.
select pg_temp.tap(count(*) = 40 and bool_and(refused),
    format('the daemon role is refused every direct table access (%s of %s)',
	count(*) filter (where refused), count(*)),
    string_agg(what, '; ') filter (where not refused))
from denied
where what ~ '^(select \* from|insert into|delete from|truncate) hotline\.(clients|cases|children|calls|reports|case_events|idempotency|agencies|regions|situations)( |$)';
select pg_temp.tap((select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = 'hotline' and pg_get_userbyid(c.relowner) = 'hotlined') = 0,
    'the daemon role owns no object');
select pg_temp.tap(not has_table_privilege('hotlined', 'hotline.cases', 'select')
    and not has_table_privilege('hotlined', 'hotline.idempotency', 'insert')
    and not has_function_privilege('hotlined', 'hotline.client_upsert(text,text,text,text,boolean)', 'execute')
    and not has_function_privilege('hotlined', 'hotline.case_create(text,text,smallint,bigint,text,jsonb,jsonb,jsonb)', 'execute')
    and has_function_privilege('hotlined', 'hotline.intake_report(bigint,text,bytea,jsonb)', 'execute'),
    'the daemon role may only execute the API functions');
select pg_temp.tap((select setting from pg_settings where name = 'synchronous_commit') = 'on'
    and exists (select 1 from pg_db_role_setting s join pg_roles r on r.oid = s.setrole
	where r.rolname = 'hotlined' and 'synchronous_commit=on' = any (s.setconfig)),
    'the daemon role commits synchronously');

select pg_temp.tap(bool_and(has_function_privilege('hotlined', f, 'execute')),
    'hotlined may execute intake_call, intake_report, case_view, case_key, the access-request functions, client_list, idempotency_expire')
from unnest(array['hotline.intake_call(bigint,text,bytea,jsonb)', 'hotline.intake_report(bigint,text,bytea,jsonb)',
    'hotline.case_view(bigint,text)', 'hotline.case_key(bigint,text,text)',
    'hotline.access_request_create(bigint,text,bytea,text,jsonb)',
    'hotline.access_request_decide(bigint,text,bytea,text,text)',
    'hotline.access_request_list(bigint,text)', 'hotline.access_log_view(bigint,text)',
    'hotline.client_list()', 'hotline.idempotency_expire(interval)']) f;
select pg_temp.tap(count(*) = 0,
    'every function hotlined may execute is SECURITY DEFINER, owned by hotline_owner, with search_path = hotline, pg_temp',
    string_agg(p.oid::regprocedure::text, ', '))
from pg_proc p join pg_namespace n on n.oid = p.pronamespace
where n.nspname = 'hotline' and has_function_privilege('hotlined', p.oid, 'execute')
    and not (p.prosecdef and pg_get_userbyid(p.proowner) = 'hotline_owner'
	and p.proconfig @> array['search_path=hotline, pg_temp']);
select pg_temp.tap(count(*) = 0, 'no function of the schema is executable by PUBLIC',
    string_agg(p.oid::regprocedure::text, ', '))
from pg_proc p join pg_namespace n on n.oid = p.pronamespace
where n.nspname = 'hotline' and (p.proacl is null
    or exists (select 1 from aclexplode(p.proacl) a where a.grantee = 0 and a.privilege_type = 'EXECUTE'));
select pg_temp.tap(count(*) = 0, 'the admin functions are not granted to hotlined',
    string_agg(f, ', '))
from unnest(array['hotline.client_upsert(text,text,text,text,boolean)', 'hotline.client_revoke(text)',
    'hotline.client_add_seat(text,text,text)', 'hotline.client_upsert_seat(text,text,text)',
    'hotline.client_directory()',
    'hotline.case_history_verify(text)', 'hotline.audit_verify(text)', 'hotline.case_purge(text)',
    'hotline.retention_plan()', 'hotline.retention_purge()', 'hotline.data_key_counts()',
    'hotline.data_key_pending(text,integer)', 'hotline.data_key_rewrap(text,text,text,bytea)',
    'hotline.access_log_list(text)']) f
where has_function_privilege('hotlined', f, 'execute');
select pg_temp.tap(has_schema_privilege('hotlined', 'hotline', 'usage')
    and not has_schema_privilege('hotlined', 'hotline', 'create')
    and not exists (select 1 from information_schema.role_table_grants
	where grantee = 'hotlined' and table_schema = 'hotline')
    and not exists (select 1 from information_schema.role_column_grants
	where grantee = 'hotlined' and table_schema = 'hotline')
    and not exists (select 1 from information_schema.usage_privileges
	where grantee = 'hotlined' and object_schema = 'hotline'),
    'hotlined has USAGE on schema hotline and no grant on any table, column or sequence');
select pg_temp.tap(not r.rolsuper and not r.rolcreaterole and not r.rolcreatedb and not r.rolbypassrls
    and r.rolcanlogin and not exists (select 1 from pg_auth_members m where m.member = r.oid),
    'hotlined logs in, has no special attribute and belongs to no role')
from pg_roles r where r.rolname = 'hotlined';
select pg_temp.tap(not r.rolcanlogin and not r.rolsuper and not r.rolbypassrls,
    'hotline_owner cannot log in and bypasses nothing')
from pg_roles r where r.rolname = 'hotline_owner';
select pg_temp.tap(s.setconfig @> array['synchronous_commit=on', 'statement_timeout=10s',
    'default_transaction_isolation=read committed'],
    'hotlined commits synchronously, under a statement timeout, in READ COMMITTED', s.setconfig::text)
from pg_db_role_setting s join pg_roles r on r.oid = s.setrole
where r.rolname = 'hotlined' and s.setdatabase = 0;

-- ------------------------------------------------------------ ownership
select pg_temp.tap((select pg_get_userbyid(nspowner) from pg_namespace where nspname = 'hotline') = 'hotline_owner'
    and not exists (select 1 from pg_class c join pg_namespace n on n.oid = c.relnamespace
	where n.nspname = 'hotline' and pg_get_userbyid(c.relowner) <> 'hotline_owner')
    and not exists (select 1 from pg_proc p join pg_namespace n on n.oid = p.pronamespace
	where n.nspname = 'hotline' and pg_get_userbyid(p.proowner) <> 'hotline_owner')
    and not exists (select 1 from pg_type t join pg_namespace n on n.oid = t.typnamespace
	where n.nspname = 'hotline' and pg_get_userbyid(t.typowner) <> 'hotline_owner'),
    'hotline_owner owns the schema and every table, sequence, index, function and type in it');
select pg_temp.tap(not exists (select 1 from pg_class where pg_get_userbyid(relowner) = 'hotlined')
    and not exists (select 1 from pg_proc where pg_get_userbyid(proowner) = 'hotlined')
    and not exists (select 1 from pg_namespace where pg_get_userbyid(nspowner) = 'hotlined')
    and not exists (select 1 from pg_type where pg_get_userbyid(typowner) = 'hotlined'),
    'hotlined owns nothing');
select pg_temp.tap(count(*) = 0, 'every table of the schema has a comment', string_agg(c.relname, ', '))
from pg_class c join pg_namespace n on n.oid = c.relnamespace
where n.nspname = 'hotline' and c.relkind = 'r' and obj_description(c.oid, 'pg_class') is null;
select pg_temp.tap(count(*) = 0, 'every function of the schema has a comment',
    string_agg(p.oid::regprocedure::text, ', '))
from pg_proc p join pg_namespace n on n.oid = p.pronamespace
where n.nspname = 'hotline' and obj_description(p.oid, 'pg_proc') is null;
select pg_temp.tap(string_agg(c.relname || '.' || a.attname, ',' order by c.relname, a.attname)
    = 'calls.caller_phone,calls.summary,case_notes.text,cases.narrative,child_corrections.address,'
      'child_corrections.birth_date,child_corrections.id_number,child_corrections.name,'
      'child_corrections.phone,child_corrections.school,children.address,children.birth_date,'
      'children.id_number,children.name,children.phone,children.school,reports.actions_taken,'
      'reports.institution_name,reports.reporter_id_number,reports.reporter_name,reports.reporter_phone'
    and bool_and(a.atttypid = 'hotline.sealed'::regtype),
    'the personal-data columns are marked as such, and every one is of domain sealed (never plain text)',
    string_agg(c.relname || '.' || a.attname || ':' || a.atttypid::regtype, ',' order by c.relname, a.attname))
from pg_attribute a join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace
where n.nspname = 'hotline' and col_description(c.oid, a.attnum) like 'personal data:%';
select pg_temp.tap(count(*) = 0, 'no text column of a table with case data can hold personal data: every other text column is a code',
    string_agg(c.relname || '.' || a.attname, ', '))
from pg_attribute a join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace
where n.nspname = 'hotline' and c.relkind = 'r' and a.attnum > 0 and not a.attisdropped
    and a.atttypid = 'text'::regtype
    and c.relname in ('cases', 'children', 'calls', 'reports', 'case_notes', 'child_corrections')
    and a.attname not in ('case_number', 'source', 'region_code', 'status', 'gender', 'caller_type',
	'language', 'topic_category', 'topic_subcategory', 'disposition', 'dek_kid', 'receipt_id',
	'reporter_profession', 'institution_type', 'institution_region', 'centre');
select pg_temp.tap(count(*) = 15 and bool_and(c.relrowsecurity and c.relforcerowsecurity),
    'row-level security is enabled and forced on every table with case data',
    string_agg(c.relname || ':' || c.relrowsecurity || '/' || c.relforcerowsecurity, ', '))
from pg_class c join pg_namespace n on n.oid = c.relnamespace
where n.nspname = 'hotline' and c.relname in ('cases', 'children', 'case_categories', 'reports',
    'case_events', 'case_notes', 'assignments', 'identifiers', 'access_requests', 'access_log',
    'calls', 'clocks', 'supervision_records', 'child_corrections', 'case_links');

-- ------------------------------------------------------------ client_list, expiry
set role hotlined;
create temporary table clist as select * from hotline.client_list();
reset role;
select pg_temp.tap(count(*) = (select count(*) from hotline.clients)
    and bool_and(cert_sha256 ~ '^[0-9a-f]{64}$')
    and bool_and(revoked = (name = 't-gone'))
    and bool_and((role = 'agency') = (agency_id is not null))
    and (select role from clist where name = 't-police') = 'agency'
    and (select agency_id from clist where name = 't-police') = (select id from hotline.agencies where code = 'police-320102'),
    'client_list gives every client with role, agency, fingerprint and revoked flag')
from clist;

set role hotlined;
insert into out select 'a', * from hotline.intake_call(:op, 'old-1', '\x01', :'call');
insert into out select 'b', * from hotline.intake_call(:op, 'old-2', '\x02', :'call');
insert into out select 'c', * from hotline.intake_call(:op, 'new-1', '\x03', :'call');
reset role;
update hotline.idempotency set created_at = now() - interval '8 days' where key = 'old-1';
update hotline.idempotency set created_at = now() - interval '2 days' where key = 'old-2';
set role hotlined;
create temporary table expired as select hotline.idempotency_expire('1 day') as short,
    hotline.idempotency_expire('7 days') as week;
reset role;
select pg_temp.tap(short = 1 and week = 0
    and (select string_agg(key, ',' order by key) from hotline.idempotency) = 'new-1,old-2',
    'idempotency_expire deletes older keys, never any younger than 7 days', short || ',' || week)
from expired;
set role hotlined;
insert into out select 'a2', * from hotline.intake_call(:op, 'old-1', '\x09', :'call');
reset role;
select pg_temp.tap(status = 201 and not replayed, 'an expired key may be used again') from out where k = 'a2';

-- ------------------------------------------------------------ the history
set role hotlined;
insert into out select 'case', * from hotline.intake_call(:op, 'hist-1', '\x10', :'call_case');
reset role;
select response->>'case_number' as hcase from out where k = 'case' \gset
select pg_temp.tap(hotline.case_history_verify(:'hcase') is null
    and (select count(*) from hotline.case_events e join hotline.cases c on c.id = e.case_id
	where c.case_number = :'hcase') > 1,
    'a new case''s history chain verifies (created and the routing events)');
create temporary table tamper (what text, refused boolean);
do $$
declare
	op text;
begin
	foreach op in array array['update hotline.case_events set kind = kind',
	    'delete from hotline.case_events', 'truncate hotline.case_events cascade'] loop
		begin
			execute op;
			insert into tamper values (op, false);
		exception when insufficient_privilege then
			insert into tamper values (op, true);
		end;
	end loop;
end $$;
select pg_temp.tap(bool_and(refused), 'the history is append-only, even for its owner and superusers',
    string_agg(what, '; ') filter (where not refused)) from tamper;
begin;
alter table hotline.case_events disable trigger case_events_no_update;
update hotline.case_events set data = data || '{"x": 1}'
where seq = 2 and case_id = (select id from hotline.cases where case_number = :'hcase');
select pg_temp.tap(hotline.case_history_verify(:'hcase') = 2,
    'an event changed behind the triggers'' back breaks the chain at that event');
rollback;
-- An event appended by hand (an admin, any search_path) is chained too.
set search_path = public;
insert into hotline.case_events (case_id, seq, kind, data)
select id, (select max(seq) + 1 from hotline.case_events where case_id = c.id), 'note', '{"by": "admin"}'
from hotline.cases c where case_number = :'hcase';
reset search_path;
select pg_temp.tap(hotline.case_history_verify(:'hcase') is null,
    'an event appended directly, with another search_path, is chained as well');
create temporary table gap (refused boolean);
do $$
begin
	insert into hotline.case_events (case_id, seq, kind) select id, 99, 'note' from hotline.cases limit 1;
	raise exception 'accepted';
exception
	when integrity_constraint_violation then
		insert into gap values (true);
	when raise_exception then
		insert into gap values (false);
end $$;
select pg_temp.tap(coalesce(bool_and(refused), false), 'an event that leaves a gap in the numbering is refused')
from gap;
select pg_temp.tap(e.hash = hotline.case_event_hash(p.hash, e.case_id, e.seq, e.at, e.kind, e.actor, e.data),
    'each event''s hash covers the previous event''s hash')
from hotline.case_events e join hotline.case_events p on p.case_id = e.case_id and p.seq = 1
where e.seq = 2 and e.case_id = (select id from hotline.cases where case_number = :'hcase');

-- ------------------------------------------------------------ admin functions and constraints
select hotline.client_upsert('t-colons', 'gateway', null,
    upper(regexp_replace(repeat('ab', 32), '(..)(?!$)', '\1:', 'g'))) as colons \gset
select pg_temp.tap(:colons = (select id from hotline.clients where cert_sha256 = repeat('ab', 32)),
    'client_upsert takes a fingerprint as openssl prints it (colons, upper case)');
select hotline.client_revoke('t-colons') \g /dev/null
select revoked_at is not null as was_revoked from hotline.clients where name = 't-colons' \gset
select hotline.client_upsert('t-colons', 'gateway', null, repeat('ab', 32)) \g /dev/null
select pg_temp.tap(:'was_revoked'::boolean and revoked_at is null, 'registering a revoked client again re-instates it')
from hotline.clients where name = 't-colons';
create temporary table refused (what text, state text);
do $$
declare
	op text;
begin
	foreach op in array array[
	    'select hotline.client_upsert(''t-x'', ''agency'', ''police-999999'', repeat(''1'', 64))',
	    'select hotline.client_upsert(''t-x'', ''agency'', null, repeat(''1'', 64))',
	    'select hotline.client_upsert(''t-x'', ''operator'', ''police-320102'', repeat(''1'', 64))',
	    'select hotline.client_upsert(''t-x'', ''root'', null, repeat(''1'', 64))',
	    'select hotline.client_upsert(''t-x'', ''operator'', null, repeat(''g'', 64))',
	    'select hotline.client_upsert(''t-x'', ''operator'', null, repeat(''a'', 64))',
	    'select hotline.client_revoke(''nobody'')',
	    'insert into hotline.regions values (''012345'', ''x'', null)',
	    'insert into hotline.calls (client_id, started_at, ended_at, caller_type, disposition) values (1, now(), now() - interval ''1 second'', ''unknown'', ''silent'')',
	    'insert into hotline.calls (client_id, started_at, ended_at, caller_type, disposition) values (1, now(), now(), ''unknown'', ''case_opened'')',
	    'insert into hotline.calls (client_id, started_at, ended_at, caller_type, disposition, topic_category, topic_subcategory) values (1, now(), now(), ''unknown'', ''silent'', ''legal'', ''cyber'')'] loop
		begin
			execute op;
			insert into refused values (op, null);
		exception when others then
			insert into refused values (op, sqlstate);
		end;
	end loop;
end $$;
select pg_temp.tap(bool_and(state is not null), format('bad clients, regions and calls are refused (%s)',
    string_agg(coalesce(state, 'accepted'), ',')), string_agg(what, '; ') filter (where state is null))
from refused;

-- ------------------------------------------------------------ the code column
select pg_temp.codes_agree();
