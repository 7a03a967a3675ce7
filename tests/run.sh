#!/usr/bin/env bash
# Run every test suite against real services (a private PostgreSQL, real
# TLS, the real daemon) set up in a throwaway directory.  Each suite prints
# TAP lines ("ok - ..." / "not ok - ..."); the run ends with the line
# "N passed, M failed" and fails unless M is 0 and N is not.
#
#   HOTLINED_SUITES="unit sql integration asan console volume upgrade deploy firstrun"
#                                                  which suites (default all)
#   HOTLINED_TESTS=PATTERN[,PATTERN]               only these integration tests
#                                                  (run.py -k; see tests/README.md)
#   HOTLINED_KEEP=1                                keep the directory
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SUITES=${HOTLINED_SUITES:-unit sql integration asan console volume upgrade deploy firstrun}
SELECT=()
[ -z "${HOTLINED_TESTS:-}" ] || SELECT=(-k "$HOTLINED_TESTS")

T=$(mktemp -d /tmp/hotlined-test.XXXXXX)
chmod 755 "$T"
RESULTS=$T/results.tap
: >"$RESULTS"

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
PGPORT=$(free_port)
export HOTLINED_PORT=$(free_port) HOTLINED_METRICS_PORT=$(free_port)

cleanup() {
	bash daemon/dev/pg.sh stop "$T/pg" >/dev/null 2>&1 || true
	[ ! -d "$T/volume/pg" ] || bash daemon/dev/pg.sh stop "$T/volume/pg" >/dev/null 2>&1 || true
	[ ! -d "$T/console/pg" ] || bash daemon/dev/pg.sh stop "$T/console/pg" >/dev/null 2>&1 || true
	[ ! -d "$T/upgrade/pg" ] || bash daemon/dev/pg.sh stop "$T/upgrade/pg" >/dev/null 2>&1 || true
	[ ! -d "$T/deploy/pg" ] || bash daemon/dev/pg.sh stop "$T/deploy/pg" >/dev/null 2>&1 || true
	[ ! -d "$T/deploy/standby" ] ||
	    bash daemon/dev/replica.sh stop "$T/deploy" >/dev/null 2>&1 || true
}
trap cleanup EXIT

# Run one suite; its TAP lines go to the terminal and the results file.
suite() {
	local name=$1; shift
	local out=$T/suite-$name.log rc
	echo "# suite: $name"
	"$@" >"$out" 2>"$T/suite-$name.err"
	rc=$?
	grep -E '^(ok|not ok) ' "$out" | tee -a "$RESULTS"
	grep -E '^#' "$out" || true
	if [ "$rc" -ne 0 ] && ! grep -q '^not ok ' "$out"; then
		echo "not ok - suite $name exited with status $rc" | tee -a "$RESULTS"
		tail -20 "$T/suite-$name.err"
	fi
}

unit_suite() {
	local t rc=0
	for t in build/tests/test_*; do
		case $t in
		*/test_examples) "$t" proto/examples || rc=1 ;;
		*) "$t" || rc=1 ;;
		esac
	done
	return $rc
}

# The volume suite: an environment of its own (its own PostgreSQL), which
# its first test fills with a year's cases (tests/integration/test_volume.py).
volume_suite() {
	local v=$T/volume
	if ! HOTLINED_PORT=$(free_port) bash daemon/dev/setup.sh "$v" "$(free_port)" \
	    >"$T/volume-setup.log" 2>&1; then
		tail -20 "$T/volume-setup.log" >&2
		return 1
	fi
	python3 tests/integration/run.py --binary "$ROOT/build/hotlined" --var "$v" \
	    -k "${HOTLINED_TESTS:-test_volume}"
}

# The deploy suite: an environment of its own whose PostgreSQL gets a
# synchronous standby (daemon/dev/replica.sh), two daemons behind HAProxy
# (tests/integration/test_deploy.py).
deploy_suite() {
	local v=$T/deploy
	if ! { HOTLINED_PORT=$(free_port) HOTLINED_METRICS_PORT=$(free_port) \
	    bash daemon/dev/setup.sh "$v" "$(free_port)" &&
	    bash daemon/dev/replica.sh init "$v" "$(free_port)"; } >"$T/deploy-setup.log" 2>&1; then
		tail -20 "$T/deploy-setup.log" >&2
		return 1
	fi
	python3 tests/integration/run.py --binary "$ROOT/build/hotlined" --var "$v" \
	    -k "${HOTLINED_TESTS:-test_deploy}"
}

