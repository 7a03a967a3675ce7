#!/usr/bin/env bash
# docker-compose.yml: run once by the postgres image when the primary's data
# directory is made.  The role the standby replicates as, its line in
# pg_hba.conf, and the standby as synchronous standby: a COMMIT returns only
# once the standby has the transaction on disk (set with ALTER SYSTEM, for
# the server started after this script: this one has no standby to wait for).
set -euo pipefail
: "${REPLICATOR_PASSWORD:?REPLICATOR_PASSWORD must be set}"
psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d postgres -v pw="$REPLICATOR_PASSWORD" <<'SQL'
select format('create role replicator replication login password %L', :'pw') \gexec
alter system set synchronous_standby_names = 'standby1';
alter system set synchronous_commit = 'on';
SQL
echo "host replication replicator all scram-sha-256" >>"$PGDATA/pg_hba.conf"
