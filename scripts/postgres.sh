#!/usr/bin/env bash
# Start a throwaway PostgreSQL cluster on 127.0.0.1 and print `export ...` lines for the tests.
# Usage: eval "$(scripts/postgres.sh start DIR)"; ...; scripts/postgres.sh stop DIR
# initdb refuses to run as root, so as root the cluster runs as the `postgres` user in a directory it owns.
set -euo pipefail
cmd=$1 dir=$2
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$bin" ] || { echo "PostgreSQL server binaries not found under /usr/lib/postgresql" >&2; exit 3; }
as_owner() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
case "$cmd" in
  start)
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres "$dir"
    port=${PGPORT_WANTED:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}
    as_owner "$bin/initdb" -D "$dir/data" -U postgres -A trust --no-sync --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
      -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c fsync=off" start >/dev/null
    echo "export DBT_HUBSPOT_SYNC_PG_HOST=127.0.0.1 DBT_HUBSPOT_SYNC_PG_PORT=$port DBT_HUBSPOT_SYNC_PG_USER=postgres"
    echo "export DBT_HUBSPOT_SYNC_PG_PASSWORD= DBT_HUBSPOT_SYNC_PG_DBNAME=postgres"
    ;;
  stop)
    [ -d "$dir/data" ] && as_owner "$bin/pg_ctl" -D "$dir/data" -m fast stop >/dev/null 2>&1 || true
    ;;
esac
