"""`push: import` end to end, on DuckDB and PostgreSQL: the example project's audience through HubSpot's imports
API (the sandbox's), with real dbt and the standalone runner.

- update-only: HubSpot ends as after a clean batch sync, no contact created, no batch call, one outcome per row;
- a file split at the account's row limit, every import id on the runs row;
- a FAILED import fails its rows, the next run resends them;
- the daily limits: auto falls back to batch calls, import stops with a clear message;
- a `dbt-hubspot-sync sync` killed (SIGKILL) while HubSpot processes its import: the next run lands that import
  instead of importing its rows twice;
- the contacts an import updated are remembered with their record ids (read by email once it landed, 100 a
  request): a re-sync after N of them changed costs at most ceil(N/100) + 3 requests, no lookup.
"""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dbt_hubspot_sync.doors.runner import SyncOptions, run_sync
from dbt_hubspot_sync.engine import imports as engine_imports
from dbt_hubspot_sync.sandbox import Sandbox, SandboxConfig
from dbt_hubspot_sync.sandbox.imports import imports_of

from .helpers import (
    ADAPTERS,
    CONTACTS_CSV,
    EXPOSURE,
    Built,
    assert_invariant,
    calls,
    client_factory,
    contact_values,
    execute,
    first_names_restored,
    model_rows,
    record_log,
    release_duckdb,
    run_row,
    sandbox_config,
)

pytestmark = pytest.mark.dbt
IMPORTS = "POST /crm/v3/imports"


