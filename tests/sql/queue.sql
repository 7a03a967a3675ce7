-- The queue's order kept on the assignment (sql/023_queue_order.sql): after
-- intake, an acknowledgement, an outcome, a transfer, a case re-graded and
-- moved, clocks fired, brought forward and set aside, every assignment's
-- risk level, region and next due time are what its case and its clocks say
-- (worked out here from them, independently of the triggers); queue_page,
-- under the daemon's role and the agency's scope, pages through the work in
-- that order, refuses malformed cursors, and since= lists only what
-- appeared later; queue_touched names the agencies with new work.
\ir fixtures.psql

-- The assignments whose kept columns differ from their case and clocks.
create function pg_temp.wrong() returns text language sql as $$
	select string_agg(a.id::text, ',' order by a.id)
	from hotline.assignments a join hotline.cases c on c.id = a.case_id
	where a.risk_level is distinct from c.risk_level
	    or a.region_code is distinct from c.region_code
	    or a.region_city is distinct from left(c.region_code, 4)
	    or a.region_province is distinct from left(c.region_code, 2)
	    or a.next_due is distinct from coalesce((select min(k.due_at) from hotline.clocks k
		where k.assignment_id = a.id and k.stopped_at is null and k.fired_at is null),
		'infinity')
$$;

-- The daemon's calls, each with its transaction's scope first.
create function pg_temp.report(p_key text)
returns table (status integer, code text, response jsonb, replayed boolean) language plpgsql as $$
begin
	perform set_config('hotline.scope', 'intake', true);
	return query select * from hotline.intake_report(current_setting('t.gw')::bigint, p_key,
	    convert_to(p_key, 'UTF8'), current_setting('t.report')::jsonb);
end $$;
create function pg_temp.page(p_client bigint, p_agency bigint, p_state text, p_limit integer,
    p_cursor text, p_since text)
returns table (status integer, code text, response jsonb, mark bigint, found integer,
    pending boolean) language plpgsql as $$
begin
	perform set_config('hotline.scope', 'agency:' || p_agency, true);
	return query select * from hotline.queue_page(p_client, p_state, p_limit, p_cursor, p_since);
end $$;
create function pg_temp.agency_call(p_agency bigint, p_sql text)
returns table (status integer, code text, response jsonb, replayed boolean) language plpgsql as $$
begin
	perform set_config('hotline.scope', 'agency:' || p_agency, true);
	return query execute p_sql;
end $$;
-- Every page of an agency's queue, limit at a time, by next_cursor.
create function pg_temp.walk(p_client bigint, p_agency bigint, p_state text, p_limit integer)
returns uuid[] language plpgsql as $$
declare
	v_cursor text;
	v_ids uuid[] := '{}';
	r record;
begin
	for i in 1 .. 100 loop
		select * into r from pg_temp.page(p_client, p_agency, p_state, p_limit, v_cursor, null);
		v_ids := v_ids || array(select (x->>'assignment_id')::uuid
		    from jsonb_array_elements(r.response->'assignments') x);
		v_cursor := r.response->>'next_cursor';
		exit when v_cursor is null;
	end loop;
	return v_ids;
end $$;
grant execute on all functions in schema pg_temp to hotlined;

select id as police4 from hotline.agencies where code = 'police-320104' \gset
select id as police2 from hotline.agencies where code = 'police-320102' \gset
select set_config('t.gw', :'gw', false) \g /dev/null
select set_config('t.report', :'report', false) \g /dev/null

-- ------------------------------------------------------------ intake
set role hotlined;
insert into out select 'r' || i, r.* from generate_series(1, 5) i, lateral pg_temp.report('q-' || i) r;
reset role;
set hotline.scope = 'system';
select pg_temp.tap(count(*) = 5 and bool_and(o.status = 201), 'five reports are filed')
from out o where o.k like 'r_';
select a.assignment_id as a1, c.id as c1 from hotline.assignments a join hotline.cases c
    on c.id = a.case_id where c.case_number = (select response->>'case_number' from out where k = 'r1')
    and a.agency_id = :police4 \gset
