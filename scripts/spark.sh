#!/usr/bin/env bash
# Start a throwaway Apache Spark Thrift server (HiveThriftServer2, from the pyspark package's jars) on 127.0.0.1
# and print `export ...` lines for the tests; stop it again.
# Usage: eval "$(scripts/spark.sh start DIR)"; ...; scripts/spark.sh stop DIR
# Needs Java 17+ (Debian: apt-get install openjdk-17-jre-headless) and pyspark in .venv (bootstrap.sh spark).
# Its metastore (Derby) and warehouse (parquet files) live in DIR. About 7 s to start and 1.2 GB of memory.
set -euo pipefail
cmd=$1 dir=$2
root=$(cd "$(dirname "$0")/.." && pwd)
case "$cmd" in
  start)
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    SPARK_HOME=$("$root/.venv/bin/python" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))' 2>/dev/null) || {
      echo "pyspark not found in .venv: run scripts/bootstrap.sh spark first" >&2; exit 3; }
    export SPARK_HOME
    submit="$SPARK_HOME/bin/spark-submit"
    command -v java >/dev/null 2>&1 || [ -n "${JAVA_HOME:-}" ] || {
      echo "Java not found (Debian: apt-get install openjdk-17-jre-headless)" >&2; exit 3; }
    port=${SPARK_THRIFT_PORT_WANTED:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}
    # Two local cores, two shuffle partitions (the default 200 makes every window query 200 tasks), no UI, UTC,
    # and results handed out partition by partition (incrementalCollect: the server does not hold a whole model).
    # The subshell execs into the JVM (spark-submit and spark-class exec too), so server.pid is the JVM's; its
    # output goes to server.log, and it keeps no descriptor of ours (a caller's `$(...)` would wait for it).
    (
      cd "$dir"
      export SPARK_LOCAL_IP=127.0.0.1
      exec nohup "$submit" \
        --class org.apache.spark.sql.hive.thriftserver.HiveThriftServer2 \
        --master "local[2]" --driver-memory "${SPARK_DRIVER_MEMORY:-1g}" \
        --conf spark.ui.enabled=false \
        --conf spark.sql.shuffle.partitions=2 \
        --conf spark.sql.session.timeZone=UTC \
        --conf spark.sql.thriftServer.incrementalCollect=true \
        --conf "spark.sql.warehouse.dir=$dir/warehouse" \
        --conf "spark.driver.extraJavaOptions=-Dderby.system.home=$dir" \
        spark-internal \
        --hiveconf hive.server2.thrift.bind.host=127.0.0.1 \
        --hiveconf "hive.server2.thrift.port=$port"
    ) >"$dir/server.log" 2>&1 </dev/null &
    echo $! >"$dir/server.pid"
    # Up when it accepts a Thrift session (the port opens before the session manager is ready).
    deadline=$((SECONDS + ${SPARK_START_TIMEOUT:-240}))
    while [ "$SECONDS" -lt "$deadline" ]; do
      if ! kill -0 "$(cat "$dir/server.pid")" 2>/dev/null; then
        echo "the Spark Thrift server stopped while starting; its log:" >&2; tail -n 40 "$dir/server.log" >&2; exit 4
      fi
      if "$root/.venv/bin/python" - "$port" >/dev/null 2>&1 <<'EOF'
import sys
from pyhive import hive
conn = hive.connect(host="127.0.0.1", port=int(sys.argv[1]), username="dbt")
cur = conn.cursor()
cur.execute("select 1")
cur.fetchall()
conn.close()
EOF
      then
        echo "export DBT_HUBSPOT_SYNC_SPARK_HOST=127.0.0.1 DBT_HUBSPOT_SYNC_SPARK_PORT=$port"
        exit 0
      fi
      sleep 0.5
    done
    echo "the Spark Thrift server did not answer within ${SPARK_START_TIMEOUT:-240} s; its log: $dir/server.log" >&2
    kill "$(cat "$dir/server.pid")" 2>/dev/null || true
    exit 4
    ;;
  stop)
    if [ -f "$dir/server.pid" ]; then
      pid=$(cat "$dir/server.pid")
      # The JVM's own pid (see start): a few seconds to shut down cleanly, then killed.
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
      kill -9 "$pid" 2>/dev/null || true
      rm -f "$dir/server.pid"
    fi
    ;;
esac
