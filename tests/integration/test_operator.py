"""What the operator sees, through `main(argv)` on a real example project (DuckDB) and the sandbox:
progress lines and JSON logs, `runs`, `runs --failed-records`.

One built project and one sandbox serve the whole module (a build costs more than these checks); each test
starts from an empty run log and sync state and a reset sandbox (its initial contacts, no lists, zeroed stats),
so none depends on what another test ran.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from dbt_hubspot_sync.doors.cli import main
from dbt_hubspot_sync.sandbox import Sandbox, SandboxConfig

from .helpers import (
    CONTACTS_CSV,
    SECRET_PATH,
    Example,
    Receiver,
    assert_invariant,
    create_list,
    execute,
    make_example,
)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Example, Sandbox]]:
    mp = pytest.MonkeyPatch()
    cfg = SandboxConfig(port=0, contacts_csv=CONTACTS_CSV)
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
    for table in ("hubspot_sync_runs", "hubspot_sync_record_log", "hubspot_sync_state", "hubspot_sync_rejections"):
        execute(ex, f"delete from {{schema}}.{table}")
    sandbox.reset()
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
    assert_invariant(example)


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
    assert main(["sync", "--select", "hubspot_vip_names", *example.cli_args()]) == 0
    assert main(["sync", "--select", "hubspot_customers", *example.cli_args()]) == 0
    capsys.readouterr()
    assert len(assert_invariant(example)) == 2
    [(run_id, read, updated, not_found)] = example.query(
        "select run_id, rows_read, rows_updated, rows_not_found from {schema}.hubspot_sync_runs"
        " where exposure_name = 'hubspot_customers'"
    )
    assert updated > 0 and not_found > 0

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
    assert "list_added" not in lines[0]  # no list synced: no list columns
    cells = lines[2].split()
    assert cells[2:6] == [run_id[:8], "hubspot_customers", "cli", "completed"]
    assert cells[6].endswith("s")  # duration
    assert cells[7:9] == [str(read), str(updated)]

    assert main(["runs", "--select", "hubspot_vip_names", "--log-format", "json", *example.cli_args()]) == 0
    runs = json_lines(capsys.readouterr().out)
    assert len(runs) == 1 and {r["exposure_name"] for r in runs} == {"hubspot_vip_names"}
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


# -- check ------------------------------------------------------------------------------------------------------
def _nothing_sent(sandbox: Sandbox, since: int) -> None:
    """Only reads and empty batches since request number `since`: no contact data left, nothing changed."""
    log = sandbox.requests_log()[since:]
    assert log, "check made no HubSpot call"
    assert all(r["inputs"] in (None, 0) for r in log), [r for r in log if r["inputs"]]
    assert sandbox.stats()["contacts_created"] == 0


def test_check_passes_on_a_ready_project(
    example: Example, env: tuple[Example, Sandbox], capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox = env[1]
    since, updated = len(sandbox.requests_log()), sandbox.stats()["contacts_updated"]
    assert main(["check", *example.cli_args()]) == 0
    out = capsys.readouterr().out
    assert out.rstrip().endswith("All checks passed: ready to sync.")
    for expected in (
        "(all)              token       ok: accepted by http://127.0.0.1",
        "scope       ok: crm.objects.contacts.read",
        "scope       ok: crm.objects.contacts.write",
        "hubspot_customers  config      ok: ",
        "hubspot_vip_names  properties  ok: firstname, lastname",
    ):
        assert expected in out, out
    _nothing_sent(sandbox, since)
    assert sandbox.stats()["contacts_updated"] == updated


def test_check_counts_and_explains_every_problem_without_sending_data(
    example: Example, env: tuple[Example, Sandbox], monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    sandbox = env[1]
    dynamic = create_list(sandbox, "DYNAMIC")
    sandbox.add_token("read-only-token", {"crm.objects.contacts.read", "crm.lists.read"})
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", "read-only-token")
    monkeypatch.delenv("CHECK_TEST_WEBHOOK", raising=False)
    overrides = (
        f"{{hubspot_sync: {{list_id: '{dynamic}', notify: {{webhook_env: CHECK_TEST_WEBHOOK}},"
        " properties: {'Amperity ID': no_such_property, firstname: firstname}}}"
    )
    since = len(sandbox.requests_log())
    code = main(["check", "--select", "hubspot_customers", "--vars", overrides, *example.cli_args()])
    out = capsys.readouterr().out
    fails = [ln for ln in out.splitlines() if "FAIL:" in ln]
    assert code == len(fails) == 4, out
    assert out.rstrip().endswith("4 problems found: nothing can be synced until they are fixed")
    text = "\n".join(fails)
    assert "notify" in text and "CHECK_TEST_WEBHOOK (notify.webhook_env) is not set" in text
    assert "lacks scope crm.objects.contacts.write" in text
    assert "'no_such_property' does not exist in HubSpot (PROPERTY_DOESNT_EXIST)" in text
    assert f"list {dynamic} is DYNAMIC" in text
    assert "read-only-token" not in out
    _nothing_sent(sandbox, since)


def test_check_config_problems_and_a_missing_token_are_counted(
    example: Example, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("HUBSPOT_ACCESS_TOKEN")
    # hubspot_customers sets log_records itself (the exposure wins); hubspot_vip_names takes the bad default.
    code = main(["check", "--vars", "{hubspot_sync: {log_records: everything}}", *example.cli_args()])
    out = capsys.readouterr().out
    assert code == 2, out
    assert "hubspot_customers  config  ok: " in out
    assert (
        "hubspot_vip_names  config  FAIL: exposure 'hubspot_vip_names', key 'hubspot_sync.log_records'" in out
    )
    assert "token   FAIL: HUBSPOT_ACCESS_TOKEN is not set" in out and "HubSpot checks skipped" in out

    code = main(["check", "--log-format", "json", "--select", "hubspot_vip_names", *example.cli_args()])
    events = json_lines(capsys.readouterr().out)
    assert code == 1 == events[-1]["problems"]
    assert [(e["check"], e["ok"]) for e in events[:-1]] == [("config", True), ("token", False)]


# -- notifications ----------------------------------------------------------------------------------------------
def test_sync_notifies_a_webhook_configured_in_vars(
    example: Example, env: tuple[Example, Sandbox], monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    receiver = Receiver()
    try:
        monkeypatch.setenv("OPS_WEBHOOK", receiver.url)
        notify = "{hubspot_sync: {notify: {webhook_env: OPS_WEBHOOK, when: always}}}"
        code = main(["sync", "--select", "hubspot_vip_names", "--vars", notify, *example.cli_args()])
        captured = capsys.readouterr()
        assert code == 0, captured.err
        [body] = receiver.bodies
        [(run_id, read)] = example.query(
            "select run_id, rows_read from {schema}.hubspot_sync_runs order by started_at desc limit 1"
        )
        assert body["run_id"] == run_id and body["rows_read"] == read and body["status"] == "completed"
        assert body["text"].startswith("✅ dbt-hubspot-sync: hubspot_vip_names completed (cli, run ")
        assert SECRET_PATH not in captured.out + captured.err  # the URL is never shown

        # A failed run is reported under the default `when: problems`; a broken webhook changes nothing.
        receiver.status = 503
        sandbox = env[1]
        sandbox.reset()  # HubSpot back to its initial values: the next run has updates to send (and is refused)
        sandbox.add_token("read-only-token", {"crm.objects.contacts.read", "crm.schemas.contacts.read"})
        monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", "read-only-token")  # lookups pass, updates are refused
        notify = "{hubspot_sync: {notify: {webhook_env: OPS_WEBHOOK}}}"
        args = ["sync", "--select", "hubspot_vip_names", "--full-refresh", "--vars", notify]
        code = main([*args, *example.cli_args()])
        captured = capsys.readouterr()
    finally:
        receiver.close()
    assert code == 1  # the run failed; the webhook's 503 changes nothing
    assert len(receiver.bodies) == 2 and receiver.bodies[1]["status"] == "failed"
    assert "MISSING_SCOPES" in receiver.bodies[1]["error"] or "403" in receiver.bodies[1]["error"]
    assert "read-only-token" not in json.dumps(receiver.bodies[1])
    assert "the webhook in OPS_WEBHOOK answered HTTP 503" in captured.err
    assert SECRET_PATH not in captured.out + captured.err


def test_a_push_the_test_gate_holds_back_is_notified(tmp_path, monkeypatch, hubspot_env) -> None:
    """DuckDB post-hook under `dbt build` with the contact tests made to fail: nothing is sent, the webhook hears."""
    receiver = Receiver()
    try:
        monkeypatch.setenv("OPS_WEBHOOK", receiver.url)
        duck = make_example("duckdb", tmp_path, monkeypatch)
        build_vars = "{contacts_max_bad_emails: 0, hubspot_sync: {notify: {webhook_env: OPS_WEBHOOK}}}"
        duck.dbt("build", "--vars", build_vars)  # fails: the tests fail, by design
    finally:
        receiver.close()
    assert "POST /crm/v3/objects/contacts/batch/update" not in hubspot_env.stats()["requests"]
    [body] = receiver.bodies
    assert body["exposure_name"] == "hubspot_customers" and body["status"] == "failed"
    assert body["trigger"] == "post_hook" and body["error"].startswith("tests_failed: ")
    assert body["rows_read"] == 0 and "❌" in body["text"]


def test_run_in_json_mode_makes_every_stdout_line_json(
    example: Example, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["run", "--log-format", "json", *example.cli_args(), "--", "run", "--select", "customer360"])
    out = capsys.readouterr().out
    assert code == 0, out
    events = json_lines(out)  # dbt's lines (JSON too) and ours
    assert any("info" in e and "data" in e for e in events)  # dbt's own structured log lines
    assert events[-1]["event"] == "message" and "No pending HubSpot sync was pushed" in events[-1]["message"]


def test_sync_on_a_terminal_draws_a_bar_with_the_model_row_count(
    example: Example, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import io

    from rich.console import Console

    from dbt_hubspot_sync.doors import cli
    from dbt_hubspot_sync.doors.progress import TerminalReporter

    screen = io.StringIO()
    terminal = TerminalReporter(Console(file=screen, force_terminal=True, width=200, color_system=None))
    monkeypatch.setattr(cli, "make_reporter", lambda _fmt: terminal)  # stderr is not a TTY under pytest
    code = main(["sync", "--select", "hubspot_vip_names", "--full-refresh", *example.cli_args()])
    assert code == 0, capsys.readouterr().err
    drawn = screen.getvalue()
    # The bar knows the model's 612 rows up front (one count(*)), so it has a total and an ETA.
    assert "hubspot_vip_names completed" in drawn and "612/612 rows" in drawn
    assert "612 validated" in drawn and "requests" in drawn and "rows/s" in drawn
    assert capsys.readouterr().out.splitlines()[0].split()[:2] == ["exposure", "status"]
