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
from dataclasses import dataclass, field
from typing import Any

from dbt_hubspot_sync.checks.gate import skipped_reason, upstream_failures
from dbt_hubspot_sync.config.plan import build_plan, resolve_model, select_exposures
from dbt_hubspot_sync.config.sync_config import log_schema_for
from dbt_hubspot_sync.dbt_bridge import (
    DbtArgs,
    Project,
    Warehouse,
    adapter_connection,
    dbt_args,
    dbt_flags_given,
    invoke_dbt,
    open_session,
    resolve_dbt_argv,
)
from dbt_hubspot_sync.doors.runner import SyncOptions
from dbt_hubspot_sync.engine import RunResult, SyncRun
from dbt_hubspot_sync.errors import UsageError
from dbt_hubspot_sync.hubspot import HubSpotClient
from dbt_hubspot_sync.pipeline import Pipeline
from dbt_hubspot_sync.tables.pending import PendingQueue
from dbt_hubspot_sync.tables.run_log import RunLog

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
    runs = RunLog(wh, schema).runs_of_invocation(invocation_id)
    return [RunResult(run_id, exposure, status, counters, error) for run_id, exposure, status, error, counters in runs]


def run_dbt(
    options: SyncOptions,
    dbt_argv: Sequence[str],
    *,
    client_factory: Callable[[], HubSpotClient] | None = None,
    on_progress: Callable[[SyncRun], None] | None = None,
) -> tuple[bool, list[RunResult]]:
    """Run dbt and push as its nodes finish. Returns (dbt succeeded, sync results)."""
    argv, resolved = dbt_command(options, dbt_argv)
    with open_session(
        resolved.project_dir, resolved.profiles_dir, resolved.target, resolved.vars_yaml, resolved.profile
    ) as session:
        syncs = _AutomaticSyncs.of(session.project, options.select)
        # Created up front: the post-hooks of models running in parallel would otherwise race to create them.
        session.warehouse.create_log_tables(syncs.log_schema)
    client = (client_factory or HubSpotClient.from_env)() if syncs.by_model else None
    pusher = _Pusher(syncs, client, options, on_progress)
    try:
        outcome = invoke_dbt(argv, on_node_finished=pusher.node_finished, on_nodes_done=pusher.nodes_done)
    finally:
        pusher.stop()
        if client is not None:
            client.close()
    if pusher.errors:
        raise pusher.errors[0]
    return outcome.success, pusher.results


@dataclass
class _AutomaticSyncs:
    """The `workflow: automatic` syncs a dbt invocation may push, by the model they read. On DuckDB the plugin
    pushes them itself (post-hook, on-run-end): this door only reads what it logged."""

    project: Project
    log_schema: str
    by_model: dict[str, list[str]] = field(default_factory=dict)
    plugin_pushes: bool = False

    @classmethod
    def of(cls, project: Project, select: Sequence[str]) -> _AutomaticSyncs:
        """Every selected sync's configuration is checked now; columns once its model is built."""
        syncs = cls(project, log_schema_for(project.hubspot_vars, project.target_schema))
        for name in select_exposures(project, select):
            if project.sync_config(name).workflow != "automatic":
                continue
            if project.adapter_type == "duckdb":
                syncs.plugin_pushes = True
            else:
                syncs.by_model.setdefault(resolve_model(project, name).unique_id, []).append(name)
        return syncs


