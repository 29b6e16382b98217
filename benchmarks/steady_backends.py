"""The warehouses `steady_state.py --scale` runs on: DuckDB (a file in the run's temp dir), PostgreSQL
(DBT_HUBSPOT_SYNC_PG_HOST/PORT/USER/PASSWORD/DBNAME: `eval "$(scripts/postgres.sh start /tmp/pg)"`) and Spark
through its Thrift server (DBT_HUBSPOT_SYNC_SPARK_HOST/PORT: `eval "$(scripts/spark.sh start /tmp/spark)"`).

Each one loads `raw.customers` (sync_throughput.make_dataset's rows), writes the same throwaway dbt project as
sync_throughput.py with its own profile, and answers the few queries the benchmark reads back (a run's running
time, the record log's size). PostgreSQL and Spark work in a schema of their own, dropped at the end.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import sync_throughput as setup

KEYS = ("customer_id", "email", *setup.PROPERTIES)


class Backend:
    """DuckDB: the benchmark's original warehouse (sync_throughput.prepare)."""

    name = "duckdb"
    schema = "main"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.db = workdir / "warehouse.duckdb"

    def prepare(self, n: int) -> tuple[Path, Any]:
        return setup.prepare(self.workdir, n, isolated=True)

    def reload(self, project: Path, rows: list[tuple[Any, ...]]) -> None:
        """raw.customers replaced by `rows`, then the model rebuilt."""
        setup.load_warehouse(self.db, rows)
        setup.build_project(project)  # in-process: this process holds the DuckDB file since its first sync

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        import duckdb

        conn = duckdb.connect(str(self.db))
        try:
            return conn.execute(sql).fetchall()
        finally:
            conn.close()

    def seconds(self, run_id: str) -> float:
        return setup.run_phase_seconds(self.db, run_id)

    def record_log_rows(self) -> int:
        return int(self.query(f"select count(*) from {self.schema}.hubspot_sync_record_log")[0][0])

    def close(self) -> None:
        pass


class _Remote(Backend):
    """A warehouse outside the process: the project gets a profile of `self.profile()` and a schema of its own."""

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.schema = f"steady_{uuid.uuid4().hex[:8]}"

    def profile(self) -> dict[str, Any]:
        raise NotImplementedError

    def load(self, rows: list[tuple[Any, ...]]) -> None:
        raise NotImplementedError

    def prepare(self, n: int) -> tuple[Path, Any]:
        data = setup.make_dataset(n)
        project = self.workdir / "project"
        project.mkdir(parents=True, exist_ok=True)
        self.load(data.rows)
        setup.write_project(project, self.db)
        profile = {"sync_bench": {"target": "dev", "outputs": {"dev": self.profile()}}}
        (project / "profiles.yml").write_text(json.dumps(profile), encoding="utf-8")
        sources = (
            "version: 2\nsources:\n  - name: raw\n"
            f"    schema: {self.schema}_raw\n    tables:\n      - name: customers\n"
        )
        (project / "models" / "sources.yml").write_text(sources, encoding="utf-8")
        setup.build_project(project, isolated=True)
        return project, data

    def reload(self, project: Path, rows: list[tuple[Any, ...]]) -> None:
        self.load(rows)
        setup.build_project(project, isolated=True)

    def record_log_rows(self) -> int:
        return int(self.query(f"select count(*) from {self.schema}.hubspot_sync_record_log")[0][0])


