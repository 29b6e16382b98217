"""The standalone runner: config → plan → read → clean/validate → push → log, for each selected exposure."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .dbt_bridge import DbtSession, Warehouse, invocation_id, open_session
from .engine import RunResult, SyncRun
from .hubspot_client import HubSpotClient
from .plan import SyncPlan, build_plan, resolve_model, select_exposures
from .run_log import RunLog

READ_CHUNK = 2000


@dataclass
class SyncOptions:
    project_dir: str | None = None
    profiles_dir: str | None = None
    target: str | None = None
    vars_yaml: str | None = None
    select: Sequence[str] = ()
    dry_run: bool = False
    trigger: str = "cli"


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
        wh.render("create_log_tables", schema=schema)
        wh.commit()


def sync_plan(
    plan: SyncPlan,
    wh: Warehouse,
    run: SyncRun,
    *,
    chunk_rows: int = READ_CHUNK,
) -> RunResult:
    """Stream the plan's rows through `run` (already announced)."""
    run.start()
    sql = wh.render("sync_rows_query", relation=plan.relation, email_column=plan.email_column,
                    columns=list(plan.columns))
    error = None
    try:
        for _names, rows in wh.stream(sql, chunk_rows):
            run.feed(rows)
            if run.stopped:
                break
    except Exception as exc:  # the warehouse read broke: the run is failed, what was done stays logged
        error = f"reading {plan.relation} failed: {exc}"
    return run.finish(error)


def run_sync(
    options: SyncOptions,
    *,
    client_factory: Callable[[], HubSpotClient] | None = None,
    on_progress: Callable[[SyncRun], None] | None = None,
) -> list[RunResult]:
    """Run every selected sync; raises ConfigError (before any row is read) or a HubSpot auth error."""
    with open_session(options.project_dir, options.profiles_dir, options.target, options.vars_yaml) as session:
        plans = plan_all(session, options.select)
        if not plans:
            return []
        # A dry run reads from HubSpot too (batch/read tells would-update from not-found): it needs the token.
        client = (client_factory or HubSpotClient.from_env)()
        wh = session.warehouse
        ensure_log_tables(wh, [p.log_schema for p in plans])
        # Standalone runs are not part of a dbt invocation (the parse above is ours, not the user's).
        inv = invocation_id() if options.trigger != "cli" else None
        runs = []
        for plan in plans:
            run = SyncRun(plan, RunLog(wh, plan.log_schema), client, trigger=options.trigger,
                          invocation_id=inv, dry_run=options.dry_run, on_progress=on_progress)
            run.announce()
            runs.append(run)
        try:
            return [sync_plan(plan, wh, run) for plan, run in zip(plans, runs)]
        finally:
            client.close()
