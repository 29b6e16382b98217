#!/usr/bin/env bash
# Create .venv (if missing) and install the package with the given extras, pinned by constraints.txt.
# Usage: scripts/bootstrap.sh [extras]   e.g. scripts/bootstrap.sh postgres,test
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
spec="$root"
[ -n "$extras" ] && spec="$root[$extras]"
"$root/.venv/bin/pip" install --quiet -c "$root/constraints.txt" -e "$spec"
