"""A throwaway dbt project that installs this repository as a package, on DuckDB or PostgreSQL (`dbt_project`),
or also on Spark through its Thrift server (`dbt_project_with_spark`, for the macro tests with a Spark case).

Used by the macro tests: they run the real macros through real dbt (`dbtRunner`), not a Jinja imitation.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.spark.warehouse import SPARK_SKIP_REASON, spark_connect, spark_profile, spark_settings
from tests.warehouses import pg_settings

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class DbtProject:
    """A dbt project in a tmp dir plus a DB-API connection to its target schema."""

    adapter: str
    project_dir: Path
    schema: str
    connect: Callable[[], Any]

    def execute(
        self, sql: str, params: Sequence[Any] = (), many: Sequence[Sequence[Any]] | None = None
    ) -> None:
        conn = self.connect()
        try:
            cur = conn.cursor()
            if many is not None and self.adapter == "spark":
                # One statement of many rows (PyHive's executemany is a statement per row: seconds each).
                head, _, marks = sql.rpartition(" values ")
                cur.execute(f"{head} values {', '.join([marks] * len(many))}", [v for row in many for v in row])
            elif many is not None:
                cur.executemany(sql, many)
            else:
                cur.execute(sql, params)
            if self.adapter != "spark":
                conn.commit()
        finally:
            conn.close()

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        conn = self.connect()
        try:
            cur = conn.cursor()
            cur.execute(sql)
            return cur.fetchall()
        finally:
            conn.close()

    @property
    def placeholder(self) -> str:
        return "?" if self.adapter == "duckdb" else "%s"  # (PyHive, on Spark: %s too)

    def write_model(self, name: str, sql: str) -> None:
        (self.project_dir / "models" / f"{name}.sql").write_text(sql, encoding="utf-8")

    def write_exposures(self, file: str, model: str, syncs: dict[str, dict[str, Any]]) -> None:
        """models/<file>.yml declaring one exposure of `model` per sync: name -> its config.meta.hubspot_sync."""
        import yaml

        exposures = [
            {
                "name": name,
                "type": "application",
                "owner": {"name": "Growth", "email": "growth@example.com"},
                "depends_on": [f"ref('{model}')"],
                "config": {"meta": {"hubspot_sync": meta}},
            }
            for name, meta in syncs.items()
        ]
        (self.project_dir / "models" / f"{file}.yml").write_text(
            yaml.safe_dump({"version": 2, "exposures": exposures}, sort_keys=False), encoding="utf-8"
        )

    def dbt(self, *args: str) -> Any:
        """Run one dbt command in-process and return dbt's result (`dbtRunnerResult`); fail the test with dbt's
        own error when it does not succeed."""
        from dbt.cli.main import dbtRunner

        argv = [*args, "--project-dir", str(self.project_dir), "--profiles-dir", str(self.project_dir)]
        result = dbtRunner().invoke(argv)
        if not result.success:
            details = result.exception or [
                f"{r.node.name}: {r.message}" for r in (result.result or []) if r.status != "success"
            ]
            pytest.fail(f"dbt {' '.join(args)} failed on {self.adapter}: {details}")
        return result


def _profile(adapter: str, tmp: Path, schema: str) -> dict[str, Any]:
    if adapter == "spark":
        return spark_profile(schema, threads=1)
    if adapter == "duckdb":
        return {"type": "duckdb", "path": str(tmp / "warehouse.duckdb"), "schema": schema, "threads": 1}
    pg = pg_settings()
    assert pg is not None
    return {
        "type": "postgres",
        "host": pg["host"],
        "port": int(pg["port"]),
        "user": pg["user"],
        "password": pg["password"],
        "dbname": pg["dbname"],
        "schema": schema,
        "threads": 1,
    }


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def dbt_project(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DbtProject]:
    """A fresh project with `deps` already run; one per test module and adapter (dbt runs cost seconds)."""
    yield from _project(request.param, tmp_path_factory)


@pytest.fixture(
    scope="module", params=["duckdb", "postgres", pytest.param("spark", marks=[pytest.mark.spark])]
)
def dbt_project_with_spark(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DbtProject]:
    """`dbt_project`, and on Spark too (skipped without a Spark Thrift server)."""
    yield from _project(request.param, tmp_path_factory)


def _project(adapter: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DbtProject]:
    if adapter == "spark" and spark_settings() is None:
        pytest.skip(SPARK_SKIP_REASON)
    if adapter == "postgres" and pg_settings() is None:
        pytest.skip(
            "PostgreSQL macro tests need DBT_HUBSPOT_SYNC_PG_HOST/PORT/USER/PASSWORD/DBNAME "
            "(a server with a UTF-8 database)"
        )
    tmp = tmp_path_factory.mktemp(f"dbt_{adapter}")
    schema = "main" if adapter == "duckdb" else f"hs_macro_test_{uuid.uuid4().hex[:10]}"
    (tmp / "models").mkdir()
    # JSON is valid YAML: no YAML quoting surprises with paths.
    (tmp / "dbt_project.yml").write_text(
        json.dumps(
            {
                "name": "macro_test",
                "version": "1.0.0",
                "config-version": 2,
                "profile": "macro_test",
                "model-paths": ["models"],
                "flags": {"send_anonymous_usage_stats": False},
                "models": {"macro_test": {"+materialized": "table"}},
            }
        ),
        encoding="utf-8",
    )
    (tmp / "packages.yml").write_text(json.dumps({"packages": [{"local": str(REPO_ROOT)}]}), encoding="utf-8")
    profile = {"macro_test": {"target": "test", "outputs": {"test": _profile(adapter, tmp, schema)}}}
    (tmp / "profiles.yml").write_text(json.dumps(profile), encoding="utf-8")

    if adapter == "duckdb":
        import duckdb

        def connect() -> Any:
            return duckdb.connect(str(tmp / "warehouse.duckdb"))
    elif adapter == "spark":
        connect = spark_connect
    else:
        import psycopg2

        pg = pg_settings()
        assert pg is not None

        def connect() -> Any:
            return psycopg2.connect(
                host=pg["host"],
                port=int(pg["port"]),
                user=pg["user"],
                password=pg["password"],
                dbname=pg["dbname"],
            )

    project = DbtProject(adapter=adapter, project_dir=tmp, schema=schema, connect=connect)
    if adapter == "postgres":
        project.execute(f'create schema "{schema}"')
    if adapter == "spark":
        project.execute(f"create schema if not exists {schema}")
    project.dbt("deps")
    try:
        yield project
    finally:
        if adapter == "postgres":
            project.execute(f'drop schema if exists "{schema}" cascade')
        if adapter == "spark":
            project.execute(f"drop schema if exists {schema} cascade")


@pytest.fixture(scope="module")
def duckdb_project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DbtProject]:
    """`dbt_project` on DuckDB only: for macros whose result does not depend on the adapter (pure Jinja)."""
    yield from _project("duckdb", tmp_path_factory)