@pytest.fixture(params=ADAPTERS)
def b(request: pytest.FixtureRequest, built: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Built:
    built_example = built(request.param)
    execute(built_example.example, "delete from {schema}.hubspot_sync_imports")
    monkeypatch.setenv("HUBSPOT_SYNC_SPOOL_DIR", str(tmp_path / "spool"))
    monkeypatch.setattr(engine_imports, "POLL_FIRST_S", 0.05)
    monkeypatch.setattr(engine_imports, "POLL_MAX_S", 0.2)
    return built_example


@pytest.fixture
def sb() -> Iterator[Sandbox]:
    with Sandbox(sandbox_config(rate_max=1000)) as sandbox:
        imports_of(sandbox).cfg.rows_per_second = 100_000
        yield sandbox


def push(b: Built, sb: Sandbox, **hubspot_sync: Any) -> Any:
    options = SyncOptions(
        project_dir=str(b.example.project_dir),
        profiles_dir=str(b.example.project_dir),
        target=b.example.target,
        select=[EXPOSURE],
        vars_yaml=json.dumps({"hubspot_sync": {"push": "import", **hubspot_sync}}),
    )
    [result] = run_sync(options, client_factory=client_factory(sb, limiter=None, timeout=5))
    return result


def requests_of(sb: Sandbox, key: str) -> int:
    return sum(sb.stats()["requests"].get(key, {}).values())


def test_an_update_only_import_reaches_the_clean_batch_sync_state(b: Built, sb: Sandbox) -> None:
    result = push(b, sb)
    row = run_row(b.example, result.run_id)
    ref = b.reference_result.counters
    assert row["status"] == "completed", row
    assert row["rows_read"] == model_rows(b.example)
    assert (row["rows_invalid"], row["rows_duplicate"], row["rows_not_found"]) == (
        ref.rows_invalid,
        ref.rows_duplicate,
        ref.rows_not_found,
    )
    assert row["rows_updated"] + row["rows_unchanged"] == ref.rows_updated + ref.rows_unchanged
    assert contact_values(sb) == b.reference
    assert sb.stats()["contacts_created"] == 0
    # The record ids of the contacts it updated, read once it landed: one batch read per 100 of them.
    reads = math.ceil(row["rows_updated"] / 100)
    assert calls(sb, "batch/update") == 0 and calls(sb, "batch/read") == reads
    assert requests_of(sb, IMPORTS) == 1
    assert row["requests"] <= 10 + reads, row  # the limits' list, the import, a few polls, the errors page
    [(import_ids,)] = b.example.query(
        f"select import_ids from {{schema}}.hubspot_sync_runs where run_id = '{result.run_id}'"
    )
    assert import_ids and import_ids.isdigit()
    not_found = {
        code for _, outcome, code, _ in record_log(b.example, result.run_id) if outcome == "not_found"
    }
    assert not_found == {"OBJECT_NOT_FOUND"}
    assert_invariant(b.example)
    again = push(b, sb)
    assert again.counters.rows_updated == 0 and again.counters.rows_failed == 0
    assert again.counters.rows_unchanged >= row["rows_updated"]


def test_files_split_at_the_row_limit_each_an_import(b: Built, sb: Sandbox) -> None:
    result = push(b, sb, import_limits={"file_rows": 200})
    ids = b.example.query(
        f"select import_ids from {{schema}}.hubspot_sync_runs where run_id = '{result.run_id}'"
    )
    parts = ids[0][0].split(",")
    sizes = [imports_of(sb).get(int(i)).rows for i in parts]
    assert len(parts) == requests_of(sb, IMPORTS) >= 2 and max(sizes) == 200
    assert sum(sizes) == result.counters.rows_updated + result.counters.rows_not_found
    assert contact_values(sb) == b.reference
    assert_invariant(b.example)


def test_a_failed_import_fails_its_rows_and_the_next_run_resends_them(b: Built, sb: Sandbox) -> None:
    imports_of(sb).cfg.fail_next = 1
    failed = push(b, sb)
    assert failed.status == "completed_with_errors"
    codes = {code for _, outcome, code, _ in record_log(b.example, failed.run_id) if outcome == "failed"}
    assert codes == {"IMPORT_FAILED"} and sb.stats()["contacts_updated"] == 0
    again = push(b, sb)
    assert again.status == "completed" and contact_values(sb) == b.reference
    assert_invariant(b.example)


def test_over_the_daily_limits_auto_uses_batch_calls_and_import_stops(b: Built, sb: Sandbox) -> None:
    limits = {"daily_imports": 0}
    stopped = push(b, sb, import_limits=limits)
    assert stopped.status == "failed" and stopped.error.startswith("import_limit:"), stopped.error
    assert "import_limits" in stopped.error and requests_of(sb, IMPORTS) == 0
    codes = {code for _, outcome, code, _ in record_log(b.example, stopped.run_id) if outcome == "failed"}
    assert codes == {"IMPORT_LIMIT"}
    fallback = push(b, sb, push="auto", import_threshold_rows=10, import_limits=limits)
    assert fallback.status == "completed" and requests_of(sb, IMPORTS) == 0
    assert calls(sb, "batch/update") > 0 and contact_values(sb) == b.reference
    assert_invariant(b.example)


def test_a_sync_killed_mid_import_is_landed_by_the_next_run(b: Built, sb: Sandbox, tmp_path: Path) -> None:
    imports_of(sb).cfg.rows_per_second = 150  # a few seconds of processing at HubSpot
    release_duckdb()
    env = {
        **os.environ,
        "HUBSPOT_ACCESS_TOKEN": sb.app.cfg.token,
        "HUBSPOT_BASE_URL": sb.url,
        **b.example.env,
    }
    argv = [
        sys.executable, "-m", "dbt_hubspot_sync.doors.cli", "sync", "--select", EXPOSURE, *b.example.cli_args(),
        "--vars", json.dumps({"hubspot_sync": {"push": "import"}}),
    ]  # fmt: skip
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not any(j.state == "PROCESSING" for j in imports_of(sb).jobs.values()):
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the sync ended before its import processed (exit {proc.returncode}):\n{out}\n{err}")
        assert time.monotonic() < deadline, "no import started"
        time.sleep(0.02)
    proc.kill()
    proc.wait(timeout=30)
    [job] = imports_of(sb).jobs.values()
    assert job.state == "PROCESSING", "killed after the import finished"

    again = push(b, sb)  # waits for the killed run's import, lands it, sends none of its rows again
    row = run_row(b.example, again.run_id)
    assert row["status"] == "completed", row
    assert row["rows_updated"] == 0 and row["rows_unchanged"] >= job.updated > 0
    assert contact_values(sb) == b.reference and sb.stats()["contacts_created"] == 0
    later = [j for j in imports_of(sb).jobs.values() if j.id != job.id]
    # Only rows the first import could not apply may be sent again (no contact had their email).
    assert all(j.rows <= row["rows_not_found"] for j in later)
    phases = b.example.query("select phase, detail from {schema}.hubspot_sync_imports order by logged_at")
    assert [p for p, _ in phases][:3] == ["starting", "started", "landed"]
    assert phases[2][1].startswith("recovered")
    killed = b.example.query(
        "select run_id, status, error from {schema}.hubspot_sync_runs order by started_at"
    )[0]
    assert killed[1] == "failed" and killed[2].startswith("stale")
    assert_invariant(b.example)


@pytest.fixture
def sb_old() -> Iterator[Sandbox]:
    """The example's contacts created long before the sync ran (a fresh sandbox stamps them now, and each would
    look new to the search for contacts created since the last run)."""
    with open(CONTACTS_CSV, newline="", encoding="utf-8") as fh:
        contacts = [dict(row, createdate="2024-01-01T00:00:00Z") for row in csv.DictReader(fh)]
    with Sandbox(SandboxConfig(contacts=contacts, rate_max=1000)) as sandbox:
        imports_of(sandbox).cfg.rows_per_second = 100_000
        yield sandbox


def test_a_resync_after_n_imported_contacts_changed_costs_an_update_per_100(
    b: Built, sb_old: Sandbox
) -> None:
    """An import names no record ids: the run reads them once it landed, so the later change of N of its
    contacts is ceil(N/100) updates by id (no lookup) plus the preflight and the search for new contacts."""
    ex, sb = b.example, sb_old
    with first_names_restored(ex):
        first = push(b, sb)
        assert first.status == "completed" and first.counters.rows_updated > 300
        by_email = {c["properties"]["email"].lower(): c["id"] for c in sb.contacts()}
        state = ex.query(
            "select email_clean, record_id, row_fingerprint from {schema}.hubspot_sync_state"
            " where properties_hash <> 'not_found'"
        )
        assert len(state) == first.counters.rows_updated
        assert all(rid == by_email[email.lower()] for email, rid, _ in state), state[:5]
        # ... with the warehouse's fingerprint of each row, so the next run's SQL finds it unchanged by itself.
        assert all(fingerprint for _, _, fingerprint in state), state[:5]
        execute(
            ex,
            "update {schema}.customers set first_name = 'Changed ' || amperity_id where amperity_id in"
            " (select amperity_id from {schema}.customers order by amperity_id limit 400)",
        )
        before = sb.stats()["requests"]
        again = push(b, sb, push="auto")  # N changed of 50,000 (the threshold): batch calls, by id
        after = sb.stats()["requests"]
        spent = {k: sum(v.values()) - sum(before.get(k, {}).values()) for k, v in after.items()}
        spent = {k: n for k, n in spent.items() if n}
        n = again.counters.rows_updated
        assert again.status == "completed" and n > 200, again.counters
        assert sum(spent.values()) <= math.ceil(n / 100) + 3, spent
        assert "POST /crm/v3/objects/contacts/batch/read" not in spent, spent
        assert spent["POST /crm/v3/objects/contacts/batch/update"] == math.ceil(n / 100)
        changed = [v for v in contact_values(sb).values() if v.get("firstname", "").startswith("Changed ")]
        assert len(changed) == n
    assert_invariant(ex)
