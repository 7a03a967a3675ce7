-- The floor of claim and acknowledge (tests/bench/ack-floor.sql): an
-- agency's open work in the queue's order and the cases' history, with the
-- keys and indexes such rows need, and nothing else (no triggers, no
-- row-level security, no clocks, no idempotency, no statistics).
create table floor_work (
	id		bigint generated always as identity primary key,
	assignment_id	uuid not null unique default gen_random_uuid(),
	case_id		bigint not null,
	agency_id	bigint not null,
	state		text not null default 'open',
	risk_level	smallint not null,
	next_due	timestamptz not null,
	acknowledged_at	timestamptz
);
create index floor_work_queue on floor_work (agency_id, state, risk_level, next_due, id);
create table floor_work_events (
	case_id		bigint not null,
	seq		integer not null,
	at		timestamptz not null default now(),
	kind		text not null,
	data		jsonb not null,
	primary key (case_id, seq)
);
