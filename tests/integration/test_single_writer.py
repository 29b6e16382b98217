"""One writer per exposure, with real processes on PostgreSQL: two `dbt-hubspot-sync sync` of one exposure started
together, and a post-hook push (`run -- run`) racing a CLI `sync`. The second pusher waits for the first, then
proceeds against the fresh state: every update is sent once and HubSpot ends as after one clean run. With
`writer_wait_seconds: 0` the second refuses at once, naming the running run, exit 1.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from dbt_hubspot_sync.sandbox import Sandbox

from .helpers import (
    EXPOSURE,
    UPDATE,
    Built,
    assert_invariant,
    contact_values,
    sandbox_config,
)

pytestmark = [pytest.mark.dbt, pytest.mark.postgres]

# One request a second (the sandbox's window and the clients' pace agree): a push takes ~10 s, far longer than
# the skew between two processes' start-ups, so the pushes overlap.
PACE = {"HUBSPOT_RATE_LIMIT_MAX": "1", "HUBSPOT_RATE_LIMIT_INTERVAL_MS": "1000"}
WAITED = "is being pushed by run"


@pytest.fixture
def b(built) -> Built:
    return built("postgres")


@pytest.fixture
def slow_sandbox() -> Iterator[Sandbox]:
    with Sandbox(sandbox_config(rate_max=1, rate_window_ms=1000, latency_ms=100)) as sb:
        yield sb


def cli(b: Built, sb: Sandbox, *args: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        **PACE,
        "HUBSPOT_ACCESS_TOKEN": sb.app.cfg.token,
        "HUBSPOT_BASE_URL": sb.url,
        **b.example.env,
    }
    argv = [sys.executable, "-m", "dbt_hubspot_sync.doors.cli", *args]
    return subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def sync_args(b: Built, *extra: str) -> list[str]:
    return ["sync", "--select", EXPOSURE, *b.example.cli_args(), *extra]


def finish(*procs: subprocess.Popen[str]) -> list[tuple[int, str, str]]:
    done = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        done.append((proc.returncode, out, err))
    return done


def runs(b: Built) -> list[dict]:
    cols = ("run_id", "trigger", "status", "rows_updated", "rows_unchanged", "started_at", "finished_at", "error")
    rows = b.example.query(f"select {', '.join(cols)} from {{schema}}.hubspot_sync_runs order by started_at")
    return [dict(zip(cols, r)) for r in rows]


def assert_sent_once(b: Built, sb: Sandbox, pushes: list[dict]) -> None:
    ref = b.reference_result.counters
    assert ref.rows_updated > 0
    assert sum(r["rows_updated"] for r in pushes) == ref.rows_updated  # each contact updated once in all
    # Accepted update requests: a clean run's (a 429 on the shared window, retried, is not a second update).
    assert sb.stats()["requests"][UPDATE].get("200", 0) == math.ceil(ref.rows_updated / 100)
    assert contact_values(sb) == b.reference
    assert sb.stats()["contacts_created"] == 0
    first, second = sorted(pushes, key=lambda r: r["finished_at"])
    assert second["rows_unchanged"] == first["rows_updated"]  # it read the state the first one wrote
    assert second["started_at"] >= first["finished_at"]  # `running` only once the first had finished


def test_two_concurrent_syncs_send_each_update_once(b: Built, slow_sandbox: Sandbox) -> None:
    sb = slow_sandbox
    results = finish(cli(b, sb, *sync_args(b)), cli(b, sb, *sync_args(b)))
    for code, out, err in results:
        assert code == 0, f"{out}\n{err}"
        assert "Traceback" not in err, err
    assert sum(WAITED in err for _, _, err in results) == 1  # one of them waited for the other
    pushes = runs(b)
    assert [r["status"] for r in pushes] == ["completed", "completed"], pushes
    assert_sent_once(b, sb, pushes)
    assert_invariant(b.example)


def test_a_post_hook_push_racing_a_cli_sync(b: Built, slow_sandbox: Sandbox) -> None:
    sb = slow_sandbox
    ex = b.example
    dbt_run = cli(b, sb, "run", "--project-dir", str(ex.project_dir), "--profiles-dir", str(ex.project_dir),
                  "--", "run", "--target", ex.target, "--select", "hubspot_contacts")
    results = finish(dbt_run, cli(b, sb, *sync_args(b)))
    for code, out, err in results:
        assert code == 0, f"{out}\n{err}"
        assert "Traceback" not in err, err
    pushes = runs(b)
    assert sorted(r["trigger"] for r in pushes) == ["cli", "dbt_run"], pushes
    assert [r["status"] for r in pushes] == ["completed", "completed"], pushes
    assert_sent_once(b, sb, pushes)
    assert_invariant(b.example)


def test_with_no_wait_the_second_pusher_refuses_naming_the_running_run(b: Built, slow_sandbox: Sandbox) -> None:
    sb = slow_sandbox
    no_wait = ("--vars", "{hubspot_sync: {writer_wait_seconds: 0}}")
    results = finish(cli(b, sb, *sync_args(b, *no_wait)), cli(b, sb, *sync_args(b, *no_wait)))
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 1], results
    pushes = runs(b)
    refused = [r for r in pushes if r["status"] == "failed"]
    [sender] = [r for r in pushes if r["status"] == "completed"]
    assert len(refused) == 1 and refused[0]["error"].startswith("writer_busy: exposure 'hubspot_customers'")
    assert sender["run_id"] in refused[0]["error"]  # names the running run, its runner and start
    assert "runner " in refused[0]["error"] and "since 20" in refused[0]["error"]
    [(_, out, err)] = [r for r in results if r[0] == 1]
    assert sender["run_id"] in out + err and "Traceback" not in err
    assert contact_values(sb) == b.reference
    assert_invariant(b.example)
