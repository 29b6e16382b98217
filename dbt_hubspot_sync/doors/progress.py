"""What an operator sees while syncs run.

- On a terminal: a live progress bar per exposure (rows validated, contacts updated, requests, rate, ETA), drawn
  by `rich` on stderr and refreshed from the running `SyncRun`'s counters ten times a second.
- Otherwise (a pipe, a scheduler's log): one plain line per stage on stderr: started, progress at most every
  `PLAIN_EVERY_S` seconds, finished.
- `--log-format json`: the same stages as one JSON object per line on stdout, plus the summary and errors, so a
  scheduler can parse every line.

A reporter is the `on_progress` callback of `SyncRun`: it is called when a run starts, after each pushed batch and
when the run has its end status (`run.status`).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import fields
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, TextIO

from dbt_hubspot_sync.tables.run_log import Counters

if TYPE_CHECKING:
    from dbt_hubspot_sync.engine import RunResult, SyncRun

PLAIN_EVERY_S = 10.0  # plain/JSON progress lines: at most one per exposure per this many seconds
COUNTER_KEYS = tuple(f.name for f in fields(Counters))  # every counter of hubspot_sync_runs


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Reporter:
    """Base: tracks when each run started. Subclasses draw."""

    def __init__(self) -> None:
        self._t0: dict[str, float] = {}

    def elapsed(self, run: SyncRun) -> float:
        return time.monotonic() - self._t0.setdefault(run.run.run_id, time.monotonic())

    def __call__(self, run: SyncRun) -> None:
        raise NotImplementedError

    def summary(self, results: Sequence[RunResult], text: str) -> None:
        """The end-of-command summary (`text` is the table the CLI prints)."""
        print(text)

    def message(self, text: str) -> None:
        print(text)

    def table(self, event: str, headers: Sequence[str], rows: Sequence[Sequence[Any]], text: str) -> None:
        """Rows of `runs` or `check`: `text` is the formatted table."""
        print(text)

    def error(self, text: str) -> None:
        print(f"error: {text}", file=sys.stderr)

    def close(self) -> None:
        pass


def _counts_text(run: SyncRun) -> str:
    c = run.counters
    parts = [f"{c.rows_read:,} read", f"{c.rows_updated:,} updated"]
    for n, label in (
        (c.rows_unchanged, "unchanged"),
        (c.rows_not_found, "not found"),
        (c.rows_invalid, "invalid"),
        (c.rows_duplicate, "duplicate"),
        (c.rows_failed, "failed"),
    ):
        if n:
            parts.append(f"{n:,} {label}")
    parts.append(f"{run.requests_so_far():,} requests")
    if run.plan.config.list_id:
        parts.append(f"{c.list_added:,} added to list {run.plan.config.list_id}")
    return " · ".join(parts)


class PlainReporter(Reporter):
    """One line per stage on stderr, for logs that are not a terminal."""

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__()
        self._stream = stream
        self._last_line: dict[str, float] = {}

    def _write(self, text: str) -> None:
        stream = self._stream or sys.stderr
        stream.write(f"{datetime.now().strftime('%H:%M:%S')}  {text}\n")
        stream.flush()

    def __call__(self, run: SyncRun) -> None:
        rid, name = run.run.run_id, run.plan.exposure
        elapsed = self.elapsed(run)
        if run.status == "running" and rid not in self._last_line:
            self._last_line[rid] = time.monotonic()
            total = f", {run.rows_expected:,} rows" if run.rows_expected is not None else ""
            self._write(f"{name}: running (reading {run.plan.relation}{total})")
        elif run.result is not None:
            self._write(f"{name}: {run.status} in {elapsed:.1f} s · {_counts_text(run)}")
        elif time.monotonic() - self._last_line.get(rid, 0.0) >= PLAIN_EVERY_S:
            self._last_line[rid] = time.monotonic()
            rate = run.counters.rows_read / max(elapsed, 1e-6)
            self._write(f"{name}: {_counts_text(run)} · {rate:,.0f} rows/s")


class JsonReporter(Reporter):
    """One JSON object per line on stdout: run_started, run_progress, run_finished, summary, message, error."""

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__()
        self._stream = stream
        self._last_line: dict[str, float] = {}

    def emit(self, event: str, **fields: Any) -> None:
        stream = self._stream or sys.stdout
        stream.write(json.dumps({"ts": _now_iso(), "event": event, **fields}, default=str) + "\n")
        stream.flush()

    def _run_fields(self, run: SyncRun) -> dict[str, Any]:
        c = run.counters
        elapsed = self.elapsed(run)
        fields: dict[str, Any] = {
            "exposure": run.plan.exposure,
            "run_id": run.run.run_id,
            "status": run.status,
            "relation": run.plan.relation,
            "trigger": run.run.trigger,
            "elapsed_s": round(elapsed, 3),
            "rows_expected": run.rows_expected,
        }
        fields.update({k: getattr(c, k) for k in COUNTER_KEYS})
        fields["requests"] = run.requests_so_far()
        fields["rows_per_s"] = round(c.rows_read / max(elapsed, 1e-6), 1)
        return fields

    def __call__(self, run: SyncRun) -> None:
        rid = run.run.run_id
        self.elapsed(run)
        if run.status == "running" and rid not in self._last_line:
            self._last_line[rid] = time.monotonic()
            self.emit("run_started", **self._run_fields(run))
        elif run.result is not None:
            self.emit("run_finished", **self._run_fields(run), error=run.result.error, dry_run=run.dry_run)
        elif time.monotonic() - self._last_line.get(rid, 0.0) >= PLAIN_EVERY_S:
            self._last_line[rid] = time.monotonic()
            self.emit("run_progress", **self._run_fields(run))

    def summary(self, results: Sequence[RunResult], text: str) -> None:
        self.emit(
            "summary",
            runs=[
                {"exposure": r.exposure, "run_id": r.run_id, "status": r.status, "error": r.error}
                | {k: getattr(r.counters, k) for k in COUNTER_KEYS}
                for r in results
            ],
            ok=all(r.ok for r in results),
        )

    def message(self, text: str) -> None:
        self.emit("message", message=text)

    def table(self, event: str, headers: Sequence[str], rows: Sequence[Sequence[Any]], text: str) -> None:
        for row in rows:
            self.emit(event, **dict(zip(headers, row)))

    def error(self, text: str) -> None:
        self.emit("error", level="error", message=text)


class TerminalReporter(Reporter):
    """A live progress bar per exposure on stderr (a terminal), drawn by rich."""

    def __init__(self, console: Any = None) -> None:
        from rich.console import Console

        super().__init__()
        self.console = console or Console(stderr=True)
        self._progress: Any = None
        self._tasks: dict[str, Any] = {}  # run_id -> rich task id
        self._running: dict[Any, SyncRun] = {}  # task id -> run, refreshed on every redraw

    def _make_progress(self) -> Any:
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        reporter = self

        class _Live(Progress):
            def get_renderables(self):  # type: ignore[no-untyped-def]
                reporter._refresh()  # read the runs' counters just before each redraw
                yield from super().get_renderables()

        return _Live(
            TextColumn("[bold]{task.description}"),
            BarColumn(bar_width=28),
            TextColumn("{task.fields[done]}"),
            TextColumn("{task.fields[counts]}"),
            TextColumn("{task.fields[rate]}"),
            TimeRemainingColumn(),
            console=self.console,
            refresh_per_second=10,
        )

    def _fields(self, run: SyncRun) -> dict[str, Any]:
        c = run.counters
        elapsed = self.elapsed(run)
        settled = c.outcomes()
        done = f"{settled:,}/{run.rows_expected:,}" if run.rows_expected is not None else f"{settled:,}"
        requests = run.requests_so_far()
        return {
            "completed": settled,
            "done": f"{done} rows",
            "counts": f"{c.rows_read:,} validated · {c.rows_updated:,} updated · {requests:,} requests",
            "rate": f"{c.rows_read / max(elapsed, 1e-6):,.0f} rows/s · {requests / max(elapsed, 1e-6):,.1f} req/s",
        }

    def _refresh(self) -> None:
        for task_id, run in list(self._running.items()):
            fields = self._fields(run)
            self._progress.update(task_id, completed=fields.pop("completed"), **fields)

    def __call__(self, run: SyncRun) -> None:
        if self._progress is None:
            self._progress = self._make_progress()
            self._progress.start()
        rid = run.run.run_id
        if rid not in self._tasks:
            self.elapsed(run)
            self._tasks[rid] = self._progress.add_task(
                run.plan.exposure, total=run.rows_expected, **{k: "" for k in ("done", "counts", "rate")}
            )
        task_id = self._tasks[rid]
        if run.result is None:
            self._running[task_id] = run
            return
        self._running.pop(task_id, None)
        fields = self._fields(run)
        mark = {"completed": "[green]✓", "completed_with_errors": "[yellow]![/yellow]"}.get(
            run.status, "[red]✗"
        )
        self._progress.update(
            task_id,
            total=fields["completed"],
            completed=fields.pop("completed"),
            description=f"{mark} {run.plan.exposure} {run.status}",
            **fields,
        )

    def close(self) -> None:
        if self._progress is not None:
            self._refresh()
            self._progress.stop()
            self._progress = None


def make_reporter(log_format: str, *, is_tty: bool | None = None) -> Reporter:
    """json → JsonReporter; a terminal → TerminalReporter; otherwise PlainReporter."""
    if log_format == "json":
        return JsonReporter()
    if is_tty if is_tty is not None else sys.stderr.isatty():
        return TerminalReporter()
    return PlainReporter()


class _JsonLogHandler(logging.Handler):
    def __init__(self, reporter: JsonReporter) -> None:
        super().__init__(logging.WARNING)
        self._reporter = reporter

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._reporter.emit(
                "log", level=record.levelname.lower(), logger=record.name, message=record.getMessage()
            )
        except Exception:
            self.handleError(record)


class _StderrHandler(logging.Handler):
    """Writes to whatever sys.stderr is at emit time (rich redirects it while a progress bar is live)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
        except Exception:
            self.handleError(record)


def install_log_handler(reporter: Reporter) -> logging.Handler:
    """Route the package's warnings (retries exhausted, 429 pauses, a failing webhook) to the reporter's stream,
    until `remove_log_handler` puts the logger back as it was."""
    handler: logging.Handler
    if isinstance(reporter, JsonReporter):
        handler = _JsonLogHandler(reporter)
    else:
        handler = _StderrHandler(logging.WARNING)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("dbt_hubspot_sync")
    handler._saved = (logger.level, logger.propagate)  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.propagate = False  # printed once, here, whatever handlers dbt put on the root logger
    if logger.level == logging.NOTSET or logger.level > logging.WARNING:
        logger.setLevel(logging.WARNING)
    return handler


def remove_log_handler(handler: logging.Handler) -> None:
    logger = logging.getLogger("dbt_hubspot_sync")
    logger.removeHandler(handler)
    logger.level, logger.propagate = handler._saved  # type: ignore[attr-defined]
