"""SQL on the target's connection through dbt's own adapter, so any warehouse dbt supports works."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from dbt_hubspot_sync.dbt_bridge.duckdb_memory import MemoryBound, is_out_of_memory
from dbt_hubspot_sync.dbt_bridge.project import Model, Project
from dbt_hubspot_sync.dbt_bridge.spark import SPARK_TYPES, bind_literals, spark_cursor
from dbt_hubspot_sync.errors import DriverError, SyncError, WarehouseError

PACKAGE = "dbt_hubspot_sync"


class Warehouse:
    """SQL on the target's connection, through dbt's adapter (plain DB-API underneath)."""

    def __init__(self, adapter: Any, project: Project) -> None:
        self._adapter = adapter
        self.project = project
        self.type = adapter.type()
        # DB-API placeholder style of the driver behind the adapter (Spark: bound here, see below).
        self.placeholder = "?" if self.type in ("duckdb", "sqlite", "databricks", "spark") else "%s"
        # Drivers known to bind a Python list as a SQL array (run_log.insert_rows writes column arrays).
        self.array_params = self.type in ("duckdb", "postgres")
        # Spark and Databricks: parameters become literals here (bind_literals; the drivers would %-format
        # them), statements run on cursors of their own (dbt_bridge/spark.py), and the log tables are
        # append-only (Spark's built-in table formats have no UPDATE or DELETE; run_log.py, state.py, ...).
        self.spark = self.type in SPARK_TYPES
        self.append_only = self.spark
        self._memory: MemoryBound | None = None  # DuckDB: the product's bound on its memory, while held

    @contextmanager
    def bounded_memory(self) -> Iterator[None]:
        """DuckDB, whose engine runs in this process: its memory_limit lowered, for as long as the product
        holds the connection, to a bound that does not grow with the model (duckdb_memory.py); the previous
        limit restored after. Only for a session the product owns (the standalone runner's): dbt's own runs
        share the instance and keep their settings. Other warehouses: nothing to do."""
        if self.type != "duckdb" or self._memory is not None:
            yield
            return
        try:
            cur = self._handle().cursor()
        except Exception:  # cannot connect: the session's first guarded statement says why, unbounded
            cur = None
        bound = MemoryBound.apply(cur) if cur is not None else None
        self._memory = bound
        try:
            yield
        finally:
            self._memory = None
            if bound is not None:
                self._restore(bound)

    def _restore(self, bound: MemoryBound) -> None:
        try:
            bound.restore(self._handle().cursor())
        except Exception:  # the connection is gone (and the instance with it): nothing left to restore
            pass

    def quote(self, identifier: str) -> str:
        return self._adapter.quote(identifier)

    @contextmanager
    def guard(self, what: str) -> Iterator[None]:
        """dbt's database errors (unreachable host, missing grant, ...) as a WarehouseError saying what was being
        done, on which target: raised before any HubSpot call, they mean nothing was sent."""
        try:
            yield
        except Exception as exc:  # dbt's wrappers and raw driver errors (a DuckDB file that cannot be opened)
            if isinstance(exc, SyncError) and not isinstance(exc, DriverError):
                raise  # already says what went wrong
            detail = " ".join(str(exc).split())
            hint = _hint(detail)
            raise WarehouseError(
                f"{self.describe()}: {what} failed: {type(exc).__name__}: {detail}{hint}"
            ) from None

    def describe(self) -> str:
        """`warehouse (postgres, db.schema)`: how errors name the target."""
        where = ".".join(p for p in (self.project.target_database, self.project.target_schema) if p)
        return f"warehouse ({self.type}, {where})"

    def create_log_tables(self, schema: str) -> None:
        """The product's tables in `schema`, if missing (the `create_log_tables` macro's DDL)."""
        what = (
            f"creating the log tables in schema '{schema}' (grant this user CREATE there, or point "
            "vars.hubspot_sync.log_schema at a schema it can write)"
        )
        with self.guard(what):
            self.render("create_log_tables", schema=schema)
            self.commit()

    @contextmanager
    def reconnect(self) -> Iterator[Warehouse]:
        """This thread's connection replaced by a fresh one to the same target (dbt opens it on first use), for
        recording a run's end after the old one died; raises when the warehouse is still unreachable."""
        conns = self._adapter.connections
        old = conns.get_if_exists()
        if old is not None:
            try:
                conns.close(old)
            except Exception:  # a dead connection may not even close cleanly
                pass
            conns.clear_thread_connection()
        conns.set_connection_name("dbt_hubspot_sync")
        self._handle()  # open now: a server still down fails here
        yield self

    def relation(self, schema: str, identifier: str) -> str:
        rel = self._adapter.Relation.create(
            database=self.project.target_database, schema=schema, identifier=identifier
        )
        return str(rel)

    def render(self, macro: str, **kwargs: Any) -> Any:
        """Call one of this package's macros (dispatched per adapter) and return what it returns."""
        return self._adapter.execute_macro(macro, project=PACKAGE, kwargs=kwargs)

    def columns(self, relation: str, model: Model) -> list[str]:
        """Column names of a built relation, as the warehouse reports them."""
        parts = [p.strip('"`') for p in relation.split(".")]
        rel = self._adapter.Relation.create(
            database=parts[-3] if len(parts) >= 3 else None,
            schema=parts[-2] if len(parts) >= 2 else None,
            identifier=parts[-1],
        )
        with self.guard(f"reading the columns of {relation}"):
            return [c.name for c in self._adapter.get_columns_in_relation(rel)]

    def _handle(self) -> Any:
        return self._adapter.connections.get_thread_connection().handle

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple]:
        if self.spark:
            # A cursor of its own under dbt-spark's wrapper (whose `close()` would close the connection).
            cur = spark_cursor(self._handle())
            try:
                cur.execute(bind_literals(sql, params, self.placeholder))
                try:
                    rows = cur.fetchall() if cur.description else []
                except Exception:  # statements without a result set
                    rows = []
            finally:
                cur.close()
            return rows
        cur = self._handle().cursor()
        cur.execute(sql, params) if params is not None else cur.execute(sql)
        try:
            rows = cur.fetchall()
        except Exception:  # statements without a result set
            rows = []
        self.commit()
        return rows

    def commit(self) -> None:
        conn = self._adapter.connections.get_thread_connection()
        if conn.transaction_open:
            # A macro's statement() opened dbt's transaction (BEGIN): close it the way dbt does.
            self._adapter.connections.commit()
        elif self.type != "duckdb" and hasattr(conn.handle, "commit"):
            # DB-API drivers open transactions implicitly; DuckDB autocommits outside BEGIN.
            conn.handle.commit()

    def stream(self, sql: str, chunk_size: int) -> Iterator[tuple[list[str], list[tuple]]]:
        """Yield (column names, rows) chunks; only one chunk is ever held in memory."""
        if self.type == "duckdb":
            yield from self._stream_duckdb(sql, chunk_size)
            return
        handle = self._handle()
        if self.type == "postgres":
            # Server-side cursor, held over commits (log writes commit while we read).
            cur = handle.cursor(name="dbt_hubspot_sync_read", withhold=True)
            cur.itersize = chunk_size
        elif self.spark:
            # Its own cursor: fetched from the server in chunks while the log writes use others.
            cur = spark_cursor(handle)
        else:
            cur = handle.cursor()
        try:
            yield from _fetch(cur, sql, chunk_size)
        finally:
            cur.close()
            if self.type == "postgres":
                handle.commit()

    def _stream_duckdb(self, sql: str, chunk_size: int) -> Iterator[tuple[list[str], list[tuple]]]:
        """A cursor of its own (a duplicate DuckDB connection), so log writes on the main one don't reset it.
        A read that runs out of memory under the product's bound before its first row (a model too wide for
        the bound at this many threads) runs again under the limit the user had: bounded when DuckDB can,
        never failed where it would have run."""
        cur = self._handle().cursor().cursor()
        first: tuple[list[str], list[tuple]] | None = None
        try:
            rows = _fetch(cur, sql, chunk_size)
            try:
                first = next(rows, None)
            except Exception as exc:
                if self._memory is None or not is_out_of_memory(exc):
                    raise
                cur.close()
                self._restore(self._memory)
                self._memory = None
                cur = self._handle().cursor().cursor()
                rows = _fetch(cur, sql, chunk_size)
                first = next(rows, None)
            if first is None:
                return
            yield first
            yield from rows
        finally:
            cur.close()


def _fetch(cur: Any, sql: str, chunk_size: int) -> Iterator[tuple[list[str], list[tuple]]]:
    """(column names, rows) chunks of `sql` on `cur`, until the result is exhausted."""
    cur.execute(sql)
    names: list[str] | None = None
    while True:
        rows = cur.fetchmany(chunk_size)
        if names is None:
            names = [d[0] for d in cur.description] if cur.description else []
        if not rows:
            return
        yield names, rows  # DB-API rows: sequences, indexed by position only


def _hint(detail: str) -> str:
    """What to do about a driver error users meet often."""
    if "Conflicting lock is held" in detail:  # DuckDB: "... is held in /usr/bin/python3 (PID 123) by user ..."
        return (
            "; another process holds the DuckDB file (a dbt command, a sync or a SQL client, named above):"
            " DuckDB allows one writing process at a time; wait for it to finish or close it, then run again"
        )
    return ""
