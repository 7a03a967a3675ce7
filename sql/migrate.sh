#!/usr/bin/env bash
# Apply sql/NNN_*.sql in order, each in its own transaction, recording each
# in hotline.schema_migrations; applied files are skipped, so re-running is
# a no-op.  Connects with the PG* environment variables as a superuser.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning"
PSQL=(psql -X -q -v ON_ERROR_STOP=1)
"${PSQL[@]}" <<'SQL' >/dev/null
create schema if not exists hotline;
create table if not exists hotline.schema_migrations (
	version text primary key,
	applied_at timestamptz not null default now()
);
SQL
for f in "$here"/[0-9][0-9][0-9]_*.sql; do
	v=$(basename "$f" .sql)
	done=$("${PSQL[@]}" -Atc "select 1 from hotline.schema_migrations where version = '$v'")
	[ "$done" = 1 ] && continue
	{ cat "$f"; printf "\ninsert into hotline.schema_migrations (version) values ('%s');\n" "$v"; } |
	    "${PSQL[@]}" -1 -f - >/dev/null
	echo "migrate: applied $v"
done
