"""The command line: its tables, and exit code 2 with a useful message for bad config and bad credentials.

The exit-2 cases run `main()` on a real copy of example_project (dbt-duckdb), built once per module.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from dbt_hubspot_sync.doors.cli import EXIT_USAGE, format_table, main, summary
from dbt_hubspot_sync.engine import RunResult
from dbt_hubspot_sync.tables.run_log import Counters

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = REPO_ROOT / "example_project"
TOKEN = "pat-na1-0f1e2d3c-test-token-never-printed"


# -- tables --------------------------------------------------------------------------------------------
def test_format_table_aligns_columns() -> None:
    text = format_table(["name", "n"], [["a", 1], ["longer", None], ["b", 12345]])
    assert text.splitlines() == [
        "name    n",
        "------  -----",
        "a       1",
        "longer",  # None prints as empty, trailing spaces stripped
        "b       12345",
    ]


def test_format_table_without_rows() -> None:
    assert format_table(["a", "bb"], []).splitlines() == ["a  bb", "-  --"]


def test_summary_has_one_row_per_run_and_the_errors_below() -> None:
    ok = RunResult(
        "r1",
        "hubspot_customers",
        "completed",
        Counters(
            rows_read=10,
            rows_updated=6,
            rows_not_found=2,
            rows_invalid=1,
            rows_duplicate=1,
            requests=3,
            retries=1,
            rate_limited=0,
        ),
    )
    bad = RunResult(
        "r2",
        "hubspot_vip_names",
        "failed",
        Counters(rows_read=4, rows_failed=4, requests=1),
        error="daily_limit: HubSpot's daily request limit was reached",
    )
    lines = summary([ok, bad]).splitlines()
    assert lines[0].split() == [
        "exposure",
        "status",
        "read",
        "updated",
        "not_found",
        "invalid",
        "duplicate",
        "unchanged",
        "failed",
        "requests",
        "retries",
        "429s",
    ]
    assert lines[2].split() == [
        "hubspot_customers",
        "completed",
        "10",
        "6",
        "2",
        "1",
        "1",
        "0",
        "0",
        "3",
        "1",
        "0",
    ]
    assert lines[3].split() == [
        "hubspot_vip_names",
        "failed",
        "4",
        "0",
        "0",
        "0",
        "0",
        "0",
        "4",
        "1",
        "0",
        "0",
    ]
    assert lines[4] == "hubspot_vip_names: daily_limit: HubSpot's daily request limit was reached"
    assert len(lines) == 5


def test_summary_without_errors_has_no_notes() -> None:
    text = summary([RunResult("r", "e", "completed", Counters())])
    assert len(text.splitlines()) == 3


# -- exit code 2 on a real project ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """example_project copied, installing this repository as its package, seeded and built on DuckDB."""
    from dbt.cli.main import dbtRunner

    if not EXAMPLE.is_dir():
        pytest.skip(f"example project not found at {EXAMPLE}")
    tmp = tmp_path_factory.mktemp("cli_example")
    proj = tmp / "example_project"
    shutil.copytree(
        EXAMPLE, proj, ignore=shutil.ignore_patterns("target", "dbt_packages", "logs", "*.duckdb*")
    )
    (proj / "packages.yml").write_text(f"packages:\n  - local: {REPO_ROOT}\n", encoding="utf-8")
    # Building must not push anything: drop the post-hook (these tests are about `sync`, not the hook).
    project_yml = proj / "dbt_project.yml"
    lines = project_yml.read_text(encoding="utf-8").splitlines(keepends=True)
    project_yml.write_text("".join(ln for ln in lines if "post-hook" not in ln), encoding="utf-8")
    mp = pytest.MonkeyPatch()
    mp.setenv("DBT_DUCKDB_PATH", str(tmp / "warehouse.duckdb"))
    mp.delenv("HUBSPOT_ACCESS_TOKEN", raising=False)
    try:
        args = ["--project-dir", str(proj), "--profiles-dir", str(proj), "--quiet"]
        for cmd in (["deps"], ["build"]):
            res = dbtRunner().invoke([*cmd, *args])
            assert res.success, f"dbt {cmd[0]} failed: {res.exception or res.result}"
        yield proj
    finally:
        mp.undo()


@pytest.fixture
def env(project: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DBT_DUCKDB_PATH", str(project.parent / "warehouse.duckdb"))
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", TOKEN)
    monkeypatch.delenv("HUBSPOT_BASE_URL", raising=False)
    return project


def runs_logged(project: Path) -> int:
    """Rows in the runs log (0 when the table does not exist yet)."""
    conn = duckdb.connect(str(project.parent / "warehouse.duckdb"))
    try:
        [(exists,)] = conn.execute(
            "select count(*) from information_schema.tables where table_name = 'hubspot_sync_runs'"
        ).fetchall()
        return conn.execute("select count(*) from hubspot_sync_runs").fetchone()[0] if exists else 0
    finally:
        conn.close()


def run_main(project: Path, *extra: str) -> int:
    return main(["sync", "--project-dir", str(project), *extra])


def test_config_error_exits_2_naming_the_exposure_and_key(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    exposures = env / "models" / "exposures.yml"
    original = exposures.read_text(encoding="utf-8")
    broken = original.replace("properties: {first_name: firstname", "propertys: {first_name: firstname")
    assert broken != original
    exposures.write_text(broken, encoding="utf-8")
    try:
        code = run_main(env)
    finally:
        exposures.write_text(original, encoding="utf-8")
    err = capsys.readouterr().err
    assert code == EXIT_USAGE, err
    assert "exposure 'hubspot_vip_names'" in err
    assert "hubspot_sync.propertys" in err
    assert "unknown key" in err and "properties" in err
    assert runs_logged(env) == 0  # refused before any run started


def test_unknown_select_exits_2(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = run_main(env, "--select", "hubspot_nope")
    err = capsys.readouterr().err
    assert code == EXIT_USAGE
    assert "hubspot_nope" in err and "hubspot_customers" in err


def test_missing_token_exits_2_naming_the_variable(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("HUBSPOT_ACCESS_TOKEN")
    code = run_main(env, "--select", "hubspot_customers")
    captured = capsys.readouterr()
    assert code == EXIT_USAGE, captured.err
    assert "HUBSPOT_ACCESS_TOKEN" in captured.err
    assert runs_logged(env) == 0


def test_plain_http_to_a_remote_host_exits_2_without_the_token(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HUBSPOT_BASE_URL", f"http://api.example.com/{TOKEN}")
    code = run_main(env, "--select", "hubspot_customers", "--dry-run")
    captured = capsys.readouterr()
    assert code == EXIT_USAGE, captured.err
    assert "HUBSPOT_BASE_URL" in captured.err and "https" in captured.err
    assert TOKEN not in captured.err + captured.out
    assert TOKEN.lower() not in (captured.err + captured.out).lower()
    assert os.environ["HUBSPOT_ACCESS_TOKEN"] == TOKEN  # the refusal is about the URL, the token was set
