#!/usr/bin/env bash
# docker-compose.yml: the one-shot set-up, run at every "up" (each step is
# kept if done already).  On the primary (PG* variables): the migrations
# (sql/migrate.sh), the daemon role's password and the demo agencies; in the
# volume the daemons mount at /etc/hotlined: the master and keyed-digest
# keys (made once, mode 600, owned by the daemons' user 10001) and
# hotlined.conf, whose connection string names the primary and the standby
# (the daemons use whichever accepts writes); then the client certificates
# found in /pki registered (clients.sh).
set -euo pipefail
: "${HOTLINED_DB_PASSWORD:?HOTLINED_DB_PASSWORD must be set}"
conf=/etc/hotlined
until pg_isready -q; do sleep 1; done

bash /sql/migrate.sh
psql -X -q -v ON_ERROR_STOP=1 -v pw="$HOTLINED_DB_PASSWORD" <<'SQL'
select format('alter role hotlined login password %L', :'pw') \gexec
SQL
psql -X -q -1 -v ON_ERROR_STOP=1 -f /sql/demo/demo.sql

umask 077
mkdir -p "$conf/keys"
if [ ! -s "$conf/keys/master.key" ]; then
	{ echo "# hotlined master keys: <kid> <hex>; the first is current"
	  echo "k$(date -u +%Y%m%d%H%M%S) $(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
	} >"$conf/keys/master.key"
fi
if [ ! -s "$conf/keys/hash.key" ]; then
	head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$conf/keys/hash.key"
	echo >>"$conf/keys/hash.key"
fi
chown -R 10001 "$conf/keys"
chmod 700 "$conf/keys"
chmod 600 "$conf/keys/master.key" "$conf/keys/hash.key"
cat >"$conf/hotlined.conf" <<CONF
# Written by the setup service of docker-compose.yml.
listen = 0.0.0.0:12355
metrics_listen = 0.0.0.0:9355
tls_cert = $conf/pki/server.crt
tls_key = $conf/pki/server.key
tls_client_ca = $conf/pki/ca.crt
database = host=primary,standby port=5432,5432 dbname=hotline user=hotlined password=$HOTLINED_DB_PASSWORD application_name=hotlined target_session_attrs=read-write connect_timeout=3
master_key = $conf/keys/master.key
hash_key = $conf/keys/hash.key
db_pool_size = 4
log_level = info
CONF
chown 10001 "$conf/hotlined.conf"
chmod 600 "$conf/hotlined.conf"

bash "$(dirname "$0")/clients.sh"
echo "setup: done"
