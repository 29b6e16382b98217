"""The warehouse going away mid-run: a real `dbt-hubspot-sync sync` process whose PostgreSQL backend is terminated
(`pg_terminate_backend`) after its first update, and a DuckDB file another process holds locked.

No traceback; a clear error naming the warehouse step; the run row marked `failed` through a fresh connection;
exit 1; the next run converges to a clean run's HubSpot state.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator

import pytest
import yaml

from dbt_hubspot_sync.doors.cli import EXIT_USAGE, main
from dbt_hubspot_sync.sandbox import Sandbox

from .helpers import (
    EXPOSURE,
    Built,
    assert_invariant,
    contact_values,
    model_rows,
    release_duckdb,
    run_row,
    sandbox_config,
    sync,
    wait_for_first_update,
)

pytestmark = pytest.mark.dbt

PACE = {"HUBSPOT_RATE_LIMIT_MAX": "3", "HUBSPOT_RATE_LIMIT_INTERVAL_MS": "1000"}


@pytest.fixture
def paced_sandbox() -> Iterator[Sandbox]:
    with Sandbox(sandbox_config(rate_max=3, rate_window_ms=1000, latency_ms=150)) as sb:
        yield sb


def named_connections(b: Built) -> str:
    """The example's PostgreSQL connections carry an application_name of their own (set from the environment),
    so the test terminates the sync's backend and nobody else's."""
    profiles = b.example.project_dir / "profiles.yml"
    doc = yaml.safe_load(profiles.read_text(encoding="utf-8"))
    output = doc["customer360"]["outputs"]["pg"]
    output["application_name"] = "{{ env_var('DBT_HUBSPOT_SYNC_PG_APP', 'dbt') }}"
    profiles.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return f"dbt-hubspot-sync-test-{uuid.uuid4().hex[:8]}"


def terminate_backends(b: Built, app: str) -> int:
    rows = b.example.query(
        f"select pg_terminate_backend(pid) from pg_stat_activity where application_name = '{app}'"
    )
    return sum(1 for (ok,) in rows if ok)


@pytest.mark.postgres
def test_postgres_backend_terminated_mid_push(built, paced_sandbox: Sandbox) -> None:
    b = built("postgres")
    sb = paced_sandbox
    app = named_connections(b)
    env = {
        **os.environ,
        **PACE,
        "HUBSPOT_ACCESS_TOKEN": sb.app.cfg.token,
        "HUBSPOT_BASE_URL": sb.url,
        "DBT_HUBSPOT_SYNC_PG_APP": app,
        **b.example.env,
    }
    argv = [sys.executable, "-m", "dbt_hubspot_sync.doors.cli", "sync", "--select", EXPOSURE, *b.example.cli_args()]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_first_update(sb, proc, timeout=90.0)
    assert terminate_backends(b, app) >= 1, "the sync's backend was not found"
    out, err = proc.communicate(timeout=120)

    assert proc.returncode == 1, f"{out}\n{err}"
    assert "Traceback" not in err and "Traceback" not in out, err
    [(run_id, status, error)] = b.example.query("select run_id, status, error from {schema}.hubspot_sync_runs")
    assert status == "failed", error
    assert error.startswith("warehouse_lost: warehouse (postgres,") and "failed" in error, error
    assert "hubspot_sync_" in error  # the step: which table's write broke
    assert "warehouse_lost" in out  # the summary says it too
    stopped = run_row(b.example, run_id)
    assert stopped["rows_read"] == sum(stopped[f"rows_{o}"] for o in
                                       ("invalid", "duplicate", "unchanged", "updated", "not_found", "failed"))

    # The next run converges to the clean run's HubSpot state, every row counted once.
    [again] = sync(b.example, sb)
    row = run_row(b.example, again.run_id)
    assert row["status"] == "completed", row
    assert row["rows_read"] == model_rows(b.example)
    assert contact_values(sb) == b.reference
    assert sb.stats()["contacts_created"] == 0
    assert_invariant(b.example)


LOCKER = textwrap.dedent(
    """
    import sys, time, duckdb
    conn = duckdb.connect(sys.argv[1])
    print("locked", flush=True)
    time.sleep(120)
    """
)


def test_duckdb_file_locked_by_another_process(built, hubspot_env: Sandbox, capsys) -> None:
    b = built("duckdb")
    release_duckdb()
    locker = subprocess.Popen(
        [sys.executable, "-c", LOCKER, b.example.env["DBT_DUCKDB_PATH"]], stdout=subprocess.PIPE, text=True
    )
    try:
        assert locker.stdout is not None and locker.stdout.readline().strip() == "locked"
        code = main(["sync", "--select", EXPOSURE, *b.example.cli_args()])
        err = capsys.readouterr().err
    finally:
        locker.kill()
        locker.wait()
    assert code == EXIT_USAGE, err
    assert "Traceback" not in err
    assert f"PID {locker.pid}" in err, err  # who holds it
    assert "another process holds the DuckDB file" in err and "one writing process" in err  # and what to do
    assert hubspot_env.stats()["requests"] == {}  # nothing was sent
