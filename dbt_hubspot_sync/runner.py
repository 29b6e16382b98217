"""The standalone runner: config → plan → read → clean/validate → push → log, for each selected exposure."""

from __future__ import annotations

import queue
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields

from .config import META_KEY, NotifyConfig, parse_sync_config
from .dbt_bridge import (
    DbtSession,
    Warehouse,
    adapter_connection,
    dbt_args,
    invocation_id,
    invoke_dbt,
    open_session,
    read_run_results,
)
from .engine import RunResult, SyncRun
from .errors import ConfigError
from .gate import Verdict, judge, record_gated_out, skipped_reason, upstream_failures
from .hubspot_client import HubSpotClient, HubSpotError
from .pending import Pending, PendingQueue
from .plan import SyncPlan, build_plan, resolve_model, select_exposures
from .preflight import preflight_properties
from .run_log import Counters, RunLog
from .state import STATE_TABLE, SyncState

READ_CHUNK = 10_000


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
        what = (
            f"creating the log tables in schema '{schema}' (grant this user CREATE there, or point "
            "vars.hubspot_sync.log_schema at a schema it can write)"
        )
        with wh.guard(what):
            wh.render("create_log_tables", schema=schema)
            wh.commit()


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


def rows_query(wh: Warehouse, plan: SyncPlan, *, full_refresh: bool = False) -> str:
    """The plan's rows as the engine reads them (SQL cleanup, duplicate rank, the state joined unless
    `full_refresh`), rendered by the `sync_rows_query` macro for the warehouse's adapter."""
    return wh.render(
        "sync_rows_query",
        relation=plan.relation,
        email_column=plan.email_column,
        columns=list(plan.columns),
        state_relation=None if full_refresh else wh.relation(plan.log_schema, STATE_TABLE),
        exposure=plan.exposure,
    )


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
    sql = rows_query(wh, plan, full_refresh=full_refresh)
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
    options: SyncOptions, client_factory: Callable[[], HubSpotClient] | None, *, preflight: bool = True
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
        # The warehouse first: an unreachable one or a missing grant fails before any HubSpot call.
        ensure_log_tables(session.warehouse, [p.log_schema for p in plans])
        # A dry run reads from HubSpot too (batch/read tells would-update from not-found): it needs the token.
        client = (client_factory or HubSpotClient.from_env)()
        try:
            check_lists(plans, client)
            if preflight:
                plans = preflight_properties(plans, client)
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
    with prepared(options, client_factory) as ready, interruptible() as cancel:
        if ready is None:
            return []
        wh, plans, client = ready
        client.cancel = cancel  # Ctrl-C: requests not yet sent are refused, in-flight ones land
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
                cancel=cancel,
            )
            run.announce()  # every selected exposure is `waiting` before the first one runs
            runs.append(run)
        # After a Ctrl-C the exposures still waiting are not read: they end failed (interrupted), with no rows.
        return [
            run.finish()
            if cancel.is_set()
            else sync_plan(plan, wh, run, full_refresh=options.full_refresh, count_rows=options.count_rows)
            for plan, run in zip(plans, runs)
        ]


TestStatuses = Callable[[str | None], Mapping[str, str] | None]


def gate_verdict(plan: SyncPlan, pending: Pending, test_statuses: TestStatuses | None) -> Verdict:
    """The gate on one build: its tests' statuses come from `test_statuses(invocation_id)` (None: unknown), else
    from what the package's on-run-end kept on the pending row."""
    if plan.config.gate == "none" or not pending.gate_tests:
        return Verdict(True)
    statuses = test_statuses(pending.invocation_id) if test_statuses else None
    if statuses is None:
        statuses = pending.gate_results
    if statuses is None:
        return Verdict(
            False,
            f"tests_unknown: the test results of dbt invocation {pending.invocation_id} are gone (dbt's"
            " run_results.json holds a later command's and its on-run-end did not run); rebuild the model",
        )
    verdict = judge(pending.gate_tests, statuses, plan.config.gate)
    assert verdict is not None  # final: a test that never finished counts as not run
    return verdict


