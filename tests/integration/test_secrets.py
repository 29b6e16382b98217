"""The HubSpot token never leaks: the main scenarios run with a distinctive token, then every output, log line,
exception, file the project wrote (dbt logs, the DuckDB database itself) and every warehouse table is searched
for it. Also: 401 and 403 name their cause (and the missing scope), and plain http is refused off loopback."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dbt_hubspot_sync.doors.cli import main
from dbt_hubspot_sync.sandbox import Sandbox
from dbt_hubspot_sync.sandbox.faults import FaultInjector

from .helpers import EXPOSURE, Example, assert_invariant, release_duckdb, sandbox_config

pytestmark = pytest.mark.dbt

TOKEN = "pat-na1-c0ffee42-SECRET-d15t1nct1ve-70ken-9b1e"
# What the token would look like after a case change or a URL quote: searched for too.
NEEDLES = [TOKEN, TOKEN.lower(), TOKEN.upper(), "c0ffee42-SECRET", "d15t1nct1ve"]


@pytest.fixture
def ex(built) -> Example:
    return built("duckdb").example


class Transcript:
    """Everything a user or an operator could see: outputs, exceptions, log records."""

    def __init__(self) -> None:
        self.parts: list[tuple[str, str]] = []

    def add(self, where: str, text: object) -> None:
        self.parts.append((where, str(text)))

    def leaks(self) -> list[str]:
        return [where for where, text in self.parts for n in NEEDLES if n.lower() in text.lower()]


def test_the_token_appears_nowhere(ex: Example, monkeypatch, capsys, caplog, tmp_path: Path):
    caplog.set_level(logging.DEBUG)
    seen = Transcript()
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", TOKEN)

    def cli(label: str, *args: str, env: dict[str, str] | None = None) -> int:
        for key, value in (env or {}).items():
            monkeypatch.setenv(key, value)
        release_duckdb()
        try:
            code = main([*args, *ex.cli_args()])
        except BaseException as exc:  # noqa: BLE001 - an exception's text is output too
            seen.add(f"{label}: exception", repr(exc))
            code = -1
        captured = capsys.readouterr()
        seen.add(f"{label}: stdout", captured.out)
        seen.add(f"{label}: stderr", captured.err)
        return code

    with Sandbox(sandbox_config(token=TOKEN)) as sb:
        url = {"HUBSPOT_BASE_URL": sb.url}
        assert cli("sync", "sync", "--select", EXPOSURE, env=url) == 0
        # The project's own exposures are ready (no other test's model is left behind in the shared project).
        assert cli("check", "check") == 0
        sb.app.faults = FaultInjector("503:0.3,reset:0.1", 3)
        assert cli("faults", "sync", "--select", EXPOSURE, "--full-refresh") in (0, 1)
        sb.app.faults = FaultInjector("", 0)
        sb.app.limiter.daily_max = sb.stats()["requests_total"] + 3
        assert cli("daily limit", "sync", "--select", EXPOSURE, "--full-refresh") == 1
        sb.app.limiter.daily_max = 1_000_000
        # The post-hook (dbt-duckdb plugin) pushing during `dbt run`.
        release_duckdb()
        result = ex.dbt("run")
        seen.add("dbt run", f"{result.success} {result.exception!r} {result.result!r}")
        capt = capsys.readouterr()
        seen.add("dbt run: output", capt.out + capt.err)
        # The real command in its own process: what a terminal or a CI log would show.
        release_duckdb()
        proc = subprocess.run(
            [sys.executable, "-m", "dbt_hubspot_sync.doors.cli", "sync", "--select", EXPOSURE, *ex.cli_args()],
            env={**os.environ, "HUBSPOT_ACCESS_TOKEN": TOKEN, "HUBSPOT_BASE_URL": sb.url},
            capture_output=True,
            text=True,
            timeout=120,
        )
        seen.add("subprocess", proc.stdout + proc.stderr)
        assert proc.returncode == 0, proc.stdout + proc.stderr

    # HubSpot refusing the token (401) or a scope (403): the message names the cause, not the token.
    with Sandbox(sandbox_config(token="another-token")) as sb:
        assert cli("401", "sync", "--select", EXPOSURE, env={"HUBSPOT_BASE_URL": sb.url}) == 2
        assert "401" in seen.parts[-1][1] and "INVALID_AUTHENTICATION" in seen.parts[-1][1]
        sb.add_token(TOKEN, scopes=["crm.objects.contacts.read", "crm.schemas.contacts.read"])
        assert (
            cli("403", "sync", "--select", EXPOSURE, "--full-refresh") == 1
        )  # the run fails at its first update
        message = seen.parts[-2][1]  # stdout: the summary with the run's error
        assert "403" in message and "missing scopes: crm.objects.contacts.write" in message, message
    # Plain http to a remote host is refused before anything is sent.
    assert cli("http", "sync", "--select", EXPOSURE, env={"HUBSPOT_BASE_URL": "http://api.example.com"}) == 2
    assert "https" in seen.parts[-1][1]

    for record in caplog.records:
        seen.add(f"log {record.name}", record.getMessage() + (record.exc_text or ""))
    assert seen.leaks() == [], f"the token leaked into: {sorted(set(seen.leaks()))}"

    # Every file the project wrote (dbt's logs, target/, the DuckDB database itself), byte for byte.
    release_duckdb()
    files = [p for p in ex.project_dir.rglob("*") if p.is_file()] + [Path(ex.env["DBT_DUCKDB_PATH"])]
    assert any(p.name == "dbt.log" for p in files)
    for path in files:
        data = path.read_bytes().lower()
        assert not any(n.lower().encode() in data for n in NEEDLES), f"the token is in {path}"
    # Every run those scenarios left holds the invariant (and so was really written).
    assert len(assert_invariant(ex)) >= 6
    # And every warehouse table, every column, as text.
    tables = ex.query("select table_schema, table_name from information_schema.tables")
    assert ("main", "hubspot_sync_record_log") in tables
    for schema, table in tables:
        for row in ex.query(f'select * from "{schema}"."{table}"'):
            text = " ".join(map(str, row)).lower()
            assert not any(n.lower() in text for n in NEEDLES), f"the token is in {schema}.{table}"
