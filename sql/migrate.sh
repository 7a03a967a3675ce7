#!/usr/bin/env bash
# Apply sql/NNN_*.sql in order, each in its own transaction, recording each
# applied version (the file name without .sql) in hotline.schema_migrations;
# applied files are skipped, so re-running is a no-op.  Prints one line per
# migration applied; exits non-zero on the first failure (that file's
# transaction is rolled back).
#
# The connection comes from the PG* environment variables (PGHOST, PGPORT,
# PGDATABASE, PGUSER, ...); connect as a superuser or as the database owner
# with CREATEROLE.  Concurrent runs are serialized by an advisory lock taken
# inside each transaction, and each file is re-checked under that lock.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning"
PSQL=(psql -X -q -v ON_ERROR_STOP=1)
# Each transaction takes the advisory lock (12355, 1): two int4 keys, a key
# space apart from the bigint keys the API functions use for idempotency.
"${PSQL[@]}" -1 -f - >/dev/null <<'SQL'
select pg_advisory_xact_lock(12355, 1);
create schema if not exists hotline;
create table if not exists hotline.schema_migrations (
	version		text primary key,
	applied_at	timestamptz not null default now()
);
SQL

applied=$("${PSQL[@]}" -At -c "select version from hotline.schema_migrations")
shopt -s nullglob
for f in "$here"/[0-9][0-9][0-9]_*.sql; do
	v=$(basename "$f" .sql)
	if grep -qxF -- "$v" <<<"$applied"; then
		continue
	fi
	# The check, the file and its record form one transaction (-1).
	out=$("${PSQL[@]}" -1 -f - -v v="$v" -v f="$f" <<'SQL'
\o /dev/null
select pg_advisory_xact_lock(12355, 1);
select exists (select 1 from hotline.schema_migrations where version = :'v') as done \gset
\if :done
\else
\i :f
reset role;
insert into hotline.schema_migrations (version, applied_at) values (:'v', now());
\echo applied
\endif
SQL
	) || { echo "migrate: $v failed" >&2; exit 1; }
	if [ "$out" = applied ]; then
		echo "migrate: applied $v"
	fi
done
