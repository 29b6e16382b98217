"""The `dbt-hubspot-sync run -- <dbt args>` door: run dbt in-process and push each pending exposure as soon as its
model finished and, under `dbt build`, the tests its post-hook recorded finished too (gate.py).

The project, profiles dir, profile, target and vars come from the dbt command line itself, resolved by dbt's own
parser (short flags and DBT_* variables included), so the pusher reads the relation dbt built; a wrapper option
that contradicts the dbt arguments is a usage error. Pushes run on a worker thread (dbt's threads only hand the
work off) through pipeline.py, on a connection of dbt's own adapter.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import fields
from typing import Any

from .config import NotifyConfig, log_schema_for
from .dbt_bridge import (
    DbtArgs,
    Warehouse,
    adapter_connection,
    dbt_args,
    dbt_flags_given,
    invoke_dbt,
    open_session,
    resolve_dbt_argv,
)
from .engine import RunResult, SyncRun
from .errors import UsageError
from .gate import skipped_reason, upstream_failures
from .hubspot import HubSpotClient
from .pending import PendingQueue
from .pipeline import Pipeline
from .plan import build_plan, resolve_model, select_exposures
from .run_log import Counters, RunLog
from .runner import SyncOptions

# Wrapper option → (dbt setting, dbt's flag as users write it).
_SHARED = {
    "project_dir": ("project_dir", "--project-dir"),
    "profiles_dir": ("profiles_dir", "--profiles-dir"),
    "profile": ("profile", "--profile"),
    "target": ("target", "--target"),
    "vars_yaml": ("vars", "--vars"),
}


def dbt_command(options: SyncOptions, dbt_argv: Sequence[str]) -> tuple[list[str], DbtArgs]:
    """The dbt command line to run (wrapper options added where dbt's arguments are silent) and what it selects.
    A wrapper option that contradicts the dbt arguments is a SyncError (exit 2) naming both."""
    given = dbt_flags_given(dbt_argv)
    extra: dict[str, Any] = {}
    for option, (setting, flag) in _SHARED.items():
        ours = getattr(options, option)
        if not ours:
            continue
        if setting not in given:
            extra[option] = ours
        elif not _same(setting, ours, given[setting]):
            raise UsageError(
                f"dbt-hubspot-sync run {flag} {ours} contradicts {flag} {given[setting]} in the dbt arguments"
                " (after --): give it once, in the dbt arguments"
            )
    argv = [
        *dbt_argv,
        *dbt_args(
            extra.get("project_dir"),
            extra.get("profiles_dir"),
            extra.get("target"),
            extra.get("vars_yaml"),
            extra.get("profile"),
        ),
    ]
    return argv, resolve_dbt_argv(argv)


def _same(setting: str, ours: str, theirs: str) -> bool:
    if setting == "vars":
        import yaml

        try:
            return yaml.safe_load(ours) == yaml.safe_load(theirs)
        except yaml.YAMLError:
            return False
    if setting in ("project_dir", "profiles_dir"):
        return os.path.realpath(ours) == os.path.realpath(theirs)
    return ours == theirs


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
    """Returns (dbt succeeded, sync results)."""
    argv, resolved = dbt_command(options, dbt_argv)
    with open_session(
        resolved.project_dir, resolved.profiles_dir, resolved.target, resolved.vars_yaml, resolved.profile
    ) as session:
        project = session.project
        by_model: dict[str, list[str]] = {}
        gates: dict[str, str] = {}
        notifies: dict[str, NotifyConfig | None] = {}
        plugin_pushes = False  # DuckDB: the plugin pushes from the post-hook or the package's on-run-end
        log_schema = log_schema_for(project.hubspot_vars, project.target_schema)
        for name in select_exposures(project, options.select):
            # Config is checked now; columns once the model is built (it may not exist yet).
            config = project.sync_config(name)
            if config.workflow != "automatic":
                continue
            if project.adapter_type == "duckdb":
                plugin_pushes = True
                continue
            by_model.setdefault(resolve_model(project, name).unique_id, []).append(name)
            gates[name] = config.gate
            notifies[name] = config.notify
        # Created up front: the post-hooks of models running in parallel would otherwise race to create them.
        session.warehouse.create_log_tables(log_schema)
    client = (client_factory or HubSpotClient.from_env)() if by_model else None
    work: queue.Queue[tuple[str, str | None, str] | None] = queue.Queue()
    results: list[RunResult] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    finished: dict[str, str] = {}  # every node's dbt status so far
    seen: dict[str, str | bool] = {}  # dbt's invocation id, once a node finished; whether its runs were read
    waiting_on: dict[str, tuple[set[str], str | None]] = {}  # built model → (its unfinished gate tests, inv)

    def pipeline(wh: Warehouse) -> Pipeline:
        return Pipeline(
            wh,
            client,
            trigger="dbt_run",
            on_progress=on_progress,
            reconnect=wh.reconnect,
            describe=wh.describe(),
            force=options.force,
        )

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
        pipe = pipeline(wh)
        plans = pipe.prepare(plans, preflight=False)
        with lock:
            statuses = dict(finished)
        results.extend(
            pipe.push_pending(plans, model=model, invocation_id=inv, test_statuses=lambda _inv: statuses)
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
                    pipeline(wh).gated_out(
                        name, relation, log_schema, invocation_id=inv, reason=reason, notify=notifies[name]
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
