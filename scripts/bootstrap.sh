#!/usr/bin/env bash
# Create .venv (if missing) and install the package with the given extras, pinned by constraints.txt.
# Usage: scripts/bootstrap.sh [extras]   e.g. scripts/bootstrap.sh postgres,test,spark-server
# `spark-server` brings pyspark (the local Spark Thrift server of scripts/spark.sh): PyPI has it only as a 456 MB
# source archive, so the wheel built from it is kept in $DBT_HUBSPOT_SYNC_WHEELS (default
# ~/.cache/dbt-hubspot-sync/wheels) and reused by every later bootstrap on the machine.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
extras=${1:-}
py=${PYTHON:-}
if [ -z "$py" ]; then
  for candidate in python3.11 python3.12 python3.10 python3; do
    if command -v "$candidate" >/dev/null 2>&1; then py=$candidate; break; fi
  done
fi
if [ ! -x "$root/.venv/bin/python" ]; then
  "$py" -m venv "$root/.venv"
  "$root/.venv/bin/pip" install --quiet --upgrade pip
fi
pip=("$root/.venv/bin/pip" install --quiet -c "$root/constraints.txt")
case ",$extras," in
  *,spark-server,*)
    if ! "$root/.venv/bin/python" -c 'import pyspark' >/dev/null 2>&1; then
      wheels=${DBT_HUBSPOT_SYNC_WHEELS:-${XDG_CACHE_HOME:-$HOME/.cache}/dbt-hubspot-sync/wheels}
      mkdir -p "$wheels"
      whl=$(ls "$wheels"/pyspark-*.whl 2>/dev/null | sort -V | tail -n 1 || true)
      if [ -z "$whl" ] || ! "${pip[@]}" "$whl"; then
        echo "building the pyspark wheel once (a 456 MB source archive; cached in $wheels)" >&2
        "$root/.venv/bin/pip" wheel --quiet --no-deps -c "$root/constraints.txt" -w "$wheels" pyspark
        whl=$(ls "$wheels"/pyspark-*.whl | sort -V | tail -n 1)
        "${pip[@]}" "$whl"
      fi
    fi
    ;;
esac
spec="$root"
[ -n "$extras" ] && spec="$root[$extras]"
"${pip[@]}" -e "$spec"
