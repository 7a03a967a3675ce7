#!/usr/bin/env bash
# A streaming-replication standby of the private PostgreSQL that setup.sh made,
# for tests of a replicated deployment (never the system cluster).
#   replica.sh init <vardir> <port>   standby in <vardir>/standby on 127.0.0.1:<port>
#   replica.sh promote <vardir>       make the standby the primary (pg_ctl promote)
#   replica.sh crash <vardir>         stop the primary at once, as a machine that dies
#   replica.sh stop <vardir>          stop the standby
# init takes a base backup of <vardir>/pg (pg_basebackup -R, a replication
# role and slot), starts the standby and, once it streams, makes it the
# primary's synchronous standby: a COMMIT (and so a 201) returns only once
# the standby has the transaction on disk.  The standby has no synchronous
# standby of its own, so that once promoted it commits alone.  Its address
# is in <vardir>/standby.env.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
usage="usage: replica.sh init|promote|crash|stop <vardir> [port]"
cmd=${1:?$usage}
var=$(cd "${2:?$usage}" && pwd)
port=${3:-}
standby=$var/standby
name=standby1		# the standby's application_name and slot

bindir=""
for d in "$(pg_config --bindir 2>/dev/null || true)" /usr/lib/postgresql/*/bin; do
	if [ -n "$d" ] && [ -x "$d/pg_basebackup" ] && [ -x "$d/pg_ctl" ]; then bindir=$d; break; fi
done
[ -n "$bindir" ] || { echo "replica.sh: PostgreSQL server binaries not found" >&2; exit 1; }

as_owner() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

# shellcheck disable=SC1091
. "$var/env.sh"		# the primary: PGHOST (its socket), PGPORT
primary=$(readlink -f "$var/pg")

case $cmd in
init)
	: "${port:?replica.sh init needs a port}"
	if [ -f "$standby/data/PG_VERSION" ]; then
		echo "replica.sh: $standby exists already" >&2
		exit 1
	fi
	umask 077
	[ -s "$var/replicator.pw" ] ||
	    head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$var/replicator.pw"
	pw=$(cat "$var/replicator.pw")
	psql -X -q -v ON_ERROR_STOP=1 -v pw="$pw" -d postgres <<'SQL' >/dev/null
select format('create role replicator replication login password %L', :'pw')
where not exists (select 1 from pg_roles where rolname = 'replicator') \gexec
select format('alter role replicator password %L', :'pw') \gexec
SQL
	mkdir -p "$standby/run"
	[ "$(id -u)" -ne 0 ] || chown -R postgres "$standby"
	conninfo="host=127.0.0.1 port=$PGPORT user=replicator password=$pw application_name=$name"
	as_owner env PGPASSWORD="$pw" "$bindir/pg_basebackup" -h 127.0.0.1 -p "$PGPORT" \
	    -U replicator -D "$standby/data" -X stream -R -C -S "$name" -c fast
	cat >>"$standby/data/postgresql.conf" <<CONF
# the standby made by daemon/dev/replica.sh
port = $port
unix_socket_directories = '$standby/run'
hot_standby = on
synchronous_standby_names = ''
CONF
	printf "primary_conninfo = '%s'\nprimary_slot_name = '%s'\n" "$conninfo" "$name" \
	    >>"$standby/data/postgresql.auto.conf"
	bash "$here/pg.sh" start "$standby"
	for _ in $(seq 60); do
		[ "$(psql -X -Atq -d postgres -c "select count(*) from pg_stat_replication
		    where application_name = '$name' and state = 'streaming'")" = 1 ] && break
		sleep 0.5
	done
	cat >>"$primary/data/postgresql.conf" <<CONF
# synchronous replication to the standby made by daemon/dev/replica.sh
synchronous_standby_names = '$name'
synchronous_commit = on
CONF
	psql -X -q -d postgres -c "select pg_reload_conf()" >/dev/null
	for _ in $(seq 60); do
		if [ "$(psql -X -Atq -d postgres -c "select sync_state from pg_stat_replication
		    where application_name = '$name'")" = sync ]; then
			umask 022
			cat >"$var/standby.env" <<ENV
# source this file: the standby (the primary once promoted)
export STANDBY_PGHOST=$standby/run
export STANDBY_PGPORT=$port
ENV
			echo "replica.sh: $standby streams synchronously on port $port"
			exit 0
		fi
		sleep 0.5
	done
	echo "replica.sh: the standby did not become synchronous" >&2
	exit 1
	;;
promote)
	as_owner "$bindir/pg_ctl" -D "$standby/data" -w -t 60 promote >/dev/null
	;;
crash)
	as_owner "$bindir/pg_ctl" -D "$primary/data" -m immediate -w -t 60 stop >/dev/null
	;;
stop)
	bash "$here/pg.sh" stop "$standby"
	;;
*)
	echo "$usage" >&2
	exit 2
	;;
esac
