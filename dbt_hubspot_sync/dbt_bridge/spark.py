"""Spark (dbt-spark) and Databricks underneath dbt's connection: parameters, cursors, errors.

dbt-spark hands out a wrapper, not a DB-API connection: its `cursor()` returns the wrapper itself (so a second
cursor replaces the first one's statement), its `close()` closes the whole connection, the session method's
cursor has no `fetchmany`, and the drivers format parameters with `%` (PyHive: `%s`; the session method: plain
`str % args`, no escaping at all). So the product binds values itself, as Spark SQL literals
(`bind_literals`), and talks to the driver underneath: PyHive's own cursors on the Thrift method (several per
connection, each closed alone, `fetchmany` streaming from the server), a cursor over the SparkSession on the
session method (`toLocalIterator`: one partition in memory at a time), the driver's cursor elsewhere.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any

from dbt_hubspot_sync.errors import DriverError

SPARK_TYPES = ("spark", "databricks")


class SparkSqlError(DriverError):
    """A statement Spark refused: the server's message without its Java stack trace."""


# -- parameters as Spark SQL literals --------------------------------------------------------------------------
def spark_literal(value: Any) -> str:
    """`value` as a Spark SQL literal. Strings: backslash and quote escaped with a backslash (Spark drops the
    backslash of an escape it does not know, and treats `\\'` as a quote); timestamps to the microsecond."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return f"CAST('{value}' AS DOUBLE)"
        return f"CAST('{value!r}' AS DOUBLE)"
    if isinstance(value, Decimal):
        return f"CAST('{value}' AS DECIMAL(38, {max(0, -value.as_tuple().exponent)}))"  # type: ignore[operator]
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return f"TIMESTAMP '{value:%Y-%m-%d %H:%M:%S.%f}'"
    if isinstance(value, dt.date):
        return f"DATE '{value:%Y-%m-%d}'"
    if isinstance(value, (bytes, bytearray)):
        return f"X'{bytes(value).hex()}'"
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    raise TypeError(f"cannot bind a {type(value).__name__} as a Spark SQL literal")


def bind_literals(sql: str, params: Sequence[Any] | None, placeholder: str = "?") -> str:
    """`sql` with each `placeholder` outside string literals, quoted identifiers and comments replaced by the
    next parameter as a literal. A count that does not match is a programming error (ValueError)."""
    if params is None:
        return sql
    out: list[str] = []
    values = iter(params)
    used, i, n = 0, 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch in ("'", '"', "`"):
            j = i + 1
            while j < n and sql[j] != ch:
                j += 2 if sql[j] == "\\" and ch != "`" else 1
            out.append(sql[i : j + 1])
            i = j + 1
        elif sql.startswith("--", i):
            j = sql.find("\n", i)
            j = n if j < 0 else j
            out.append(sql[i:j])
            i = j
        elif sql.startswith(placeholder, i):
            try:
                out.append(spark_literal(next(values)))
            except StopIteration:
                raise ValueError(f"more placeholders than the {len(params)} parameters given") from None
            used += 1
            i += len(placeholder)
        else:
            out.append(ch)
            i += 1
    if used != len(params):
        raise ValueError(f"{len(params)} parameters for {used} placeholders")
    return "".join(out)


def _short(message: str) -> str:
    """Spark's error text without the Java stack trace (`\\tat ...` lines) and the HiveSQLException prefix."""
    lines = [ln for ln in str(message).splitlines() if ln.strip() and not ln.lstrip().startswith("at ")]
    text = " ".join(" ".join(lines).split())
    for prefix in ("org.apache.hive.service.cli.HiveSQLException: ", "Error running query: "):
        text = text.replace(prefix, "")
    return text[:2000]