class _Pusher:
    """Pushes on one worker thread while dbt runs: dbt's threads only report nodes finishing (`node_finished`,
    `nodes_done`); the worker takes (model, invocation, kind) items off a queue, each on a connection of dbt's own
    adapter. kind: built / tests_done (push once its gate tests finished), final (push now: the tests never
    finished), skipped (dbt skipped the model after a failed test upstream), logged (read the plugin's runs)."""

    def __init__(
        self,
        syncs: _AutomaticSyncs,
        client: HubSpotClient | None,
        options: SyncOptions,
        on_progress: Callable[[SyncRun], None] | None,
    ) -> None:
        self.syncs, self.project, self.client = syncs, syncs.project, client
        self.options, self.on_progress = options, on_progress
        self.results: list[RunResult] = []
        self.errors: list[BaseException] = []
        self._work: queue.Queue[tuple[str, str | None, str] | None] = queue.Queue()
        self._lock = threading.Lock()
        self._finished: dict[str, str] = {}  # every node's dbt status so far
        self._invocation: str | None = None  # dbt's invocation id, once a node finished
        self._logged = False  # the plugin's runs were read
        self._waiting_on: dict[str, tuple[set[str], str | None]] = {}  # model → (unfinished gate tests, inv)
        self._thread = threading.Thread(target=self._worker, name="dbt-hubspot-sync-push", daemon=True)
        self._thread.start()

    # -- what dbt's threads call ----------------------------------------------------------------------------
    def node_finished(self, unique_id: str, status: str, inv: str | None) -> None:
        with self._lock:
            self._finished[unique_id] = status
            if self._invocation is None:
                self._invocation = inv or ""
            ready = []
            for model, (unfinished, model_inv) in list(self._waiting_on.items()):
                unfinished.discard(unique_id)
                if not unfinished:
                    ready.append((model, model_inv))
                    del self._waiting_on[model]
        for model, model_inv in ready:
            self._work.put((model, model_inv, "tests_done"))
        if unique_id in self.syncs.by_model and status in ("success", "skipped"):
            self._work.put((unique_id, inv, "built" if status == "success" else "skipped"))

    def nodes_done(self) -> None:
        """Called after on-run-end (and again once dbt returned): what the plugin did is logged by now."""
        self._work.join()
        # Gate tests that never finished (dbt stopped early, e.g. --fail-fast) count as not run.
        with self._lock:
            left = list(self._waiting_on.items())
            self._waiting_on.clear()
        for model, (_unfinished, inv) in left:
            self._work.put((model, inv, "final"))
        if self.syncs.plugin_pushes and self._invocation and not self._logged:
            self._logged = True
            self._work.put(("", self._invocation, "logged"))
        self._work.join()

    def stop(self) -> None:
        self._work.put(None)
        self._thread.join()

    # -- the worker -----------------------------------------------------------------------------------------
    def _worker(self) -> None:
        while True:
            item = self._work.get()
            try:
                if item is None:
                    return
                model, inv, kind = item
                with adapter_connection(self.project.adapter_type, self.project, "dbt_hubspot_sync_worker") as wh:
                    if kind == "skipped":
                        self._gated_out_by_skip(wh, model, inv)
                    elif kind == "logged":
                        self.results.extend(logged_runs(wh, self.syncs.log_schema, inv or ""))
                    else:
                        self._push(wh, model, inv, final=kind == "final")
            except BaseException as exc:
                self.errors.append(exc)  # reported after dbt finishes; pending rows stay for `sync --pending`
            finally:
                self._work.task_done()

    def _pipeline(self, wh: Warehouse) -> Pipeline:
        return Pipeline(
            wh,
            self.client,
            trigger="dbt_run",
            on_progress=self.on_progress,
            reconnect=wh.reconnect,
            describe=wh.describe(),
            force=self.options.force,
        )

    def _push(self, wh: Warehouse, model: str, inv: str | None, final: bool) -> None:
        if not final:
            with self._lock:  # a test finishing meanwhile updates `_finished` under the same lock: no lost wake-up
                pending = PendingQueue(wh, self.syncs.log_schema).waiting(model=model, invocation_id=inv)
                unfinished = {t for p in pending for t in p.gate_tests if t not in self._finished}
                if unfinished:
                    self._waiting_on[model] = (unfinished, inv)
                    return
                self._waiting_on.pop(model, None)
        node = self.project.models[model]
        columns = wh.columns(node.relation or "", node)
        plans = [build_plan(self.project, name, columns) for name in self.syncs.by_model[model]]
        pipe = self._pipeline(wh)
        plans = pipe.prepare(plans, preflight=False)
        with self._lock:
            statuses = dict(self._finished)
        self.results.extend(
            pipe.push_pending(plans, model=model, invocation_id=inv, test_statuses=lambda _inv: statuses)
        )

    def _gated_out_by_skip(self, wh: Warehouse, model: str, inv: str | None) -> None:
        """dbt build skipped the model after a failed test upstream: say so in the run log."""
        with self._lock:
            failed = upstream_failures(model, self.project.parents, self.project.tests, self._finished)
        node = self.project.models[model]
        for name in self.syncs.by_model[model]:
            config = self.project.sync_config(name)
            if failed and config.gate != "none":
                reason = skipped_reason([t for t, _ in failed], self._finished, node.name)
                self.results.append(
                    self._pipeline(wh).gated_out(
                        name,
                        node.relation or "",
                        self.syncs.log_schema,
                        invocation_id=inv,
                        reason=reason,
                        notify=config.notify,
                    )
                )
