-- What readers see of the casework: the case history shows each note under
-- the field name it was sealed with (note:<id>, kept in its event's data,
-- so a ciphertext moved to another note's row fails its tag; notes written
-- before ids were kept open as "note"), the police case number of 立案 to
-- full readers, the type and recipient of a supervision record and the
-- notice of a feedback to every reader; and the reporter's milestones
-- include 不予立案 (the fact, never the reason), a transfer, the notice
-- before 移送审查起诉, and each feedback with its text for the reporting
-- unit (sealed; its reading is in the access log).
set role hotline_owner;
set search_path = hotline, pg_temp;

-- The field name an event's free text was sealed under: note:<id>, or
-- note for one written before note ids.
create function note_field(p_data jsonb)
returns text language sql immutable as $$
	select 'note' || coalesce(':' || (p_data->>'note_id'), '')
$$;

-- The history of a case, in order; the free text of an event (a note, a
-- reason, a feedback's text) sealed, withheld or purged.
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
	    'note', case when n.case_id is null then null
		when p_access = 'full' then sealed_out(n.text, note_field(e.data))
		else hidden(p_access) end))
	    order by e.seq), '[]')
	from case_events e left join case_notes n on n.case_id = e.case_id and n.seq = e.seq
	where e.case_id = p_case_id
$$;

-- GET /v1/reports/{receipt}/status: the milestones a reporter may see,
-- never the case's content: received, accepted (受案 or 立案), case_opened
-- (立案), declined (不予立案), transferred (the primary work went to another
-- agency), prosecution_notice (told before 移送审查起诉) and feedback_given,
-- the last two with the text for the reporting unit when the police wrote
-- one (sealed, with the case's key for the daemon to open it; the reading
-- is in the access log).
create or replace function report_status(p_client_id bigint, p_receipt text)
returns jsonb
language plpgsql security definer set search_path = hotline, pg_temp as $$
declare
	r reports%rowtype;
	c cases%rowtype;
	v_ms jsonb;
	v jsonb;
begin
	select x.* into r from reports x where x.receipt_id = p_receipt and x.client_id = p_client_id
	    and exists (select 1 from clients k where k.id = p_client_id and k.revoked_at is null);
	if r.case_id is null then
		return null;
	end if;
	select * into c from cases where id = r.case_id;
	select jsonb_agg(m order by m->>'at', m->>'milestone') into v_ms from (
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
		select jsonb_build_object('milestone', 'declined', 'at', api_ts(min(e.at)))
		from case_events e where e.case_id = c.id and e.kind = 'outcome'
		    and e.data->>'outcome' = 'declined'
		having count(*) > 0
		union all
		select jsonb_build_object('milestone', 'transferred', 'at', api_ts(e.at))
		from case_events e join assignments a on a.assignment_id = (e.data->>'from')::uuid
		where e.case_id = c.id and e.kind = 'transferred' and a.role = 'primary'
		union all
		select jsonb_strip_nulls(jsonb_build_object('milestone', case
		    when e.data->>'notice' = 'prosecution' then 'prosecution_notice'
		    else 'feedback_given' end, 'at', api_ts(e.at),
		    'text', sealed_out(n.text, note_field(e.data))))
		from case_events e left join case_notes n on n.case_id = e.case_id and n.seq = e.seq
		where e.case_id = c.id and e.kind = 'feedback') x;
	v := jsonb_build_object('receipt_id', r.receipt_id, 'milestones', v_ms);
	if v::text like '%"$enc"%' then
		v := v || jsonb_build_object('$key', case_data_key(c));
		insert into access_log (case_id, client_id, agency_id, basis, access_request, reporter)
		values (c.id, p_client_id, null, 'creator', null, false);
	end if;
	return v;
end $$;

comment on function note_field(jsonb) is 'The field name an event''s free text is sealed under: note:<note_id of its data>, or note without one.';
comment on function case_view_history(bigint, text) is 'The case view''s history: every event in order (police case number for full readers only), its free text sealed under its note field, withheld or purged.';
comment on function report_status(bigint, text) is 'API GET /v1/reports/{receipt}/status: the milestones the reporting gateway may see, feedback texts sealed for the daemon (logged as read); null: 404.';

revoke execute on all functions in schema hotline from public;

reset role;
