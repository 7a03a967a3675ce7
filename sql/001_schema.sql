-- hotlined schema: reference data, clients, calls, cases, reports, history
-- and idempotency.  Every object belongs to hotline_owner; the daemon's role
-- hotlined owns nothing and may only execute the API functions (granted at
-- the end of each file that defines them).
-- Personal data (names, phones, ID numbers, addresses, schools, narratives,
-- summaries, notes) is never stored in plain text: each such column is of
-- domain `sealed`, AES-256-GCM ciphertext made by the daemon under the
-- case's (or call's) own data key, which is stored wrapped by a master key
-- the database never sees (see daemon/crypto.c).  Each such column is
-- commented 'personal data: ...'.

do $$
begin
	if not exists (select 1 from pg_roles where rolname = 'hotline_owner') then
		create role hotline_owner nologin;
	end if;
	if not exists (select 1 from pg_roles where rolname = 'hotlined') then
		create role hotlined login;
	end if;
	-- A database owner that is not a superuser needs the membership to
	-- hand the schema over and to create objects as hotline_owner.
	if not (select rolsuper from pg_roles where rolname = current_user)
	    and not pg_has_role(current_user, 'hotline_owner', 'member') then
		execute format('grant hotline_owner to %I', current_user);
	end if;
end $$;

alter schema hotline owner to hotline_owner;
alter table hotline.schema_migrations owner to hotline_owner;
revoke all on schema hotline from public;
grant usage on schema hotline to hotlined;

-- No function of hotline_owner is ever executable by PUBLIC, not even
-- between its creation and the explicit REVOKE at the end of a migration.
alter default privileges for role hotline_owner revoke execute on functions from public;

-- The daemon's session: durable commits, bounded statements, a fixed path,
-- and READ COMMITTED (idempotency re-reads after taking its lock).
alter role hotlined set synchronous_commit = on;
alter role hotlined set statement_timeout = '10s';
alter role hotlined set idle_in_transaction_session_timeout = '60s';
alter role hotlined set default_transaction_isolation = 'read committed';
alter role hotlined set search_path = hotline, pg_temp;

set role hotline_owner;
set search_path = hotline, pg_temp;

comment on table schema_migrations is 'The migrations (sql/NNN_*.sql) applied to this database, by sql/migrate.sh.';

-- Administrative regions (GB/T 2260): province, city, county.
create table regions (
	code		text primary key check (code ~ '^[1-9][0-9]{5}$'),
	name		text not null check (name <> ''),
	parent_code	text references regions (code) check (parent_code <> code)
);
comment on table regions is 'Administrative regions (GB/T 2260 six-digit codes) with their parent region.';

-- Kinds of agency that can receive assignments.
create table agency_kinds (
	kind	text primary key check (kind in ('police', 'procuratorate', 'education',
		    'civil_affairs', 'health', 'legal_aid', 'coordination')),
	name	text not null
);
comment on table agency_kinds is 'The kinds of agency that receive cases (police, procuratorate, ...).';

-- Agencies by kind and region; parent_id is the next level for escalation.
create table agencies (
	id		bigint generated always as identity primary key,
	code		text not null unique check (code ~ '^[a-z][a-z0-9_-]{0,63}$'),
	kind		text not null references agency_kinds (kind),
	region_code	text not null references regions (code),
	name		text not null check (name <> ''),
	parent_id	bigint references agencies (id) check (parent_id <> id),
	unique (kind, region_code)
);
comment on table agencies is 'Agencies by kind and region (one per kind and region); parent_id is the next level up for escalation.';

-- Clients identified by their certificate; the role decides what they may do.
create table clients (
	id		bigint generated always as identity primary key,
	name		text not null unique check (name <> ''),
	role		text not null check (role in ('operator', 'gateway', 'agency', 'admin')),
	agency_id	bigint references agencies (id),
	cert_sha256	char(64) not null unique check (cert_sha256 ~ '^[0-9a-f]{64}$'),
	created_at	timestamptz not null default now(),
	revoked_at	timestamptz,
	approver	boolean not null default false,
	check ((role = 'agency') = (agency_id is not null)),
	check (not approver or role = 'agency')
);
comment on table clients is 'API clients identified by the SHA-256 of their certificate; the role decides what they may do.';
comment on column clients.approver is 'An agency client that may approve its agency''s requests for access to personal data.';