# -- cursors ---------------------------------------------------------------------------------------------------
class ThriftCursor:
    """A PyHive cursor of its own on the Thrift connection: executed asynchronously and polled (as dbt-spark
    does, so the server does not drop a long statement), closed alone."""

    def __init__(self, connection: Any, poll_interval: float = 1.0) -> None:
        self._cur = connection.cursor()
        self._poll_max = max(0.05, float(poll_interval))

    def execute(self, sql: str) -> None:
        from TCLIService.ttypes import TOperationState as State

        try:
            self._cur.execute(sql.strip().rstrip(";"), async_=True)
            wait = 0.01
            status = self._cur.poll()
            while status.operationState in (
                State.INITIALIZED_STATE,
                State.PENDING_STATE,
                State.RUNNING_STATE,
            ):
                time.sleep(wait)
                wait = min(wait * 2, self._poll_max)  # short statements answer in milliseconds
                status = self._cur.poll()
        except Exception as exc:
            raise SparkSqlError(_short(_thrift_message(exc))) from None
        if status.errorMessage:
            raise SparkSqlError(_short(status.errorMessage))
        if status.operationState != State.FINISHED_STATE:
            name = State._VALUES_TO_NAMES.get(status.operationState, status.operationState)
            raise SparkSqlError(f"statement ended {name}")

    @property
    def description(self) -> Any:
        return self._cur.description

    def fetchall(self) -> list[tuple]:
        return [tuple(r) for r in self._cur.fetchall()]

    def fetchmany(self, size: int) -> list[tuple]:
        self._cur.arraysize = size
        return [tuple(r) for r in self._cur.fetchmany(size)]

    def close(self) -> None:
        try:
            self._cur.close()
        except Exception:  # closing a finished operation on a dead connection
            pass


def _thrift_message(exc: BaseException) -> str:
    resp = exc.args[0] if exc.args else None
    status = getattr(resp, "status", None)
    return str(getattr(status, "errorMessage", None) or exc)


class SessionCursor:
    """dbt-spark's session method: the SparkSession of this process, rows streamed with `toLocalIterator`."""

    def __init__(self, server_side_parameters: dict[str, Any] | None = None) -> None:
        from pyspark.sql import SparkSession

        builder = SparkSession.builder.enableHiveSupport()
        for key, value in (server_side_parameters or {}).items():
            builder = builder.config(key, value)
        self._spark = builder.getOrCreate()
        self._df: Any = None
        self._rows: Iterator[Any] | None = None

    def execute(self, sql: str) -> None:
        try:
            self._df = self._spark.sql(sql.strip().rstrip(";"))
        except Exception as exc:
            raise SparkSqlError(_short(str(exc))) from None
        self._rows = None

    @property
    def description(self) -> Any:
        if self._df is None:
            return None
        return [
            (f.name, f.dataType.simpleString(), None, None, None, None, f.nullable) for f in self._df.schema
        ]

    def fetchall(self) -> list[tuple]:
        return [tuple(r) for r in self._df.collect()] if self._df is not None else []

    def fetchmany(self, size: int) -> list[tuple]:
        if self._df is None:
            return []
        if self._rows is None:
            self._rows = iter(self._df.toLocalIterator())
        out = []
        for row in self._rows:
            out.append(tuple(row))
            if len(out) >= size:
                break
        return out

    def close(self) -> None:
        self._df, self._rows = None, None


class DbApiCursor:
    """Any other driver (Databricks' SQL connector): its own cursor, SQL already bound."""

    def __init__(self, connection: Any) -> None:
        self._cur = connection.cursor()

    def execute(self, sql: str) -> None:
        self._cur.execute(sql.strip().rstrip(";"))

    @property
    def description(self) -> Any:
        return self._cur.description

    def fetchall(self) -> list[tuple]:
        return [tuple(r) for r in self._cur.fetchall()]

    def fetchmany(self, size: int) -> list[tuple]:
        return [tuple(r) for r in self._cur.fetchmany(size)]

    def close(self) -> None:
        self._cur.close()


def spark_cursor(handle: Any, credentials: Any = None) -> ThriftCursor | SessionCursor | DbApiCursor:
    """A cursor of its own under dbt's connection handle (dbt-spark's wrapper, or a Databricks connection)."""
    kind = type(handle).__name__
    if kind == "SessionConnectionWrapper":
        return SessionCursor(getattr(handle.handle, "server_side_parameters", None))
    raw = getattr(handle, "handle", None)
    if kind in ("PyhiveConnectionWrapper", "PyodbcConnectionWrapper") and raw is not None:
        if kind == "PyhiveConnectionWrapper":
            return ThriftCursor(raw, getattr(handle, "poll_interval", 1) or 1)
        return DbApiCursor(raw)
    return DbApiCursor(raw if raw is not None and hasattr(raw, "cursor") else handle)
