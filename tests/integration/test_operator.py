"""What the operator sees (issue 7), through `main(argv)` on a real example project (DuckDB) and the sandbox:
progress lines and JSON logs, `runs`, `runs --failed-records`.

One built project and one sandbox serve the whole module; tests that need a clean slate say so.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from dbt_hubspot_sync.cli import main
from dbt_hubspot_sync.sandbox import Sandbox, SandboxConfig

from .conftest import EXAMPLE, Example, make_example


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Example, Sandbox]]:
    mp = pytest.MonkeyPatch()
    cfg = SandboxConfig(port=0, contacts_csv=str(EXAMPLE / "sandbox" / "contacts.csv"))
    try:
        with Sandbox(cfg) as sandbox:
            mp.setenv("HUBSPOT_ACCESS_TOKEN", "sandbox-token")
            mp.setenv("HUBSPOT_BASE_URL", sandbox.url)
            ex = make_example("duckdb", tmp_path_factory.mktemp("operator"), mp)
            # Built without the post-hook: every push here is the CLI's.
            project_yml = ex.project_dir / "dbt_project.yml"
            lines = project_yml.read_text(encoding="utf-8").splitlines(keepends=True)
            project_yml.write_text("".join(ln for ln in lines if "post-hook" not in ln), encoding="utf-8")
            ex.dbt_ok("run")
            yield ex, sandbox
    finally:
        mp.undo()


@pytest.fixture
def example(env: tuple[Example, Sandbox], monkeypatch: pytest.MonkeyPatch) -> Example:
    ex, sandbox = env
    for key, value in ex.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", "sandbox-token")
    monkeypatch.setenv("HUBSPOT_BASE_URL", sandbox.url)
    return ex


def json_lines(text: str) -> list[dict]:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return [json.loads(ln) for ln in lines]  # every line must parse


def test_sync_json_log_is_one_object_per_line(example: Example, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["sync", "--select", "hubspot_customers", "--log-format", "json", *example.cli_args()])
    out = capsys.readouterr().out
    assert code == 0, out
    events = json_lines(out)
    kinds = [e["event"] for e in events]
    assert kinds[0] == "run_started" and kinds[-2:] == ["run_finished", "summary"], kinds
    finished = events[-2]
    assert finished["exposure"] == "hubspot_customers" and finished["status"] == "completed"
    assert finished["rows_read"] == 612 and finished["rows_updated"] > 0 and finished["requests"] > 0
    [(db_status, db_updated)] = example.query(
        f"select status, rows_updated from {{schema}}.hubspot_sync_runs where run_id = '{finished['run_id']}'"
    )
    assert (db_status, db_updated) == ("completed", finished["rows_updated"])
    assert events[-1]["ok"] is True and events[-1]["runs"][0]["run_id"] == finished["run_id"]


def test_sync_errors_are_json_in_json_mode(example: Example, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["sync", "--select", "hubspot_nope", "--log-format", "json", *example.cli_args()])
    out = capsys.readouterr().out
    assert code == 2
    [event] = json_lines(out)
    assert event["event"] == "error" and "hubspot_nope" in event["message"]


def test_sync_text_log_without_a_terminal_is_one_line_per_stage(
    example: Example, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["sync", "--select", "hubspot_vip_names", *example.cli_args()])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    stages = [ln for ln in captured.err.splitlines() if "hubspot_vip_names:" in ln]
    assert len(stages) == 2, captured.err
    assert "hubspot_vip_names: running (reading " in stages[0]
    assert "hubspot_vip_names: completed in " in stages[1] and " read · " in stages[1]
    assert "\r" not in captured.err  # no terminal control characters in a log file
    assert captured.out.splitlines()[0].split()[:2] == ["exposure", "status"]  # the summary table


def test_runs_table_and_failed_records(example: Example, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sync", "--select", "hubspot_customers", *example.cli_args()]) == 0
    capsys.readouterr()
    [(run_id, read, updated, not_found)] = example.query(
        "select run_id, rows_read, rows_updated, rows_not_found from {schema}.hubspot_sync_runs"
        " order by started_at desc limit 1"
    )

    assert main(["runs", "--select", "hubspot_customers", "--limit", "1", *example.cli_args()]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:8] == [
        "started_at",
        "(UTC)",
        "run",
        "exposure",
        "trigger",
        "status",
        "duration",
        "read",
    ]
    assert len(lines) == 3  # header, rule, one run
    cells = lines[2].split()
    assert cells[2:6] == [run_id[:8], "hubspot_customers", "cli", "completed"]
    assert cells[6].endswith("s")  # duration
    assert cells[7:9] == [str(read), str(updated)]

    assert main(["runs", "--select", "hubspot_vip_names", "--log-format", "json", *example.cli_args()]) == 0
    runs = json_lines(capsys.readouterr().out)
    assert runs and {r["exposure_name"] for r in runs} == {"hubspot_vip_names"}
    assert all(r["event"] == "run" and r["duration_s"] is not None for r in runs)

    assert main(["runs", "--failed-records", run_id[:8], *example.cli_args()]) == 0
    out = capsys.readouterr().out.splitlines()
    logged = example.query(
        f"select count(*) from {{schema}}.hubspot_sync_record_log where run_id = '{run_id}'"
        " and outcome <> 'updated'"
    )[0][0]
    assert out[0] == f"run {run_id}: {logged} records not updated"
    assert out[1].split() == ["email_raw", "email_clean", "outcome", "reason_code", "http_status", "detail"]
    assert len(out) == 3 + logged
    assert sum("OBJECT_NOT_FOUND" in ln for ln in out) == not_found

    assert main(["runs", "--failed-records", "ffffffff-nope", *example.cli_args()]) == 2
    assert "no run with id 'ffffffff-nope'" in capsys.readouterr().err
