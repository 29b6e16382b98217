"""The standalone runner: config → plan → read → clean/validate → push → log, for each selected exposure."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from .config import META_KEY, parse_sync_config
from .dbt_bridge import (
    DbtSession,
    Warehouse,
    adapter_connection,
    dbt_args,
    invocation_id,
    invoke_dbt,
    open_session,
)
from .engine import RunResult, SyncRun
from .errors import ConfigError
from .hubspot_client import HubSpotClient, HubSpotError
from .pending import PendingQueue
from .plan import SyncPlan, build_plan, resolve_model, select_exposures
from .run_log import RunLog
from .state import STATE_TABLE, SyncState

READ_CHUNK = 2000


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


def plan_all(session: DbtSession, select: Sequence[str]) -> list[SyncPlan]:
    """Every selected exposure validated against its relation's columns: errors here precede any read."""
    project, wh = session.project, session.warehouse
    plans = []
    for name in select_exposures(project, select):
        model = resolve_model(project, name)
        plans.append(build_plan(project, name, wh.columns(model.relation or "", model)))
    return plans


def check_lists(plans: Sequence[SyncPlan], client: HubSpotClient) -> None:
    """A `list_id` must name a MANUAL or SNAPSHOT list: HubSpot refuses to add records to a DYNAMIC one."""
    for plan in plans:
        list_id = plan.config.list_id
        if not list_id:
            continue
        try:
            kind = client.get_list(list_id).get("processingType")
        except HubSpotError as exc:
            if getattr(exc, "status", None) == 404:
                raise ConfigError(
                    plan.exposure, "hubspot_sync.list_id", f"HubSpot has no list {list_id}"
                ) from None
            raise
        if kind not in ("MANUAL", "SNAPSHOT"):
            raise ConfigError(
                plan.exposure,
                "hubspot_sync.list_id",
                f"list {list_id} is {kind}; records can only be added to MANUAL or SNAPSHOT lists",
            )


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
    full_refresh: bool = False,
    count_rows: bool = False,
) -> RunResult:
    """Stream the plan's rows through `run` (already announced)."""
    if count_rows:
        try:
            run.rows_expected = int(wh.execute(f"select count(*) from {plan.relation}")[0][0])
        except Exception:  # only a display nicety: the read below reports a broken relation
            run.rows_expected = None
    run.start()
    state = None if full_refresh else wh.relation(plan.log_schema, STATE_TABLE)
    sql = wh.render(
        "sync_rows_query",
        relation=plan.relation,
        email_column=plan.email_column,
        columns=list(plan.columns),
        state_relation=state,
        exposure=plan.exposure,
    )
    error = None
    try:
        for _names, rows in wh.stream(sql, chunk_rows):
            run.feed(rows)
            if run.stopped:
                break
    except Exception as exc:  # the warehouse read broke: the run is failed, what was done stays logged
        error = f"reading {plan.relation} failed: {exc}"
    return run.finish(error)


@contextmanager
def prepared(
    options: SyncOptions, client_factory: Callable[[], HubSpotClient] | None
) -> Iterator[tuple[Warehouse, list[SyncPlan], HubSpotClient] | None]:
    """Parse, plan, connect to HubSpot, check lists and create the log tables; None when nothing is selected.

    Everything that can be wrong with the configuration fails here, before any row is read."""
    with open_session(
        options.project_dir, options.profiles_dir, options.target, options.vars_yaml
    ) as session:
        plans = plan_all(session, options.select)
        if not plans:
            yield None
            return
        # A dry run reads from HubSpot too (batch/read tells would-update from not-found): it needs the token.
        client = (client_factory or HubSpotClient.from_env)()
        try:
            check_lists(plans, client)
            ensure_log_tables(session.warehouse, [p.log_schema for p in plans])
            yield session.warehouse, plans, client
        finally:
            client.close()


def run_sync(
    options: SyncOptions,
    *,
    client_factory: Callable[[], HubSpotClient] | None = None,
    on_progress: Callable[[SyncRun], None] | None = None,
) -> list[RunResult]:
    """Run every selected sync; raises ConfigError (before any row is read) or a HubSpot auth error."""
    with prepared(options, client_factory) as ready:
        if ready is None:
            return []
        wh, plans, client = ready
        # Standalone runs are not part of a dbt invocation (the parse above is ours, not the user's).
        inv = invocation_id() if options.trigger != "cli" else None
        runs = []
        for plan in plans:
            run = SyncRun(
                plan,
                RunLog(wh, plan.log_schema),
                client,
                trigger=options.trigger,
                invocation_id=inv,
                dry_run=options.dry_run,
                on_progress=on_progress,
                state=SyncState(wh, plan.log_schema),
            )
            run.announce()  # every selected exposure is `waiting` before the first one runs
            runs.append(run)
        return [
            sync_plan(plan, wh, run, full_refresh=options.full_refresh, count_rows=options.count_rows)
            for plan, run in zip(plans, runs)
        ]


