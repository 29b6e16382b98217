"""The PostgreSQL server the tests may use: DBT_HUBSPOT_SYNC_PG_* (scripts/test.sh starts a throwaway one)."""

from __future__ import annotations

import os
from typing import Any

PG_KEYS = ("HOST", "PORT", "USER", "PASSWORD", "DBNAME")
PG_SKIP_REASON = (
    "PostgreSQL tests need DBT_HUBSPOT_SYNC_PG_HOST/PORT/USER/PASSWORD/DBNAME "
    "(scripts/test.sh starts a throwaway server when PostgreSQL is installed)"
)


def pg_settings() -> dict[str, str] | None:
    """{host, port, user, password, dbname}; None unless every variable is set."""
    values = {k.lower(): os.environ.get(f"DBT_HUBSPOT_SYNC_PG_{k}") for k in PG_KEYS}
    return None if any(v is None for v in values.values()) else values  # type: ignore[return-value]


def pg_connect(*, autocommit: bool = False) -> Any:
    import psycopg2

    pg = pg_settings()
    assert pg is not None, PG_SKIP_REASON
    conn = psycopg2.connect(
        host=pg["host"], port=int(pg["port"]), user=pg["user"], password=pg["password"], dbname=pg["dbname"]
    )
    conn.autocommit = autocommit
    return conn
