-- The floor of claim and acknowledge, for pgbench -M prepared with one
-- client per agency: the most urgent open assignment of the client's
-- agency (the claim), then, committed (synchronous_commit on), its state
-- and the case's next history event (the acknowledgement).
-- Tables: tests/bench/ack-floor-schema.sql, filled by the bench.
\set agency :client_id + 1
select id as aid, case_id as cid from floor_work where agency_id = :agency and state = 'open'
    order by risk_level, next_due, id limit 1 \gset
begin;
update floor_work set state = 'acknowledged', acknowledged_at = now()
    where id = :aid and state = 'open';
insert into floor_work_events (case_id, seq, kind, data)
    select :cid, coalesce(max(seq), 0) + 1, 'acknowledged', '{"by": "floor"}'
    from floor_work_events where case_id = :cid;
end;
