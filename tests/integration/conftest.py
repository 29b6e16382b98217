"""The example project, copied to a temp dir, built with real dbt on DuckDB or PostgreSQL, and a sandbox.

Each test module gets its own copy (dbt writes target/ and the DuckDB file next to the project).
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from dbt_hubspot_sync.sandbox import Sandbox, SandboxConfig
from tests.warehouses import PG_SKIP_REASON, pg_connect, pg_settings

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = REPO_ROOT / "example_project"


@dataclass
class Example:
    """A built copy of example_project on one adapter."""

    adapter: str
    project_dir: Path
    target: str
    schema: str
    env: dict[str, str]

    def dbt(self, *args: str) -> Any:
        from dbt.cli.main import dbtRunner

        result = dbtRunner().invoke([*args, *self.cli_args()])
        return result

    def dbt_ok(self, *args: str) -> Any:
        result = self.dbt(*args)
        if not result.success:
            pytest.fail(f"dbt {' '.join(args)} failed on {self.adapter}: {result.exception or result.result}")
        return result

    def connect(self) -> Any:
        if self.adapter == "duckdb":
            import duckdb

            return duckdb.connect(self.env["DBT_DUCKDB_PATH"])
        return pg_connect(autocommit=True)

    def query(self, sql: str) -> list[tuple]:
        conn = self.connect()
        try:
            cur = conn.cursor()
            cur.execute(sql.replace("{schema}", self.schema))
            return cur.fetchall()
        finally:
            conn.close()

    def cli_args(self) -> list[str]:
        return [
            "--project-dir",
            str(self.project_dir),
            "--profiles-dir",
            str(self.project_dir),
            "--target",
            self.target,
        ]


def make_example(adapter: str, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> Example:
    if adapter == "postgres" and pg_settings() is None:
        pytest.skip(PG_SKIP_REASON)
    project = tmp / "example_project"
    shutil.copytree(
        EXAMPLE, project, ignore=shutil.ignore_patterns("target", "dbt_packages", "logs", "*.duckdb*")
    )
    (project / "packages.yml").write_text(f"packages:\n  - local: {REPO_ROOT}\n", encoding="utf-8")
    env: dict[str, str] = {}
    if adapter == "duckdb":
        env["DBT_DUCKDB_PATH"] = str(tmp / "warehouse.duckdb")
        target, schema = "dev", "main"
    else:
        schema = f"c360_{uuid.uuid4().hex[:8]}"
        env["DBT_HUBSPOT_SYNC_PG_SCHEMA"] = schema
        target = "pg"
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    ex = Example(adapter, project, target, schema, env)
    ex.dbt_ok("deps")
    ex.dbt_ok("seed")
    return ex


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    cfg = SandboxConfig(
        port=0, contacts_csv=str(EXAMPLE / "sandbox" / "contacts.csv"), rate_max=100, rate_window_ms=10_000
    )
    with Sandbox(cfg) as sb:
        yield sb


@pytest.fixture
def hubspot_env(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", "sandbox-token")
    monkeypatch.setenv("HUBSPOT_BASE_URL", sandbox.url)
    return sandbox


def create_list(sandbox: Sandbox, kind: str) -> str:
    """A contact list of `kind` (MANUAL, SNAPSHOT or DYNAMIC), made with HubSpot's own call; its id."""
    import requests

    r = requests.post(
        f"{sandbox.url}/crm/v3/lists",
        headers={"Authorization": "Bearer sandbox-token"},
        json={
            "name": f"audience-{kind}-{uuid.uuid4().hex[:8]}",
            "objectTypeId": "0-1",
            "processingType": kind,
        },
        timeout=5,
    )
    r.raise_for_status()
    return str(r.json()["list"]["listId"])


@pytest.fixture(scope="session")
def _built_cache() -> Iterator[tuple[pytest.MonkeyPatch, dict[str, Any]]]:
    # Session-wide env (DBT_DUCKDB_PATH / the PG schema) for the copies built here, undone at the end.
    mp = pytest.MonkeyPatch()
    yield mp, {}
    mp.undo()


@pytest.fixture
def built(_built_cache, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Any]:
    """`built(adapter)`: the example project built once per session on `adapter` (skips postgres without PG
    env), with an empty run log and sync state, plus the HubSpot state a clean sync reaches (test_faults.Built).
    Shared by the fault, crash, warehouse, bad-input and secrets tests: a build costs more than their checks."""
    from .test_faults import _build, execute

    mp, cache = _built_cache

    def get(adapter: str) -> Any:
        if adapter not in cache:
            cache[adapter] = _build(adapter, tmp_path_factory.mktemp(f"built_{adapter}"), mp)
        b = cache[adapter]
        # Each test starts from an empty log and no sync state (the state would skip rows a previous test's
        # sandbox already holds).
        for table in ("hubspot_sync_runs", "hubspot_sync_record_log", "hubspot_sync_state"):
            execute(b.example, f"delete from {{schema}}.{table}")
        return b

    return get


def exposure_yaml(name: str, model: str, **hubspot_sync: Any) -> str:
    """A models/*.yml declaring one sync exposure of `model` (YAML quoting done by the YAML library)."""
    exposure = {
        "name": name,
        "type": "application",
        "owner": {"name": "Growth", "email": "growth@example.com"},
        "depends_on": [f"ref('{model}')"],
        "config": {"meta": {"hubspot_sync": hubspot_sync}},
    }
    return yaml.safe_dump({"version": 2, "exposures": [exposure]}, sort_keys=False, allow_unicode=True)
