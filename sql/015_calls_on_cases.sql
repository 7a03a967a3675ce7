-- Cases opened while the call goes on, and calls on the centre's cases.
-- POST /v1/cases opens and routes a case at once (case_open); the call is
-- logged afterwards naming it (disposition case_opened or follow_up), and
-- any later call about the same child names it too: N calls, one case.  A
-- call on an existing case is sealed under that case's data key (work_key),
-- is a history event of the case, and marks the case as updated for the
-- agencies working it (cases.updated_at, shown in their queue).
set role hotline_owner;
set search_path = hotline, pg_temp;
set local hotline.scope = 'system';

alter table cases add column updated_at timestamptz;
comment on column cases.updated_at is 'When the case last learned something new from outside its agencies (a call, an operator''s change, a supplement to the report); null if never.';

alter table calls drop constraint calls_disposition_check;
alter table calls add constraint calls_disposition_check check (disposition in ('counselled',
    'information', 'referred', 'silent', 'hang_up', 'prank', 'abusive', 'case_opened',
    'follow_up'));
-- A call that opened a case, or followed one up, is on a case; any other
-- call may be (a call about a child whose case exists).
alter table calls drop constraint calls_check4;
alter table calls add constraint calls_case_disposition
	check (disposition not in ('case_opened', 'follow_up') or case_id is not null);
comment on table calls is 'Every hotline call, including silent, hang-up and prank calls; case_id is the case it opened or is about.';

-- Mark a case as updated for its agencies, and wake their queues.
create function case_touch(p_case_id bigint)
returns void language plpgsql set search_path = hotline, pg_temp as $$
begin
	update cases set updated_at = now() where id = p_case_id;
	perform pg_notify('hotline_queue', '');
end $$;

-- An assignment as its agency sees it in the queue; an escalated copy also
-- shows the work below it (010_casework.sql), and case_updated_at when the
-- case last learned something new from outside its agencies.
create or replace function assignment_json(p_id bigint)
returns jsonb language sql stable as $$
	select jsonb_build_object(
	    'assignment_id', a.assignment_id, 'case_number', c.case_number, 'role', a.role,
	    'state', a.state, 'risk_level', c.risk_level, 'region_code', c.region_code,
	    'escalation_level', a.escalation_level, 'created_at', api_ts(a.created_at),
	    'agency', g.code,
	    'categories', case_categories_json(c.id),
	    'clocks', (select coalesce(jsonb_agg(jsonb_build_object('kind', k.kind,
		'due_at', api_ts(k.due_at), 'status', case when k.stopped_at is not null then 'stopped'
		    when k.fired_at is not null then 'missed' when k.warned_at is not null then 'warning'
		    else 'running' end) order by k.due_at), '[]')
		from clocks k where k.assignment_id = a.id))
	    || coalesce((select jsonb_build_object('escalated_from', jsonb_build_object(
		'assignment_id', b.assignment_id, 'agency', bg.code, 'state', b.state))
		from assignments b join agencies bg on bg.id = b.agency_id
		where b.id = a.escalated_from), '{}')
	    || case when c.updated_at is null then '{}'::jsonb
		else jsonb_build_object('case_updated_at', api_ts(c.updated_at)) end
	from assignments a join cases c on c.id = a.case_id join agencies g on g.id = a.agency_id
	where a.id = p_id
$$;

-- The calls of a case, in the order they started: the caller's number only
-- for a full view; the summary sealed, or the marker of what is hidden.
create or replace function case_view_calls(p_case_id bigint, p_access text)
returns jsonb language sql stable as $$
	select coalesce(jsonb_agg(jsonb_strip_nulls(jsonb_build_object('call_id', k.call_id,
	    'started_at', api_ts(k.started_at), 'ended_at', api_ts(k.ended_at),
	    'caller_type', k.caller_type, 'disposition', k.disposition,
	    'caller_phone', case when p_access = 'full' then
		sealed_out(k.caller_phone, 'call.caller_phone') end,
	    'summary', case when p_access = 'full' then sealed_out(k.summary, 'call.summary')
		when p_access = 'redacted' and k.summary is null then null
		else hidden(p_access) end))
	    order by k.started_at, k.id), '[]')
	from calls k where k.case_id = p_case_id
$$;

-- The wrapped data key of a case to seal new text on it: an operator's
-- centre's case by number, or a gateway's own report by receipt id.  With
-- p_child, also the child's sealed name and birth date (the daemon opens
-- them to make the keyed digest of a corrected name or birth date).
-- {"uid", "kid", "wrapped"[, "child"]}, {"purged": true}, or null when the
-- client has no such case.
create function work_key(p_client_id bigint, p_case_number text, p_receipt text,
    p_child boolean)