def push_pending(
    wh: Warehouse,
    plans: Sequence[SyncPlan],
    client: HubSpotClient,
    *,
    trigger: str,
    model: str | None = None,
    invocation_id: str | None = None,
    test_statuses: TestStatuses | None = None,
    on_progress: Callable[[SyncRun], None] | None = None,
    count_rows: bool = False,
    cancel: threading.Event | None = None,
    preflight: bool = False,
) -> list[RunResult]:
    """Claim the pending syncs of `plans` and push each exposure once for all its claimed builds.
    `preflight`: check the plan's properties with HubSpot once its gate lets it through (run_dbt's plans are
    built as models finish; prepared() has checked the others).

    The latest claimed build made the table a push would read, so its tests decide (gate.py): when they did not
    pass, nothing is sent and the runs row says `failed` with `tests_failed` naming them."""
    results = []
    for plan in plans:
        if cancel is not None and cancel.is_set():
            break  # interrupted: the rest stays pending for the next push
        queue = PendingQueue(wh, plan.log_schema)
        waiting = [
            p
            for p in queue.waiting(model=model, invocation_id=invocation_id)
            if p.exposure_name == plan.exposure
        ]
        owned = queue.claim(waiting)
        if not owned:
            continue
        verdict = gate_verdict(plan, owned[-1], test_statuses)
        if not verdict.ok:
            results.append(
                record_gated_out(
                    wh,
                    plan.log_schema,
                    plan.exposure,
                    plan.relation,
                    trigger=trigger,
                    invocation_id=owned[-1].invocation_id,
                    reason=verdict.reason or "tests_failed",
                    notify=plan.config.notify,
                )
            )
            queue.done(owned)
            continue
        if preflight:
            try:
                [plan] = preflight_properties([plan], client)
            except BaseException:
                queue.release(owned)  # a config error: the builds stay pending for the push after the fix
                raise
        run = SyncRun(
            plan,
            RunLog(wh, plan.log_schema),
            client,
            trigger=trigger,
            invocation_id=owned[-1].invocation_id,
            on_progress=on_progress,
            state=SyncState(wh, plan.log_schema),
            cancel=cancel,
        )
        run.announce()
        results.append(sync_plan(plan, wh, run, count_rows=count_rows))
        if cancel is not None and cancel.is_set():
            queue.release(owned)  # not fully pushed: the next push takes these builds again
        else:
            queue.done(owned)
    return results


def run_pending(
    options: SyncOptions,
    *,
    client_factory: Callable[[], HubSpotClient] | None = None,
    on_progress: Callable[[SyncRun], None] | None = None,
) -> list[RunResult]:
    """`sync --pending`: push what a plain `dbt run` or `dbt build` left pending (each model build exactly once).

    A build's tests are read from dbt's run_results.json, which holds the last dbt command's results only.
    Properties are checked per exposure once its gate lets it through: a gated-out push calls nothing."""
    with prepared(options, client_factory, preflight=False) as ready, interruptible() as cancel:
        if ready is None:
            return []
        wh, plans, client = ready
        client.cancel = cancel
        last_invocation, statuses = read_run_results(wh.project.target_path)
        return push_pending(
            wh,
            plans,
            client,
            trigger=options.trigger,
            test_statuses=lambda inv: statuses if inv is not None and inv == last_invocation else None,
            on_progress=on_progress,
            count_rows=options.count_rows,
            cancel=cancel,
            preflight=True,
        )


def logged_runs(wh: Warehouse, schema: str, invocation_id: str) -> list[RunResult]:
    """The runs logged for one dbt invocation: the DuckDB plugin pushes inside dbt, out of the runner's sight."""
    log, counters = RunLog(wh, schema), [f.name for f in fields(Counters)]
    rows = wh.execute(
        f"select run_id, exposure_name, status, error, {', '.join(counters)} from {log.runs}"
        f" where invocation_id = {wh.placeholder} order by started_at",
        [invocation_id],
    )
    return [RunResult(r[0], r[1], r[2], Counters(*r[4:]), r[3]) for r in rows]


