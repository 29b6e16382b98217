"""Where the pipeline writes the log tables, and how a broken write is told: a `LogTarget` is dbt's adapter
connection (dbt_bridge.Warehouse) or the DuckDB plugin's own; `Guarded` turns a driver error on any of its
statements into WarehouseLostError naming the statement and table (the warehouse went away mid-run)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol, runtime_checkable

from dbt_hubspot_sync.errors import WarehouseLostError
from dbt_hubspot_sync.tables.run_log import SqlTarget, append_only


class LogTarget(SqlTarget, Protocol):
    """Where the pipeline writes the log tables: dbt's adapter connection or the DuckDB plugin's own."""

    def create_log_tables(self, schema: str) -> None: ...


@runtime_checkable
class RowSource(LogTarget, Protocol):
    """A log target the pipeline can also read a model's rows from, in chunks (dbt_bridge.Warehouse). The DuckDB
    post-hook's target is not one: the hook's statement hands it the rows (Pipeline.begin, Push.feed)."""

    def stream(self, sql: str, chunk_size: int) -> Iterator[tuple[list[str], list[tuple]]]: ...


class Reconnect(Protocol):
    def __call__(self) -> AbstractContextManager[SqlTarget]: ...


class Guarded:
    """The log target with driver errors turned into WarehouseLostError naming the statement's step."""

    def __init__(self, target: SqlTarget, describe: str) -> None:
        self._target, self._describe = target, describe
        self.placeholder = target.placeholder
        self.array_params = getattr(target, "array_params", False)
        # Readers ask `run_log.append_only(target)` (the one home of the answer); the flag is also set here so
        # that no wrapper ever hides it (Spark's tables refuse UPDATE: a wrong answer fails the run).
        self.append_only = append_only(target)

    def relation(self, schema: str, identifier: str) -> str:
        return self._target.relation(schema, identifier)

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple]:
        try:
            return self._target.execute(sql, params)
        except WarehouseLostError:
            raise
        except Exception as exc:
            raise WarehouseLostError(f"{self._describe}: {step(sql)} failed: {oneline(exc)}") from None


def step(sql: str) -> str:
    """`insert into hubspot_sync_record_log`, `update hubspot_sync_runs`, ...: which write broke."""
    words = sql.split()
    verb = (words[0] if words else "statement").lower()
    table = next((w for w in words if "hubspot_sync_" in w), None)
    name = table.split(".")[-1].strip('"`(') if table else None
    return f"{verb} on {name}" if name else verb


def oneline(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"
