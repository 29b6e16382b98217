#!/usr/bin/env bash
# Set everything up and run the whole test suite (lint included).
# PostgreSQL tests use DBT_HUBSPOT_SYNC_PG_* when set; otherwise a throwaway local cluster is started when the
# server binaries exist (Debian: apt-get install postgresql), and they skip with a message when neither is there.
# Spark tests (tests/spark, marker `spark`) use DBT_HUBSPOT_SYNC_SPARK_HOST/PORT when set; otherwise a throwaway
# Spark Thrift server is started when Java is installed (Debian: apt-get install openjdk-17-jre-headless; pyspark
# comes with the spark-server extra), and they skip with a message when neither is there.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/bootstrap.sh postgres,test,spark-server
cleanup=()
trap 'for c in "${cleanup[@]}"; do eval "$c"; done' EXIT
if [ -z "${DBT_HUBSPOT_SYNC_PG_HOST:-}" ] && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  pgdir=$(mktemp -d /tmp/dbt-hubspot-sync-pg.XXXXXX)
  cleanup+=("scripts/postgres.sh stop '$pgdir'; rm -rf '$pgdir'")
  eval "$(scripts/postgres.sh start "$pgdir")"
fi
if [ -z "${DBT_HUBSPOT_SYNC_SPARK_HOST:-}" ] && command -v java >/dev/null 2>&1; then
  sparkdir=$(mktemp -d /tmp/dbt-hubspot-sync-spark.XXXXXX)
  cleanup+=("scripts/spark.sh stop '$sparkdir'; rm -rf '$sparkdir'")
  # A server that will not start (its log is printed) leaves the spark tests to skip, saying why: the rest runs.
  if spark_env=$(scripts/spark.sh start "$sparkdir"); then
    eval "$spark_env"
  else
    echo "warning: the Spark Thrift server did not start; the spark tests skip" >&2
  fi
fi
.venv/bin/ruff check dbt_hubspot_sync tests benchmarks
# Two workers (pytest-xdist), each taking a whole test module at a time (--dist loadscope: a module's fixtures,
# e.g. its built dbt project, are built once) in collection order, the Spark module first (tests/conftest.py);
# every test has its own schema, sandbox port and directories. The slowest 15 tests are listed at the end.
# Arguments are pytest's and come last: `scripts/test.sh -n 0` runs in one process, `-k ...` selects.
.venv/bin/python -m pytest -q -n 2 --dist loadscope --no-loadscope-reorder --durations=15 "$@"