def run_dbt(
    options: SyncOptions,
    dbt_argv: Sequence[str],
    *,
    client_factory: Callable[[], HubSpotClient] | None = None,
    on_progress: Callable[[SyncRun], None] | None = None,
) -> tuple[bool, list[RunResult]]:
    """`dbt-hubspot-sync run -- <dbt args>`: run dbt in-process and push each pending exposure as soon as its model
    finished and, under `dbt build`, the tests its post-hook recorded finished too (gate.py); from a worker
    thread (dbt's threads only hand work off). Returns (dbt succeeded, sync results)."""
    with open_session(
        options.project_dir, options.profiles_dir, options.target, options.vars_yaml
    ) as session:
        project = session.project
        by_model: dict[str, list[str]] = {}
        gates: dict[str, str] = {}
        notifies: dict[str, NotifyConfig | None] = {}
        plugin_pushes = False  # DuckDB: the plugin pushes from the post-hook or the package's on-run-end
        log_schema = project.hubspot_vars.get("log_schema") or project.target_schema
        for name in select_exposures(project, options.select):
            # Config is checked now; columns once the model is built (it may not exist yet).
            config = parse_sync_config(name, project.exposures[name].meta.get(META_KEY), project.hubspot_vars)
            if config.workflow != "automatic":
                continue
            if project.adapter_type == "duckdb":
                plugin_pushes = True
                continue
            by_model.setdefault(resolve_model(project, name).unique_id, []).append(name)
            gates[name] = config.gate
            notifies[name] = config.notify
        # Created up front: the post-hooks of models running in parallel would otherwise race to create them.
        ensure_log_tables(session.warehouse, [log_schema])
    client = (client_factory or HubSpotClient.from_env)() if by_model else None
    work: queue.Queue[tuple[str, str | None, str] | None] = queue.Queue()
    results: list[RunResult] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    finished: dict[str, str] = {}  # every node's dbt status so far
    seen: dict[str, str | bool] = {}  # dbt's invocation id, once a node finished; whether its runs were read
    waiting_on: dict[str, tuple[set[str], str | None]] = {}  # built model → (its unfinished gate tests, inv)

    def push(wh: Warehouse, model: str, inv: str | None, final: bool) -> None:
        if not final:
            with lock:  # a test finishing meanwhile updates `finished` under the same lock: no lost wake-up
                pending = PendingQueue(wh, log_schema).waiting(model=model, invocation_id=inv)
                unfinished = {t for p in pending for t in p.gate_tests if t not in finished}
                if unfinished:
                    waiting_on[model] = (unfinished, inv)
                    return
                waiting_on.pop(model, None)
        relation = project.models[model].relation or ""
        plans = [
            build_plan(project, name, wh.columns(relation, project.models[model])) for name in by_model[model]
        ]
        check_lists(plans, client)
        with lock:
            statuses = dict(finished)
        results.extend(
            push_pending(
                wh,
                plans,
                client,
                trigger="dbt_run",
                model=model,
                invocation_id=inv,
                test_statuses=lambda _inv: statuses,
                on_progress=on_progress,
                preflight=True,
            )
        )

    def gated_out_by_skip(wh: Warehouse, model: str, inv: str | None) -> None:
        """dbt build skipped the model after a failed test upstream: say so in the run log."""
        with lock:
            failed = upstream_failures(model, project.parents, project.tests, finished)
        for name in by_model[model]:
            if failed and gates[name] != "none":
                reason = skipped_reason([t for t, _ in failed], finished, project.models[model].name)
                relation = project.models[model].relation or ""
                results.append(
                    record_gated_out(
                        wh,
                        log_schema,
                        name,
                        relation,
                        trigger="dbt_run",
                        invocation_id=inv,
                        reason=reason,
                        notify=notifies[name],
                    )
                )

    def worker() -> None:
        while True:
            item = work.get()
            try:
                if item is None:
                    return
                model, inv, kind = item
                with adapter_connection(project.adapter_type, project, "dbt_hubspot_sync_worker") as wh:
                    if kind == "skipped":
                        gated_out_by_skip(wh, model, inv)
                    elif kind == "logged":
                        results.extend(logged_runs(wh, log_schema, inv or ""))
                    else:
                        push(wh, model, inv, final=kind == "final")
            except BaseException as exc:
                errors.append(exc)  # reported after dbt finishes; pending rows stay for `sync --pending`
            finally:
                work.task_done()

    thread = threading.Thread(target=worker, name="dbt-hubspot-sync-push", daemon=True)
    thread.start()

    def on_node_finished(unique_id: str, status: str, inv: str | None) -> None:
        with lock:
            finished[unique_id] = status
            seen.setdefault("invocation", inv or "")
            ready = []
            for model, (unfinished, model_inv) in list(waiting_on.items()):
                unfinished.discard(unique_id)
                if not unfinished:
                    ready.append((model, model_inv))
                    del waiting_on[model]
        for model, model_inv in ready:
            work.put((model, model_inv, "tests_done"))
        if unique_id in by_model and status in ("success", "skipped"):
            work.put((unique_id, inv, "built" if status == "success" else "skipped"))

    def on_nodes_done() -> None:
        work.join()
        # Gate tests that never finished (dbt stopped early, e.g. --fail-fast) count as not run.
        with lock:
            left = list(waiting_on.items())
            waiting_on.clear()
        for model, (_unfinished, inv) in left:
            work.put((model, inv, "final"))
        # Called after on-run-end (and again once dbt returned): what the plugin did is logged by now.
        if plugin_pushes and seen.get("invocation") and not seen.get("logged"):
            seen["logged"] = True
            work.put(("", str(seen["invocation"]), "logged"))
        work.join()

    argv = [
        *dbt_argv,
        *dbt_args(options.project_dir, options.profiles_dir, options.target, options.vars_yaml),
    ]
    try:
        outcome = invoke_dbt(argv, on_node_finished=on_node_finished, on_nodes_done=on_nodes_done)
    finally:
        work.put(None)
        thread.join()
        if client is not None:
            client.close()
    if errors:
        raise errors[0]
    return outcome.success, results
