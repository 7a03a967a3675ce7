#!/usr/bin/env bash
# Apply sql/NNN_*.sql in order, each in its own transaction, recording each
# applied version (the file name without .sql) and the SHA-256 of the file as
# applied in hotline.schema_migrations; applied files are skipped, so
# re-running is a no-op.  Prints one line per migration applied; exits
# non-zero on the first failure (that file's transaction is rolled back).
#
# A migration is never edited once released: sql/releases/<version> lists
# the files of each release with their SHA-256 (see release.sh).  Before it
# applies anything, the runner refuses, naming the file and what to do:
#   - a file whose checksum differs from a release manifest's entry, or a
#     released file that is missing (caught even on an empty database);
#   - a database whose applied migration's recorded checksum differs from
#     the file's, or that was migrated before checksums were recorded;
#   - a database holding a migration this directory lacks (made by a newer
#     release);
#   - a new file numbered before one the database already has.
#
#   migrate.sh          apply what is missing
#   migrate.sh --check  only check the files against the release manifests
#
# The connection comes from the PG* environment variables (PGHOST, PGPORT,
# PGDATABASE, PGUSER, ...); connect as a superuser or as the database owner
# with CREATEROLE.  Concurrent runs are serialized by an advisory lock taken
# inside each transaction, and each file is re-checked under that lock.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

# The SHA-256 of a file, in hex.
sha256() {
	local sum
	sum=$(sha256sum <"$1")
	echo "${sum%% *}"
}

# Check every file of every release manifest: present and unchanged.
check_releases() {
	local m rel sum file rest bad=0
	for m in "$here"/releases/*; do
		[ -f "$m" ] || continue
		rel=$(basename "$m")
		while read -r sum file rest; do
			case $sum in
			'' | '#'*) continue ;;
			commit) continue ;;
			esac
			if ! [[ $sum =~ ^[0-9a-f]{64}$ && $file =~ ^[0-9]{3}_[A-Za-z0-9_]+\.sql$ &&
			    -z $rest ]]; then
				echo "migrate: releases/$rel: not a manifest line: $sum $file $rest" >&2
				bad=1
			elif [ ! -f "$here/$file" ]; then
				echo "migrate: $file belongs to release $rel but is missing from $here:" \
				    "a released migration is never removed; restore it" >&2
				bad=1
			elif [ "$(sha256 "$here/$file")" != "$sum" ]; then
				echo "migrate: $file differs from the file released in $rel:" \
				    "a released migration is never edited; restore it as released" \
				    "(git checkout) and put the change in a new numbered file" >&2
				bad=1
			fi
		done <"$m"
	done
	return $bad
}

case ${1:-} in
--check)
	check_releases
	exit
	;;
'') ;;
*)
	echo "usage: migrate.sh [--check]" >&2
	exit 2
	;;
esac
check_releases || exit 1

export PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning"
PSQL=(psql -X -q -v ON_ERROR_STOP=1)
# Each transaction takes the advisory lock (12355, 1): two int4 keys, a key
# space apart from the bigint keys the API functions use for idempotency.
"${PSQL[@]}" -1 -f - >/dev/null <<'SQL'
select pg_advisory_xact_lock(12355, 1);
create schema if not exists hotline;
create table if not exists hotline.schema_migrations (
	version		text primary key,
	applied_at	timestamptz not null default now(),
	sha256		text check (sha256 ~ '^[0-9a-f]{64}$')
);
alter table hotline.schema_migrations add column if not exists sha256 text
    check (sha256 ~ '^[0-9a-f]{64}$');
comment on column hotline.schema_migrations.sha256 is
    'The SHA-256 of the file as applied; migrate.sh refuses a file that no longer matches it.';
SQL

# What the database has, checked against the files before anything is applied.
declare -A applied=()
last=""
bad=0
while read -r v sum; do
	[ -n "$v" ] || continue
	applied[$v]=1
	last=$v
	f=$here/$v.sql
	if [ ! -f "$f" ]; then
		echo "migrate: this database has migration $v, which $here lacks: it was made" \
		    "by a newer release; run that release's migrate.sh" >&2
		bad=1
	elif [ "$sum" = - ]; then
		echo "migrate: $v was applied by a runner that recorded no checksum: this is a" \
		    "development database from before the first release; create it afresh" >&2
		bad=1
	elif [ "$(sha256 "$f")" != "$sum" ]; then
		echo "migrate: $v.sql has changed since it was applied to this database: a" \
		    "released migration is never edited; restore it as applied (git checkout)" \
		    "and put the change in a new numbered file" >&2
		bad=1
	fi
done < <("${PSQL[@]}" -At -F ' ' -c "select version, coalesce(sha256, '-')
    from hotline.schema_migrations order by version")

shopt -s nullglob
pending=()
for f in "$here"/[0-9][0-9][0-9]_*.sql; do
	v=$(basename "$f" .sql)
	[ -z "${applied[$v]:-}" ] || continue
	if [[ -n $last && $v < $last ]]; then
		echo "migrate: $v is new but numbered before $last, which this database already" \
		    "has: a new migration takes the next free number" >&2
		bad=1
	fi
	pending+=("$f")
done
[ $bad -eq 0 ] || exit 1

for f in "${pending[@]}"; do
	v=$(basename "$f" .sql)
	sum=$(sha256 "$f")
	# The check, the file and its record form one transaction (-1).
	out=$("${PSQL[@]}" -1 -f - -v v="$v" -v f="$f" -v sum="$sum" <<'SQL'
\o /dev/null
select pg_advisory_xact_lock(12355, 1);
select exists (select 1 from hotline.schema_migrations where version = :'v') as done \gset
\if :done
\else
\i :f
reset role;
insert into hotline.schema_migrations (version, applied_at, sha256) values (:'v', now(), :'sum');
\echo applied
\endif
SQL
	) || { echo "migrate: $v failed" >&2; exit 1; }
	if [ "$out" = applied ]; then
		echo "migrate: applied $v"
	fi
done
