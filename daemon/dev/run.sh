#!/usr/bin/env bash
# Run the daemon in the foreground on the environment setup.sh made; Ctrl-C
# stops the daemon cleanly, then the database.
#   run.sh <vardir>
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
var=$(cd "${1:?usage: run.sh <vardir>}" && pwd)
# shellcheck disable=SC1091
. "$var/env.sh"
P=$HOTLINED_PKI
cat <<TXT

hotlined is starting on $HOTLINED_URL

File a first mandatory report (as the mini-program backend):

  curl --cacert $P/ca.crt --cert $P/gateway.crt --key $P/gateway.key \\
    -H 'Content-Type: application/json' -H "Idempotency-Key: \$(cat /proc/sys/kernel/random/uuid)" \\
    --data @$root/proto/examples/reports.sexual-abuse.valid.json $HOTLINED_URL/v1/reports

Read it as the county police (the primary assignee; use the case_number it returned):

  curl --cacert $P/ca.crt --cert $P/police-320102.crt --key $P/police-320102.key \\
    $HOTLINED_URL/v1/cases/<case_number>

See what the database holds (personal fields are ciphertext, sealed by the daemon):

  psql -h $PGHOST -p $PGPORT -U postgres hotline -c 'select case_number, risk_level, region_code, created_at, narrative from hotline.cases'

Or with the hotline client (source $var/env.sh first: it sets HOTLINED_URL and HOTLINED_CA):

  export HOTLINED_CERT=$P/gateway.crt HOTLINED_KEY=$P/gateway.key
  $root/build/hotline submit reports $root/proto/examples/reports.sexual-abuse.valid.json

and work the county police's queue:

  export HOTLINED_CERT=$P/police-320102.crt HOTLINED_KEY=$P/police-320102.key
  $root/build/hotline queue
  $root/build/hotline case <case_number>

($root/build/hotline -h lists every command.)

Administration (audit, keys, retention): source $var/env.sh, then $root/build/hotlinectl -h

The web console: $HOTLINED_URL/console/
  In the browser, trust $P/ca.crt as a certificate authority and import a seat's
  certificate (PKCS#12, password $(cat "$P/p12.pass")):
    $P/console.p12                        a 12355 operator's seat
    $P/police-320102.p12                  the 玄武区 police (an agency's queue)
    $P/procuratorate-320102.p12           the 玄武区 procuratorate
    $P/procuratorate-320102-approver.p12  its approver of access requests
    $P/education-320102.p12, $P/admin.p12
  (Chromium: Settings > Privacy and security > Security > Manage certificates;
  Firefox: Settings > Privacy & Security > Certificates > View Certificates.)

Ctrl-C stops the daemon and the database.

TXT
if [ -L "$var/pg" ]; then
	cat <<TXT
The database's files are in $(readlink "$var/pg"), since user postgres
cannot reach $var ($var/pg links there). After Ctrl-C,
bash $here/pg.sh destroy $var/pg removes them.

TXT
fi
stop() {
	trap - INT TERM
	[ -n "${pid:-}" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" || true
	bash "$here/pg.sh" stop "$var/pg"
	echo "stopped"
	exit 0
}
trap stop INT TERM
"$root/build/hotlined" -d -f "$HOTLINED_CONF" &
pid=$!
wait "$pid" || true
# The daemon ended (Ctrl-C reaches it too, and it may be gone before this
# shell's trap has run): stop the database and say so, either way.
pid=
stop
