"""One DuckDB post-hook push's state between the UDF calls of its statement (duckdb_plugin.py): the plan, the
push, the rows buffered, and the guards' state (from an estimate statement, or the warehouse's counts:
hook_changes.py)."""

from __future__ import annotations

import threading
from typing import Any

from dbt_hubspot_sync.checks.guards import Estimate
from dbt_hubspot_sync.config.plan import SyncPlan
from dbt_hubspot_sync.engine.steady import Steady
from dbt_hubspot_sync.pipeline import Push


class HookRun:
    """What one post-hook push holds between the calls of its statement's UDFs (duckdb_plugin.py)."""

    def __init__(self, ctx: dict[str, Any], plan: SyncPlan | None, push: Push | None, error: str | None) -> None:
        self.ctx, self.plan, self.push, self.error = ctx, plan, push, error
        self.buffer: list[tuple] = []
        self.lock = threading.Lock()
        self.estimate = Estimate()  # the guards' estimate: the statement before the push fills it
        self.guarded = False  # the guards were checked (before the first row is fed)
        self.counts: list[tuple] = []  # change detection (hook_changes.py): the warehouse's count rows so far
        self.count_rows: int | None = None  # ... and how many there are
        self.steady: Steady | None = None  # the model's steady mark, when the run may use or leave one
        if plan is not None:
            self.positions = [ctx["columns"].index(c) for c in plan.columns]
            self.types = [ctx["types"][i] for i in self.positions]
