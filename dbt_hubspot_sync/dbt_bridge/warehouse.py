"""SQL on the target's connection through dbt's own adapter, so any warehouse dbt supports works."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from ..errors import DriverError, SyncError, WarehouseError
from .project import Model, Project
from .spark import SPARK_TYPES, bind_literals, spark_cursor

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
        handle = self._handle()
        if self.type == "duckdb":
            # A cursor of its own (a duplicate DuckDB connection), so log writes on the main one don't reset it.
            cur = handle.cursor().cursor()
        elif self.type == "postgres":
            # Server-side cursor, held over commits (log writes commit while we read).
            cur = handle.cursor(name="dbt_hubspot_sync_read", withhold=True)
            cur.itersize = chunk_size
        elif self.spark:
            # Its own cursor: fetched from the server in chunks while the log writes use others.
            cur = spark_cursor(handle)
        else:
            cur = handle.cursor()
        try:
            cur.execute(sql)
            names: list[str] | None = None
            while True:
                rows = cur.fetchmany(chunk_size)
                if names is None:
                    names = [d[0] for d in cur.description] if cur.description else []
                if not rows:
                    return
                yield names, rows  # DB-API rows: sequences, indexed by position only
        finally:
            cur.close()
            if self.type == "postgres":
                handle.commit()


def _hint(detail: str) -> str:
    """What to do about a driver error users meet often."""
    if "Conflicting lock is held" in detail:  # DuckDB: "... is held in /usr/bin/python3 (PID 123) by user ..."
        return (
            "; another process holds the DuckDB file (a dbt command, a sync or a SQL client, named above):"
            " DuckDB allows one writing process at a time; wait for it to finish or close it, then run again"
        )
    return ""
