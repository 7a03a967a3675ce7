-- Client administration (sql/008_clients_admin.sql): client_add registers
-- a certificate under a new name only, and refuses a name or a certificate
-- already registered (revoked or not) and an unknown agency without
-- touching the table; client_roster lists every client as an administrator
-- reads it; neither is the daemon's to call.
\ir fixtures.psql

-- ------------------------------------------------------------ registering
select hotline.client_add('t-new-gw', 'gateway', null, repeat('12', 32)) as new_gw \gset
select pg_temp.tap(role = 'gateway' and agency_id is null and not approver and revoked_at is null
    and cert_sha256 = repeat('12', 32), 'client_add registers a gateway under a new name')
from hotline.clients where id = :new_gw;
select hotline.client_add('t-new-appr', 'agency', 'education-320102',
    upper(regexp_replace(repeat('3c', 32), '(..)(?!$)', '\1:', 'g')), true) as new_appr \gset
select pg_temp.tap(c.role = 'agency' and a.code = 'education-320102' and c.approver
    and c.cert_sha256 = repeat('3c', 32),
    'client_add registers an agency''s approver, the fingerprint as openssl prints it')
from hotline.clients c join hotline.agencies a on a.id = c.agency_id where c.id = :new_appr;

-- ------------------------------------------------------------ refusals
create temporary table before as select * from hotline.clients;
create temporary table refused (what text, state text, constraint_name text, message text);
do $$
declare
	op text;
	st text;
	cn text;
	msg text;
begin
	foreach op in array array[
	    'select hotline.client_add(''t-new-gw'', ''admin'', null, repeat(''45'', 32))',
	    'select hotline.client_add(''t-gone'', ''gateway'', null, repeat(''45'', 32))',
	    'select hotline.client_add(''t-other'', ''gateway'', null, repeat(''12'', 32))',
	    'select hotline.client_add(''t-other'', ''agency'', ''police-999999'', repeat(''45'', 32))',
	    'select hotline.client_add(''t-other'', ''agency'', null, repeat(''45'', 32))',
	    'select hotline.client_add(''t-other'', ''operator'', null, repeat(''45'', 32), true)',
	    'select hotline.client_add(''t-other'', ''root'', null, repeat(''45'', 32))',
	    'select hotline.client_add(''t-other'', ''operator'', null, repeat(''g'', 64))'] loop
		begin
			execute op;
			insert into refused values (op, null, null, null);
		exception when others then
			get stacked diagnostics st = returned_sqlstate, cn = constraint_name,
			    msg = message_text;
			insert into refused values (op, st, cn, msg);
		end;
	end loop;
end $$;
select pg_temp.tap(state = '23505' and constraint_name = 'clients_name_key'
    and message = 'client_add: a client with this name exists',
    'client_add refuses a name already registered', coalesce(state, 'accepted') || ' ' || message)
from refused where what like '%''t-new-gw''%';
select pg_temp.tap(state = '23505' and constraint_name = 'clients_name_key',
    'client_add refuses the name of a revoked client (it never re-instates one)',
    coalesce(state, 'accepted'))
from refused where what like '%''t-gone''%';
select pg_temp.tap(state = '23505' and constraint_name = 'clients_cert_sha256_key'
    and message = 'client_add: this certificate is registered to another client',
    'client_add refuses a certificate registered to another client',
    coalesce(state, 'accepted') || ' ' || message)
from refused where what like '%repeat(''12'', 32)%';
select pg_temp.tap(state = '23503' and message = 'client_add: no agency with this code',
    'client_add refuses an unknown agency', coalesce(state, 'accepted'))
from refused where what like '%police-999999%';
select pg_temp.tap(count(*) = 4 and bool_and(state = '23514'),
    'client_add refuses an agency client without its agency, an approver that is not an agency''s, '
    'an unknown role and a malformed fingerprint (check_violation)',
    string_agg(coalesce(state, 'accepted'), ','))
from refused where what not like '%''t-new-gw''%' and what not like '%''t-gone''%'
    and what not like '%repeat(''12'', 32)%' and what not like '%police-999999%';
select pg_temp.tap(
    (select count(*) from before) = (select count(*) from hotline.clients)
    and not exists (select * from hotline.clients except select * from before),
    'a refused client_add changes no client');