# The console suite: the web console in Debian's Chromium, driven by
# playwright-core (installed from tests/console/package-lock.json into
# build/console-node), against a daemon of an environment of its own, so
# that its queues start empty (tests/console/console.test.mjs).
console_suite() {
	local v=$T/console nm=$ROOT/build/console-node port pid rc
	port=$(free_port)
	if ! HOTLINED_PORT=$port HOTLINED_METRICS_PORT=$(free_port) \
	    bash daemon/dev/setup.sh "$v" "$(free_port)" >"$T/console-setup.log" 2>&1; then
		tail -20 "$T/console-setup.log" >&2
		return 1
	fi
	[ -x /usr/bin/chromium ] || { echo "console: /usr/bin/chromium is missing" >&2; return 1; }
	if ! cmp -s tests/console/package-lock.json "$nm/package-lock.json" ||
	    [ ! -d "$nm/node_modules/playwright-core" ]; then
		mkdir -p "$nm"
		cp tests/console/package.json tests/console/package-lock.json "$nm/"
		(cd "$nm" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --ignore-scripts \
		    --no-audit --no-fund) >"$T/console-npm.log" 2>&1 ||
		    { tail -20 "$T/console-npm.log" >&2; return 1; }
	fi
	"$ROOT/build/hotlined" -d -f "$v/hotlined.conf" >"$v/hotlined.log" 2>&1 &
	pid=$!
	for _ in $(seq 100); do
		curl -sf --cacert "$v/pki/ca.crt" "https://127.0.0.1:$port/readyz" >/dev/null && break
		sleep 0.1
	done
	HOTLINED_URL=https://127.0.0.1:$port HOTLINED_PKI=$v/pki NODE_EXTRA_CA_CERTS=$v/pki/ca.crt \
	    CONSOLE_OUT=$v/screenshots CONSOLE_NODE_MODULES=$nm/node_modules \
	    timeout 600 node tests/console/console.test.mjs
	rc=$?
	kill -TERM "$pid" 2>/dev/null
	wait "$pid"
	bash daemon/dev/pg.sh stop "$v/pg" >/dev/null 2>&1
	return $rc
}

echo "# setting up PostgreSQL on port $PGPORT and the PKI in $T"
if ! bash daemon/dev/setup.sh "$T" "$PGPORT" >"$T/setup.log" 2>&1; then
	tail -40 "$T/setup.log"
	echo "not ok - environment set-up" >>"$RESULTS"
else
	# shellcheck disable=SC1091
	. "$T/env.sh"
	for s in $SUITES; do
		case $s in
		unit)	suite unit unit_suite ;;
		sql)	suite sql bash tests/sql/run.sh hotline_sqltest ;;
		integration)
			suite integration python3 tests/integration/run.py \
			    --binary "$ROOT/build/hotlined" --var "$T" "${SELECT[@]}" ;;
		asan)
			suite asan env ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
			    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
			    python3 tests/integration/run.py \
			    --binary "$ROOT/build/asan/hotlined" --var "$T" \
			    --sanitizers "${SELECT[@]}" ;;
		console) suite console console_suite ;;
		volume)	suite volume volume_suite ;;
		# The latest release's daemon fills an environment of its own,
		# which is then upgraded (tests/upgrade/upgrade.py).
		upgrade)
			suite upgrade python3 tests/upgrade/upgrade.py --var "$T/upgrade" \
			    --binary "$ROOT/build/hotlined" --ctl "$ROOT/build/hotlinectl" ;;
		firstrun)
			suite firstrun bash tests/firstrun/run.sh "$ROOT" ;;
		deploy)	suite deploy deploy_suite ;;
		*)	echo "not ok - unknown suite $s" | tee -a "$RESULTS" ;;
		esac
	done
fi

passed=$(grep -c '^ok ' "$RESULTS")
failed=$(grep -c '^not ok ' "$RESULTS")
if [ "$failed" -ne 0 ] || [ "${HOTLINED_KEEP:-0}" = 1 ]; then
	echo "# logs kept in $T"
else
	cleanup
	rm -rf "$T"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
