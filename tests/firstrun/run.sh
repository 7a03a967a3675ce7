#!/usr/bin/env bash
# The first run, as a newcomer makes it (README, "Two commands"): the
# committed HEAD of <repository> cloned into a directory only its owner may
# enter, `make run` there on free ports until /readyz answers 200 over TLS
# with the clone's CA, one report filed with curl and the clone's gateway
# certificate, Ctrl-C (SIGINT to the process group, as a terminal sends it),
# and the daemon and its database stopped.
#
# As root the clone sits under a mode-700 directory, which the cluster's
# owner (postgres) cannot traverse: the cluster must live elsewhere, `make
# run` again must reuse it, `make test` (sql suite) must work in the clone,
# and `pg.sh destroy var/pg` must remove it.  Then the same first run as an
# unprivileged user (hotlined-test, created if absent, home of mode 700)
# from a clone in its home.  As any other user: that user, from a clone in
# its home.  Prints TAP lines; removes what it made even on failure
# (HOTLINED_KEEP=1 keeps the clones and the logs).
#   run.sh <repository>
set -uo pipefail
repo=$(cd "${1:?usage: run.sh <repository>}" && pwd)
keep=${HOTLINED_KEEP:-0}
TESTUSER=hotlined-test
EXTERNAL=/var/lib/hotlined-dev	# where pg.sh keeps clusters postgres cannot reach
READY_WAIT=600			# half-seconds for a build and a set-up to answer
STOP_WAIT=120			# half-seconds for Ctrl-C to stop everything

# A newcomer's shell has none of the variables of the run that called us.
unset PGHOST PGPORT PGUSER PGDATABASE PGPASSWORD PGOPTIONS HOTLINECTL_DATABASE \
    HOTLINED_URL HOTLINED_CONF HOTLINED_PKI HOTLINED_VAR HOTLINED_PORT \
    HOTLINED_SUITES HOTLINED_TESTS HOTLINED_KEEP MAKEFLAGS MFLAGS MAKELEVEL

work=$(mktemp -d /tmp/hotlined-firstrun.XXXXXX)	# logs; mode 700
dirs=("$work")		# removed at the end
clones=()		# "<user> <clone>" whose cluster is stopped at the end
pgroups=()		# process groups of make run, interrupted at the end
t0=$SECONDS

tap() {		# tap <status> <name> [diagnostic]
	if [ "$1" -eq 0 ]; then
		echo "ok - $2"
	else
		echo "not ok - $2"
		[ -z "${3:-}" ] || tail -25 <<<"$3" | sed 's/^/#   /'
	fi
}

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Run a command as user $1 (with a fresh login environment), in directory $2.
as_user() {
	local u=$1 d=$2
	shift 2
	if [ "$u" = "$(id -un)" ]; then
		(cd "$d" && exec "$@")
	else
		(cd "$d" && exec setpriv --reuid="$u" --regid="$(id -g "$u")" \
		    --init-groups --reset-env "$@")
	fi
}

# Stop the cluster of every clone and remove every directory made.
cleanup() {
	local g c u d pg link
	for g in "${pgroups[@]}"; do
		kill -INT -- "-$g" 2>/dev/null && sleep 2
		kill -KILL -- "-$g" 2>/dev/null
	done
	for c in "${clones[@]}"; do
		u=${c%% *}
		d=${c#* }
		for pg in "$d"/var/pg "$d"/var/orphan; do
			[ -e "$pg" ] || [ -L "$pg" ] || continue
			as_user "$u" "$d" bash daemon/dev/pg.sh stop "$pg" >/dev/null 2>&1
			[ -L "$pg" ] || continue
			link=$(readlink "$pg")
			case $link in "$EXTERNAL"/?*) rm -rf -- "$link" ;; esac
		done
	done
	if [ "$keep" = 1 ]; then
		echo "# firstrun: kept ${dirs[*]}"
	else
		rm -rf -- "${dirs[@]}"
	fi
}
trap cleanup EXIT

# Clone the repository's HEAD into <dir>/hotlined for <user>: CLONE.
clone_for() {
	local u=$1 d=$2
	CLONE=$d/hotlined
	git clone -q "$repo" "$CLONE" || return 1
	[ "$u" = "$(id -un)" ] || chown -R "$u:$(id -gn "$u")" "$d"
	clones+=("$u $CLONE")
}

