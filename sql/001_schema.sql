-- hotlined schema: reference data, clients, calls, cases, reports, history
-- and idempotency.  Objects belong to hotline_owner; the daemon's role
-- hotlined owns nothing and may only execute the API functions (003).

do $$
begin
	if not exists (select 1 from pg_roles where rolname = 'hotline_owner') then
		create role hotline_owner nologin;
	end if;
	if not exists (select 1 from pg_roles where rolname = 'hotlined') then
		create role hotlined login;
	end if;
end $$;

alter schema hotline owner to hotline_owner;
alter table hotline.schema_migrations owner to hotline_owner;
revoke all on schema hotline from public;
grant usage on schema hotline to hotlined;
alter role hotlined set synchronous_commit = on;
alter role hotlined set statement_timeout = '10s';
alter role hotlined set search_path = hotline, pg_temp;

set role hotline_owner;
set search_path = hotline, pg_temp;

-- Administrative regions (GB/T 2260): province, city, county.
create table regions (
	code		text primary key check (code ~ '^[1-9][0-9]{5}$'),
	name		text not null,
	parent_code	text references regions (code)
);

-- Kinds of agency that can receive assignments.
create table agency_kinds (
	kind	text primary key,
	name	text not null
);

-- Agencies by kind and region; parent_id is the next level for escalation.
create table agencies (
	id		bigint generated always as identity primary key,
	code		text not null unique,
	kind		text not null references agency_kinds (kind),
	region_code	text not null references regions (code),
	name		text not null,
	parent_id	bigint references agencies (id)
);

-- Clients identified by their certificate; the role decides what they may do.
create table clients (
	id		bigint generated always as identity primary key,
	name		text not null unique,
	role		text not null check (role in ('operator', 'gateway', 'agency', 'admin')),
	agency_id	bigint references agencies (id),
	cert_sha256	text not null unique check (cert_sha256 ~ '^[0-9a-f]{64}$'),
	created_at	timestamptz not null default now(),
	revoked_at	timestamptz,
	check ((role = 'agency') = (agency_id is not null))
);

-- Case categories (the routing key).
create table categories (
	code	text primary key,
	name	text not null
);

-- Subcategories of each category.
create table subcategories (
	category	text not null references categories (code),
	code		text not null,
	name		text not null,
	primary key (category, code)
);

-- Four-level risk grading.
create table risk_levels (
	level	smallint primary key check (level between 1 and 4),
	colour	text not null,
	name	text not null
);

-- The nine statutory situations of a mandatory report and what they imply.
create table situations (
	situation	smallint primary key check (situation between 1 and 9),
	description	text not null,
	min_risk	smallint not null references risk_levels (level),
	category	text not null,
	subcategory	text not null,
	foreign key (category, subcategory) references subcategories (category, code)
);

create sequence case_number_seq;

-- A case: one child, one or more categories; personal fields are kept in
-- their own columns (children, reports) apart from the routing data.
create table cases (
	id		bigint generated always as identity primary key,
	case_number	text not null unique,
	source		text not null check (source in ('call', 'report')),
	region_code	text not null references regions (code),
	risk_level	smallint not null references risk_levels (level),
	status		text not null default 'open' check (status in ('open', 'closed')),
	created_by	bigint not null references clients (id),
	created_at	timestamptz not null default now(),
	narrative	text not null
);

-- The categories of a case.
create table case_categories (
	case_id		bigint not null references cases (id),
	category	text not null,
	subcategory	text not null,
	primary key (case_id, category, subcategory),
	foreign key (category, subcategory) references subcategories (category, code)
);

-- The child a case is about (personal data).
create table children (
	case_id		bigint primary key references cases (id),
	name		text,
	gender		text check (gender in ('female', 'male', 'unknown')),
	age		smallint check (age between 0 and 17),
	birth_date	date,
	id_number	text,
	phone		text,
	school		text,
	address		text,
	region_code	text not null references regions (code)
);

-- Every hotline call, including silent, hang-up and prank calls.
create table calls (
	id			bigint generated always as identity primary key,
	call_id			uuid not null unique default gen_random_uuid(),
	client_id		bigint not null references clients (id),
	started_at		timestamptz not null,
	ended_at		timestamptz not null check (ended_at >= started_at),
	caller_type		text not null check (caller_type in ('child_self', 'about_child', 'unknown')),
	caller_phone		text,
	language		text not null,
	topic_category		text references categories (code),
	topic_subcategory	text,
	summary			text,
	disposition		text not null check (disposition in ('counselled', 'information',
				    'referred', 'silent', 'hang_up', 'prank', 'abusive', 'case_opened')),
	case_id			bigint references cases (id),
	received_at		timestamptz not null default now(),
	check ((disposition = 'case_opened') = (case_id is not null))
);
create index calls_case_id on calls (case_id) where case_id is not null;

-- Mandatory reports (强制报告): the reporter's identity is confidential.
create table reports (
	case_id			bigint primary key references cases (id),
	client_id		bigint not null references clients (id),
	receipt_id		text not null unique check (receipt_id ~ '^R[A-Z2-7]{20}$'),
	reporter_name		text not null,
	reporter_phone		text not null,
	reporter_id_number	text,
	reporter_profession	text not null,
	institution_name	text not null,
	institution_type	text not null,
	institution_region	text references regions (code),
	situations		smallint[] not null check (cardinality(situations) between 1 and 9),
	suspected		boolean not null,
	discovered_at		timestamptz not null,
	reported_at		timestamptz not null check (reported_at >= discovered_at),
	immediate_danger	boolean not null,
	actions_taken		text
);

-- The history of a case, in order; never holds personal data.
create table case_events (
	case_id		bigint not null references cases (id),
	seq		integer not null,
	at		timestamptz not null default now(),
	kind		text not null,
	actor		bigint references clients (id),
	data		jsonb not null default '{}',
	primary key (case_id, seq)
);

-- Idempotency records: the stored response of each (client, key).
create table idempotency (
	client_id	bigint not null references clients (id),
	key		text not null,
	endpoint	text not null,
	request_hash	bytea not null,
	status		integer not null,
	response	jsonb not null,
	created_at	timestamptz not null default now(),
	primary key (client_id, key)
);
create index idempotency_created_at on idempotency (created_at);

-- Tell every daemon to reload its identity cache when clients change.
create function clients_notify() returns trigger
language plpgsql as $$
begin
	perform pg_notify('hotline_clients', '');
	return null;
end $$;

create trigger clients_notify after insert or update or delete on clients
	for each statement execute function clients_notify();

reset role;
