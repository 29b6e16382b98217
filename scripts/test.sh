#!/usr/bin/env bash
# Set everything up and run the whole test suite (lint included).
# PostgreSQL tests use DBT_HUBSPOT_SYNC_PG_* when set; otherwise a throwaway local cluster is started when the
# server binaries exist (Debian: apt-get install postgresql), and they skip with a message when neither is there.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/bootstrap.sh postgres,test
if [ -z "${DBT_HUBSPOT_SYNC_PG_HOST:-}" ] && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  pgdir=$(mktemp -d /tmp/dbt-hubspot-sync-pg.XXXXXX)
  trap 'scripts/postgres.sh stop "$pgdir"; rm -rf "$pgdir"' EXIT
  eval "$(scripts/postgres.sh start "$pgdir")"
fi
.venv/bin/ruff check dbt_hubspot_sync tests benchmarks
.venv/bin/python -m pytest -q "$@"