# A request to the daemon of a clone; prints the body, then the status.
request() {	# clone port cert path [curl arguments]
	local c=$1 port=$2 cert=$3 path=$4 id=()
	shift 4
	[ -z "$cert" ] || id=(--cert "$c/var/pki/$cert.crt" --key "$c/var/pki/$cert.key")
	curl -s --max-time 20 -w '\n%{http_code}' --cacert "$c/var/pki/ca.crt" "${id[@]}" \
	    "$@" "https://127.0.0.1:$port$path"
}

# Start `make run` as a user in a clone, in a session and process group of
# its own (as a terminal gives it), and wait for /readyz: PID, which is
# also the group's id.
make_run() {	# user clone pgport port log
	local u=$1 c=$2 pgport=$3 port=$4 log=$5 i cmd
	cmd=(make run PGPORT="$pgport" HOTLINED_PORT="$port")
	[ "$u" = "$(id -un)" ] || cmd=(setpriv --reuid="$u" --regid="$(id -g "$u")" \
	    --init-groups --reset-env "${cmd[@]}")
	(cd "$c" && exec setsid "${cmd[@]}") >"$log" 2>&1 </dev/null &
	PID=$!
	pgroups+=("$PID")
	for ((i = 0; i < READY_WAIT; i++)); do
		[ "$(request "$c" "$port" "" /readyz -o /dev/null | tail -1)" = 200 ] &&
		    break
		kill -0 "$PID" 2>/dev/null || break
		sleep 0.5
	done
}