returns jsonb
language plpgsql stable security definer set search_path = hotline, pg_temp as $$
declare
	ac record;
	c cases%rowtype;
begin
	select * into ac from api_client(p_client_id, '{operator,gateway}');
	if ac.status is not null then
		return null;
	end if;
	if (ac.client).role = 'operator' then
		select x.* into c from cases x
		    where x.case_number = p_case_number and x.centre = (ac.client).centre;
	else
		select x.* into c from cases x join reports r on r.case_id = x.id
		    where r.receipt_id = p_receipt and r.client_id = p_client_id;
	end if;
	if c.id is null then
		return null;
	end if;
	if c.purged_at is not null then
		return '{"purged": true}'::jsonb;
	end if;
	if p_child then
		return case_data_key(c) || jsonb_build_object('child', (select jsonb_strip_nulls(
		    jsonb_build_object('name', sealed_out(h.name, 'child.name'),
		    'birth_date', sealed_out(h.birth_date, 'child.birth_date')))
		    from children h where h.case_id = c.id));
	end if;
	return case_data_key(c);
end $$;

-- The case of the operator's centre a request names, locked: its row, or
-- the row to refuse with: 404 for the case of the path (p_field null), 422
-- unknown_case for one named in the body (p_field), 409 case_purged.
create function centre_case(p_client clients, p_case_number text, p_field text,
    out c cases, out status integer, out code text, out response jsonb)
language plpgsql set search_path = hotline, pg_temp as $$
begin
	select x.* into c from cases x
	    where x.case_number = p_case_number and x.centre = p_client.centre for update;
	if c.id is null and p_field is null then
		select * into status, code, response from api_fail(404, 'not_found', null,
		    'no such case');
	elsif c.id is null then
		select * into status, code, response from api_fail(422, 'unknown_case', p_field,
		    'no such case of this centre');
	elsif c.purged_at is not null then
		select * into status, code, response from api_fail(409, 'case_purged', p_field,
		    'this case''s personal data has been purged');
	end if;
end $$;

-- POST /v1/calls: store a hotline call; a case it opened (open_case), or the
-- centre's case it is about (case_number).
create or replace function intake_call(p_client_id bigint, p_idem_key text,
    p_request_hash bytea, p_body jsonb)
returns table (status integer, code text, response jsonb, replayed boolean)
language plpgsql security definer set search_path = hotline, pg_temp as $$
declare
	m record;
	oc jsonb := p_body->'open_case';
	on_case record;
	v_case_id bigint;
	v_case_number text;
	v_call uuid;
	v_call_id bigint;
	v_earlier jsonb;
