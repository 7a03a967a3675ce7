#!/usr/bin/env bash
# SQL tests.  Builds database <name> from the migrations and the demo data,
# registers the test clients with client_upsert, then runs each subject's
# tests/sql/<subject>.sql (sharing fixtures.psql) in a fresh copy of it
# (CREATE DATABASE ... TEMPLATE), plus the checks that need two sessions.
# API behaviour is tested through the daemon's role (SET ROLE hotlined).
# Prints TAP lines ("ok - ..." / "not ok - ..."); exits 1 if any failed.
#   run.sh <database> [subject ...]   (PG* variables point at the server;
#                                      connect as a superuser)
# With subjects (e.g. "intake routing") only their files run, after the
# migration checks and before the two-session checks.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
sql=$(cd "$here/../../sql" && pwd)
db=${1:?usage: run.sh <database> [subject ...]}
shift
subjects=("$@")
[[ $db =~ ^[a-z_][a-z0-9_]{0,40}$ ]] || { echo "not ok - database name must match [a-z_][a-z0-9_]*"; exit 1; }
export PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning"
PSQL=(psql -X -q -v ON_ERROR_STOP=1)
failed=0
tap() {		# tap <condition-exit-status> <name> [diagnostic]
	if [ "$1" -eq 0 ]; then
		echo "ok - $2"
	else
		echo "not ok - $2${3:+: $3}"
		failed=1
	fi
}
admin() { "${PSQL[@]}" -d postgres "$@"; }
copies=()
cleanup() {
	local d
	for d in "${copies[@]}" "$db"; do
		admin -c "drop database if exists $d" >/dev/null 2>&1
	done
}
trap cleanup EXIT

