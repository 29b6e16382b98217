"""`dbt-hubspot-sync`: sync | run | sandbox | runs | check | report.

Exit codes: 0 every run completed; 1 a run ended completed_with_errors or failed; 2 bad usage or config;
`check`: the number of problems found (0: ready).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from dbt_hubspot_sync import __version__
from dbt_hubspot_sync.doors.progress import (
    JsonReporter,
    PlainReporter,
    Reporter,
    TerminalReporter,
    install_log_handler,
    make_reporter,
    remove_log_handler,
)
from dbt_hubspot_sync.engine import RunResult
from dbt_hubspot_sync.errors import EXIT_OK, EXIT_RUN_FAILED, EXIT_USAGE, SyncError, UsageError
from dbt_hubspot_sync.hubspot import HubSpotError

# The exit codes live with the errors whose kind decides them (errors.py); re-exported for callers of main().
__all__ = ["EXIT_OK", "EXIT_RUN_FAILED", "EXIT_USAGE", "build_parser", "main"]

if TYPE_CHECKING:
    from dbt_hubspot_sync.doors.runner import SyncOptions

MAX_CHECK_EXIT = 100  # `check` exits with the number of problems, capped below the shell's special codes


def _add_project_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--project-dir", help="the dbt project (default: current directory)")
    p.add_argument("--profiles-dir", help="where profiles.yml is (default: dbt's own search)")
    p.add_argument("--target", "-t", help="profile target")
    p.add_argument("--vars", dest="vars_yaml", help="YAML of dbt vars, as dbt's --vars")
    p.add_argument(
        "--log-format",
        choices=["text", "json"],
        default="text",
        help="text (default): a progress bar on a terminal, one line per stage otherwise; "
        "json: one JSON object per line on stdout, for schedulers",
    )


def build_parser() -> argparse.ArgumentParser:
    # Long as a table is long: one declaration per command and flag, read top to bottom; no logic to split.
    parser = argparse.ArgumentParser(prog="dbt-hubspot-sync", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"dbt-hubspot-sync {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    s = sub.add_parser("sync", help="push the current rows of the selected exposures' models to HubSpot")
    _add_project_args(s)
    s.add_argument(
        "--select", "-s", nargs="+", default=[], metavar="NAME", help="exposure names (default: all)"
    )
    s.add_argument(
        "--dry-run", action="store_true", help="write nothing to HubSpot; report what would happen"
    )
    s.add_argument("--full-refresh", action="store_true", help="ignore the sync state: resend every row")
    s.add_argument(
        "--force", action="store_true", help="for this run, ignore the guards max_daily_share and max_change_share"
    )
    s.add_argument(
        "--pending",
        action="store_true",
        help="push only what post-hooks left pending (each model build exactly once)",
    )

    d = sub.add_parser(
        "run", help="run dbt (args after --) and push each pending exposure as its model finishes"
    )
    _add_project_args(d)
    d.add_argument(
        "--select-exposure",
        dest="select",
        nargs="+",
        default=[],
        metavar="NAME",
        help="only these exposures (default: every workflow: automatic exposure)",
    )
    d.add_argument(
        "--force", action="store_true", help="for this run, ignore the guards max_daily_share and max_change_share"
    )
    d.add_argument(
        "dbt_args", nargs=argparse.REMAINDER, help="the dbt command, e.g. -- run --select my_model"
    )

    r = sub.add_parser("runs", help="recent runs from the warehouse log, as a table")
    _add_project_args(r)
    r.add_argument("--select", "-s", nargs="+", default=[], metavar="NAME", help="only these exposures' runs")
    r.add_argument(
        "--limit",
        type=int,
        help="at most this many rows (default: 20 runs; every record of --failed-records)",
    )
    r.add_argument(
        "--failed-records",
        metavar="RUN_ID",
        help="list the record-log rows of one run (the id or its first characters, as the table shows)",
    )

    c = sub.add_parser(
        "check",
        help="preflight: config, token, scopes, lists, properties and webhook, without sending data; "
        "exits with the number of problems found",
    )
    _add_project_args(c)
    c.add_argument(
        "--select", "-s", nargs="+", default=[], metavar="NAME", help="exposure names (default: all)"
    )

    rep = sub.add_parser("report", help="a self-contained HTML report of the run log (viewed offline)")
    _add_project_args(rep)
    rep.add_argument("--select", "-s", nargs="+", default=[], metavar="NAME", help="only these exposures")
    rep.add_argument("--output", "-o", metavar="PATH", help="default: target/hubspot_sync_report.html")
    rep.add_argument("--limit", type=int, default=50, help="runs per exposure (default: 50)")

    sub.add_parser("sandbox", help="serve a local HubSpot-compatible API on 127.0.0.1", add_help=False)
    return parser


SUMMARY_COLUMNS = [
    ("exposure", None),
    ("status", None),
    ("read", "rows_read"),
    ("updated", "rows_updated"),
    ("not_found", "rows_not_found"),
    ("invalid", "rows_invalid"),
    ("duplicate", "rows_duplicate"),
    ("unchanged", "rows_unchanged"),
    ("failed", "rows_failed"),
    ("requests", "requests"),
    ("retries", "retries"),
    ("429s", "rate_limited"),
]


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(h) for h in headers]] + [["" if v is None else str(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def summary(results: Sequence[RunResult]) -> str:
    rows = []
    for r in results:
        rows.append([r.exposure, r.status] + [getattr(r.counters, attr) for _, attr in SUMMARY_COLUMNS[2:]])
    text = format_table([h for h, _ in SUMMARY_COLUMNS], rows)
    notes = [f"{r.exposure}: {r.error}" for r in results if r.error]
    for r in results:
        if r.dry_run and r.changes:  # the diff, per property (each record's old → new is in the record log)
            counts = ", ".join(f"{name} {n}" for name, n in sorted(r.changes.items(), key=lambda kv: -kv[1]))
            notes.append(f"{r.exposure}: would change {counts}")
    return text + ("\n" + "\n".join(notes) if notes else "")


def _options(args: argparse.Namespace, **kw: object) -> SyncOptions:
    from dbt_hubspot_sync.doors.runner import SyncOptions

    return SyncOptions(
        args.project_dir, args.profiles_dir, args.target, args.vars_yaml, select=args.select, **kw
    )


def cmd_sync(args: argparse.Namespace) -> int:
    from dbt_hubspot_sync.doors.runner import run_pending, run_sync

    if args.pending and args.dry_run:
        raise UsageError("--pending and --dry-run cannot be combined: a dry run would consume nothing")
    reporter: Reporter = args.reporter
    # The bar's ETA needs the row count: one count(*) of the relation, only when a bar is drawn.
    options = _options(
        args,
        dry_run=args.dry_run,
        full_refresh=args.full_refresh,
        force=args.force,
        count_rows=isinstance(reporter, TerminalReporter),
    )
    try:
        run = run_pending if args.pending else run_sync
        results = run(options, on_progress=reporter)
    finally:
        reporter.close()
    if not results:
        reporter.message(
            "Nothing pending: no post-hook recorded a sync since the last push."
            if args.pending
            else "No exposure with config.meta.hubspot_sync was selected: nothing to sync."
        )
        return EXIT_OK
    reporter.summary(results, summary(results))
    return EXIT_OK if all(r.ok for r in results) else EXIT_RUN_FAILED


def cmd_run(args: argparse.Namespace) -> int:
    from dbt_hubspot_sync.doors.dbt_run import run_dbt

    dbt_argv = args.dbt_args[1:] if args.dbt_args[:1] == ["--"] else list(args.dbt_args)
    if not dbt_argv:
        raise UsageError("expected a dbt command after --, e.g. dbt-hubspot-sync run -- run --select my_model")
    if args.log_format == "json" and not any(a.startswith("--log-format") for a in dbt_argv):
        # dbt's own lines too, so that every line of stdout parses as JSON.
        dbt_argv += ["--log-format", "json"]
    options = _options(args, trigger="dbt_run", force=args.force)
    reporter: Reporter = args.reporter
    # dbt prints its own lines meanwhile: pushes are reported as lines too, never as a redrawn bar.
    progress = PlainReporter() if isinstance(reporter, TerminalReporter) else reporter
    dbt_ok, results = run_dbt(options, dbt_argv, on_progress=progress)
    if results:
        reporter.summary(results, summary(results))
    else:
        reporter.message(
            "No pending HubSpot sync was pushed (no workflow: automatic exposure's model was built)."
        )
    if not dbt_ok:
        return EXIT_RUN_FAILED
    return EXIT_OK if all(r.ok for r in results) else EXIT_RUN_FAILED


def cmd_check(args: argparse.Namespace) -> int:
    """Exit code: 0 when ready, else the number of problems found (at most MAX_CHECK_EXIT)."""
    from dbt_hubspot_sync.checks.preflight import check_hubspot, check_plans
    from dbt_hubspot_sync.dbt_bridge import open_session
    from dbt_hubspot_sync.hubspot import HubSpotClient

    reporter: Reporter = args.reporter
    with open_session(args.project_dir, args.profiles_dir, args.target, args.vars_yaml) as session:
        plans, findings = check_plans(session, args.select)
    findings += check_hubspot(plans, HubSpotClient.from_env)
    problems = sum(not f.ok for f in findings)
    rows = [[f.exposure or "(all)", f.check, ("ok: " if f.ok else "FAIL: ") + f.detail] for f in findings]
    verdict = (
        f"{problems} problem{'s' if problems != 1 else ''} found: nothing can be synced until "
        f"{'they are' if problems != 1 else 'it is'} fixed"
        if problems
        else "All checks passed: ready to sync."
    )
    reporter.table(
        "check",
        ["exposure", "check", "ok", "detail"],
        [[f.exposure, f.check, f.ok, f.detail] for f in findings],
        format_table(["exposure", "check", "result"], rows) + "\n" + verdict,
    )
    if isinstance(reporter, JsonReporter):
        reporter.emit("check_summary", problems=problems)
    return min(problems, MAX_CHECK_EXIT)


def _duration(started: datetime | None, finished: datetime | None) -> float | None:
    if started is None or finished is None:
        return None
    return (finished - started).total_seconds()


def _duration_text(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}m{secs:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


RUNS_TABLE = [  # (header, column of RunLog.recent_runs)
    ("read", "rows_read"),
    ("updated", "rows_updated"),
    ("unchanged", "rows_unchanged"),
    ("not_found", "rows_not_found"),
    ("invalid", "rows_invalid"),
    ("duplicate", "rows_duplicate"),
    ("failed", "rows_failed"),
    ("requests", "requests"),
    ("retries", "retries"),
    ("429s", "rate_limited"),
    ("list_added", "list_added"),
    ("list_missing", "list_missing"),
    ("list_removed", "list_removed"),
]


def cmd_runs(args: argparse.Namespace) -> int:
    from dbt_hubspot_sync.config.sync_config import log_schema_for
    from dbt_hubspot_sync.dbt_bridge import open_session
    from dbt_hubspot_sync.tables.run_log import RunLog

    reporter: Reporter = args.reporter
    with open_session(args.project_dir, args.profiles_dir, args.target, args.vars_yaml) as session:
        schema = log_schema_for(session.project.hubspot_vars, session.project.target_schema)
        log = RunLog(session.warehouse, schema)
        if not log.exists():
            raise UsageError(f"no run log in schema '{schema}' yet ({log.runs} does not exist): run a sync first")
        if args.failed_records:
            try:
                run_id = log.find_run(args.failed_records)
            except KeyError as exc:
                raise UsageError(exc.args[0]) from None
            headers, rows = log.rejected_records(run_id, args.limit)
            text = format_table(headers, [[_clip(v, 80) for v in r] for r in rows])
            shown = f"the first {len(rows)}" if args.limit and len(rows) == args.limit else str(len(rows))
            reporter.table("record", headers, rows, f"run {run_id}: {shown} records not updated\n{text}")
            return EXIT_OK
        columns, rows = log.recent_runs(args.limit or 20, args.select)
    records = [dict(zip(columns, r)) for r in rows]
    for rec in records:
        rec["duration_s"] = _duration(rec["started_at"], rec["finished_at"])
    if not records:
        names = f" of {', '.join(args.select)}" if args.select else ""
        reporter.message(f"No runs{names} in {log.runs} yet.")
        return EXIT_OK
    headers = ["started_at (UTC)", "run", "exposure", "trigger", "status", "duration"]
    # The list columns only matter where a list is synced: hidden when every shown row has none.
    lists = any(r["list_added"] or r["list_missing"] or r.get("list_removed") for r in records)
    shown = [(h, c) for h, c in RUNS_TABLE if lists or not c.startswith("list_")]
    headers += [h for h, _ in shown]
    table = [
        [
            f"{r['started_at']:%Y-%m-%d %H:%M:%S}" if r["started_at"] else "",
            str(r["run_id"])[:8],
            r["exposure_name"],
            r["trigger"],
            r["status"],
            _duration_text(r["duration_s"]),
        ]
        + [r[c] for _, c in shown]
        for r in records
    ]
    notes = [
        f"{str(r['run_id'])[:8]} {r['exposure_name']}: {_clip(r['error'], 200)}"
        for r in records
        if r["error"]
    ]
    text = format_table(headers, table) + ("\n" + "\n".join(notes) if notes else "")
    reporter.table("run", list(records[0]), [list(r.values()) for r in records], text)
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from dbt_hubspot_sync.dbt_bridge import open_session
    from dbt_hubspot_sync.report import write_report

    reporter: Reporter = args.reporter
    with open_session(args.project_dir, args.profiles_dir, args.target, args.vars_yaml) as session:
        result = write_report(session, select=args.select, output=args.output, limit=args.limit)
    reporter.table(
        "report",
        ["path", "exposures", "runs"],
        [[str(result.path), result.exposures, result.runs]],
        f"Report written to {result.path} ({result.exposures} exposures, {result.runs} runs)",
    )
    return EXIT_OK


def _clip(value: object, width: int) -> object:
    text = value if isinstance(value, str) else None
    if text is None or len(text) <= width:
        return value
    return text[: width - 1] + "…"


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "sandbox":
        from dbt_hubspot_sync.sandbox.cli import main as sandbox_main

        return sandbox_main(argv[1:])
    args = build_parser().parse_args(argv)
    handlers = {"sync": cmd_sync, "run": cmd_run, "runs": cmd_runs, "check": cmd_check, "report": cmd_report}
    reporter = args.reporter = make_reporter(args.log_format)
    log_handler = install_log_handler(reporter)
    try:
        return handlers[args.command](args)
    except SyncError as exc:  # the exit code by kind (errors.py): usage/config/credentials 2, a failed run 1
        reporter.error(f"HubSpot: {exc}" if isinstance(exc, HubSpotError) else str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        # Before the runs start (parsing, preflight) or a second Ctrl-C during them.
        reporter.error("aborted (Ctrl-C); a run left 'running' is marked failed by the next run")
        return EXIT_RUN_FAILED
    finally:
        reporter.close()
        remove_log_handler(log_handler)


if __name__ == "__main__":
    sys.exit(main())