begin
	select * into m from mutation_begin(p_client_id, '{operator}', p_idem_key, 'calls', null,
	    p_request_hash);
	if m.status is not null then
		return query select m.status, m.code, m.response, m.replayed;
		return;
	end if;
	if p_body ? 'topic' then
		return query select c.*, false from check_category(p_body#>>'{topic,category}',
		    p_body#>>'{topic,subcategory}', 'topic.') c where c.status is not null;
		if found then
			return;
		end if;
	end if;
	if oc is not null then
		return query select c.*, false
		    from jsonb_array_elements(oc->'categories') with ordinality e (value, n)
		    cross join lateral check_category(e.value->>'category', e.value->>'subcategory',
			format('open_case.categories[%s].', e.n - 1)) c
		    where c.status is not null order by e.n limit 1;
		if found then
			return;
		end if;
		return query select c.*, false from check_region(oc#>>'{child,region_code}',
		    'open_case.child.region_code') c where c.status is not null;
		if found then
			return;
		end if;
		select c.case_id, c.case_number into v_case_id, v_case_number
		    from case_create('call', oc#>>'{child,region_code}',
		    (oc->>'risk_level')::smallint, p_client_id, oc->>'narrative', oc->'child',
		    oc->'categories', p_body->'$key') c;
		-- Routing (004_routing.sql) runs in this same transaction.
		perform case_route(v_case_id, null, p_client_id);
	elsif p_body ? 'case_number' then
		select * into on_case from centre_case(m.client, p_body->>'case_number', 'case_number');
		if on_case.status is not null then
			return query select on_case.status, on_case.code, on_case.response, false;
			return;
		end if;
		if p_body->>'disposition' = 'case_opened' and exists (select 1 from calls k
		    where k.case_id = (on_case.c).id and k.disposition = 'case_opened') then
			return query select *, false from api_fail(409, 'invalid_transition',
			    'disposition', 'another call opened this case: log this one as follow_up');
			return;
		end if;
		v_case_id := (on_case.c).id;
		v_case_number := (on_case.c).case_number;
	end if;
	insert into calls (client_id, started_at, ended_at, caller_type, caller_phone, language,
	    topic_category, topic_subcategory, summary, disposition, case_id,
	    dek_uid, dek_kid, dek_wrapped)
	values (p_client_id, (p_body->>'started_at')::timestamptz, (p_body->>'ended_at')::timestamptz,
	    p_body->>'caller_type', sealed_in(p_body->>'caller_phone'),
	    coalesce(p_body->>'language', 'zh'), p_body#>>'{topic,category}',
	    p_body#>>'{topic,subcategory}', sealed_in(p_body->>'summary'),
	    p_body->>'disposition', v_case_id,
	    case when v_case_id is null then (p_body#>>'{$key,uid}')::uuid end,
	    case when v_case_id is null then p_body#>>'{$key,kid}' end,
	    case when v_case_id is null then decode(p_body#>>'{$key,wrapped}', 'base64') end)
	returning id, call_id into v_call_id, v_call;
	if oc is null and v_case_id is not null then
		perform case_event(v_case_id, 'call_logged', p_client_id, jsonb_build_object(
		    'call', v_call, 'disposition', p_body->>'disposition'));
		perform case_touch(v_case_id);
	end if;
	-- Keyed digests (005_protection.sql): a repeat caller, a known child.
	v_earlier := identifiers_record(v_case_id, v_call_id, p_body->'$digests');
	return query select * from mutation_store(p_client_id, p_idem_key, m.endpoint,
	    p_request_hash, 201, jsonb_strip_nulls(jsonb_build_object('call_id', v_call,
	    'received_at', api_ts(now()), 'case_number', v_case_number,
	    'earlier_calls', v_earlier)));
end $$;

-- POST /v1/cases: an operator opens a case while the call goes on; it is
-- routed at once, in this transaction, like any new case.
create function case_open(p_client_id bigint, p_idem_key text, p_request_hash bytea,
    p_body jsonb)
returns table (status integer, code text, response jsonb, replayed boolean)
language plpgsql security definer set search_path = hotline, pg_temp as $$
declare
	m record;
	v_case record;
begin
	select * into m from mutation_begin(p_client_id, '{operator}', p_idem_key, 'cases', null,
	    p_request_hash);
	if m.status is not null then
		return query select m.status, m.code, m.response, m.replayed;
		return;
	end if;
	return query select c.*, false
	    from jsonb_array_elements(p_body->'categories') with ordinality e (value, n)
	    cross join lateral check_category(e.value->>'category', e.value->>'subcategory',
		format('categories[%s].', e.n - 1)) c
	    where c.status is not null order by e.n limit 1;
	if found then
		return;
	end if;
	return query select c.*, false from check_region(p_body#>>'{child,region_code}',
	    'child.region_code') c where c.status is not null;
	if found then
		return;
	end if;
	select * into v_case from case_create('call', p_body#>>'{child,region_code}',
	    (p_body->>'risk_level')::smallint, p_client_id, p_body->>'narrative', p_body->'child',
	    p_body->'categories', p_body->'$key');
	perform case_route(v_case.case_id, null, p_client_id);
	perform identifiers_record(v_case.case_id, null, p_body->'$digests');
	return query select * from mutation_store(p_client_id, p_idem_key, m.endpoint,
	    p_request_hash, 201, jsonb_build_object('case_number', v_case.case_number,
	    'risk_level', (p_body->>'risk_level')::integer, 'received_at', api_ts(now()),
	    'assignments', (select coalesce(jsonb_agg(jsonb_build_object('agency', g.code,
		'role', a.role, 'state', a.state) order by a.id), '[]')
		from assignments a join agencies g on g.id = a.agency_id
		where a.case_id = v_case.case_id)));
end $$;

comment on function assignment_json(bigint) is 'An assignment as its agency sees it in the queue (an escalated copy with the work below it; case_updated_at once the case learned something new).';
comment on function case_touch(bigint) is 'Marks a case as updated for its agencies (updated_at) and wakes their queues.';
comment on function work_key(bigint, text, text, boolean) is 'API: the wrapped data key of an operator''s centre case (by number) or a gateway''s report (by receipt), to seal new text on it; with the child''s sealed name and birth date on request.';
comment on function centre_case(clients, text, text) is 'The operator''s centre case a request names, locked; else the 404 (path), 422 unknown_case (body) or 409 case_purged row.';
comment on function case_open(bigint, text, bytea, jsonb) is 'API POST /v1/cases: an operator opens and routes a case during a call; returns (status, code, response, replayed).';

revoke execute on function case_touch(bigint), work_key(bigint, text, text, boolean),
    centre_case(clients, text, text), case_open(bigint, text, bytea, jsonb) from public;
grant execute on function work_key(bigint, text, text, boolean),
    case_open(bigint, text, bytea, jsonb) to hotlined;

reset role;
