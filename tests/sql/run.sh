#!/usr/bin/env bash
# SQL tests: run against a scratch database (created here from the
# migrations) through the daemon's role where they test its privileges.
# Prints TAP lines; exits 1 if any failed.
#   run.sh <database>        (PG* variables point at the server)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
db=${1:?usage: run.sh <database>}
export PGDATABASE=postgres
psql -X -q -c "drop database if exists $db" >/dev/null 2>&1
psql -X -q -c "create database $db" >/dev/null || { echo "not ok - create $db"; exit 1; }
export PGDATABASE=$db
if bash "$here/../../sql/migrate.sh" >/dev/null && psql -X -q -1 -v ON_ERROR_STOP=1 \
    -f "$here/../../sql/demo/demo.sql" >/dev/null; then
	echo "ok - migrations and demo data apply to an empty database"
else
	echo "not ok - migrations and demo data apply to an empty database"
	exit 1
fi
again=$(bash "$here/../../sql/migrate.sh")
[ -z "$again" ] && echo "ok - re-running the migrations is a no-op" ||
    echo "not ok - re-running the migrations is a no-op: $again"
out=$(psql -X -q -At -v ON_ERROR_STOP=1 -f "$here/tests.sql" 2>&1)
rc=$?
echo "$out"
psql -X -q -d postgres -c "drop database $db" >/dev/null 2>&1
[ $rc -eq 0 ] && ! grep -q '^not ok' <<<"$out"
