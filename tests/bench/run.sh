#!/usr/bin/env bash
# Benchmarks: mandatory-report intake throughput and latency against the
# real daemon, TLS and a private PostgreSQL, at several concurrency levels,
# with group commit on (batch_max 32) and off (batch_max 1); then intake
# alone and intake while a statistician asks GET /v1/stats in a loop, in
# the same run.  Prints figures; asserts nothing about speed (shared
# machines are noisy).
#
#   BENCH_REQUESTS=20000   submissions per run
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
N=${BENCH_REQUESTS:-20000}
T=$(mktemp -d /tmp/hotlined-bench.XXXXXX)
chmod 755 "$T"
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
PGPORT=$(free_port)
export HOTLINED_PORT=$(free_port)
DPID=
SPID=
cleanup() {
	[ -n "$SPID" ] && kill "$SPID" 2>/dev/null && wait "$SPID" 2>/dev/null
	[ -n "$DPID" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
	bash daemon/dev/pg.sh stop "$T/pg" >/dev/null 2>&1 || true
	rm -rf "$T"
}
trap cleanup EXIT

echo "# setting up in $T"
bash daemon/dev/setup.sh "$T" "$PGPORT" >"$T/setup.log" 2>&1 || {
	tail -30 "$T/setup.log"; exit 1; }
make --no-print-directory build/hotline-bench >/dev/null

run() {	# batch_max connections [stats query asked in a loop meanwhile]
	local batch=$1 conns=$2 stats=${3:-} conf=$T/bench.conf
	sed -e '/^batch_max/d' -e '/^log_level/d' "$T/hotlined.conf" >"$conf"
	printf 'batch_max = %s\nlog_level = warn\nqueue_max = 100000\n' \
	    "$batch" >>"$conf"
	build/hotlined -d -f "$conf" 2>"$T/daemon.log" &
	DPID=$!
	for _ in $(seq 50); do
		curl -s --cacert "$T/pki/ca.crt" --max-time 1 "https://127.0.0.1:$HOTLINED_PORT/readyz" \
		    2>/dev/null | grep -q ready && break
		sleep 0.2
	done
	if [ -n "$stats" ]; then
		python3 tests/bench/stats_loop.py "127.0.0.1:$HOTLINED_PORT" "$T/pki" \
		    "$stats" >"$T/stats.out" &
		SPID=$!
	fi
	printf 'batch_max=%-3s ' "$batch"
	build/hotline-bench -a "127.0.0.1:$HOTLINED_PORT" \
	    -A "$T/pki/ca.crt" -E "$T/pki/gateway.crt" -K "$T/pki/gateway.key" \
	    -b proto/examples/reports.sexual-abuse.valid.json -p /v1/reports \
	    -c "$conns" -n "$N" | paste -sd' '
	if [ -n "$SPID" ]; then
		kill "$SPID"; wait "$SPID" || true; SPID=
		printf '    while asking: %s\n' "$(cat "$T/stats.out")"
	fi
	kill "$DPID"; wait "$DPID" || true; DPID=
}

echo "# POST /v1/reports, $N submissions per run, each committed before its 201"
for c in 1 16 64; do run 32 "$c"; done
for c in 16 64; do run 1 "$c"; done
today=$(TZ=Asia/Shanghai date +%F)
q="from=$(TZ=Asia/Shanghai date -d '-365 days' +%F)&to=$today&by=region,category,risk_level"
echo "# intake alone, then while a statistician asks GET /v1/stats?$q in a loop"
run 32 16
run 32 16 "$q"
psql -h "$T/pg/run" -p "$PGPORT" -U postgres -d hotline -Atc \
    "select 'cases stored: ' || count(*) from hotline.cases"
