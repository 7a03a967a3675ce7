#!/usr/bin/env bash
# A private PostgreSQL cluster for development and tests, never the system one.
#   pg.sh init|start|stop|status|destroy <dir> [port]
# Data in <dir>/data, socket in <dir>/run, log in <dir>/postgres.log, TCP on
# 127.0.0.1:<port> only.  initdb refuses to run as root: as root, the cluster
# runs as the unprivileged "postgres" user (created as a system user if absent).
# That user must be able to reach <dir>.  When it cannot (a clone in root's
# home, mode 700), init keeps the cluster in $EXTERNAL/<name> instead (owned
# by postgres, mode 700; <name> made from <dir>'s path) and leaves a symbolic
# link at <dir>, which every command follows; the directories above <dir>
# are never touched.  destroy stops the cluster and removes it, wherever it is.
set -euo pipefail
usage="usage: pg.sh init|start|stop|status|destroy <dir> [port]"
cmd=${1:?$usage}
dir=${2:?$usage}
port=${3:-}
EXTERNAL=/var/lib/hotlined-dev	# clusters their owner could not reach
PGOWNER=postgres		# the owner of root's clusters

bindir=""
for d in "$(pg_config --bindir 2>/dev/null || true)" /usr/lib/postgresql/*/bin; do
	if [ -n "$d" ] && [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then bindir=$d; break; fi
done
[ -n "$bindir" ] || { echo "pg.sh: PostgreSQL server binaries not found" >&2; exit 1; }

is_root() { [ "$(id -u)" -eq 0 ]; }

# Run a command as the cluster's owner (from /, which it can enter: every
# path given to it is absolute).
as_owner() {
	if is_root; then
		(cd / && runuser -u "$PGOWNER" -- "$@")
	else
		"$@"
	fi
}

# Whether the cluster's owner can reach directory $1.
reachable() { ! is_root || runuser -u "$PGOWNER" -- test -x "$1"; }

# The directory outside <dir> for its cluster: a stable name from its path
# (the path's end, readable, and a digest of all of it).
external_dir() {
	local tail sum
	tail=$(printf '%s' "${1#/}" | tr -c 'A-Za-z0-9._-' '-' | tail -c 40)
	sum=$(printf '%s' "$1" | sha256sum | cut -c1-12)
	echo "$EXTERNAL/${tail#-}-$sum"
}

# As root, make <dir> (the requested path) a cluster directory postgres can
# reach: itself, or a link to a directory in $EXTERNAL; sets dir to it.
place() {
	local req=$1 ext
	if [ -L "$req" ]; then
		dir=$(readlink -m "$req")
		[ -d "$dir" ] || mkdir -m 700 "$dir"
	else
		mkdir -p "$req"
		dir=$(cd "$req" && pwd)
	fi
	is_root || return 0
	if ! id "$PGOWNER" >/dev/null 2>&1; then
		useradd --system --no-create-home --shell /usr/sbin/nologin "$PGOWNER"
	fi
	chown "$PGOWNER" "$dir"
	reachable "$dir" && return 0
	if [ -L "$req" ]; then
		echo "pg.sh: user $PGOWNER cannot traverse the path to $dir ($req links there)" >&2
		exit 1
	fi
	if ! rmdir "$req" 2>/dev/null; then
		echo "pg.sh: user $PGOWNER cannot traverse the path to $req, which is not empty:" \
		    "move it away and run again" >&2
		exit 1
	fi
	ext=$(external_dir "$dir")
	if [ -e "$ext" ]; then
		# Left by an earlier <dir> that was removed (rm -rf var): its
		# keys went with it, so its data can no longer be read.
		as_owner "$bindir/pg_ctl" -D "$ext/data" -m immediate stop >/dev/null 2>&1 || true
		rm -rf -- "$ext"
		echo "pg.sh: removed the cluster an earlier $req left in $ext"
	fi
	[ -d "$EXTERNAL" ] || mkdir -m 755 "$EXTERNAL"
	mkdir -m 700 "$ext"
	chown "$PGOWNER" "$ext"
	ln -s "$ext" "$req"
	echo "pg.sh: user $PGOWNER cannot reach $req: the cluster lives in $ext ($req links there)"
	dir=$ext
}

case $dir in /*) ;; *) dir=$PWD/$dir ;; esac
while [ "$dir" != / ] && [ "${dir%/}" != "$dir" ]; do dir=${dir%/}; done
req=$dir
if [ "$cmd" = init ]; then
	place "$req"
elif [ -L "$req" ]; then
	dir=$(readlink -m "$req")
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
	! is_root || chown -R "$PGOWNER" "$dir"
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
	if [ ! -f "$dir/data/PG_VERSION" ]; then
		echo "pg.sh: no cluster in $req (pg.sh init makes one)" >&2
		exit 1
	fi
	if ! reachable "$dir"; then
		echo "pg.sh: user $PGOWNER cannot traverse the path to $dir" >&2
		exit 1
	fi
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
destroy)
	if running; then
		as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null
	fi
	if [ -L "$req" ]; then
		case $dir in
		"$EXTERNAL"/?*) rm -rf -- "$dir" ;;
		*)	echo "pg.sh: $req links to $dir, which pg.sh did not make:" \
			    "remove it yourself" >&2
			exit 1 ;;
		esac
		rm -f -- "$req"
	else
		rm -rf -- "$dir"
	fi
	echo "pg.sh: removed the cluster in $dir"
	;;
*)
	echo "$usage" >&2
	exit 2
	;;
esac