select a.assignment_id as a2, c.id as c2 from hotline.assignments a join hotline.cases c
    on c.id = a.case_id where c.case_number = (select response->>'case_number' from out where k = 'r2')
    and a.agency_id = :police4 \gset
select a.assignment_id as a3, c.id as c3 from hotline.assignments a join hotline.cases c
    on c.id = a.case_id where c.case_number = (select response->>'case_number' from out where k = 'r3')
    and a.agency_id = :police4 \gset
select c.case_number as n4 from hotline.cases c
    where c.case_number = (select response->>'case_number' from out where k = 'r4') \gset
select pg_temp.tap(pg_temp.wrong() is null and (select count(*) from hotline.assignments
    where next_due < 'infinity') >= 5,
    'after intake every assignment has its case''s risk and region and its earliest running clock',
    pg_temp.wrong());

-- ------------------------------------------------------------ the work goes on
select id as police4_c from hotline.clients where name = 't-police4' \gset
set role hotlined;
begin;
-- (The count may hold earlier transactions' updates not yet reported.)
select pg_stat_get_xact_tuples_updated('hotline.assignments'::regclass) as ack_before \gset
insert into out select 'ack', * from pg_temp.agency_call(:police4, format(
    'select * from hotline.assignment_ack(%s, %L, ''\x01'', %L)', :police4_c, 'q-ack', :'a1'));
select pg_stat_get_xact_tuples_updated('hotline.assignments'::regclass) - :ack_before
    as ack_updates \gset
commit;
insert into out select 'accepted', * from pg_temp.agency_call(:police4, format(
    'select * from hotline.case_post_event(%s, %L, ''\x02'', %L, %L)', :police4_c, 'q-acc',
    :'n4', '{"type": "outcome", "outcome": "accepted"}'));
insert into out select 'transfer', * from pg_temp.agency_call(:police4, format(
    'select * from hotline.assignment_transfer(%s, %L, ''\x03'', %L, %L)', :police4_c, 'q-tr',
    :'a2', '{"target_agency": "police-320102"}'));
reset role;
select pg_temp.tap(count(*) = 3 and bool_and(status in (200, 201)),
    'an acknowledgement, an outcome (受案) and a transfer, each by the agency in its scope',
    string_agg(k || '=' || status || coalesce(' ' || code, ''), ', '))
from out where k in ('ack', 'accepted', 'transfer');
select pg_temp.tap(pg_temp.wrong() is null,
    'stopped and started clocks and the transfer''s copied clocks are on their assignments',
    pg_temp.wrong());
select pg_temp.tap(:ack_updates = 1,
    'an acknowledgement writes its assignment once (its state and its next due time together)',
    :ack_updates || ' updates');

update hotline.cases set risk_level = 1 where id = :c3;
update hotline.cases set region_code = '320102' where id = :c1;
select pg_temp.tap(pg_temp.wrong() is null and (select risk_level from hotline.assignments
    where assignment_id = :'a3') = 1 and (select region_city from hotline.assignments
    where assignment_id = :'a1') = '3201',
    'a case re-graded or moved carries its risk and region (and their prefixes) to every assignment',
    pg_temp.wrong());

update hotline.clocks k set due_at = k.due_at - interval '30 minutes'
    from hotline.assignments a where a.id = k.assignment_id and a.case_id = :c3
    and k.kind = 'resolve';
update hotline.clocks k set due_at = now() - interval '1 second', warn_at = now() - interval '2 seconds'
    from hotline.assignments a where a.id = k.assignment_id and a.assignment_id = :'a3'
    and k.kind = 'acknowledge';
set role hotlined;
select set_config('hotline.scope', 'system', false) \g /dev/null
select handled as fired from hotline.escalate_due(10) \gset
reset role;
set hotline.scope = 'system';
select pg_temp.tap(:fired >= 1 and pg_temp.wrong() is null and (select count(*) from hotline.assignments
    where escalated_from = (select id from hotline.assignments where assignment_id = :'a3')) = 1,
    'a clock brought forward, a missed deadline and the escalated copy with its own clocks: all kept',
    pg_temp.wrong());
select k.id as aside from hotline.clocks k join hotline.assignments a on a.id = k.assignment_id
    where a.assignment_id = :'a3' and k.kind = 'first_action' \gset
set role hotlined;
select hotline.clock_set_aside(:aside, 'XX000') \g /dev/null
reset role;
set hotline.scope = 'system';
select pg_temp.tap(pg_temp.wrong() is null, 'a clock set aside is still a running clock of the queue',
    pg_temp.wrong());

-- ------------------------------------------------------------ escalation by shard
-- A missed acknowledge clock on a case of each parity, due before any other.
reset role;
set hotline.scope = 'system';
set search_path = hotline, public;	-- for escalation_target
select min(k.id) filter (where k.case_id % 2 = 0) as even_k,
    min(k.id) filter (where k.case_id % 2 = 1) as odd_k
from hotline.clocks k join hotline.assignments a on a.id = k.assignment_id
where k.kind = 'acknowledge' and k.stopped_at is null and k.fired_at is null
    and k.set_aside_at is null and a.state = 'open' and a.role = 'primary'
    and a.escalation_level = 0 and hotline.escalation_target(a.agency_id) is not null
    and not exists (select 1 from hotline.assignments x where x.escalated_from = a.id) \gset
reset search_path;
update hotline.clocks set due_at = now() - interval '1 day', warn_at = now() - interval '2 days'
    where id in (:even_k, :odd_k);
set role hotlined;
select set_config('hotline.scope', 'system', false) \g /dev/null
begin;
-- (The count may hold earlier transactions' updates not yet reported.)
select pg_stat_get_xact_tuples_updated('hotline.assignments'::regclass) as fire_before \gset
select handled as even_handled from hotline.escalate_due_shard(1, 0, 2) \gset
select pg_stat_get_xact_tuples_updated('hotline.assignments'::regclass) - :fire_before
    as fire_updates \gset
commit;
reset role;
set hotline.scope = 'system';
select pg_temp.tap(:even_handled = 1 and (select fired_at is not null from hotline.clocks
    where id = :even_k) and (select fired_at is null from hotline.clocks where id = :odd_k),
    'a pass on shard 0 of 2 fires the clock of a case of even id and leaves the odd one''s',
    :'even_handled');
select pg_temp.tap((select count(*) from hotline.assignments x join hotline.clocks k
    on k.assignment_id = x.id where x.escalated_from = (select assignment_id from hotline.clocks
    where id = :even_k)) = 3 and pg_temp.wrong() is null,
    'its assignment escalates, the copy with its three clocks and every next due time kept',
    pg_temp.wrong());
select pg_temp.tap(:fire_updates = 1,
    'a missed clock that escalates writes its assignment once; the copy is inserted as it stays',
    :fire_updates || ' updates');
set role hotlined;
select set_config('hotline.scope', 'system', false) \g /dev/null
select handled as odd_handled from hotline.escalate_due_shard(1, 1, 2) \gset
reset role;
set hotline.scope = 'system';
select pg_temp.tap(:odd_handled = 1 and (select fired_at is not null from hotline.clocks
    where id = :odd_k) and pg_temp.wrong() is null,
    'and a pass on shard 1 of 2 fires the odd one', :'odd_handled');
create function pg_temp.shard_error(p_shard integer, p_shards integer) returns text
language plpgsql as $$
begin
	perform hotline.escalate_due_shard(1, p_shard, p_shards);
	return 'none';
exception when others then
	return sqlstate;
end $$;
select pg_temp.tap(pg_temp.shard_error(2, 2) = '22023' and pg_temp.shard_error(0, 0) = '22023'
    and pg_temp.shard_error(-1, 2) = '22023',
    'a shard that does not exist is refused (22023), nothing fired',
    pg_temp.shard_error(2, 2));

-- ------------------------------------------------------------ the queue, page by page
-- The order worked out from the cases and clocks themselves.
create temporary table want as
select a.assignment_id, row_number() over (order by c.risk_level, (select min(k.due_at)
    from hotline.clocks k where k.assignment_id = a.id and k.stopped_at is null
    and k.fired_at is null) nulls last, a.id) as n, a.state
from hotline.assignments a join hotline.cases c on c.id = a.case_id
where a.agency_id = :police4 and a.state in ('open', 'acknowledged', 'accepted', 'case_opened',
    'outside_jurisdiction', 'prosecution');
grant select on want to hotlined;
set role hotlined;
select pg_temp.walk(:police4_c, :police4, null, 2) as walked2,
    pg_temp.walk(:police4_c, :police4, null, 500) as walked_all,
    pg_temp.walk(:police4_c, :police4, 'open', 1) as walked_open \gset
reset role;
select pg_temp.tap(:'walked2'::uuid[] = array(select assignment_id from want order by n)
    and :'walked_all'::uuid[] = :'walked2'::uuid[] and cardinality(:'walked2'::uuid[]) >= 4,
    'queue_page walks the agency''s work two at a time in order of risk, earliest running clock, age',
    :'walked2');
select pg_temp.tap(:'walked_open'::uuid[] = array(select assignment_id from want where state = 'open'
    order by n), 'and its open work one at a time', :'walked_open');

set role hotlined;
insert into out select 'bad-cursor', status, code, response, false
    from pg_temp.page(:police4_c, :police4, null, 10, '9.1.1', null);
insert into out select 'both', status, code, response, false
    from pg_temp.page(:police4_c, :police4, null, 10, '1.inf.1', '5');
insert into out select 'bad-since', status, code, response, false
    from pg_temp.page(:police4_c, :police4, null, 10, null, '1.0');
insert into out select 'not-agency', q.status, q.code, q.response, false
    from hotline.queue_page(:gw, null, 10, null, null) q;
reset role;
select pg_temp.tap(string_agg(k || ':' || status || ':' || code || ':'
    || coalesce(response->'error'->>'field', '-'), ' ' order by k)
    = 'bad-cursor:400:invalid_value:cursor bad-since:400:invalid_value:since both:400:inconsistent:cursor not-agency:403:forbidden:-',
    'a malformed cursor or since, both at once, or a client that is not an agency is refused',
    string_agg(k || ':' || status || ':' || code, ' '))
from out where k in ('bad-cursor', 'both', 'bad-since', 'not-agency');

-- ------------------------------------------------------------ since= and the wake-up query
set role hotlined;
select mark as m0, response->>'next_since' as s0
    from pg_temp.page(:police4_c, :police4, null, 1, null, null) \gset
select found as new0 from pg_temp.page(:police4_c, :police4, null, 10, null, :'s0') \gset
reset role;
set hotline.scope = 'system';
select pg_temp.tap(:new0 = 0 and hotline.queue_touched(array[:police4, :police2]::bigint[],
    array[:m0, :m0]::bigint[]) = '{}', 'nothing new since an answer: since= lists nothing, and'
    ' queue_touched names no agency');
set role hotlined;
insert into out select 'r6', * from pg_temp.report('q-6');
select response as since6, found as new6 from pg_temp.page(:police4_c, :police4, null, 10, null, :'s0') \gset
reset role;
set hotline.scope = 'system';
select pg_temp.tap(:new6 = 1 and (:'since6'::jsonb->'assignments'->0->>'case_number')
    = (select response->>'case_number' from out where k = 'r6')
    and (:'since6'::jsonb->>'next_since')::bigint > :'s0'::bigint,
    'once it has ended, since= lists that one alone, with a later next_since', :'since6');
select pg_temp.tap(hotline.queue_touched(array[:police4, :police2]::bigint[],
    array[:m0, :m0]::bigint[]) = array[:police4]::bigint[],
    'queue_touched names the agency with new work, and only it');
