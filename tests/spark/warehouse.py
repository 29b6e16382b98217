"""The Spark Thrift server the tests may use: DBT_HUBSPOT_SYNC_SPARK_HOST/PORT (scripts/test.sh starts a throwaway
one with scripts/spark.sh when Java is installed)."""

from __future__ import annotations

import os
from typing import Any

SPARK_SKIP_REASON = (
    "Spark tests need a Spark Thrift server: DBT_HUBSPOT_SYNC_SPARK_HOST/PORT (scripts/test.sh starts one with "
    'scripts/spark.sh when Java 17 and pyspark are installed: eval "$(scripts/spark.sh start /tmp/spark)")'
)


def spark_settings() -> dict[str, str] | None:
    """{host, port}; None unless both variables are set."""
    host, port = os.environ.get("DBT_HUBSPOT_SYNC_SPARK_HOST"), os.environ.get("DBT_HUBSPOT_SYNC_SPARK_PORT")
    return {"host": host, "port": port} if host and port else None


def spark_profile(schema: str, threads: int = 4) -> dict[str, Any]:
    settings = spark_settings()
    assert settings is not None, SPARK_SKIP_REASON
    return {
        "type": "spark",
        "method": "thrift",
        "host": settings["host"],
        "port": int(settings["port"]),
        "user": "dbt",
        "schema": schema,
        "poll_interval": 1,
        "threads": threads,
    }


def spark_connect() -> Any:
    from pyhive import hive

    settings = spark_settings()
    assert settings is not None, SPARK_SKIP_REASON
    return hive.connect(host=settings["host"], port=int(settings["port"]), username="dbt")


def spark_query(sql: str) -> list[tuple]:
    conn = spark_connect()
    try:
        cur = conn.cursor()
        cur.execute(sql)
        try:
            return [tuple(r) for r in cur.fetchall()]
        except Exception:  # no result set
            return []
    finally:
        conn.close()
