#!/usr/bin/env bash
# Make sure the build and run dependencies are installed (Debian 12).
#   deps.sh         what building and running the daemon needs
#   deps.sh test    and what the tests need besides: HAProxy in front of two
#                   daemons (the deploy suite), promtool (package prometheus)
#                   to check the metrics, systemd-analyze for the unit file,
#                   Chromium and a Chinese font for the web console's tests
#                   (and Node.js with npm if there is none; playwright-core
#                   needs Node.js 20 or later)
# As root, missing packages are installed with apt-get; otherwise through
# "sudo -n" if possible, else the command to run is printed.
set -euo pipefail
missing=()
need_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'ok installed' || missing+=("$1"); }
for p in gcc make pkg-config libevent-dev libjson-c-dev libpq-dev libssl-dev \
    openssl curl python3 python3-jsonschema python3-yaml ca-certificates procps git; do
	need_pkg "$p"
done
if [ "${1:-}" = test ]; then
	for p in haproxy prometheus python3-yaml systemd chromium fonts-wqy-microhei; do
		need_pkg "$p"
	done
	command -v node >/dev/null || missing+=(nodejs)
	command -v npm >/dev/null || missing+=(npm)
fi
# A PostgreSQL server (any version with pipeline-mode libpq: 14 or later).
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
	missing+=(postgresql)
fi
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deps: installing ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then
	SUDO=
elif sudo -n true 2>/dev/null; then
	SUDO="sudo -n"
else
	echo "deps: run as root: apt-get install -y ${missing[*]}" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
