"""Warehouse faults before a run: an unreachable database, a missing relation, a missing column, no permission to
create the log tables. Each is a clear error naming what was being done, exit code 2 (README.md, exit codes: bad
usage or config; no run started), and no HubSpot call at all."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from dbt_hubspot_sync.doors.cli import main
from dbt_hubspot_sync.sandbox import Sandbox

from .helpers import EXPOSURE, Example, execute, exposure_yaml, make_example, release_duckdb

pytestmark = pytest.mark.dbt

MISSING_COLUMN_YAML = exposure_yaml(
    "hubspot_missing_column",
    "hubspot_contacts",
    email_column="Email",
    properties=["firstname", "Loyalty Tier"],
)


@pytest.fixture
def duck(built) -> Example:
    return built("duckdb").example


def sync_cli(ex: Example, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    release_duckdb()
    code = main(["sync", *extra, *ex.cli_args()])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def assert_untouched(sb: Sandbox) -> None:
    assert sb.stats()["requests_total"] == 0, sb.stats()["requests"]


def test_unreachable_duckdb_file(duck: Example, hubspot_env: Sandbox, capsys, monkeypatch, tmp_path: Path):
    monkeypatch.setenv("DBT_DUCKDB_PATH", str(tmp_path / "no-such-dir" / "warehouse.duckdb"))
    code, out = sync_cli(duck, capsys, "--select", EXPOSURE)
    assert code == 2, out
    assert "warehouse (duckdb" in out and "no-such-dir" in out and "Traceback" not in out
    assert_untouched(hubspot_env)


def test_missing_relation_names_it(duck: Example, hubspot_env: Sandbox, capsys):
    release_duckdb()
    execute(duck, "alter view {schema}.hubspot_contacts rename to hubspot_contacts_away")
    try:
        code, out = sync_cli(duck, capsys, "--select", EXPOSURE)
    finally:
        release_duckdb()
        execute(duck, "alter view {schema}.hubspot_contacts_away rename to hubspot_contacts")
    assert code == 2, out
    assert EXPOSURE in out and "hubspot_contacts" in out and "does not exist" in out
    assert_untouched(hubspot_env)


def test_missing_column_names_it_and_the_columns_there_are(duck: Example, hubspot_env: Sandbox, capsys):
    variant = duck.project_dir / "models" / "missing_column.yml"
    variant.write_text(MISSING_COLUMN_YAML, encoding="utf-8")
    try:
        code, out = sync_cli(duck, capsys, "--select", "hubspot_missing_column")
    finally:
        variant.unlink()
    assert code == 2, out
    assert "hubspot_missing_column" in out and "'Loyalty Tier' does not exist" in out and "Amperity ID" in out
    assert_untouched(hubspot_env)


# -- PostgreSQL: a server that is not there, a user without CREATE ------------------------------------------------
@pytest.fixture(scope="module")
def pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Example]:
    mp = pytest.MonkeyPatch()
    try:
        mp.delenv("HUBSPOT_ACCESS_TOKEN", raising=False)
        ex = make_example("postgres", tmp_path_factory.mktemp("wh_faults_pg"), mp)
        ex.dbt_ok("run")
        yield ex
    finally:
        mp.undo()


def test_unreachable_postgres(pg: Example, hubspot_env: Sandbox, capsys, monkeypatch):
    monkeypatch.setenv("DBT_HUBSPOT_SYNC_PG_PORT", "1")  # nothing listens on port 1
    code, out = sync_cli(pg, capsys, "--select", EXPOSURE)
    assert code == 2, out
    assert "warehouse (postgres" in out and "Traceback" not in out
    assert "connection" in out.lower() or "connect" in out.lower()
    assert_untouched(hubspot_env)


def test_no_permission_to_create_the_log_tables(pg: Example, hubspot_env: Sandbox, capsys, monkeypatch):
    role = f"reader_{uuid.uuid4().hex[:8]}"
    execute(pg, f"create role {role} login")  # may read the model, may not create anything
    execute(pg, f"grant usage on schema {{schema}} to {role}")
    execute(pg, f"grant select on all tables in schema {{schema}} to {role}")
    monkeypatch.setenv("DBT_HUBSPOT_SYNC_PG_USER", role)
    log_schema = f"{pg.schema}_log"
    code, out = sync_cli(
        pg, capsys, "--select", EXPOSURE, "--vars", f"{{hubspot_sync: {{log_schema: {log_schema}}}}}"
    )
    assert code == 2, out
    assert f"creating the log tables in schema '{log_schema}'" in out and "permission denied" in out, out
    assert "grant" in out.lower()
    assert_untouched(hubspot_env)
