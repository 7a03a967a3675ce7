-- What clients read of a case: the case view (GET /v1/cases/{n}) as its
-- reader may see it, assembled from one piece per part (history, child,
-- report, calls, related cases), and the reporter's milestones
-- (GET /v1/reports/{receipt}/status).  Who may see what is decided in
-- 005_protection.sql (case_access_level); a view only shows it.
--
-- Every piece takes the view's access: 'full' (personal fields sealed for the
-- daemon to open), 'redacted' (withheld) or 'purged' (destroyed).
set role hotline_owner;
set search_path = hotline, pg_temp;

-- A sealed value for the daemon to open: {"$enc": base64, "f": field}.
-- The field name comes from here, never from the data, so a value moved
-- to another column fails to open.
create function sealed_out(p sealed, p_field text)
returns jsonb language sql immutable as $$
	select case when p is null then null
	    else jsonb_build_object('$enc', translate(encode(p, 'base64'), E'\n', ''), 'f', p_field) end
$$;

-- The marker standing for personal data a view does not show: withheld from
-- this reader, or purged.
create function hidden(p_access text)
returns jsonb language sql immutable as $$
	select case when p_access = 'purged' then '{"purged": true}'::jsonb
	    else '{"withheld": true}'::jsonb end
$$;

-- The history of a case, in order; the free text of an event (a note, a
-- reason) sealed, withheld or purged.
create function case_view_history(p_case_id bigint, p_access text)
returns jsonb language sql stable as $$
	select coalesce(jsonb_agg(jsonb_strip_nulls(jsonb_build_object('seq', e.seq,
	    'at', api_ts(e.at), 'kind', e.kind, 'actor', e.actor, 'assignment', e.data->'assignment',
	    'agency', e.data->'agency', 'clock', e.data->'clock', 'outcome', e.data->'outcome',
	    'from', e.data->'from', 'to', e.data->'to', 'role', e.data->'role',
	    'level', e.data->'level', 'access_request', e.data->'access_request',
	    'note', case when n.case_id is null then null
		when p_access = 'full' then sealed_out(n.text, 'note') else hidden(p_access) end))
	    order by e.seq), '[]')
	from case_events e left join case_notes n on n.case_id = e.case_id and n.seq = e.seq
	where e.case_id = p_case_id
$$;

-- The child a case is about: gender, age and region always; the personal
-- fields sealed, or the marker of what is hidden.
create function case_view_child(p_case_id bigint, p_access text)
returns jsonb language sql stable as $$
	select jsonb_strip_nulls(case when p_access = 'full' then jsonb_build_object(
	    'name', sealed_out(h.name, 'child.name'),
	    'birth_date', sealed_out(h.birth_date, 'child.birth_date'),
	    'id_number', sealed_out(h.id_number, 'child.id_number'),
	    'phone', sealed_out(h.phone, 'child.phone'),
	    'school', sealed_out(h.school, 'child.school'),
	    'address', sealed_out(h.address, 'child.address'))
	    else hidden(p_access) end
	    || jsonb_build_object('gender', h.gender, 'age', h.age, 'region_code', h.region_code))
	from children h where h.case_id = p_case_id
$$;

-- The mandatory report of a case: the reporter's identity only for a full
-- view that may include it (p_reporter), the institution's name only for a
-- full view.
create function case_view_report(p_case_id bigint, p_access text, p_reporter boolean)
returns jsonb language sql stable as $$
	select jsonb_strip_nulls(jsonb_build_object(
	    'receipt_id', r.receipt_id,
	    'reporter', case when p_access = 'full' and p_reporter then jsonb_strip_nulls(
		jsonb_build_object('name', sealed_out(r.reporter_name, 'reporter.name'),
		'phone', sealed_out(r.reporter_phone, 'reporter.phone'),
		'id_number', sealed_out(r.reporter_id_number, 'reporter.id_number'),
		'profession', r.reporter_profession))
		else hidden(p_access) end,
	    'institution', jsonb_strip_nulls(jsonb_build_object(
		'name', case when p_access = 'full' then
		    sealed_out(r.institution_name, 'institution.name') end,
		'withheld', case when p_access = 'redacted' then true end,
		'type', r.institution_type, 'region_code', r.institution_region)),
	    'situations', to_jsonb(r.situations), 'suspected', r.suspected,
	    'discovered_at', api_ts(r.discovered_at), 'reported_at', api_ts(r.reported_at),
	    'immediate_danger', r.immediate_danger,
	    'actions_taken', case when p_access = 'full' then
		sealed_out(r.actions_taken, 'report.actions_taken')
		when p_access = 'redacted' and r.actions_taken is null then null
		else hidden(p_access) end))
	from reports r where r.case_id = p_case_id
$$;

-- The calls of a case, in order: the caller's number only for a full view;
-- the summary sealed, or the marker of what is hidden.
create function case_view_calls(p_case_id bigint, p_access text)
returns jsonb language sql stable as $$
	select coalesce(jsonb_agg(jsonb_strip_nulls(jsonb_build_object('call_id', k.call_id,
	    'started_at', api_ts(k.started_at), 'ended_at', api_ts(k.ended_at),
	    'caller_type', k.caller_type, 'disposition', k.disposition,
	    'caller_phone', case when p_access = 'full' then
		sealed_out(k.caller_phone, 'call.caller_phone') end,
	    'summary', case when p_access = 'full' then sealed_out(k.summary, 'call.summary')
		when p_access = 'redacted' and k.summary is null then null
		else hidden(p_access) end))
	    order by k.id), '[]')
	from calls k where k.case_id = p_case_id
$$;