-- Case categories (the routing key).
create table categories (
	code	text primary key check (code ~ '^[a-z][a-z_]{0,31}$'),
	name	text not null
);
comment on table categories is 'Case categories, the routing key (bullying, abuse, psychological, legal).';

-- Subcategories of each category.
create table subcategories (
	category	text not null references categories (code),
	code		text not null check (code ~ '^[a-z][a-z_]{0,31}$'),
	name		text not null,
	primary key (category, code)
);
comment on table subcategories is 'The subcategories of each category (data, editable by administrators).';

-- Four-level risk grading.
create table risk_levels (
	level	smallint primary key check (level between 1 and 4),
	colour	text not null,
	name	text not null
);
comment on table risk_levels is 'The four risk levels, 1 红 critical to 4 蓝 low.';

-- The nine statutory situations of a mandatory report and what they imply.
create table situations (
	situation	smallint primary key check (situation between 1 and 9),
	description_zh	text not null,
	description_en	text not null,
	min_risk	smallint not null references risk_levels (level),
	category	text not null,
	subcategory	text not null,
	foreign key (category, subcategory) references subcategories (category, code)
);
comment on table situations is 'The nine statutory situations of a mandatory report, with the minimum risk and the category each implies.';

-- A sealed personal value: version byte 1, nonce, ciphertext, tag.  A
-- plain-text value cannot satisfy it by accident.
create domain sealed as bytea
	check (octet_length(value) between 29 and 65536 and get_byte(value, 0) = 1);
comment on domain sealed is 'Personal data sealed by the daemon (AES-256-GCM: 0x01, nonce, ciphertext, tag); never plain text.';

-- Case numbers: one global sequence (YYYY-RRRRRR-NNNNNNNN).
create sequence case_number_seq;
comment on sequence case_number_seq is 'The global sequence of case numbers (the last part of YYYY-RRRRRR-NNNNNNNN).';

-- True when an array holds no element twice.
create function array_is_set(p anyarray)
returns boolean language sql immutable strict parallel safe as $$
	select cardinality(p) = (select count(distinct x) from unnest(p) x)
$$;
comment on function array_is_set(anyarray) is 'True when the array holds no element twice (for CHECK constraints).';

-- A case: one child, one or more categories; personal fields are kept in
-- their own columns (children, reports) apart from the routing data.
create table cases (
	id		bigint generated always as identity primary key,
	case_number	text not null unique check (case_number ~ '^20[0-9]{2}-[1-9][0-9]{5}-[0-9]{8,}$'),
	source		text not null check (source in ('call', 'report')),
	region_code	text not null references regions (code),
	risk_level	smallint not null references risk_levels (level),
	status		text not null default 'open' check (status in ('open', 'closed')),
	created_by	bigint not null references clients (id),
	created_at	timestamptz not null default now(),
	closed_at	timestamptz,
	narrative	sealed,
	dek_uid		uuid not null,
	dek_kid		text check (dek_kid ~ '^[a-z0-9_-]{1,32}$'),
	dek_wrapped	bytea check (octet_length(dek_wrapped) = 60),
	purged_at	timestamptz,
	history_len	integer not null default 0,
	history_head	bytea,
	check ((status = 'closed') = (closed_at is not null)),
	check ((purged_at is null) = (dek_wrapped is not null and dek_kid is not null)),
	check (purged_at is not null or narrative is not null)
);
comment on table cases is 'Cases opened by a call or a mandatory report; the region is the child''s county.';
comment on column cases.narrative is 'personal data: what happened, as told by the caller or reporter';
comment on column cases.history_len is 'How many history events the case has, and history_head the last one''s hash (a deleted last event is detected).';
comment on column cases.dek_uid is 'The id of the case''s data key (bound into every ciphertext of the case).';
comment on column cases.dek_wrapped is 'The case''s data key wrapped by master key dek_kid; null once purged (crypto-shredded).';

-- The categories of a case.
create table case_categories (
	case_id		bigint not null references cases (id),
	category	text not null,
	subcategory	text not null,
	primary key (case_id, category, subcategory),
	foreign key (category, subcategory) references subcategories (category, code)
);
comment on table case_categories is 'The (category, subcategory) pairs of a case: what routes it.';

