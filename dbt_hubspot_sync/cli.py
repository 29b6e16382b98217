"""`dbt-hubspot-sync`: sync | run | sandbox | runs | check.

Exit codes: 0 every run completed; 1 a run ended completed_with_errors or failed; 2 bad usage or config.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from . import __version__
from .engine import RunResult, SyncRun
from .errors import SyncError
from .hubspot_client import HubSpotError

if TYPE_CHECKING:
    from .runner import SyncOptions

EXIT_OK, EXIT_RUN_FAILED, EXIT_USAGE = 0, 1, 2


def _add_project_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--project-dir", help="the dbt project (default: current directory)")
    p.add_argument("--profiles-dir", help="where profiles.yml is (default: dbt's own search)")
    p.add_argument("--target", "-t", help="profile target")
    p.add_argument("--vars", dest="vars_yaml", help="YAML of dbt vars, as dbt's --vars")


def build_parser() -> argparse.ArgumentParser:
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
        "dbt_args", nargs=argparse.REMAINDER, help="the dbt command, e.g. -- run --select my_model"
    )

    r = sub.add_parser("runs", help="recent runs from the warehouse log, as a table")
    _add_project_args(r)
    r.add_argument("--limit", type=int, default=20)

    c = sub.add_parser("check", help="preflight: config, token, lists and properties, without sending data")
    _add_project_args(c)
    c.add_argument(
        "--select", "-s", nargs="+", default=[], metavar="NAME", help="exposure names (default: all)"
    )

    sub.add_parser("sandbox", help="serve a local HubSpot-compatible API on 127.0.0.1", add_help=False)
    return parser


class Progress:
    """One status line per exposure on a terminal: rows, requests, rate. Silent when stderr is not a TTY."""

    def __init__(self) -> None:
        self._started: dict[str, float] = {}

    def __call__(self, run: SyncRun) -> None:
        t0 = self._started.setdefault(run.run.run_id, time.monotonic())
        elapsed = max(time.monotonic() - t0, 1e-6)
        c = run.counters
        requests = run.client.stats.requests if run.client else 0
        sys.stderr.write(
            f"\r{run.plan.exposure}: {c.rows_read:,} rows, {requests:,} requests, {c.rows_read / elapsed:,.0f} rows/s "
        )
        sys.stderr.flush()


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
    return text + ("\n" + "\n".join(notes) if notes else "")


def _options(args: argparse.Namespace, **kw: object) -> SyncOptions:
    from .runner import SyncOptions

    return SyncOptions(
        args.project_dir, args.profiles_dir, args.target, args.vars_yaml, select=args.select, **kw
    )


def cmd_sync(args: argparse.Namespace) -> int:
    from .runner import run_pending, run_sync

    if args.pending and args.dry_run:
        raise SyncError("--pending and --dry-run cannot be combined: a dry run would consume nothing")
    options = _options(args, dry_run=args.dry_run, full_refresh=args.full_refresh)
    progress = Progress() if sys.stderr.isatty() else None
    results = (
        run_pending(options, on_progress=progress)
        if args.pending
        else run_sync(options, on_progress=progress)
    )
    if sys.stderr.isatty():
        sys.stderr.write("\n")
    if not results:
        print(
            "Nothing pending: no post-hook recorded a sync since the last push."
            if args.pending
            else "No exposure with config.meta.hubspot_sync was selected: nothing to sync."
        )
        return EXIT_OK
    print(summary(results))
    return EXIT_OK if all(r.ok for r in results) else EXIT_RUN_FAILED


def cmd_run(args: argparse.Namespace) -> int:
    from .runner import run_dbt

    dbt_argv = args.dbt_args[1:] if args.dbt_args[:1] == ["--"] else list(args.dbt_args)
    if not dbt_argv:
        raise SyncError("expected a dbt command after --, e.g. dbt-hubspot-sync run -- run --select my_model")
    options = _options(args, trigger="dbt_run")
    dbt_ok, results = run_dbt(options, dbt_argv)
    if results:
        print(summary(results))
    else:
        print("No pending HubSpot sync was pushed (no workflow: automatic exposure's model was built).")
    if not dbt_ok:
        return EXIT_RUN_FAILED
    return EXIT_OK if all(r.ok for r in results) else EXIT_RUN_FAILED


def cmd_check(args: argparse.Namespace) -> int:
    from .dbt_bridge import open_session
    from .hubspot_client import HubSpotClient
    from .preflight import check
    from .runner import plan_all

    with open_session(args.project_dir, args.profiles_dir, args.target, args.vars_yaml) as session:
        plans = plan_all(session, args.select)
    with HubSpotClient.from_env() as client:
        rows = check(plans, client)
    print(format_table(["exposure", "check", "result"], rows))
    print("token: ok (contacts and their properties readable)")
    return EXIT_OK if all(not r[2].startswith("FAIL") for r in rows) else EXIT_RUN_FAILED


def cmd_runs(args: argparse.Namespace) -> int:
    from .dbt_bridge import open_session
    from .run_log import RunLog

    with open_session(args.project_dir, args.profiles_dir, args.target, args.vars_yaml) as session:
        schema = session.project.hubspot_vars.get("log_schema") or session.project.target_schema
        try:
            headers, rows = RunLog(session.warehouse, schema).recent_runs(args.limit)
        except Exception as exc:
            raise SyncError(f"no run log in schema '{schema}' yet (run a sync first): {exc}") from None
    print(format_table(headers, rows))
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "sandbox":
        from .sandbox.cli import main as sandbox_main

        return sandbox_main(argv[1:])
    args = build_parser().parse_args(argv)
    handlers = {"sync": cmd_sync, "run": cmd_run, "runs": cmd_runs, "check": cmd_check}
    try:
        return handlers[args.command](args)
    except HubSpotError as exc:
        print(f"error: HubSpot: {exc}", file=sys.stderr)
        return (
            EXIT_USAGE
            if getattr(exc, "status", None) in (401, 403) or exc.__class__.__name__.endswith("TokenError")
            else EXIT_RUN_FAILED
        )
    except SyncError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ValueError as exc:  # e.g. HUBSPOT_BASE_URL refused
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