select pg_temp.tap(revoked_at is not null, 'and the revoked client stays revoked')
from hotline.clients where name = 't-gone';

-- ------------------------------------------------------------ the roster
select pg_temp.tap(
    (select count(*) from hotline.client_roster()) = (select count(*) from hotline.clients)
    and (select array_agg(name order by name) from hotline.client_roster())
	= (select array_agg(name::text order by name) from hotline.clients),
    'client_roster lists every client, by name');
select pg_temp.tap(r.role = 'agency' and r.agency = 'education-320102' and r.approver
    and r.cert_sha256 = repeat('3c', 32) and r.created_at is not null and r.revoked_at is null,
    'client_roster shows an agency client''s agency by code, its approver flag and fingerprint')
from hotline.client_roster() r where r.name = 't-new-appr';
select pg_temp.tap(r.agency is null and not r.approver and r.revoked_at is not null,
    'client_roster shows when a client was revoked')
from hotline.client_roster() r where r.name = 't-gone';

-- ------------------------------------------------------------ operator seats and their centres
select hotline.client_add_seat('t-seat', '320100', repeat('5e', 32)) as seat \gset
select pg_temp.tap(role = 'operator' and centre = '320100' and agency_id is null and not approver
    and cert_sha256 = repeat('5e', 32), 'client_add_seat registers an operator seat of a centre')
from hotline.clients where id = :seat;
select pg_temp.tap(r.role = 'operator' and r.centre = '320100' and r.agency is null,
    'client_directory shows each operator''s centre')
from hotline.client_directory() r where r.name = 't-seat';
select pg_temp.tap((select count(*) from hotline.client_directory()) = (select count(*) from hotline.clients)
    and not exists (select 1 from hotline.client_directory() where (role = 'operator') <> (centre is not null)),
    'client_directory lists every client, a centre for every operator and no other');
create temporary table seat_refused (n serial, what text, state text, constraint_name text,
    message text);
do $$
declare
	op text;
	st text;
	cn text;
	msg text;
begin
	foreach op in array array[
	    'select hotline.client_add_seat(''t-seat'', ''320100'', repeat(''6e'', 32))',
	    'select hotline.client_add_seat(''t-seat2'', ''320100'', repeat(''5e'', 32))',
	    'select hotline.client_add_seat(''t-seat2'', ''999999'', repeat(''6e'', 32))',
	    'select hotline.client_add(''t-seat2'', ''operator'', null, repeat(''6e'', 32))',
	    'update hotline.clients set centre = null where name = ''t-seat''',
	    'update hotline.clients set centre = ''320100'' where name = ''t-new-gw'''] loop
		begin
			execute op;
			insert into seat_refused (what) values (op);
		exception when others then
			get stacked diagnostics st = returned_sqlstate, cn = constraint_name,
			    msg = message_text;
			insert into seat_refused (what, state, constraint_name, message)
			    values (op, st, cn, msg);
		end;
	end loop;
end $$;
select pg_temp.tap(string_agg(coalesce(state, 'accepted') || ':' || coalesce(constraint_name, ''), ','
	order by n) = '23505:clients_name_key,23505:clients_cert_sha256_key,23503:,'
	'23514:clients_operator_centre,23514:clients_operator_centre,23514:clients_operator_centre',
    'a seat''s name and certificate are new, its centre a region; an operator never lacks a centre, '
    'and no other client has one',
    string_agg(what || ' -> ' || coalesce(state, 'accepted') || ' ' || coalesce(message, ''), '; '))
from seat_refused;
select hotline.client_upsert_seat('t-seat', '320500', repeat('7e', 32)) = :seat as same \gset
select pg_temp.tap(:'same'::boolean and centre = '320500' and cert_sha256 = repeat('7e', 32),
    'client_upsert_seat re-keys and moves a seat, keeping its id')
from hotline.clients where id = :seat;

-- ------------------------------------------------------------ privileges
select pg_temp.tap(not has_function_privilege('hotlined', f, 'execute')
    and not has_function_privilege('public', f, 'execute'),
    format('%s is an administrator''s only (not hotlined''s, not PUBLIC''s)', f))
from unnest(array['hotline.client_add(text,text,text,text,boolean)',
    'hotline.client_roster()', 'hotline.client_add_seat(text,text,text)',
    'hotline.client_upsert_seat(text,text,text)', 'hotline.client_directory()']) f;