# Each function is created by one migration only, and commented in the file
# that creates it.  A later file may "create or replace" it: a migration
# once applied anywhere is not edited, released or not, so a change to a
# function goes in a new file.
out=$(cd "$sql" && awk '
	FNR == 1 { file = FILENAME }
	/^create function / { n = $3; sub(/\(.*/, "", n); nf++
		if (n in def) print n ": created in " def[n] " and " file
		def[n] = file; mine[n, file] = 1 }
	/create or replace function / { n = $0; sub(/.*create or replace function /, "", n)
		sub(/\(.*/, "", n); mine[n, file] = 1
		if (!(n in def)) print file ": create or replace of " n ", which no earlier file creates" }
	/^comment on function / { n = $4; sub(/\(.*/, "", n); com[n, file] = 1 }
	END {
		for (n in def) if (!((n, def[n]) in com)) print n ": not commented in " def[n]
		for (k in com) if (!(k in mine)) { split(k, p, SUBSEP)
			print p[1] ": commented in " p[2] ", which neither creates nor redefines it" }
		if (nf < 50) print "only " nf " functions found"
	}' [0-9][0-9][0-9]_*.sql)
tap $([ -z "$out" ]; echo $?) "each function is created by one migration only (a later one may redefine it) and commented there" "$out"

admin -c "drop database if exists $db" >/dev/null 2>&1
admin -c "create database $db" >/dev/null || { echo "not ok - create database $db"; exit 1; }
export PGDATABASE=$db

out=$(bash "$sql/migrate.sh" 2>&1 && "${PSQL[@]}" -1 -f "$sql/demo/demo.sql" 2>&1)
tap $? "migrations and demo data apply to an empty database" "$out"
[ $failed -eq 0 ] || exit 1
files=("$sql"/[0-9][0-9][0-9]_*.sql)
nfiles=${#files[@]}
[ "$(grep -c '^migrate: applied ' <<<"$out")" -eq "$nfiles" ]
tap $? "migrate.sh prints one line per applied migration ($nfiles)" "$out"
again=$(bash "$sql/migrate.sh" 2>&1)
tap $? "re-running migrate.sh succeeds"
[ -z "$again" ]
tap $? "re-running migrate.sh is a no-op (prints nothing)" "$again"
n=$("${PSQL[@]}" -At -c "select count(*) from hotline.schema_migrations")
[ "$n" = "$nfiles" ]
tap $? "schema_migrations records each migration once" "$n"
again=$("${PSQL[@]}" -1 -f "$sql/demo/demo.sql" 2>&1 &&
    "${PSQL[@]}" -At -c "select count(*) from hotline.agencies")
[ "$again" = 22 ]
tap $? "the demo data is idempotent" "$again"

# Two migrate.sh at once on an empty database: each migration applied once.
par="${db}_par"
copies+=("$par")
admin -c "drop database if exists $par" >/dev/null 2>&1
admin -c "create database $par" >/dev/null
o1=$(mktemp)
o2=$(mktemp)
PGDATABASE=$par bash "$sql/migrate.sh" >"$o1" 2>&1 &
p1=$!
PGDATABASE=$par bash "$sql/migrate.sh" >"$o2" 2>&1
r2=$?
wait $p1
r1=$?
n=$(cat "$o1" "$o2" | grep -c '^migrate: applied ')
[ $r1 -eq 0 ] && [ $r2 -eq 0 ] && [ "$n" = "$nfiles" ]
tap $? "two migrate.sh run at once apply each migration once" "rc=$r1,$r2 applied=$n $(cat "$o1" "$o2")"
rm -f "$o1" "$o2"
admin -c "drop database if exists $par" >/dev/null 2>&1

# A failing migration is rolled back whole and stops the run with an error.
bad=$(mktemp -d)
cp "$sql"/[0-9][0-9][0-9]_*.sql "$bad/"
cp "$sql/migrate.sh" "$bad/"
printf 'create table hotline.zz_half (x int);\nselect 1/0;\n' >"$bad/999_broken.sql"
out=$(bash "$bad/migrate.sh" 2>&1)
rc=$?
left=$("${PSQL[@]}" -At -c "select (to_regclass('hotline.zz_half') is null)::int +
    (select count(*) from hotline.schema_migrations where version = '999_broken')")
[ $rc -ne 0 ] && [ "$left" = 1 ]
tap $? "a failing migration exits non-zero and leaves nothing behind" "rc=$rc left=$left"
rm -rf "$bad"

# --- Releases: manifests and checksums (sql/releases, release.sh, migrate.sh).
nrel=$(find "$sql/releases" -type f 2>/dev/null | wc -l)
out=$(bash "$sql/release.sh" verify 2>&1)
tap $? "every release manifest matches the files in sql/ and at its commit ($nrel declared)" "$out"
want=$(cd "$sql" && for f in [0-9][0-9][0-9]_*.sql; do
	s=$(sha256sum <"$f"); echo "${f%.sql} ${s%% *}"; done)
got=$("${PSQL[@]}" -At -F ' ' -c "select version, sha256 from hotline.schema_migrations order by version")
[ "$want" = "$got" ]
tap $? "schema_migrations records the SHA-256 of each file as applied" "$got"

# A scratch copy of sql/ released as 9.9.9, then edited: refused before any
# database is touched.
rel=$(mktemp -d)
cp "$sql"/[0-9][0-9][0-9]_*.sql "$sql/migrate.sh" "$rel/"
mkdir "$rel/releases"
{ echo "commit 0123456789abcdef0123456789abcdef01234567"
  (cd "$rel" && sha256sum [0-9][0-9][0-9]_*.sql); } >"$rel/releases/9.9.9"
out=$(bash "$rel/migrate.sh" --check 2>&1)
tap $? "migrate.sh --check accepts files that match their release manifest" "$out"
echo "-- edited in place" >>"$rel/002_reference.sql"
out=$(bash "$rel/migrate.sh" --check 2>&1)
rc=$?
[ $rc -ne 0 ] && grep -q "^migrate: 002_reference.sql differs from the file released in 9.9.9: a released migration is never edited; .* put the change in a new numbered file$" <<<"$out"
tap $? "an edited released file fails migrate.sh --check, naming the file, the release and what to do" "rc=$rc $out"
fresh="${db}_rel"
copies+=("$fresh")
admin -c "drop database if exists $fresh" >/dev/null 2>&1
admin -c "create database $fresh" >/dev/null
out=$(PGDATABASE=$fresh bash "$rel/migrate.sh" 2>&1)
rc=$?
left=$(PGDATABASE=$fresh "${PSQL[@]}" -At -c "select count(*) from pg_namespace where nspname = 'hotline'")
[ $rc -ne 0 ] && grep -q "^migrate: 002_reference.sql differs from the file released in 9.9.9" <<<"$out" &&
    [ "$left" = 0 ]
tap $? "migrate.sh refuses it even on an empty database, before applying anything" "rc=$rc left=$left $out"
cp "$sql/002_reference.sql" "$rel/"
mv "$rel/004_routing.sql" "$rel/004_routing.sql.gone"
out=$(bash "$rel/migrate.sh" --check 2>&1)
rc=$?
[ $rc -ne 0 ] && grep -q "^migrate: 004_routing.sql belongs to release 9.9.9 but is missing" <<<"$out"
tap $? "a released file that is missing is refused too" "rc=$rc $out"
mv "$rel/004_routing.sql.gone" "$rel/004_routing.sql"
rm -r "$rel/releases"

# The same copy applied to a database, then edited: the database's records
# are what refuses it.
out=$(PGDATABASE=$fresh bash "$rel/migrate.sh" 2>&1)
tap $? "the copy applies to an empty database" "$out"
echo "-- edited in place" >>"$rel/003_api.sql"
printf 'create table hotline.zz_next (x int);\n' >"$rel/999_next.sql"
out=$(PGDATABASE=$fresh bash "$rel/migrate.sh" 2>&1)
rc=$?
left=$(PGDATABASE=$fresh "${PSQL[@]}" -At -c "select (to_regclass('hotline.zz_next') is null)::int
    + (select count(*) from hotline.schema_migrations)")
[ $rc -ne 0 ] && [ "$left" = $((nfiles + 1)) ] &&
    grep -q "^migrate: 003_api.sql has changed since it was applied to this database: a released migration is never edited; .* put the change in a new numbered file$" <<<"$out"
tap $? "migrate.sh refuses a database whose applied migration was edited since, naming the file and what to do, and applies nothing" "rc=$rc left=$left $out"
cp "$sql/003_api.sql" "$rel/"
out=$(PGDATABASE=$fresh bash "$rel/migrate.sh" 2>&1)
[ $? -eq 0 ] && [ "$out" = "migrate: applied 999_next" ]
tap $? "with the file restored, the new numbered file applies on top" "$out"
printf 'select 1;\n' >"$rel/500_early.sql"
out=$(PGDATABASE=$fresh bash "$rel/migrate.sh" 2>&1)
rc=$?
[ $rc -ne 0 ] && grep -q "^migrate: 500_early is new but numbered before 999_next, which this database already has" <<<"$out"
tap $? "a new file numbered before an applied one is refused" "rc=$rc $out"
rm "$rel/500_early.sql" "$rel/999_next.sql"
out=$(PGDATABASE=$fresh bash "$rel/migrate.sh" 2>&1)
rc=$?
[ $rc -ne 0 ] && grep -q "^migrate: this database has migration 999_next, which $rel lacks: it was made by a newer release" <<<"$out"
tap $? "a database holding a migration the directory lacks (a newer release's) is refused" "rc=$rc $out"
printf 'create table hotline.zz_next (x int);\n' >"$rel/999_next.sql"
PGDATABASE=$fresh "${PSQL[@]}" -c "update hotline.schema_migrations set sha256 = null
    where version = '001_schema'"
out=$(PGDATABASE=$fresh bash "$rel/migrate.sh" 2>&1)
rc=$?
[ $rc -ne 0 ] && grep -q "^migrate: 001_schema was applied by a runner that recorded no checksum" <<<"$out"
tap $? "a database migrated before checksums were recorded is refused" "rc=$rc $out"
rm -rf "$rel"
admin -c "drop database if exists $fresh" >/dev/null 2>&1

# Test clients (fake fingerprints: the SHA-256 of the name, or one repeated
# hex digit where a test needs to know it).
"${PSQL[@]}" >/dev/null <<'SQL' || { echo "not ok - register the test clients"; exit 1; }
-- Two seats of the Nanjing centre, one of Suzhou's.
select hotline.client_upsert_seat(n, c, coalesce(f, encode(sha256(convert_to(n, 'UTF8')), 'hex')))
from (values
	('t-op', '320100', repeat('a', 64)),
	('t-op2', '320100', null),
	('t-opb', '320500', null)) s (n, c, f);
select hotline.client_upsert(n, r, a, coalesce(f, encode(sha256(convert_to(n, 'UTF8')), 'hex')))
from (values
	('t-gw', 'gateway', null, repeat('b', 64)),
	('t-gw2', 'gateway', null, repeat('c', 64)),
	('t-gw3', 'gateway', null, null),
	('t-admin', 'admin', null, repeat('d', 64)),
	('t-police', 'agency', 'police-320102', repeat('e', 64)),
	('t-police4', 'agency', 'police-320104', null),
	('t-proc', 'agency', 'procuratorate-320102', null),
	('t-edu', 'agency', 'education-320102', null),
	('t-gone', 'gateway', null, repeat('f', 64))) c (n, r, a, f);
select hotline.client_revoke('t-gone');
SQL

# Each test file runs in its own copy of the prepared database.
files=("$here"/*.sql)
if [ ${#subjects[@]} -gt 0 ]; then
	files=()
	for s in "${subjects[@]}"; do
		[ -f "$here/$s.sql" ] || { tap 1 "$s.sql exists"; continue; }
		files+=("$here/$s.sql")
	done
fi
i=0
for f in "${files[@]}"; do
	i=$((i + 1))
	copy="${db}_t$i"
	copies+=("$copy")
	admin -c "drop database if exists $copy" >/dev/null 2>&1
	if ! admin -c "create database $copy template $db" >/dev/null; then
		tap 1 "$(basename "$f"): copy the test database"
		continue
	fi
	out=$(cd "$here" && PGDATABASE=$copy "${PSQL[@]}" -At -f "$f" 2>&1)
	rc=$?
	echo "$out"
	if [ $rc -ne 0 ] || grep -q '^not ok' <<<"$out"; then
		failed=1
	fi
	[ $rc -eq 0 ] || tap 1 "$(basename "$f") runs to its end" "psql exited $rc"
	admin -c "drop database if exists $copy" >/dev/null 2>&1
done

# --- Checks that need two sessions (in the prepared database itself).
client_id_of() { "${PSQL[@]}" -At -c "select id from hotline.clients where name = '$1'"; }
gw=$(client_id_of t-gw)
# A report as the daemon sends it: personal fields sealed (a stand-in of the
# same shape), with the case's wrapped data key.
body='{"reporter":{"name":"AQAAAAAAAAAAAAAAAHNlYWxlZC1pbi10ZXN0AAAAAAAAAAAAAAAAAAAAAA==","phone":"AQAAAAAAAAAAAAAAAHNlYWxlZC1pbi10ZXN0AAAAAAAAAAAAAAAAAAAAAA==","profession":"teacher"},"institution":{"name":"AQAAAAAAAAAAAAAAAHNlYWxlZC1pbi10ZXN0AAAAAAAAAAAAAAAAAAAAAA==","type":"school"},"child":{"region_code":"320104"},"situations":[2],"suspected":true,"discovered_at":"2026-11-01T08:00:00+08:00","reported_at":"2026-11-01T09:00:00+08:00","narrative":"AQAAAAAAAAAAAAAAAHNlYWxlZC1pbi10ZXN0AAAAAAAAAAAAAAAAAAAAAA==","immediate_danger":false,"$key":{"uid":"6f1c8e2a-0000-4000-8000-000000000002","kid":"ktest","wrapped":"q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6ur"}}'

# 1. While one transaction holds (client, key), another gets 409 at once;
#    after the first commits, the retry replays its response.
first=$(mktemp)
"${PSQL[@]}" -At -v gw="$gw" -v body="$body" >"$first" 2>&1 <<'SQL' &
set application_name = 'sqltest-inflight';
set hotline.scope = 'system';
begin;
set local role hotlined;
select response from hotline.intake_report(:gw, 'inflight', '\x0102', :'body');
select pg_sleep(3);
commit;
SQL
bg=$!
held=0
for _ in $(seq 1 50); do
	n=$("${PSQL[@]}" -At -c "select count(*) from pg_locks l join pg_stat_activity a on a.pid = l.pid
	    where l.locktype = 'advisory' and l.granted and a.application_name = 'sqltest-inflight'")
	[ "$n" -ge 1 ] && { held=1; break; }
	sleep 0.1
done
second=$("${PSQL[@]}" -At -v gw="$gw" -v body="$body" <<'SQL'
set hotline.scope = 'system';
set role hotlined;
select status, response->'error'->>'code', replayed
from hotline.intake_report(:gw, 'inflight', '\x0102', :'body');
SQL
)
[ $held = 1 ] && [ "$second" = "409|idempotency_in_flight|f" ]
tap $? "the same client and key while the first is in flight is 409 idempotency_in_flight" "$second"
wait $bg
orig=$(head -1 "$first")
third=$("${PSQL[@]}" -At -v gw="$gw" -v body="$body" <<'SQL'
set hotline.scope = 'system';
set role hotlined;
select status || '|' || replayed || '|' || response::text
from hotline.intake_report(:gw, 'inflight', '\x0102', :'body');
SQL
)
[ -n "$orig" ] && [ "$third" = "201|true|$orig" ]
tap $? "once the first has committed, the retry replays its response" "$third / $orig"
n=$("${PSQL[@]}" -At -c "select count(*) from hotline.idempotency where key = 'inflight'")
[ "$n" = 1 ]
tap $? "the in-flight race stored one record" "$n"
rm -f "$first"

# 2. Any change to clients notifies hotline_clients (the daemons' cache).
out=$("${PSQL[@]}" -c "listen hotline_clients" \
    -c "select hotline.client_upsert('t-notify', 'gateway', null, repeat('9', 64))" 2>&1)
grep -q 'notification "hotline_clients" received' <<<"$out"
tap $? "registering a client sends NOTIFY hotline_clients" "$out"
out=$("${PSQL[@]}" -c "listen hotline_clients" -c "select hotline.client_revoke('t-notify')" 2>&1)
grep -q 'notification "hotline_clients" received' <<<"$out"
tap $? "revoking a client sends NOTIFY hotline_clients" "$out"

[ $failed -eq 0 ]
