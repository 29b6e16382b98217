"""dbt-duckdb plugin: a plain `dbt run` pushes `workflow: automatic` exposures from the model's post-hook.

profiles.yml::

    plugins:
      - module: dbt_hubspot_sync.duckdb_plugin

The post-hook (`dbt_hubspot_sync.sync()`, DuckDB variant) runs, inside the model's transaction,

    select sum(dbt_hubspot_sync_push(ctx, email_raw, email_clean, rank, [column values as text])) from (...);
    select dbt_hubspot_sync_finish(ctx, (select count(*) from <model>));

so the rows reach Python as UDF arguments, a vector at a time: memory holds one push buffer, not the model.
The UDFs never run SQL on the hook's connection (DuckDB would deadlock); the run log goes through a separate
connection to the same database, which autocommits.

Under `dbt build` a sync gated on the model's tests is recorded pending by the hook instead; the package's on-run-end
(macros/push_after_tests.sql) asks `dbt_hubspot_sync_gate(ctx, statuses)` whether the tests passed (it logs the
run `failed`, `tests_failed`, when not) and then runs the same push statements.

A failed push (`on_push_error: warn`, the default) leaves the model built: the run log says failed and dbt prints
a warning, so downstream models still build. With `on_push_error: fail` the hook raises and the model errors.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from dbt.adapters.duckdb.plugins import BasePlugin

from dbt_hubspot_sync.checks.gate import judge, skipped_reason
from dbt_hubspot_sync.checks.guards import refusal
from dbt_hubspot_sync.config.plan import SyncPlan, build_plan
from dbt_hubspot_sync.config.sync_config import log_schema_for, parse_sync_config, resolve_layers
from dbt_hubspot_sync.dbt_bridge import Exposure, Model, Project, fire_warning
from dbt_hubspot_sync.doors import hook_changes
from dbt_hubspot_sync.doors.hook_run import HookRun
from dbt_hubspot_sync.errors import ConfigError, SyncError
from dbt_hubspot_sync.hubspot import HubSpotClient
from dbt_hubspot_sync.pipeline import Pipeline

FEED_CHUNK = 2000
_INTEGER = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "INT",
)


def from_duckdb_text(text: str | None, dtype: str) -> Any:
    """A value DuckDB cast to VARCHAR, back to the Python type the runner's cursor would have returned."""
    if text is None:
        return None
    t = dtype.upper()
    try:
        if t == "BOOLEAN":
            return text.lower() == "true"
        if t == "DATE":
            return date.fromisoformat(text)
        if t.startswith("TIMESTAMP") or t == "DATETIME":
            return datetime.fromisoformat(text)
        if t.startswith(("DECIMAL", "NUMERIC")):
            return Decimal(text)
        if t in ("DOUBLE", "FLOAT", "REAL"):
            return float(text)
        if t in _INTEGER:
            return int(text)
    except (ValueError, InvalidOperation):
        return text
    return text


class _DuckDBTarget:
    """The pipeline's log target over a DuckDB connection of its own (never the hook's)."""

    placeholder = "?"
    array_params = True

    def __init__(self, conn: Any) -> None:
        self._conn = conn
        self._lock = threading.Lock()
        self.ddl: dict[str, list[str]] = {}  # schema → the `log_tables_ddl` statements the hook passed
        self._created: set[str] = set()

    def relation(self, schema: str, identifier: str) -> str:
        return f'"{schema}"."{identifier}"'

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple]:
        with self._lock:
            cur = self._conn.execute(sql, params) if params is not None else self._conn.execute(sql)
            return cur.fetchall() if cur.description else []

    def create_log_tables(self, schema: str) -> None:
        if schema not in self._created:
            for ddl in self.ddl.get(schema, ()):
                self.execute(ddl)
            self._created.add(schema)


def plan_from_hook(ctx: dict[str, Any]) -> SyncPlan:
    """The same plan the runner builds, from what the hook knows about the model."""
    model = Model(ctx["model"], ctx["model_name"], "model", ctx.get("materialized"), ctx["relation"])
    project = Project(
        name="",
        adapter_type="duckdb",
        target_schema=ctx["target_schema"],
        target_database=None,
        exposures={
            ctx["exposure"]: Exposure(ctx["exposure"], {"hubspot_sync": ctx["meta"]}, (model.unique_id,))
        },
        models={model.unique_id: model},
        hubspot_vars=ctx.get("vars") or {},
    )
    return build_plan(project, ctx["exposure"], ctx["columns"])


