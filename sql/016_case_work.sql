-- Operators work their centre's cases: a note, a re-graded risk (with its
-- reason), categories added, the child's details corrected.  Every change is
-- a history event; a reason or note is sealed under the case's data key
-- (under its note id, kept in the event's data: 010_casework.sql), and
-- a corrected detail's old value is kept (sealed) in child_corrections for
-- those with full access.  A risk raised to a more severe level (a lower
-- number) routes the case to the agencies the new level brings in and
-- tightens the running service clocks to the new level's deadlines; a
-- lowered one changes no clock, so no deadline, statutory or not, is ever
-- loosened.  Categories added route the case for those categories.  The
-- agencies' own work (case_post_event) is untouched: operators act through
-- functions of their own.
set role hotline_owner;
set search_path = hotline, pg_temp;
set local hotline.scope = 'system';

-- The old values of a child's corrected details, one row per correction.
create table child_corrections (
	case_id		bigint not null,
	seq		integer not null,
	name		sealed,
	birth_date	sealed,
	id_number	sealed,
	phone		sealed,
	school		sealed,
	address		sealed,
	gender		text check (gender in ('female', 'male', 'unknown')),
	age		smallint check (age between 0 and 17),
	primary key (case_id, seq),
	foreign key (case_id, seq) references case_events (case_id, seq)
);
comment on table child_corrections is 'The values a correction of the child''s details replaced (its child_corrected event); null where a field was not corrected or had no value.';
comment on column child_corrections.name is 'personal data: the child''s name before the correction';
comment on column child_corrections.birth_date is 'personal data: the child''s date of birth before the correction';
comment on column child_corrections.id_number is 'personal data: the child''s resident ID number before the correction';
comment on column child_corrections.phone is 'personal data: the child''s phone number before the correction';
comment on column child_corrections.school is 'personal data: the child''s school before the correction';
comment on column child_corrections.address is 'personal data: the child''s address before the correction';
alter table child_corrections enable row level security;
alter table child_corrections force row level security;
create policy scope on child_corrections using (rls_all() or rls_case(case_id))
	with check (rls_all() or rls_case(case_id));

-- The start of every operator's work on a case: the client and its key
-- (mutation_begin), then the centre's case of the path, locked.  status null
-- to proceed, with the endpoint string for mutation_store.
create function centre_work_begin(p_client_id bigint, p_idem_key text, p_route text,
    p_case_number text, p_hash bytea,
    out endpoint text, out c cases, out status integer, out code text, out response jsonb,
    out replayed boolean)
language plpgsql set search_path = hotline, pg_temp as $$
declare
	m record;
	x record;
begin
	select * into m from mutation_begin(p_client_id, '{operator}', p_idem_key, p_route,
	    p_case_number, p_hash, 'only an operator of the case''s centre works it here');
	replayed := m.replayed;
	if m.status is not null then
		select m.status, m.code, m.response into status, code, response;
		return;
	end if;
	endpoint := m.endpoint;
	select * into x from centre_case(m.client, p_case_number, null);
	c := x.c;
	if x.status is not null then
		select x.status, x.code, x.response into status, code, response;
	end if;
end $$;

-- The answer to an operator's change: the case, the event and what it now
-- has (risk, categories, assignments with their clocks).
create function centre_work_json(p_case_id bigint, p_seq integer)
returns jsonb language sql stable as $$
	select jsonb_build_object('case_number', c.case_number, 'seq', p_seq,
	    'risk_level', c.risk_level, 'categories', case_categories_json(c.id),
	    'assignments', (select coalesce(jsonb_agg(assignment_json(a.id) order by a.id), '[]')
		from assignments a where a.case_id = c.id))
	from cases c where c.id = p_case_id
$$;

-- Route a case further: for these categories at the case's risk level, one
-- assignment for each agency of its routing targets (route_targets,
-- 009_routing_by_law.sql: the case's source, its child's region, a report's
-- institution) that has none on the case yet.  The coordination office's
-- (or default office's) fallback is for a case no rule routes, never for
-- one that has its agencies already.
create function case_route_more(p_case_id bigint, p_categories jsonb, p_actor bigint)
returns integer language plpgsql set search_path = hotline, pg_temp as $$
declare
	c cases%rowtype;
	x reports%rowtype;
	p record;
	n integer := 0;
begin
	select * into c from cases where id = p_case_id;
	select * into x from reports where case_id = p_case_id;
	for p in select r.* from route_targets(c.source, p_categories, c.risk_level, c.region_code,
	    x.institution_type, x.institution_region) r
	    where r.rule_id is not null and not exists (select 1 from assignments a
		where a.case_id = p_case_id and a.agency_id = r.agency_id)
	    order by r.role, r.agency_id loop
		perform assignment_create(p_case_id, p.agency_id, p.role, 0, null, null, p_actor);
		n := n + 1;
	end loop;
	return n;
end $$;

-- Tighten a case's running service clocks to the deadlines of its (new)
-- risk level: a clock due later than its start plus the new deadline is
-- brought forward, never pushed back.  Returns how many moved.
create function case_clocks_tighten(p_case_id bigint)
returns integer language plpgsql set search_path = hotline, pg_temp as $$
declare
	n integer;
	v_share float8 := (select value::float8 from settings where name = 'warn_share');
begin
	with d as (select * from deadlines where risk_level = (select risk_level from cases
		where id = p_case_id)),
	    t as (select k.id, k.started_at + case k.kind when 'acknowledge' then d.acknowledge
		when 'first_action' then d.first_action else d.resolve end as due
		from clocks k, d
		where k.assignment_id in (select a.id from assignments a where a.case_id = p_case_id)
		    and k.kind in ('acknowledge', 'first_action', 'resolve')
		    and k.stopped_at is null and k.fired_at is null and k.set_aside_at is null)
	update clocks k set due_at = t.due,
	    warn_at = least(k.warn_at, k.started_at + (t.due - k.started_at) * v_share)
	from t where k.id = t.id and t.due < k.due_at;
	get diagnostics n = row_count;
	if n > 0 then
		perform pg_notify('hotline_clock', '');
	end if;
	return n;
end $$;

-- POST /v1/cases/{n}/notes: an operator's note on a case of its centre.
create function case_note_add(p_client_id bigint, p_idem_key text, p_request_hash bytea,
    p_case_number text, p_body jsonb)
returns table (status integer, code text, response jsonb, replayed boolean)
language plpgsql security definer set search_path = hotline, pg_temp as $$
declare
	w record;
	v_seq integer;
begin
	select * into w from centre_work_begin(p_client_id, p_idem_key, 'notes', p_case_number,
	    p_request_hash);
	if w.status is not null then
		return query select w.status, w.code, w.response, w.replayed;
		return;
	end if;
	v_seq := case_event((w.c).id, 'note', p_client_id, note_id(p_body),
	    sealed_in(p_body->>'text'));
	perform case_touch((w.c).id);
	return query select * from mutation_store(p_client_id, p_idem_key, w.endpoint,
	    p_request_hash, 201, jsonb_build_object('case_number', p_case_number, 'seq', v_seq));
end $$;

-- POST /v1/cases/{n}/risk: re-grade a case's risk, with the reason.
create function case_risk_set(p_client_id bigint, p_idem_key text, p_request_hash bytea,
    p_case_number text, p_body jsonb)
returns table (status integer, code text, response jsonb, replayed boolean)
language plpgsql security definer set search_path = hotline, pg_temp as $$
declare
	w record;
	v_to smallint := (p_body->>'risk_level')::smallint;
	v_seq integer;
begin
	select * into w from centre_work_begin(p_client_id, p_idem_key, 'risk', p_case_number,
	    p_request_hash);
	if w.status is not null then
		return query select w.status, w.code, w.response, w.replayed;
		return;
	end if;
	if (w.c).status = 'closed' then
		return query select *, false from api_fail(409, 'invalid_transition', null,
		    'the case is closed');
		return;
	end if;
	if (w.c).risk_level = v_to then
		return query select *, false from api_fail(409, 'invalid_transition', 'risk_level',
		    'the case has this risk level already');
		return;
	end if;
	update cases set risk_level = v_to where id = (w.c).id;
	v_seq := case_event((w.c).id, 'risk_changed', p_client_id, jsonb_build_object(
	    'from', (w.c).risk_level, 'to', v_to) || note_id(p_body), sealed_in(p_body->>'reason'));
	if v_to < (w.c).risk_level then
		perform case_clocks_tighten((w.c).id);
		perform case_route_more((w.c).id, case_categories_json((w.c).id), p_client_id);
	end if;
	perform case_touch((w.c).id);
	return query select * from mutation_store(p_client_id, p_idem_key, w.endpoint,
	    p_request_hash, 201, centre_work_json((w.c).id, v_seq));
end $$;

-- POST /v1/cases/{n}/categories: add categories to a case (those it has
-- already are left out); the case is routed for the new ones.
create function case_categories_add(p_client_id bigint, p_idem_key text,
    p_request_hash bytea, p_case_number text, p_body jsonb)
returns table (status integer, code text, response jsonb, replayed boolean)
language plpgsql security definer set search_path = hotline, pg_temp as $$
declare
	w record;
	v_new jsonb;
	v_seq integer;
begin
	select * into w from centre_work_begin(p_client_id, p_idem_key, 'categories',
	    p_case_number, p_request_hash);
	if w.status is not null then
		return query select w.status, w.code, w.response, w.replayed;
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
	if (w.c).status = 'closed' then
		return query select *, false from api_fail(409, 'invalid_transition', null,
		    'the case is closed');
		return;
	end if;
	select jsonb_agg(e.value order by e.n) into v_new
	    from jsonb_array_elements(p_body->'categories') with ordinality e (value, n)
	    where not exists (select 1 from case_categories k where k.case_id = (w.c).id
		and k.category = e.value->>'category' and k.subcategory = e.value->>'subcategory');
	if v_new is null then
		return query select *, false from api_fail(409, 'invalid_transition', 'categories',
		    'the case has these categories already');
		return;
	end if;
	insert into case_categories (case_id, category, subcategory)
	    select (w.c).id, e->>'category', e->>'subcategory' from jsonb_array_elements(v_new) e;
	v_seq := case_event((w.c).id, 'categories_added', p_client_id,
	    jsonb_build_object('categories', v_new) || note_id(p_body), sealed_in(p_body->>'reason'));
	perform case_route_more((w.c).id, v_new, p_client_id);
	perform case_touch((w.c).id);
	return query select * from mutation_store(p_client_id, p_idem_key, w.endpoint,
	    p_request_hash, 201, centre_work_json((w.c).id, v_seq));
end $$;

-- POST /v1/cases/{n}/child: correct the child's details (sealed by the
-- daemon under the case's key); the old values are kept in
-- child_corrections, and the keyed digests of a corrected ID number, name
-- or birth date are replaced ("$digests": made by the daemon from the
-- corrected values).
create function case_child_correct(p_client_id bigint, p_idem_key text,
    p_request_hash bytea, p_case_number text, p_body jsonb)
returns table (status integer, code text, response jsonb, replayed boolean)
language plpgsql security definer set search_path = hotline, pg_temp as $$
declare
	w record;
	h children%rowtype;
	v_fields jsonb;
	v_seq integer;
begin
	select * into w from centre_work_begin(p_client_id, p_idem_key, 'child', p_case_number,
	    p_request_hash);
	if w.status is not null then
		return query select w.status, w.code, w.response, w.replayed;
		return;
	end if;
	select * into h from children where case_id = (w.c).id for update;
	select jsonb_agg(f order by n) into v_fields
	    from unnest(array['name', 'gender', 'age', 'birth_date', 'id_number', 'phone', 'school',
		'address']) with ordinality x (f, n)
	    where p_body ? f;
	v_seq := case_event((w.c).id, 'child_corrected', p_client_id,
	    jsonb_build_object('fields', v_fields) || note_id(p_body), sealed_in(p_body->>'reason'));
	insert into child_corrections (case_id, seq, name, birth_date, id_number, phone, school,
	    address, gender, age)
	values ((w.c).id, v_seq,
	    case when p_body ? 'name' then h.name end,
	    case when p_body ? 'birth_date' then h.birth_date end,
	    case when p_body ? 'id_number' then h.id_number end,
	    case when p_body ? 'phone' then h.phone end,
	    case when p_body ? 'school' then h.school end,
	    case when p_body ? 'address' then h.address end,
	    case when p_body ? 'gender' then h.gender end,
	    case when p_body ? 'age' then h.age end);
	update children set
	    name = case when p_body ? 'name' then sealed_in(p_body->>'name') else name end,
	    birth_date = case when p_body ? 'birth_date' then sealed_in(p_body->>'birth_date')
		else birth_date end,
	    id_number = case when p_body ? 'id_number' then sealed_in(p_body->>'id_number')
		else id_number end,
	    phone = case when p_body ? 'phone' then sealed_in(p_body->>'phone') else phone end,
	    school = case when p_body ? 'school' then sealed_in(p_body->>'school') else school end,
	    address = case when p_body ? 'address' then sealed_in(p_body->>'address')
		else address end,
	    gender = case when p_body ? 'gender' then p_body->>'gender' else gender end,
	    age = case when p_body ? 'age' then (p_body->>'age')::smallint else age end
	where case_id = (w.c).id;
	delete from identifiers i where i.case_id = (w.c).id
	    and ((i.kind = 'id' and p_body ? 'id_number')
		or (i.kind = 'name_birth' and (p_body ? 'name' or p_body ? 'birth_date')));
	perform identifiers_record((w.c).id, null, (p_body->'$digests')
	    - case when p_body ? 'id_number' then '' else 'child_id' end
	    - case when p_body ? 'name' or p_body ? 'birth_date' then '' else 'child_name_birth' end);
	perform case_touch((w.c).id);
	return query select * from mutation_store(p_client_id, p_idem_key, w.endpoint,
	    p_request_hash, 201, jsonb_build_object('case_number', p_case_number, 'seq', v_seq,
	    'fields', v_fields));
end $$;

-- The history of a case, in order; the free text of an event (a note, a
-- reason, a feedback's text, sealed under its note field: 012) and the old
-- values of a correction sealed, withheld or purged; the police case number
-- of 立案 to full readers only.
create or replace function case_view_history(p_case_id bigint, p_access text)
returns jsonb language sql stable as $$
	select coalesce(jsonb_agg(jsonb_strip_nulls(jsonb_build_object('seq', e.seq,
	    'at', api_ts(e.at), 'kind', e.kind, 'actor', e.actor, 'assignment', e.data->'assignment',
	    'agency', e.data->'agency', 'clock', e.data->'clock', 'outcome', e.data->'outcome',
	    'police_case_number', case when p_access = 'full' then e.data->'police_case_number' end,
	    'supervision', e.data->'supervision', 'recipient', e.data->'recipient',
	    'notice', e.data->'notice', 'cause', e.data->'cause',
	    'from', e.data->'from', 'to', e.data->'to', 'role', e.data->'role',
	    'level', e.data->'level', 'access_request', e.data->'access_request',
	    'categories', case when e.kind = 'categories_added' then e.data->'categories' end,
	    'fields', e.data->'fields', 'call', e.data->'call', 'disposition', e.data->'disposition',
	    'linked', e.data->'linked',
	    'note', case when n.case_id is null then null
		when p_access = 'full' then sealed_out(n.text, note_field(e.data))
		else hidden(p_access) end,
	    'was', case when w.case_id is null then null
		when p_access = 'full' then jsonb_strip_nulls(jsonb_build_object(
		    'name', sealed_out(w.name, 'child.name'),
		    'birth_date', sealed_out(w.birth_date, 'child.birth_date'),
		    'id_number', sealed_out(w.id_number, 'child.id_number'),
		    'phone', sealed_out(w.phone, 'child.phone'),
		    'school', sealed_out(w.school, 'child.school'),
		    'address', sealed_out(w.address, 'child.address'),
		    'gender', w.gender, 'age', w.age))
		else hidden(p_access) end))
	    order by e.seq), '[]')
	from case_events e left join case_notes n on n.case_id = e.case_id and n.seq = e.seq
	    left join child_corrections w on w.case_id = e.case_id and w.seq = e.seq
	where e.case_id = p_case_id
$$;

-- Purge one case's personal data now (the old values of its corrections
-- too); false if it already was.
create or replace function case_purge_id(p_case_id bigint, p_reason text)
returns boolean language plpgsql set search_path = hotline, pg_temp as $$
begin
	update cases set dek_wrapped = null, dek_kid = null, narrative = null, purged_at = now()
	    where id = p_case_id and purged_at is null;
	if not found then
		return false;
	end if;
	update children set name = null, birth_date = null, id_number = null, phone = null,
	    school = null, address = null where case_id = p_case_id;
	update child_corrections set name = null, birth_date = null, id_number = null, phone = null,
	    school = null, address = null where case_id = p_case_id;
	update reports set reporter_name = null, reporter_phone = null, reporter_id_number = null,
	    institution_name = null, actions_taken = null where case_id = p_case_id;
	update calls set caller_phone = null, summary = null, purged_at = now()
	    where case_id = p_case_id;
	update case_notes set text = null where case_id = p_case_id;
	delete from identifiers where case_id = p_case_id
	    or call_id in (select id from calls where case_id = p_case_id);
	perform case_event(p_case_id, 'purged', null, jsonb_build_object('reason', p_reason));
	return true;
end $$;

comment on function centre_work_begin(bigint, text, text, text, bytea) is 'The start of an operator''s work on a case: mutation_begin, then the centre''s case of the path, locked; status null to proceed, with the endpoint string.';
comment on function centre_work_json(bigint, integer) is 'The answer to an operator''s change: case number, event seq, risk, categories and assignments.';
comment on function case_route_more(bigint, jsonb, bigint) is 'Routes a case further for these categories at its risk level: agencies of the route plan without an assignment on it get one; returns how many.';
comment on function case_clocks_tighten(bigint) is 'Brings a case''s running service clocks forward to its risk level''s deadlines (never back); returns how many moved.';
comment on function case_note_add(bigint, text, bytea, text, jsonb) is 'API POST /v1/cases/{n}/notes: an operator''s note; returns (status, code, response, replayed).';
comment on function case_risk_set(bigint, text, bytea, text, jsonb) is 'API POST /v1/cases/{n}/risk: re-grades the risk with a reason, routing and tightening clocks when it rises; returns (status, code, response, replayed).';
comment on function case_categories_add(bigint, text, bytea, text, jsonb) is 'API POST /v1/cases/{n}/categories: adds categories and routes the case for them; returns (status, code, response, replayed).';
comment on function case_child_correct(bigint, text, bytea, text, jsonb) is 'API POST /v1/cases/{n}/child: corrects the child''s details, keeping the old values; returns (status, code, response, replayed).';
comment on function case_view_history(bigint, text) is 'The case view''s history: every event in order (police case number for full readers only), its free text sealed under its note field and a correction''s old values, withheld or purged.';

revoke execute on function centre_work_begin(bigint, text, text, text, bytea),
    centre_work_json(bigint, integer), case_route_more(bigint, jsonb, bigint),
    case_clocks_tighten(bigint), case_note_add(bigint, text, bytea, text, jsonb),
    case_risk_set(bigint, text, bytea, text, jsonb),
    case_categories_add(bigint, text, bytea, text, jsonb),
    case_child_correct(bigint, text, bytea, text, jsonb) from public;
grant execute on function case_note_add(bigint, text, bytea, text, jsonb),
    case_risk_set(bigint, text, bytea, text, jsonb),
    case_categories_add(bigint, text, bytea, text, jsonb),
    case_child_correct(bigint, text, bytea, text, jsonb) to hotlined;

reset role;
