#!/usr/bin/env bash
# Set up everything the daemon needs in <vardir>: a private PostgreSQL on
# <pgport> with the migrations and demo data, a development PKI with one
# certificate per demo client (registered with hotlinectl clients add), a
# master key, hotlined.conf and env.sh.  Idempotent: a second run reuses it
# all.  Needs build/hotlinectl (make builds it).
#   setup.sh <vardir> <pgport>        (HOTLINED_PORT sets the daemon's port,
#                                      HOTLINED_METRICS_PORT its metrics')
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
var=${1:?usage: setup.sh <vardir> <pgport>}
pgport=${2:?usage: setup.sh <vardir> <pgport>}
port=${HOTLINED_PORT:-12355}
mport=${HOTLINED_METRICS_PORT:-9355}
mkdir -p "$var"
var=$(cd "$var" && pwd)
chmod 755 "$var"

bash "$here/pg.sh" init "$var/pg" "$pgport"
bash "$here/pg.sh" start "$var/pg"

export PGHOST=$var/pg/run PGPORT=$pgport PGUSER=postgres
psql -X -q -d postgres -Atc "select 1 from pg_database where datname = 'hotline'" | grep -q 1 ||
    psql -X -q -d postgres -c "create database hotline"
export PGDATABASE=hotline
bash "$root/sql/migrate.sh"

umask 077
[ -s "$var/hotlined.pw" ] || head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$var/hotlined.pw"
pw=$(cat "$var/hotlined.pw")
psql -X -q -v ON_ERROR_STOP=1 -v pw="$pw" <<'SQL' >/dev/null
select format('alter role hotlined login password %L', :'pw') \gexec
SQL
psql -X -q -1 -v ON_ERROR_STOP=1 -f "$root/sql/demo/demo.sql" >/dev/null

kinds="police procuratorate education civil_affairs health legal_aid coordination"
regions="320100 320102 320104"
agencies=()
approvers=()
for k in $kinds; do
	for r in $regions; do agencies+=("$k-$r"); done
	approvers+=("$k-320102-approver")
done
agencies+=(police-340102)	# 瑶海区: its police alone
bash "$here/pki.sh" "$var/pki" console console2 console-b gateway gateway2 admin statistician \
    revoked unregistered "${agencies[@]}" "${approvers[@]}"

# The demo clients are registered as an administrator registers clients,
# with hotlinectl; a name registered already is kept, and must still have
# the certificate in $var/pki.
ctl="$root/build/hotlinectl"
[ -x "$ctl" ] || { echo "setup: $ctl is missing: run make first" >&2; exit 1; }
registered=$("$ctl" clients list)
register() {	# [--approver] name role [agency | --centre region]
	local approver=() known
	if [ "$1" = --approver ]; then
		approver=(--approver)
		shift
	fi
	known=$(awk -v n="$1" '$1 == n { print $6 }' <<<"$registered")
	if [ -z "$known" ]; then
		"$ctl" clients add "${approver[@]}" "$@" "$var/pki/$1.crt" >/dev/null
	elif [ "$known" != "$(bash "$here/fingerprint.sh" "$var/pki/$1.crt")" ]; then
		echo "setup: client $1 is registered with another certificate than" \
		    "$var/pki/$1.crt: rm -rf $var to start afresh" >&2
		exit 1
	fi
}
# Two seats of the Nanjing 12355 centre (320100), one of the Suzhou centre
# (320500), which sees nothing of Nanjing's.
register console operator --centre 320100
register console2 operator --centre 320100
register console-b operator --centre 320500
register gateway gateway
register gateway2 gateway
register admin admin
register statistician statistician
register revoked operator --centre 320100
for a in "${agencies[@]}"; do register "$a" agency "$a"; done
# One approver of access requests per agency of 320102.
for a in "${approvers[@]}"; do register --approver "$a" agency "${a%-approver}"; done
"$ctl" clients revoke revoked >/dev/null

# PKCS#12 files of the demo seats for a browser to import (the web console),
# under one password kept in $var/pki/p12.pass (mode 600), printed by run.sh.
[ -s "$var/pki/p12.pass" ] || (umask 077; head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$var/pki/p12.pass")
for seat in console police-320102 procuratorate-320102 procuratorate-320102-approver \
    education-320102 admin; do
	[ -s "$var/pki/$seat.p12" ] && continue
	(umask 077; openssl pkcs12 -export -in "$var/pki/$seat.crt" -inkey "$var/pki/$seat.key" \
	    -certfile "$var/pki/ca.crt" -name "hotlined $seat" -passout "file:$var/pki/p12.pass" \
	    -out "$var/pki/$seat.p12")
done

# Development keys (mode 600, outside the database): the master key that
# wraps every case's data key ("<kid> <64 hex>" per line, current first) and
# the key of the keyed digests.  Production keys come from the deployment.
(umask 077; mkdir -p "$var/keys"
if ! grep -Eq '^[a-z0-9_-]{1,32} [0-9a-f]{64}$' "$var/keys/master.key" 2>/dev/null; then
	{ echo "# hotlined master keys: <kid> <hex>; the first is current"
	  echo "k$(date -u +%Y%m%d%H%M%S) $(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
	} >"$var/keys/master.key"
fi
if ! grep -Eq '^[0-9a-f]{64}$' "$var/keys/hash.key" 2>/dev/null; then
	head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$var/keys/hash.key"
	echo >>"$var/keys/hash.key"
fi
chmod 600 "$var/keys/master.key" "$var/keys/hash.key")

cat >"$var/hotlined.conf" <<CONF
# Development configuration written by daemon/dev/setup.sh.
listen = 127.0.0.1:$port
metrics_listen = 127.0.0.1:$mport
tls_cert = $var/pki/server.crt
tls_key = $var/pki/server.key
tls_client_ca = $var/pki/ca.crt
database = host=127.0.0.1 port=$pgport dbname=hotline user=hotlined password=$pw application_name=hotlined
master_key = $var/keys/master.key
hash_key = $var/keys/hash.key
console_dir = $root/clients/console
db_pool_size = 4
log_level = info
CONF

umask 022
cat >"$var/env.sh" <<ENV
# source this file: the private database and the daemon's address
export PGHOST=$var/pg/run
export PGPORT=$pgport
export PGUSER=postgres
export PGDATABASE=hotline
export HOTLINED_URL=https://127.0.0.1:$port
export HOTLINED_METRICS_URL=http://127.0.0.1:$mport/metrics
export HOTLINED_CONF=$var/hotlined.conf
export HOTLINED_PKI=$var/pki
export HOTLINED_CA=$var/pki/ca.crt
export HOTLINED_VAR=$var
ENV
echo "setup: ready in $var (database port $pgport, daemon port $port)"