-- The child a case is about (personal data).
create table children (
	case_id		bigint primary key references cases (id),
	name		sealed,
	gender		text check (gender in ('female', 'male', 'unknown')),
	age		smallint check (age between 0 and 17),
	birth_date	sealed,
	id_number	sealed,
	phone		sealed,
	school		sealed,
	address		sealed,
	region_code	text not null references regions (code)
);
comment on table children is 'The child a case is about, one per case (personal data apart from region_code, gender and age).';
comment on column children.name is 'personal data: the child''s name';
comment on column children.birth_date is 'personal data: the child''s date of birth';
comment on column children.id_number is 'personal data: the child''s resident ID number';
comment on column children.phone is 'personal data: the child''s phone number';
comment on column children.school is 'personal data: the child''s school';
comment on column children.address is 'personal data: the child''s address';

-- Every hotline call, including silent, hang-up and prank calls.
create table calls (
	id			bigint generated always as identity primary key,
	call_id			uuid not null unique default gen_random_uuid(),
	client_id		bigint not null references clients (id),
	started_at		timestamptz not null,
	ended_at		timestamptz not null,
	caller_type		text not null check (caller_type in ('child_self', 'about_child', 'unknown')),
	caller_phone		sealed,
	language		text not null default 'zh' check (char_length(language) <= 35
				    and language ~ '^[a-z]{2,3}(-[A-Za-z0-9]{2,8}){0,3}$'),
	topic_category		text references categories (code),
	topic_subcategory	text,
	summary			sealed,
	disposition		text not null check (disposition in ('counselled', 'information',
				    'referred', 'silent', 'hang_up', 'prank', 'abusive', 'case_opened')),
	case_id			bigint references cases (id),
	received_at		timestamptz not null default now(),
	dek_uid			uuid,
	dek_kid			text check (dek_kid ~ '^[a-z0-9_-]{1,32}$'),
	dek_wrapped		bytea check (octet_length(dek_wrapped) = 60),
	purged_at		timestamptz,
	-- A call that opened a case uses the case's data key; any other its own.
	check ((case_id is null) = (dek_uid is not null)),
	check (case_id is not null or (purged_at is null) =
	    (dek_wrapped is not null and dek_kid is not null)),
	check (ended_at >= started_at and ended_at <= started_at + interval '24 hours'),
	check (topic_subcategory is null or topic_category is not null),
	check ((disposition = 'case_opened') = (case_id is not null)),
	foreign key (topic_category, topic_subcategory) references subcategories (category, code)
);
create index calls_case_id on calls (case_id) where case_id is not null;
create index calls_started_at on calls (started_at);
comment on table calls is 'Every hotline call, including silent, hang-up and prank calls; case_id is the case it opened.';
comment on column calls.caller_phone is 'personal data: the caller''s number (null when withheld)';
comment on column calls.summary is 'personal data: the operator''s summary of the call';
comment on column calls.dek_wrapped is 'A call that opened no case: its own data key, wrapped; null once purged.';

-- Mandatory reports (强制报告): the reporter's identity is confidential.
create table reports (
	case_id			bigint primary key references cases (id),
	client_id		bigint not null references clients (id),
	receipt_id		text not null unique check (receipt_id ~ '^R[A-Z2-7]{20}$'),
	reporter_name		sealed,
	reporter_phone		sealed,
	reporter_id_number	sealed,
	reporter_profession	text not null check (reporter_profession in ('teacher',
				    'kindergarten_staff', 'doctor', 'nurse', 'social_worker',
				    'hotel_staff', 'community_worker', 'other')),
	institution_name	sealed,
	institution_type	text not null check (institution_type in ('school', 'kindergarten',
				    'nursery', 'hospital', 'clinic', 'welfare_institution',
				    'social_work_agency', 'hotel', 'residents_committee',
				    'villagers_committee', 'other')),
	institution_region	text references regions (code),
	situations		smallint[] not null check (cardinality(situations) between 1 and 9
				    and situations <@ '{1,2,3,4,5,6,7,8,9}'::smallint[]
				    and array_is_set(situations)),
	suspected		boolean not null,
	discovered_at		timestamptz not null,
	reported_at		timestamptz not null check (reported_at >= discovered_at),
	immediate_danger	boolean not null,
	actions_taken		sealed
);
comment on table reports is 'Mandatory reports (强制报告), one per case; the reporter''s identity is confidential.';
comment on column reports.reporter_name is 'personal data: the reporter''s name (confidential)';
comment on column reports.reporter_phone is 'personal data: the reporter''s phone number (confidential)';
comment on column reports.reporter_id_number is 'personal data: the reporter''s resident ID number (confidential)';
comment on column reports.institution_name is 'personal data: the reporting institution''s name (identifies the reporter)';
comment on column reports.actions_taken is 'personal data: what the reporting unit has done';