class Plugin(BasePlugin):
    def initialize(self, plugin_config: dict[str, Any]) -> None:
        self._runs: dict[str, HookRun] = {}
        self._lock = threading.Lock()
        self._client: HubSpotClient | None = None
        self._client_lock = threading.Lock()
        self._target: _DuckDBTarget | None = None
        self._conn: Any = None

    def configure_connection(self, conn: Any) -> None:
        self._conn = conn
        row = ["VARCHAR", "VARCHAR", "VARCHAR", "BIGINT", "VARCHAR", "VARCHAR", "VARCHAR[]"]  # ctx + a row's cells
        udfs: list[tuple[str, Any, list[str], str]] = [
            ("dbt_hubspot_sync_push", self._push, row, "BIGINT"),
            ("dbt_hubspot_sync_push_changes", self._push_changes, [*row, "VARCHAR[]"], "BIGINT"),
            ("dbt_hubspot_sync_changes", self._changes, ["VARCHAR"], "VARCHAR"),
            ("dbt_hubspot_sync_steady", self._steady, ["VARCHAR", "VARCHAR[]"], "VARCHAR"),
            ("dbt_hubspot_sync_estimate", self._estimate, row, "BIGINT"),
            ("dbt_hubspot_sync_finish", self._finish, ["VARCHAR", "BIGINT"], "VARCHAR"),
            ("dbt_hubspot_sync_gate", self._gate, ["VARCHAR", "VARCHAR"], "VARCHAR"),
        ]
        for name, fn, args, returns in udfs:
            conn.create_function(name, fn, args, returns, null_handling="special", side_effects=True)

    # -- the UDFs ------------------------------------------------------------------------------------------
    def _changes(self, ctx_json: str) -> str:
        return hook_changes.changes_value(self._hook_run(ctx_json))

    def _steady(self, ctx_json: str, fingerprint: list[str | None]) -> str:
        hook = self._hook_run(ctx_json)
        with hook.lock:
            return hook_changes.steady(hook, fingerprint, self._guard)

    def _push(
        self,
        ctx_json: str,
        raw: str | None,
        clean: str | None,
        rank: int | None,
        known_id: str | None,
        known_hash: str | None,
        values: list[str | None],
    ) -> int:
        hook = self._hook_run(ctx_json)
        if hook.push is None:
            return 0  # config error: reported by finish, nothing is read
        row = self._row(hook, raw, clean, rank, known_id, known_hash, values)
        with hook.lock:
            if not hook.guarded:
                hook.guarded = True
                self._guard(hook)
            hook.buffer.append(row)
            if len(hook.buffer) >= FEED_CHUNK:
                chunk, hook.buffer = hook.buffer, []
                hook.push.feed(chunk)
        return 1

    def _push_changes(
        self,
        ctx_json: str,
        raw: str | None,
        clean: str | None,
        rank: int | None,
        known_id: str | None,
        known_hash: str | None,
        values: list[str | None],
        extras: list[str | None],
    ) -> int:
        """A row of the rows query with change detection (hook_changes.py)."""
        hook = self._hook_run(ctx_json)
        if hook.push is None:
            return 0
        row = hook_changes.extras_row(self._row(hook, raw, clean, rank, known_id, known_hash, values), extras)
        with hook.lock:
            hook_changes.take(hook, row, self._guard)
        return 1

    def _estimate(
        self,
        ctx_json: str,
        raw: str | None,
        clean: str | None,
        rank: int | None,
        known_id: str | None,
        known_hash: str | None,
        values: list[str | None],
    ) -> int:
        """The guards' estimate (guards.py): every row classified as the push will, nothing sent."""
        hook = self._hook_run(ctx_json)
        if hook.push is None or hook.plan is None:
            return 0
        row = self._row(hook, raw, clean, rank, known_id, known_hash, values)
        with hook.lock:
            hook.estimate.add(row, hook.plan, trust_not_found=hook.push.run.trust_not_found)
        return 1

    @staticmethod
    def _row(hook: HookRun, raw: Any, clean: Any, rank: Any, known_id: Any, known_hash: Any, values: Any) -> tuple:
        converted = (from_duckdb_text(values[i], t) for i, t in zip(hook.positions, hook.types))
        return (raw, clean, rank, known_id, known_hash, *converted)

    @staticmethod
    def _guard(hook: HookRun) -> None:
        """Before the first row is fed: a run the guards refuse ends failed with the reason, nothing sent."""
        push, plan = hook.push, hook.plan
        if push is None or plan is None or push.result is not None:
            return
        limiter = getattr(push.run.client, "limiter", None)
        problem = refusal(plan, hook.estimate, getattr(limiter, "daily_remaining", None))
        if problem is not None:
            push.finish(problem)  # later rows are not read: Push.feed ignores them once the run ended

    def _finish(self, ctx_json: str, model_rows: int | None) -> str:
        hook = self._hook_run(ctx_json)
        with self._lock:
            self._runs.pop(self._key(hook.ctx), None)
        if hook.push is None:
            message = f"HubSpot sync of exposure '{hook.ctx['exposure']}' did not run: {hook.error}"
        else:
            with hook.lock:
                if hook.counts:
                    hook_changes.settle_guard(hook, self._guard)
                chunk, hook.buffer = hook.buffer, []
                if chunk:
                    hook.push.feed(chunk)
                result = hook.push.finish(self._short_read(hook, model_rows))
                hook_changes.conclude(hook, result)
            if result.status != "failed":
                return result.status
            message = f"HubSpot sync of exposure '{result.exposure}' failed: {result.error}"
        if self._on_push_error(hook) == "fail":
            raise SyncError(message)
        fire_warning(message)
        return "failed"

    @staticmethod
    def _short_read(hook: HookRun, model_rows: int | None) -> str | None:
        """A run that read fewer rows than the model has is never `completed` silently: its end names both."""
        push = hook.push
        if push is None or push.result is not None or model_rows is None:
            return None  # not begun, or ended already (refused, stopped) with its own reason
        read = push.run.counters.rows_read
        if read == model_rows:
            return None
        return (
            f"short_read: the post-hook read {read} of the {model_rows} rows of {hook.ctx['relation']} "
            f"(email column {hook.ctx.get('email_column')!r}); the rest were not pushed"
        )

    @staticmethod
    def _on_push_error(hook: HookRun) -> str:
        """The resolved `on_push_error` (vars < template < exposure); from the raw layers when the configuration
        did not validate (the failure being reported is that error)."""
        if hook.plan is not None:
            return hook.plan.config.on_push_error
        ctx = hook.ctx
        try:
            return str(resolve_layers(ctx["exposure"], ctx["meta"], ctx.get("vars"))[2].get("on_push_error", "warn"))
        except ConfigError:
            return "warn"

    def _gate(self, ctx_json: str, statuses_json: str) -> str:
        """'push' when the tests the sync waits for passed; else logs the run failed and returns 'blocked'."""
        ctx, statuses = json.loads(ctx_json), json.loads(statuses_json)
        try:
            config = parse_sync_config(ctx["exposure"], ctx["meta"], ctx.get("vars"))
        except ConfigError:
            return "push"  # the push reports the config error (warn or fail), as without a gate
        verdict = judge(ctx["gate_tests"], statuses, config.gate)
        if verdict is None or verdict.ok:
            return "push"
        reason = verdict.reason or "tests_failed"
        if ctx.get("skipped_model"):
            reason = skipped_reason(ctx["gate_tests"], statuses, ctx["skipped_model"])
        self._pipeline(ctx).gated_out(
            ctx["exposure"],
            ctx["relation"],
            self._log_schema(ctx),
            invocation_id=ctx.get("invocation_id"),
            reason=reason,
            notify=config.notify,
        )
        fire_warning(f"HubSpot sync of exposure '{ctx['exposure']}' was not pushed: {reason}")
        return "blocked"

    # -- internals -------------------------------------------------------------------------------------
    @staticmethod
    def _key(ctx: dict[str, Any]) -> str:
        return f"{ctx.get('invocation_id')}:{ctx.get('model')}:{ctx.get('exposure')}"

    def _hook_run(self, ctx_json: str) -> HookRun:
        ctx = json.loads(ctx_json)
        key = self._key(ctx)
        with self._lock:
            hook = self._runs.get(key)
            if hook is None:
                hook = self._runs[key] = self._begin(ctx)
            return hook

    def _begin(self, ctx: dict[str, Any]) -> HookRun:
        try:
            plan = plan_from_hook(ctx)
            if ctx.get("email_column") != plan.email_column:
                # The hook's SQL and the plan read one column (macro _sync_config, config/sync_config.py).
                raise ConfigError(
                    ctx["exposure"],
                    "hubspot_sync.email_column",
                    f"the post-hook read column {ctx.get('email_column')!r} as the email, but the configuration "
                    f"resolves it to {plan.email_column!r}",
                )
            pipe = self._pipeline(ctx)
            [plan] = pipe.prepare([plan])
            push = pipe.begin(pipe.announce(plan))
            return HookRun(ctx, plan, push, None)
        except Exception as exc:  # config or token error: the hook reports it (warn or fail), never crashes dbt
            return HookRun(ctx, None, None, str(exc))

    @staticmethod
    def _log_schema(ctx: dict[str, Any]) -> str:
        return log_schema_for(ctx.get("vars"), ctx["target_schema"])

    def _pipeline(self, ctx: dict[str, Any]) -> Pipeline:
        if self._target is None:
            # A connection of its own: the hook's connection is busy running the statement calling us.
            self._target = _DuckDBTarget(self._conn.cursor())
        schema = self._log_schema(ctx)
        self._target.ddl.setdefault(schema, list(ctx.get("log_tables_ddl") or []))
        return Pipeline(
            self._target,
            client_factory=self._shared_client,
            trigger="post_hook",
            invocation_id=ctx.get("invocation_id"),
            reconnect=self._reconnect,
            describe=f"warehouse (duckdb, {schema})",
        )

    def _shared_client(self) -> HubSpotClient:
        """One client for every push of the dbt invocation (one rate limiter per token)."""
        with self._client_lock:
            if self._client is None:
                self._client = HubSpotClient.from_env()
            return self._client

    @contextmanager
    def _reconnect(self) -> Iterator[_DuckDBTarget]:
        """A fresh cursor (DuckDB connection) on the same database, for a run's end after a failed write."""
        fresh = _DuckDBTarget(self._conn.cursor())
        try:
            yield fresh
        finally:
            fresh._conn.close()