class Postgres(_Remote):
    name = "postgres"

    def settings(self) -> dict[str, str]:
        env = {k: os.environ.get(f"DBT_HUBSPOT_SYNC_PG_{k.upper()}") for k in ("host", "port", "user", "dbname")}
        if not all(env.values()):
            raise SystemExit("PostgreSQL: set DBT_HUBSPOT_SYNC_PG_* (eval \"$(scripts/postgres.sh start /tmp/pg)\")")
        return {**env, "password": os.environ.get("DBT_HUBSPOT_SYNC_PG_PASSWORD", "")}  # type: ignore[dict-item]

    def profile(self) -> dict[str, Any]:
        s = self.settings()
        return {"type": "postgres", "host": s["host"], "port": int(s["port"]), "user": s["user"],
                "password": s["password"], "dbname": s["dbname"], "schema": self.schema, "threads": 1}

    def _connect(self) -> Any:
        import psycopg2

        s = self.settings()
        return psycopg2.connect(host=s["host"], port=int(s["port"]), user=s["user"], password=s["password"],
                                dbname=s["dbname"])

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        conn = self._connect()
        try:
            with conn, conn.cursor() as cur:
                cur.execute(sql)
                return cur.fetchall() if cur.description else []
        finally:
            conn.close()

    def load(self, rows: list[tuple[Any, ...]]) -> None:
        import io

        # NULL as an unquoted empty field, '' as a quoted one (COPY's CSV rules).
        text = "".join(
            ",".join("" if v is None else ('"' + str(v).replace('"', '""') + '"') for v in r) + "\n" for r in rows
        )
        raw = f"{self.schema}_raw"
        conn = self._connect()
        try:
            with conn, conn.cursor() as cur:
                cur.execute(f"create schema if not exists {raw}")
                cur.execute(f"drop table if exists {raw}.customers")
                cur.execute(
                    f"create table {raw}.customers (customer_id bigint, email text, firstname text,"
                    " lastname text, company text, lifetime_value double precision)"
                )
                cur.copy_expert(f"copy {raw}.customers ({', '.join(KEYS)}) from stdin with (format csv)",
                                io.StringIO(text))
        finally:
            conn.close()

    def seconds(self, run_id: str) -> float:
        [(s,)] = self.query(
            "select extract(epoch from finished_at - started_at) from"
            f" {self.schema}.hubspot_sync_runs where run_id = '{run_id}'"
        )
        return float(s)

    def close(self) -> None:
        for s in (self.schema, f"{self.schema}_raw"):
            self.query(f"drop schema if exists {s} cascade")


class Spark(_Remote):
    """Spark's Thrift server on this machine: raw.customers is a JSON table over a file in the run's temp dir
    (the server reads it; Spark's built-in tables take no UPDATE, so a change rewrites the file)."""

    name = "spark"

    def settings(self) -> tuple[str, int]:
        host, port = os.environ.get("DBT_HUBSPOT_SYNC_SPARK_HOST"), os.environ.get("DBT_HUBSPOT_SYNC_SPARK_PORT")
        if not host or not port:
            raise SystemExit('Spark: set DBT_HUBSPOT_SYNC_SPARK_HOST/PORT (scripts/spark.sh start)')
        return host, int(port)

    def profile(self) -> dict[str, Any]:
        host, port = self.settings()
        return {"type": "spark", "method": "thrift", "host": host, "port": port, "user": "dbt",
                "schema": self.schema, "poll_interval": 1, "threads": 1}

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        from pyhive import hive

        host, port = self.settings()
        conn = hive.connect(host=host, port=port, username="dbt")
        try:
            cur = conn.cursor()
            cur.execute(sql)
            try:
                return [tuple(r) for r in cur.fetchall()]
            except Exception:  # no result set
                return []
        finally:
            conn.close()

    def load(self, rows: list[tuple[Any, ...]]) -> None:
        folder = self.workdir / "raw_customers"
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.json"):
            old.unlink()
        with open(folder / f"{uuid.uuid4().hex}.json", "w", encoding="utf-8") as fh:
            for r in rows:
                fh.write(json.dumps(dict(zip(KEYS, r))) + "\n")
        raw = f"{self.schema}_raw"
        self.query(f"create schema if not exists {raw}")
        self.query(f"drop table if exists {raw}.customers")
        self.query(
            f"create table {raw}.customers (customer_id bigint, email string, firstname string,"
            f" lastname string, company string, lifetime_value double) using json options (path '{folder}')"
        )

    def seconds(self, run_id: str) -> float:
        [(s,)] = self.query(
            "select cast(max(finished_at) as double) - cast(min(started_at) as double) from"
            f" {self.schema}.hubspot_sync_runs where run_id = '{run_id}'"
        )
        return float(s)

    def close(self) -> None:
        for s in (self.schema, f"{self.schema}_raw"):
            self.query(f"drop schema if exists {s} cascade")


BACKENDS = {"duckdb": Backend, "postgres": Postgres, "spark": Spark}
