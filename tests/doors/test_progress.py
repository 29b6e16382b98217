"""The reporters: a rich progress bar on a terminal, plain lines otherwise, JSON lines for schedulers.

Runs are real `SyncRun`s over the engine harness of tests/helpers.py (a DuckDB log and a scripted HubSpot), so
the reporters see exactly the lifecycle a sync goes through: running, batches pushed, end status.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable

import pytest

from dbt_hubspot_sync.doors import progress
from dbt_hubspot_sync.doors.progress import (
    JsonReporter,
    PlainReporter,
    TerminalReporter,
    install_log_handler,
    make_reporter,
    remove_log_handler,
)
from tests.helpers import Harness, row

EMAILS = [f"user{i}@example.com" for i in range(250)]


@pytest.fixture
def h(make_harness: Callable[[dict[str, str]], Harness]) -> Harness:
    # Every second email is a HubSpot contact.
    return make_harness({e: str(i) for i, e in enumerate(EMAILS) if i % 2 == 0})


def drive(h: Harness, reporter: progress.Reporter, *, rows_expected: int | None = None) -> None:
    """One run of 250 rows plus one invalid, pushed in batches of 100, reported to `reporter`."""
    run = h.new_run(push_size=100, on_progress=reporter)
    run.rows_expected = rows_expected
    run.announce()
    run.start()
    run.feed([row(e) for e in EMAILS] + [row("not-an-email")])
    run.finish()


def test_json_reporter_writes_one_parseable_object_per_stage(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(progress, "PLAIN_EVERY_S", 0.0)  # every batch gets its progress line
    out = io.StringIO()
    drive(h, JsonReporter(out))
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "run_started" and kinds[-1] == "run_finished"
    assert set(kinds[1:-1]) == {"run_progress"} and len(kinds) >= 4  # batches of 100 → progress lines
    first, last = events[0], events[-1]
    assert first["status"] == "running" and first["exposure"] == "hs" and first["rows_read"] == 0
    assert last["status"] == "completed" and last["rows_read"] == 251
    assert (last["rows_updated"], last["rows_not_found"], last["rows_invalid"]) == (125, 125, 1)
    assert last["requests"] == h.client.stats.requests > 0
    assert all(e["run_id"] == first["run_id"] for e in events)
    assert all(e["ts"].endswith("Z") for e in events)
    reads = [e["rows_read"] for e in events]
    assert reads == sorted(reads)  # counters only grow


def test_json_summary_and_errors_are_json_too(h: Harness) -> None:
    out = io.StringIO()
    reporter = JsonReporter(out)
    result = h.sync([row("a@example.com")])
    reporter.summary([result], "ignored table")
    reporter.error("exposure 'x': bad")
    summary, error = (json.loads(line) for line in out.getvalue().splitlines())
    assert summary["event"] == "summary" and summary["ok"] is True
    assert summary["runs"][0]["exposure"] == "hs" and summary["runs"][0]["rows_read"] == 1
    assert error == {"ts": error["ts"], "event": "error", "level": "error", "message": "exposure 'x': bad"}


def test_plain_reporter_prints_start_and_end_lines(h: Harness) -> None:
    out = io.StringIO()
    drive(h, PlainReporter(out), rows_expected=251)
    lines = out.getvalue().splitlines()
    # Batches come faster than PLAIN_EVERY_S: only the two stages.
    assert len(lines) == 2, lines
    assert lines[0].endswith('hs: running (reading "db"."main"."contacts", 251 rows)')
    assert "hs: completed in " in lines[1]
    assert "251 read · 125 updated · 125 not found · 1 invalid" in lines[1]
    assert f"{h.client.stats.requests} requests" in lines[1]


def test_terminal_reporter_draws_a_bar_with_counts_rate_and_eta(h: Harness) -> None:
    from rich.console import Console

    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=200, color_system=None)
    reporter = TerminalReporter(console)
    drive(h, reporter, rows_expected=251)
    reporter.close()
    screen = buf.getvalue()
    assert "hs completed" in screen
    assert "251/251 rows" in screen
    assert "251 validated · 125 updated" in screen
    assert f"{h.client.stats.requests} requests" in screen
    assert "rows/s" in screen and "req/s" in screen
    assert "0:00:00" in screen  # the ETA column (done: nothing remaining)


def test_make_reporter_picks_by_format_and_terminal() -> None:
    assert isinstance(make_reporter("json", is_tty=True), JsonReporter)
    assert isinstance(make_reporter("text", is_tty=True), TerminalReporter)
    assert isinstance(make_reporter("text", is_tty=False), PlainReporter)


def test_a_failing_display_never_fails_the_sync(h: Harness) -> None:
    def broken(_run: object) -> None:
        raise RuntimeError("terminal went away")

    result = h.sync([row("a@example.com")], on_progress=broken)
    assert result.status == "completed"


def test_package_warnings_become_json_lines(capsys: pytest.CaptureFixture[str]) -> None:
    reporter = JsonReporter()
    handler = install_log_handler(reporter)
    try:
        logging.getLogger("dbt_hubspot_sync.hubspot_client").warning(
            "429 %s, pausing", "TEN_SECONDLY_ROLLING"
        )
        logging.getLogger("dbt_hubspot_sync.engine").info("routine: not shown")
    finally:
        remove_log_handler(handler)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    logger = logging.getLogger("dbt_hubspot_sync")
    assert (logger.level, logger.propagate) == (logging.NOTSET, True)  # as it was: caplog etc. still work
    event = json.loads(lines[0])
    assert event["event"] == "log" and event["level"] == "warning"
    assert event["message"] == "429 TEN_SECONDLY_ROLLING, pausing"


def test_runs_durations_read_like_a_clock() -> None:
    from dbt_hubspot_sync.doors.cli import _duration_text

    assert [_duration_text(s) for s in (None, 0.04, 59.94, 61, 3599, 3600 * 2 + 65)] == [
        "",
        "0.0s",
        "59.9s",
        "1m01s",
        "59m59s",
        "2h01m",
    ]
