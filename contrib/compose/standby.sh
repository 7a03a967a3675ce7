#!/usr/bin/env bash
# docker-compose.yml: the standby's entrypoint.  The first time (an empty data
# directory) it takes a base backup of the primary with a replication slot
# and writes the standby's settings (pg_basebackup -R), then it runs the
# postgres image's own entrypoint, which starts the server as a standby.  It
# has no synchronous standby of its own, so that once promoted
# (pg_ctl promote) it commits alone until a new standby is built.
set -euo pipefail
: "${REPLICATOR_PASSWORD:?REPLICATOR_PASSWORD must be set}"
: "${PRIMARY_HOST:?PRIMARY_HOST must be set}"
PGDATA=${PGDATA:-/var/lib/postgresql/data}
if [ ! -s "$PGDATA/PG_VERSION" ]; then
	mkdir -p "$PGDATA"
	chown postgres:postgres "$PGDATA"
	chmod 700 "$PGDATA"
	until pg_isready -q -h "$PRIMARY_HOST" -U replicator -d postgres; do sleep 1; done
	gosu postgres env PGPASSWORD="$REPLICATOR_PASSWORD" pg_basebackup -h "$PRIMARY_HOST" \
	    -U replicator -D "$PGDATA" -X stream -R -C -S standby1 -c fast
	cat >>"$PGDATA/postgresql.auto.conf" <<CONF
primary_conninfo = 'host=$PRIMARY_HOST user=replicator password=$REPLICATOR_PASSWORD application_name=standby1'
primary_slot_name = 'standby1'
synchronous_standby_names = ''
CONF
fi
exec docker-entrypoint.sh postgres