-- The history of a case, in order; never holds personal data.  Append-only,
-- and each event's hash covers the previous one (tamper-evident).
create table case_events (
	case_id		bigint not null references cases (id),
	seq		integer not null check (seq >= 1),
	at		timestamptz not null default now(),
	kind		text not null check (kind ~ '^[a-z][a-z_]{0,31}$'),
	actor		bigint references clients (id),
	data		jsonb not null default '{}' check (jsonb_typeof(data) = 'object'),
	hash		bytea not null,
	primary key (case_id, seq),
	check ((seq = 1) = (kind = 'created'))
);
comment on table case_events is 'The history of a case (append-only, hash-chained); data never holds personal data.';
comment on column case_events.hash is 'SHA-256 over the previous event''s hash and this event (see case_event_hash).';

-- The hash of one event, chained to the previous event's hash.
create function case_event_hash(p_prev bytea, p_case_id bigint, p_seq integer,
    p_at timestamptz, p_kind text, p_actor bigint, p_data jsonb)
returns bytea language sql stable parallel safe as $$
	select sha256(coalesce(p_prev, '\x'::bytea) || convert_to(concat_ws('|', p_case_id, p_seq,
	    to_char(p_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), p_kind,
	    coalesce(p_actor::text, ''), p_data::text), 'UTF8'))
$$;
comment on function case_event_hash(bytea, bigint, integer, timestamptz, text, bigint, jsonb) is 'The SHA-256 chaining one history event to the previous one.';

-- Chain each new event to its predecessor; events are numbered without gaps.
create function case_events_chain() returns trigger
language plpgsql set search_path = hotline, pg_temp as $$
declare
	v_prev bytea;
begin
	if new.seq > 1 then
		select e.hash into v_prev from case_events e
		    where e.case_id = new.case_id and e.seq = new.seq - 1;
		if not found then
			raise exception 'case history events must be numbered without gaps'
			    using errcode = 'integrity_constraint_violation';
		end if;
	end if;
	new.hash := case_event_hash(v_prev, new.case_id, new.seq, new.at, new.kind, new.actor,
	    new.data);
	update cases set history_len = new.seq, history_head = new.hash where id = new.case_id;
	return new;
end $$;
comment on function case_events_chain() is 'Trigger: computes the hash chaining a new history event to its predecessor.';

create trigger case_events_chain before insert on case_events
	for each row execute function case_events_chain();

-- The history is append-only: no update, delete or truncate.
create function case_events_append_only() returns trigger
language plpgsql set search_path = hotline, pg_temp as $$
begin
	raise exception 'the case history is append-only'
	    using errcode = 'insufficient_privilege';
end $$;
comment on function case_events_append_only() is 'Trigger: refuses any change to the history other than appending.';

create trigger case_events_no_update before update or delete on case_events
	for each row execute function case_events_append_only();
create trigger case_events_no_truncate before truncate on case_events
	for each statement execute function case_events_append_only();

-- Idempotency records: the stored response of each (client, key).
create table idempotency (
	client_id	bigint not null references clients (id),
	key		text not null check (key ~ '^[A-Za-z0-9._:-]{1,128}$'),
	endpoint	text not null check (endpoint <> ''),
	request_hash	bytea not null,
	status		integer not null check (status between 200 and 299),
	response	jsonb not null,
	created_at	timestamptz not null default now(),
	primary key (client_id, key)
);
create index idempotency_created_at on idempotency (created_at);
comment on table idempotency is 'The stored successful response of each (client, Idempotency-Key), kept at least 7 days.';

-- Tell every daemon to reload its identity cache when clients change.
create function clients_notify() returns trigger
language plpgsql set search_path = hotline, pg_temp as $$
begin
	perform pg_notify('hotline_clients', '');
	return null;
end $$;
comment on function clients_notify() is 'Trigger: NOTIFY hotline_clients so that every daemon reloads its identity cache.';

create trigger clients_notify after insert or update or delete on clients
	for each statement execute function clients_notify();

reset role;
