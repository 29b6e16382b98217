#!/usr/bin/env bash
# The main job, end to end on this machine: a local HubSpot sandbox, the example dbt project on DuckDB,
# then `dbt-hubspot-sync sync`, its summary and where to look in the warehouse.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/bootstrap.sh"
bin="$root/.venv/bin"
cd "$root/example_project"
port=${SANDBOX_PORT:-8765}
"$bin/dbt-hubspot-sync" sandbox --port "$port" --contacts sandbox/contacts.csv &
sandbox_pid=$!
trap 'kill $sandbox_pid 2>/dev/null || true' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/__sandbox__/stats" >/dev/null && break; sleep 0.2; done

export HUBSPOT_ACCESS_TOKEN=sandbox-token HUBSPOT_BASE_URL="http://127.0.0.1:$port"
export DBT_DUCKDB_PATH="$root/example_project/customer360.duckdb"
rm -f "$DBT_DUCKDB_PATH"
"$bin/dbt" deps --profiles-dir . --quiet
"$bin/dbt" seed --profiles-dir . --quiet
echo "== dbt run (the post-hook pushes exposures marked workflow: automatic)"
"$bin/dbt" run --profiles-dir .
echo "== dbt build with the contact tests made to fail (the gate: nothing reaches HubSpot, the run log says why)"
"$bin/dbt" build --profiles-dir . --quiet --vars '{contacts_max_bad_emails: 0}' || true
echo "== dbt-hubspot-sync check (config, token, scopes, lists, properties; sends nothing)"
"$bin/dbt-hubspot-sync" check --project-dir .
echo "== dbt-hubspot-sync sync (every exposure)"
set +e
"$bin/dbt-hubspot-sync" sync --project-dir .
status=$?
set -e
echo "== recent runs (dbt-hubspot-sync runs)"
"$bin/dbt-hubspot-sync" runs --project-dir . --limit 5
echo "== the log tables as a dbt source, tested (dbt test --select source:dbt_hubspot_sync)"
"$bin/dbt" test --profiles-dir . --quiet --select source:dbt_hubspot_sync && echo "source tests passed"
echo "== sandbox stats (nothing created)"
curl -s "http://127.0.0.1:$port/__sandbox__/stats"; echo
cat <<TXT

The log tables live in $DBT_DUCKDB_PATH (schema main). Query them, e.g.:
  $bin/python -c "import duckdb; c = duckdb.connect('$DBT_DUCKDB_PATH', read_only=True); \\
    print(c.sql('select outcome, reason_code, count(*) from hubspot_sync_record_log group by all order by all'))"
TXT
exit $status