-- Other cases about the same child (the same keyed digest) that this client
-- may see.
create function case_view_related(p_case_id bigint, p_client clients)
returns jsonb language sql stable as $$
	select coalesce(jsonb_agg(jsonb_build_object('case_number', o.case_number,
	    'source', o.source, 'status', o.status, 'created_at', api_ts(o.created_at),
	    'matched', m.kinds) order by o.created_at), '[]')
	from (select i2.case_id, jsonb_agg(distinct i2.kind) as kinds
	    from identifiers i1 join identifiers i2 on i2.kind = i1.kind
		and i2.digest = i1.digest and i2.case_id <> p_case_id
	    where i1.case_id = p_case_id group by i2.case_id) m
	join cases o on o.id = m.case_id
	where (case_access_level(p_client, o)).level is not null
$$;

-- GET /v1/cases/{n}: the case as this client may see it, or null (404).
-- Personal fields come sealed with the case's wrapped data key ("$key"); the
-- daemon opens them.  A read that includes personal data is written to the
-- access log in this same transaction: no log row, no data.
create function case_view(p_client_id bigint, p_case_number text)
returns jsonb
language plpgsql security definer set search_path = hotline, pg_temp as $$
declare
	v_client clients%rowtype;
	c cases%rowtype;
	acc record;
	v_access text;
	v jsonb;
begin
	select * into v_client from clients where id = p_client_id and revoked_at is null;
	select * into c from cases where case_number = p_case_number;
	if v_client.id is null or c.id is null then
		return null;
	end if;
	select * into acc from case_access_level(v_client, c);
	if acc.level is null then
		return null;
	end if;
	v_access := case when c.purged_at is not null then 'purged' else acc.level end;
	v := jsonb_build_object(
	    'case_number', c.case_number,
	    'source', c.source,
	    'status', c.status,
	    'risk_level', c.risk_level,
	    'region_code', c.region_code,
	    'created_at', api_ts(c.created_at),
	    'access', v_access,
	    'categories', case_categories_json(c.id),
	    'history', case_view_history(c.id, v_access),
	    'assignments', (select coalesce(jsonb_agg(assignment_json(a.id) order by a.id), '[]')
		from assignments a where a.case_id = c.id),
	    'narrative', case when v_access = 'full' then sealed_out(c.narrative, 'case.narrative')
		else hidden(v_access) end,
	    'child', case_view_child(c.id, v_access));
	if c.closed_at is not null then
		v := v || jsonb_build_object('closed_at', api_ts(c.closed_at));
	end if;
	if v_access = 'purged' then
		v := v || jsonb_build_object('purged_at', api_ts(c.purged_at));
	elsif v_access = 'full' then
		v := v || jsonb_build_object('$key', case_data_key(c),
		    'related_cases', case_view_related(c.id, v_client));
		insert into access_log (case_id, client_id, agency_id, basis, access_request, reporter)
		values (c.id, v_client.id, v_client.agency_id, acc.basis, acc.request,
		    acc.reporter and c.source = 'report');
	end if;
	if c.source = 'report' then
		v := v || jsonb_build_object('report', case_view_report(c.id, v_access, acc.reporter));
	else
		v := v || jsonb_build_object('calls', case_view_calls(c.id, v_access));
	end if;
	return v;
end $$;

-- GET /v1/reports/{receipt}/status: the milestones a reporter may see.
create function report_status(p_client_id bigint, p_receipt text)
returns jsonb
language sql stable security definer set search_path = hotline, pg_temp as $$
	select jsonb_build_object('receipt_id', r.receipt_id, 'milestones', (
	    select jsonb_agg(m order by m->>'at', m->>'milestone') from (
		select jsonb_build_object('milestone', 'received', 'at', api_ts(c.created_at)) m
		union all
		select jsonb_build_object('milestone', 'accepted', 'at', api_ts(min(e.at)))
		from case_events e where e.case_id = c.id and e.kind = 'outcome'
		    and e.data->>'outcome' in ('accepted', 'case_opened')
		having count(*) > 0
		union all
		select jsonb_build_object('milestone', 'case_opened', 'at', api_ts(min(e.at)))
		from case_events e where e.case_id = c.id and e.kind = 'outcome'
		    and e.data->>'outcome' = 'case_opened'
		having count(*) > 0
		union all
		select jsonb_build_object('milestone', 'feedback_given', 'at', api_ts(min(e.at)))
		from case_events e where e.case_id = c.id and e.kind = 'feedback'
		having count(*) > 0) x))
	from reports r join cases c on c.id = r.case_id
	where r.receipt_id = p_receipt and r.client_id = p_client_id
	    and exists (select 1 from clients where id = p_client_id and revoked_at is null)
$$;

comment on function sealed_out(sealed, text) is 'A sealed value with its field name, for the daemon to open.';
comment on function hidden(text) is 'The marker of personal data a view does not show: {"withheld": true}, or {"purged": true} once purged.';
comment on function case_view_history(bigint, text) is 'The case view''s history: every event in order, its free text sealed, withheld or purged.';
comment on function case_view_child(bigint, text) is 'The case view''s child: gender, age and region, the personal fields sealed or hidden.';
comment on function case_view_report(bigint, text, boolean) is 'The case view''s mandatory report: the reporter only for a full view that may include it.';
comment on function case_view_calls(bigint, text) is 'The case view''s calls: the caller''s number only for a full view, the summary sealed or hidden.';
comment on function case_view_related(bigint, clients) is 'Other cases about the same child (same keyed digest) the client may see.';
comment on function case_view(bigint, text) is 'API GET /v1/cases/{n}: the case as this client may see it (null: 404); logs every read of personal data.';
comment on function report_status(bigint, text) is 'API GET /v1/reports/{receipt}/status: the milestones the reporting gateway may see (null: 404).';

revoke execute on all functions in schema hotline from public;
grant execute on function case_view(bigint, text), report_status(bigint, text) to hotlined;

reset role;
