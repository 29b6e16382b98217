"""The standalone doors, `sync` and `sync --pending`: plans from dbt's own parse, handed to the pipeline.

`run -- <dbt args>` is dbt_run.py; the DuckDB post-hook and on-run-end are duckdb_plugin.py. All of them push
through pipeline.py.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from dbt_hubspot_sync.config.plan import SyncPlan, build_plan, resolve_model, select_exposures
from dbt_hubspot_sync.dbt_bridge import DbtSession, Warehouse, invocation_id, open_session, read_run_results
from dbt_hubspot_sync.engine import RunResult, SyncRun
from dbt_hubspot_sync.engine.changes import rows_query
from dbt_hubspot_sync.hubspot import HubSpotClient
from dbt_hubspot_sync.pipeline import Pipeline

__all__ = ["SyncOptions", "ensure_log_tables", "prepared", "rows_query", "run_pending", "run_sync"]


@dataclass
class SyncOptions:
    project_dir: str | None = None
    profiles_dir: str | None = None
    target: str | None = None
    vars_yaml: str | None = None
    select: Sequence[str] = ()
    dry_run: bool = False
    full_refresh: bool = False  # ignore hubspot_sync_state: resend every row
    trigger: str = "cli"
    count_rows: bool = False  # count the model's rows first, so a progress bar can show an ETA
    profile: str | None = None
    force: bool = False  # the guards (max_daily_share, max_change_share) do not hold this run back


def plan_all(session: DbtSession, select: Sequence[str]) -> list[SyncPlan]:
    """Every selected exposure validated against its relation's columns: errors here precede any read."""
    project, wh = session.project, session.warehouse
    plans = []
    for name in select_exposures(project, select):
        model = resolve_model(project, name)
        plans.append(build_plan(project, name, wh.columns(model.relation or "", model)))
    return plans


def ensure_log_tables(wh: Warehouse, schemas: Sequence[str]) -> None:
    for schema in dict.fromkeys(schemas):
        wh.create_log_tables(schema)


@contextmanager
def interruptible() -> Iterator[threading.Event]:
    """The first Ctrl-C (SIGINT) sets the event: runs stop sending, let in-flight requests land and end `failed`
    (interrupted). A second Ctrl-C raises KeyboardInterrupt at once. Outside the main thread: no handler."""
    cancel = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield cancel
        return

    def on_sigint(signum: int, frame: object) -> None:
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()
        sys.stderr.write("\nInterrupted: finishing the requests in flight (Ctrl-C again to abort)\n")

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield cancel
    finally:
        signal.signal(signal.SIGINT, previous)


@contextmanager
def _session(options: SyncOptions) -> Iterator[DbtSession]:
    with open_session(
        options.project_dir, options.profiles_dir, options.target, options.vars_yaml, options.profile
    ) as session:
        yield session


def _pipeline(
    session: DbtSession,
    options: SyncOptions,
    client_factory: Callable[[], HubSpotClient] | None,
    *,
    cancel: threading.Event | None = None,
    on_progress: Callable[[SyncRun], None] | None = None,
) -> Pipeline:
    wh = session.warehouse
    return Pipeline(
        wh,
        client_factory=client_factory or HubSpotClient.from_env,
        trigger=options.trigger,
        # Standalone runs are not part of a dbt invocation (the parse above is ours, not the user's).
        invocation_id=invocation_id() if options.trigger != "cli" else None,
        dry_run=options.dry_run,
        full_refresh=options.full_refresh,
        count_rows=options.count_rows,
        on_progress=on_progress,
        cancel=cancel,
        reconnect=wh.reconnect,
        describe=wh.describe(),
        force=options.force,
    )


@contextmanager
def prepared(
    options: SyncOptions, client_factory: Callable[[], HubSpotClient] | None, *, preflight: bool = True
) -> Iterator[tuple[Warehouse, list[SyncPlan], HubSpotClient] | None]:
    """Parse, plan, create the log tables, connect to HubSpot, check lists (and properties); None when nothing
    is selected. Everything that can be wrong with the configuration fails here, before any row is read."""
    with _session(options) as session:
        plans = plan_all(session, options.select)
        if not plans:
            yield None
            return
        pipe = _pipeline(session, options, client_factory)
        try:
            plans = pipe.prepare(plans, preflight=preflight)
            yield session.warehouse, plans, pipe.client
        finally:
            pipe.close()


def run_sync(
    options: SyncOptions,
    *,
    client_factory: Callable[[], HubSpotClient] | None = None,
    on_progress: Callable[[SyncRun], None] | None = None,
) -> list[RunResult]:
    """`sync`: every selected exposure, one after another; raises ConfigError (before any row is read) or a
    HubSpot auth error."""
    with _session(options) as session, interruptible() as cancel:
        plans = plan_all(session, options.select)
        if not plans:
            return []
        pipe = _pipeline(session, options, client_factory, cancel=cancel, on_progress=on_progress)
        try:
            plans = pipe.prepare(plans)
            runs = [pipe.announce(plan) for plan in plans]  # every selected exposure `waiting` first
            return [pipe.push(plan, run) for plan, run in zip(plans, runs)]
        finally:
            pipe.close()


def run_pending(
    options: SyncOptions,
    *,
    client_factory: Callable[[], HubSpotClient] | None = None,
    on_progress: Callable[[SyncRun], None] | None = None,
) -> list[RunResult]:
    """`sync --pending`: push what a plain `dbt run` or `dbt build` left pending (each model build exactly once).

    A build's tests are read from dbt's run_results.json, which holds the last dbt command's results only.
    Properties are checked per exposure once its gate lets it through: a gated-out push calls nothing."""
    with _session(options) as session, interruptible() as cancel:
        plans = plan_all(session, options.select)
        if not plans:
            return []
        pipe = _pipeline(session, options, client_factory, cancel=cancel, on_progress=on_progress)
        try:
            plans = pipe.prepare(plans, preflight=False)
            last_invocation, statuses = read_run_results(session.project.target_path)
            return pipe.push_pending(
                plans,
                test_statuses=lambda inv: statuses if inv is not None and inv == last_invocation else None,
            )
        finally:
            pipe.close()
