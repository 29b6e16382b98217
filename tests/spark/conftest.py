"""The Spark test group (marker `spark`): the example project built once on Spark through its Thrift server, each
test with log tables of its own (a fresh `vars.hubspot_sync.log_schema`: Spark's tables are append-only, so a
test starts clean by starting elsewhere). Skipped with a message when no server is configured."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from dbt_hubspot_sync.sandbox import Sandbox, SandboxConfig

from .helpers import CONTACTS_CSV, EXAMPLE, REPO_ROOT, SparkExample
from .warehouse import SPARK_SKIP_REASON, spark_query, spark_settings


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.spark)
            item.add_marker(pytest.mark.dbt)


@pytest.fixture(scope="session")
def spark_example(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkExample]:
    """example_project on Spark: deps, seed and run in one dbt build (no token: the post-hook only records a
    pending row)."""
    if spark_settings() is None:
        pytest.skip(SPARK_SKIP_REASON)
    tmp = tmp_path_factory.mktemp("spark_example")
    project = tmp / "example_project"
    shutil.copytree(
        EXAMPLE, project, ignore=shutil.ignore_patterns("target", "dbt_packages", "logs", "*.duckdb*")
    )
    (project / "packages.yml").write_text(f"packages:\n  - local: {REPO_ROOT}\n", encoding="utf-8")
    schema = f"c360_{uuid.uuid4().hex[:8]}"
    mp = pytest.MonkeyPatch()
    mp.setenv("DBT_HUBSPOT_SYNC_SPARK_SCHEMA", schema)
    mp.delenv("HUBSPOT_ACCESS_TOKEN", raising=False)
    ex = SparkExample(project, schema)
    try:
        ex.dbt_ok("deps")
        ex.dbt_ok("build", "--resource-type", "seed", "--resource-type", "model")  # seed, then run
        yield ex
    finally:
        mp.undo()
        for s in [schema, *ex.log_schemas]:
            try:
                spark_query(f"drop schema if exists {s} cascade")
            except Exception:  # the server is gone already: nothing to clean
                pass


@pytest.fixture
def ex(spark_example: SparkExample, monkeypatch: pytest.MonkeyPatch) -> SparkExample:
    """The built example with log tables of this test's own (hubspot_sync.log_schema)."""
    monkeypatch.setenv("DBT_HUBSPOT_SYNC_SPARK_SCHEMA", spark_example.schema)
    return spark_example.with_log_schema(f"hs_log_{uuid.uuid4().hex[:8]}")


@pytest.fixture
def sandbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    with Sandbox(SandboxConfig(port=0, contacts_csv=CONTACTS_CSV)) as sb:
        monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", "sandbox-token")
        monkeypatch.setenv("HUBSPOT_BASE_URL", sb.url)
        yield sb
