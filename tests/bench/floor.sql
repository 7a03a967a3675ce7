-- The floor of durable intake, for pgbench -M prepared: the minimal
-- transaction that stores a case, its first history event and one
-- assignment, committed (synchronous_commit on) before the next begins.
-- Tables: tests/bench/floor-schema.sql.
\set risk random(1, 4)
\set agency random(1, 64)
begin;
insert into floor_cases (region_code, risk_level, narrative)
    values ('320102', :risk, convert_to(repeat('某校学生反映', 40), 'UTF8')) returning id \gset
insert into floor_case_events (case_id, seq, kind, data)
    values (:id, 1, 'created', '{"source": "report", "risk_level": 2}');
insert into floor_assignments (case_id, agency_id, role) values (:id, :agency, 'primary');
end;
