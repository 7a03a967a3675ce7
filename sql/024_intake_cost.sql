-- What a report costs the database.  The same rows and the same history,
-- for fewer statements:
--
--   * A history event is chained by whoever appends it: case_event reads
--     the case's recorded length and last hash (history_len, history_head)
--     under the case's row lock, computes the new hash and updates the case
--     once.  The chaining trigger runs only for an insert that brings no
--     hash (a script's, a fill's), so every other path pays no lookup of
--     the previous event.  Only hotline_owner's functions write the history;
--     audit_verify (hotlinectl audit) checks every chain whoever hashed it.
--   * The next due time is read by walking the two partial indexes of the
--     running clocks (ORDER BY ... LIMIT 1): on a table never analysed the
--     planner otherwise aggregates over the whole index for min().
--     clock_start reads it inline, a cached plan, instead of calling
--     clock_next_due (a SQL function with its own search_path is planned
--     afresh at every call).
--   * The agencies of new assignments see their case through one
--     statement-level trigger per INSERT (a transition table), not one
--     trigger call per row.
set role hotline_owner;
set search_path = hotline, pg_temp;

-- The chaining trigger, for inserts that bring no hash of their own.
drop trigger case_events_chain on case_events;
create trigger case_events_chain before insert on case_events
	for each row when (new.hash is null) execute function case_events_chain();

-- Append an event to a case's history: the next seq and the previous hash
-- come from the case row, locked for ordering.
create or replace function case_event(p_case_id bigint, p_kind text, p_actor bigint, p_data jsonb,
    p_note sealed default null)
returns integer language plpgsql as $$
declare
	v_seq integer;
	v_prev bytea;
	v_data jsonb := coalesce(p_data, '{}');
	v_hash bytea;
begin
	select c.history_len + 1, c.history_head into v_seq, v_prev
	    from cases c where c.id = p_case_id for update;
	v_hash := case_event_hash(v_prev, p_case_id, v_seq, now(), p_kind, p_actor, v_data);
	insert into case_events (case_id, seq, at, kind, actor, data, hash)
	    values (p_case_id, v_seq, now(), p_kind, p_actor, v_data, v_hash);
	update cases set history_len = v_seq, history_head = v_hash where id = p_case_id;
	if p_note is not null then
		insert into case_notes (case_id, seq, text) values (p_case_id, v_seq, p_note);
	end if;
	return v_seq;
end $$;

-- The earliest moment a clock needs attention: the first entry of each
-- partial index, whatever the statistics say.
create or replace function clock_next_due()
returns timestamptz
language sql stable security definer set search_path = hotline, pg_temp as $$
	select least(
	    (select k.warn_at from clocks k where k.stopped_at is null and k.fired_at is null
		and k.warned_at is null and k.set_aside_at is null order by k.warn_at limit 1),
	    (select k.due_at from clocks k where k.stopped_at is null and k.fired_at is null
		and k.set_aside_at is null order by k.due_at limit 1))
$$;

-- Start a clock on an assignment; warns at the configured share of its time.
-- Daemons are told (NOTIFY hotline_clock) only when this clock needs attention
-- before every other running one: otherwise their timers are already early enough.
create or replace function clock_start(p_assignment bigint, p_kind text, p_within interval)
returns void language plpgsql as $$
declare
	v_warn timestamptz := now() + p_within *
	    (select value::float8 from settings where name = 'warn_share');
	v_next timestamptz := least(
	    (select k.warn_at from clocks k where k.stopped_at is null and k.fired_at is null
		and k.warned_at is null and k.set_aside_at is null order by k.warn_at limit 1),
	    (select k.due_at from clocks k where k.stopped_at is null and k.fired_at is null
		and k.set_aside_at is null order by k.due_at limit 1));
begin
	insert into clocks (assignment_id, case_id, kind, warn_at, due_at)
	    select p_assignment, a.case_id, p_kind, v_warn, now() + p_within
	    from assignments a where a.id = p_assignment;
	if v_next is null or v_warn < v_next then
		perform pg_notify('hotline_clock', '');
	end if;
end $$;

-- New assignments: their agencies see their cases (one statement-level
-- trigger call per INSERT).
create function case_access_assignments() returns trigger
language plpgsql set search_path = hotline, pg_temp as $$
begin
	insert into case_access (case_id, agency_id)
	    select distinct n.case_id, n.agency_id from added n
	    on conflict do nothing;
	return null;
end $$;
drop trigger case_access_assignment on assignments;
drop function case_access_assignment();
create trigger case_access_assignment after insert on assignments
	referencing new table as added
	for each statement execute function case_access_assignments();

comment on function case_event(bigint, text, bigint, jsonb, sealed) is 'Appends an event (and its sealed note) to a case''s history, chained to the case''s recorded last hash; returns its seq.';
comment on function clock_next_due() is 'API: the earliest moment a clock needs attention (the first entry of two partial indexes).';
comment on function case_access_assignments() is 'Trigger (per statement): the agencies of new assignments see their cases.';

revoke execute on all functions in schema hotline from public;

reset role;