# Ctrl-C: SIGINT to the process group of make run; 0 once it has exited.
interrupt() {	# pid
	local pid=$1 i
	[ "$(ps -o pgid= -p "$pid" | tr -d ' ')" = "$pid" ] || return 1
	kill -INT -- "-$pid" 2>/dev/null
	for ((i = 0; i < STOP_WAIT; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.5
	done
	! kill -0 "$pid" 2>/dev/null && ! pgrep -g "$pid" >/dev/null
}

# The whole first run of one user in one clone; the case number filed.
first_run() {	# user clone label
	local u=$1 c=$2 who=$3 pgport port log pid out number pgdata
	pgport=$(free_port)
	port=$(free_port)
	log=$work/make-run-$u.log
	make_run "$u" "$c" "$pgport" "$port" "$log"
	pid=$PID
	out=$(request "$c" "$port" "" /readyz)
	[ "$(tail -1 <<<"$out")" = 200 ]
	tap $? "$who: make run in a fresh clone answers /readyz 200 over TLS with the clone's CA" \
	    "$(cat "$log")"
	out=$(request "$c" "$port" gateway /v1/reports -H 'Content-Type: application/json' \
	    -H "Idempotency-Key: $(cat /proc/sys/kernel/random/uuid)" \
	    --data @"$c/proto/examples/reports.sexual-abuse.valid.json")
	number=$(sed -n 's/.*"case_number": *"\([0-9-]*\)".*/\1/p' <<<"$out" | head -1)
	[ "$(tail -1 <<<"$out")" = 201 ] && [ -n "$number" ]
	tap $? "$who: a report filed with curl and the clone's gateway certificate is 201" "$out"
	interrupt "$pid"
	tap $? "$who: Ctrl-C ends make run and every process of its group" \
	    "$(tail -5 "$log"; pgrep -a -g "$pid")"
	grep -q '^stopped$' "$log" &&
	    ! curl -s -o /dev/null --max-time 3 -k "https://127.0.0.1:$port/healthz"
	tap $? "$who: the daemon stopped (run.sh says so, port $port is closed)" "$(tail -5 "$log")"
	pgdata=$(readlink -f "$c/var/pg")/data
	! as_user "$u" "$c" bash daemon/dev/pg.sh status var/pg 2>/dev/null && [ ! -e "$pgdata/postmaster.pid" ] &&
	    ! pg_isready -q -h 127.0.0.1 -p "$pgport"
	tap $? "$who: its database stopped (no postmaster.pid, port $pgport closed)"
	echo "$pid $pgport $port" >"$work/ports-$u"
	FILED=$number
}

if [ "$(id -u)" -eq 0 ]; then
	# root: a clone under a directory of mode 700, as /root is.
	top=$(mktemp -d /tmp/hotlined-firstrun-root.XXXXXX)
	chmod 700 "$top"
	dirs+=("$top")
	clone_for root "$top"
	c=$CLONE
	s=$SECONDS
	FILED=
	first_run root "$c" "root, under a mode-700 directory"
	echo "# firstrun: root's first make run took $((SECONDS - s))s"
	link=$(readlink "$c/var/pg")
	[[ $link == "$EXTERNAL"/?* ]] && [ "$(stat -c '%U %a' "$link")" = "postgres 700" ]
	tap $? "root: the cluster lives in $EXTERNAL/<name> (owned by postgres, mode 700), var/pg links to it" \
	    "var/pg -> ${link:-(not a link)}"
	# shellcheck disable=SC2012 # ls shows an ACL as a "+" after the mode
	[ "$(stat -c %a "$top")" = 700 ] && [ "$(ls -ld "$top" | cut -c1-11)" = "drwx------ " ]
	tap $? "root: the mode-700 directory above the clone keeps its mode and has no ACL" \
	    "$(ls -ld "$top")"

	read -r _ pgport port <"$work/ports-root"
	make_run root "$c" "$pgport" "$port" "$work/make-run-again.log"
	pid=$PID
	out=$(request "$c" "$port" gateway "/v1/cases/$FILED")
	[ -n "$FILED" ] && [ "$(tail -1 <<<"$out")" = 200 ] && [ "$(readlink "$c/var/pg")" = "$link" ]
	tap $? "root: make run again reuses the cluster (the case filed before is there)" \
	    "$(tail -1 <<<"$out"); $(tail -20 "$work/make-run-again.log")"
	interrupt "$pid"
	tap $? "root: Ctrl-C ends the second make run too" "$(tail -5 "$work/make-run-again.log")"

	s=$SECONDS
	out=$(cd "$c" && HOTLINED_SUITES=sql make test 2>&1)
	rc=$?
	echo "# firstrun: make test (sql suite) in the clone took $((SECONDS - s))s"
	[ $rc -eq 0 ] && [[ $(tail -1 <<<"$out") =~ ^[1-9][0-9]*\ passed,\ 0\ failed$ ]]
	tap $? "root: make test (sql suite) passes in the clone: $(tail -1 <<<"$out")" "$out"
	kept=$(sed -n 's/^# logs kept in //p' <<<"$out")
	[ -z "$kept" ] || dirs+=("$kept")

	(cd "$c" && bash daemon/dev/pg.sh destroy var/pg) >"$work/destroy.log" 2>&1
	rc=$?
	[ $rc -eq 0 ] && [ -n "$link" ] && [ ! -e "$link" ] && [ ! -e "$c/var/pg" ] &&
	    [ ! -L "$c/var/pg" ]
	tap $? "root: pg.sh destroy var/pg removes the cluster and the link" \
	    "$(cat "$work/destroy.log")"

	# rm -rf var: the next init of that path starts afresh.
	o=$work/orphan.log
	(cd "$c" && bash daemon/dev/pg.sh init var/orphan "$(free_port)") >"$o" 2>&1
	first=$(readlink "$c/var/orphan")
	[ -z "$first" ] || touch "$first/marker"
	rm -f "$c/var/orphan"
	(cd "$c" && bash daemon/dev/pg.sh init var/orphan "$(free_port)") >>"$o" 2>&1
	[ -n "$first" ] && [ "$(readlink "$c/var/orphan")" = "$first" ] && [ ! -e "$first/marker" ] &&
	    [ -f "$first/data/PG_VERSION" ] && grep -q "removed the cluster an earlier" "$o"
	tap $? "root: a relocated cluster whose link is gone (rm -rf var) gives way to a fresh one" \
	    "$(cat "$o")"
	(cd "$c" && bash daemon/dev/pg.sh destroy var/orphan) >>"$o" 2>&1

	# An unprivileged user, from a clone in its home (mode 700).
	if ! id "$TESTUSER" >/dev/null 2>&1; then
		useradd --create-home -K HOME_MODE=0700 --shell /bin/bash "$TESTUSER"
	fi
	home=$(getent passwd "$TESTUSER" | cut -d: -f6)
	[ "$(stat -c '%U %a' "$home")" = "$TESTUSER 700" ]
	tap $? "the test user $TESTUSER has a home of mode 700" "$(ls -ld "$home")"
	user=$TESTUSER
else
	user=$(id -un)
	home=$HOME
fi

d=$(mktemp -d "$home/hotlined-firstrun.XXXXXX")
dirs+=("$d")
[ "$(id -un)" = "$user" ] || chown "$user:$(id -gn "$user")" "$d"
clone_for "$user" "$d"
c=$CLONE
s=$SECONDS
first_run "$user" "$c" "$user, in its home"
echo "# firstrun: $user's first make run took $((SECONDS - s))s"
echo "# firstrun: $((SECONDS - t0))s in all"
