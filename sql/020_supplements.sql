-- Supplements to a mandatory report: the reporter learns more (a teacher
-- hears the rest of the story) and the mini-program's backend adds it to
-- the report it filed (POST /v1/reports/{receipt_id}/supplements).  The text
-- is sealed by the daemon under the case's data key (work_key, by receipt)
-- and its note id (kept in the event's data: 010_casework.sql);
-- it is a history event of the case (kind supplement, its text as the
-- event's note, for those with full access), and the case shows as updated
-- in the queue of every agency on it.
set role hotline_owner;
set search_path = hotline, pg_temp;

-- POST /v1/reports/{receipt}/supplements: the filing gateway adds to its
-- report.
create function report_supplement(p_client_id bigint, p_idem_key text, p_request_hash bytea,
    p_receipt text, p_body jsonb)
returns table (status integer, code text, response jsonb, replayed boolean)
language plpgsql security definer set search_path = hotline, pg_temp as $$
declare
	m record;
	c cases%rowtype;
	v_seq integer;
begin
	select * into m from mutation_begin(p_client_id, '{gateway}', p_idem_key, 'supplements',
	    p_receipt, p_request_hash);
	if m.status is not null then
		return query select m.status, m.code, m.response, m.replayed;
		return;
	end if;
	select x.* into c from cases x join reports r on r.case_id = x.id
	    where r.receipt_id = p_receipt and r.client_id = p_client_id for update of x;
	if c.id is null then
		return query select *, false from api_fail(404, 'not_found', null, 'no such report');
		return;
	end if;
	if c.purged_at is not null then
		return query select *, false from api_fail(409, 'case_purged', null,
		    'this case''s personal data has been purged');
		return;
	end if;
	v_seq := case_event(c.id, 'supplement', p_client_id, note_id(p_body),
	    sealed_in(p_body->>'text'));
	perform case_touch(c.id);
	return query select * from mutation_store(p_client_id, p_idem_key, m.endpoint,
	    p_request_hash, 201, jsonb_build_object('receipt_id', p_receipt, 'seq', v_seq,
	    'received_at', api_ts(now())));
end $$;

comment on function report_supplement(bigint, text, bytea, text, jsonb) is 'API POST /v1/reports/{receipt}/supplements: the filing gateway adds text to its report, a history event; returns (status, code, response, replayed).';

revoke execute on function report_supplement(bigint, text, bytea, text, jsonb) from public;
grant execute on function report_supplement(bigint, text, bytea, text, jsonb) to hotlined;

reset role;