def push_pending(
    wh: Warehouse,
    plans: Sequence[SyncPlan],
    client: HubSpotClient,
    *,
    trigger: str,
    model: str | None = None,
    invocation_id: str | None = None,
    on_progress: Callable[[SyncRun], None] | None = None,
    count_rows: bool = False,
) -> list[RunResult]:
    """Claim the pending syncs of `plans` and push each exposure once for all its claimed builds."""
    results = []
    for plan in plans:
        queue = PendingQueue(wh, plan.log_schema)
        waiting = [
            p
            for p in queue.waiting(model=model, invocation_id=invocation_id)
            if p.exposure_name == plan.exposure
        ]
        owned = queue.claim(waiting)
        if not owned:
            continue
        run = SyncRun(
            plan,
            RunLog(wh, plan.log_schema),
            client,
            trigger=trigger,
            invocation_id=owned[-1].invocation_id,
            on_progress=on_progress,
            state=SyncState(wh, plan.log_schema),
        )
        run.announce()
        results.append(sync_plan(plan, wh, run, count_rows=count_rows))
        queue.done(owned)
    return results


def run_pending(
    options: SyncOptions,
    *,
    client_factory: Callable[[], HubSpotClient] | None = None,
    on_progress: Callable[[SyncRun], None] | None = None,
) -> list[RunResult]:
    """`sync --pending`: push what a plain `dbt run` left pending (each model build exactly once)."""
    with prepared(options, client_factory) as ready:
        if ready is None:
            return []
        wh, plans, client = ready
        return push_pending(
            wh, plans, client, trigger=options.trigger, on_progress=on_progress, count_rows=options.count_rows
        )


def run_dbt(
    options: SyncOptions,
    dbt_argv: Sequence[str],
    *,
    client_factory: Callable[[], HubSpotClient] | None = None,
) -> tuple[bool, list[RunResult]]:
    """`dbt-hubspot-sync run -- <dbt args>`: run dbt in-process, push each pending exposure as soon as its model
    finishes, from a worker thread (dbt's threads only enqueue). Returns (dbt succeeded, sync results)."""
    with open_session(
        options.project_dir, options.profiles_dir, options.target, options.vars_yaml
    ) as session:
        project = session.project
        by_model: dict[str, list[str]] = {}
        schemas = {project.hubspot_vars.get("log_schema") or project.target_schema}
        for name in select_exposures(project, options.select):
            # Config is checked now; columns once the model is built (it may not exist yet).
            config = parse_sync_config(name, project.exposures[name].meta.get(META_KEY), project.hubspot_vars)
            if config.workflow == "automatic":
                by_model.setdefault(resolve_model(project, name).unique_id, []).append(name)
        # Created up front: the post-hooks of models running in parallel would otherwise race to create them.
        ensure_log_tables(session.warehouse, sorted(schemas))
    client = (client_factory or HubSpotClient.from_env)() if by_model else None
    work: queue.Queue[tuple[str, str | None] | None] = queue.Queue()
    results: list[RunResult] = []
    errors: list[BaseException] = []

    def push(model: str, inv: str | None) -> None:
        with adapter_connection(project.adapter_type, project, "dbt_hubspot_sync_worker") as wh:
            relation = project.models[model].relation or ""
            plans = [
                build_plan(project, name, wh.columns(relation, project.models[model]))
                for name in by_model[model]
            ]
            check_lists(plans, client)
            results.extend(push_pending(wh, plans, client, trigger="dbt_run", model=model, invocation_id=inv))

    def worker() -> None:
        while True:
            item = work.get()
            try:
                if item is None:
                    return
                push(*item)
            except (
                BaseException
            ) as exc:  # reported after dbt finishes; pending rows stay for `sync --pending`
                errors.append(exc)
            finally:
                work.task_done()

    thread = threading.Thread(target=worker, name="dbt-hubspot-sync-push", daemon=True)
    thread.start()

    def on_node_success(unique_id: str, inv: str | None) -> None:
        if unique_id in by_model:
            work.put((unique_id, inv))

    argv = [
        *dbt_argv,
        *dbt_args(options.project_dir, options.profiles_dir, options.target, options.vars_yaml),
    ]
    try:
        outcome = invoke_dbt(argv, on_node_success=on_node_success, on_nodes_done=work.join)
    finally:
        work.put(None)
        thread.join()
        if client is not None:
            client.close()
    if errors:
        raise errors[0]
    return outcome.success, results
