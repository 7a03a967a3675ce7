-- The floor's tables (tests/bench/floor.sql): a case, its history and its
-- assignments with the keys and indexes such rows need, and nothing else
-- (no triggers, no row-level security, no routing, no encryption).
create table floor_cases (
	id		bigint generated always as identity primary key,
	region_code	text not null,
	risk_level	smallint not null,
	status		text not null default 'open',
	created_at	timestamptz not null default now(),
	narrative	bytea not null
);
create table floor_case_events (
	case_id		bigint not null references floor_cases (id),
	seq		integer not null,
	at		timestamptz not null default now(),
	kind		text not null,
	data		jsonb not null,
	primary key (case_id, seq)
);
create table floor_assignments (
	id		bigint generated always as identity primary key,
	assignment_id	uuid not null unique default gen_random_uuid(),
	case_id		bigint not null references floor_cases (id),
	agency_id	bigint not null,
	role		text not null,
	state		text not null default 'open',
	created_at	timestamptz not null default now()
);
create index floor_assignments_agency on floor_assignments (agency_id, state);
create index floor_assignments_case on floor_assignments (case_id);
