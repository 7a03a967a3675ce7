#!/usr/bin/env bash
# A private PostgreSQL cluster for development and tests, never the system one.
#   pg.sh init|start|stop|status <dir> [port]
# Data in <dir>/data, socket in <dir>/run, log in <dir>/postgres.log, TCP on
# 127.0.0.1:<port> only.  initdb refuses to run as root: as root, the cluster
# runs as the unprivileged "postgres" user (created as a system user if absent).
set -euo pipefail
cmd=${1:?usage: pg.sh init|start|stop|status <dir> [port]}
dir=${2:?usage: pg.sh init|start|stop|status <dir> [port]}
port=${3:-}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

bindir=""
for d in "$(pg_config --bindir 2>/dev/null || true)" /usr/lib/postgresql/*/bin; do
	if [ -n "$d" ] && [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then bindir=$d; break; fi
done
[ -n "$bindir" ] || { echo "pg.sh: PostgreSQL server binaries not found" >&2; exit 1; }

as_owner() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u "$PGOWNER" -- "$@"
	else
		"$@"
	fi
}

if [ "$(id -u)" -eq 0 ]; then
	PGOWNER=postgres
	if ! id "$PGOWNER" >/dev/null 2>&1; then
		useradd --system --no-create-home --shell /usr/sbin/nologin "$PGOWNER"
	fi
	chown "$PGOWNER" "$dir"
	# The cluster owner must be able to reach its directory.
	if ! runuser -u "$PGOWNER" -- test -x "$dir"; then
		echo "pg.sh: user $PGOWNER cannot traverse the path to $dir" >&2
		exit 1
	fi
fi

running() {
	[ -f "$dir/data/postmaster.pid" ] && as_owner "$bindir/pg_ctl" -D "$dir/data" status >/dev/null 2>&1
}

case $cmd in
init)
	if [ -f "$dir/data/PG_VERSION" ]; then
		exit 0
	fi
	: "${port:?pg.sh init needs a port}"
	umask 077
	head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$dir/superuser.pw"
	mkdir -p "$dir/run"
	[ "$(id -u)" -eq 0 ] && chown -R "$PGOWNER" "$dir"
	locale=C.UTF-8
	locale -a 2>/dev/null | grep -qix 'c.utf-\?8' || locale=C
	as_owner "$bindir/initdb" -D "$dir/data" -U postgres -E UTF8 \
	    --locale="$locale" --auth-local=trust --auth-host=scram-sha-256 \
	    --pwfile="$dir/superuser.pw" >"$dir/initdb.log" 2>&1 ||
	    { cat "$dir/initdb.log" >&2; exit 1; }
	cat >>"$dir/data/postgresql.conf" <<CONF
# hotlined development/test cluster
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir/run'
max_connections = 100
shared_buffers = 128MB
fsync = on
synchronous_commit = on
logging_collector = off
log_min_messages = warning
log_line_prefix = '%m [%p] %q%u@%d '
CONF
	echo "pg.sh: initialised $dir/data (port $port)"
	;;
start)
	running && exit 0
	as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 start >/dev/null
	p=$(sed -n "s/^port = //p" "$dir/data/postgresql.conf" | tail -1)
	for _ in $(seq 60); do
		"$bindir/pg_isready" -q -h "$dir/run" -p "$p" && exit 0
		sleep 0.5
	done
	echo "pg.sh: server did not become ready" >&2
	exit 1
	;;
stop)
	running || exit 0
	as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null
	;;
status)
	running
	;;
*)
	echo "usage: pg.sh init|start|stop|status <dir> [port]" >&2
	exit 2
	;;
esac
