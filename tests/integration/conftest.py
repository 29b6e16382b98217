"""Fixtures of the integration tests: the example project built with real dbt on DuckDB or PostgreSQL, and a
sandbox. Plain helpers (and the `Example`/`Built` classes) are in helpers.py; the names below are re-exported
for modules that import them from here.

Each test module gets its own copy of the project (dbt writes target/ and the DuckDB file next to it), except
the `built` one: built once per adapter per session, its log tables and sync state emptied before each test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from dbt_hubspot_sync.sandbox import Sandbox, SandboxConfig

from .helpers import (
    CONTACTS_CSV,
    EXAMPLE,
    REPO_ROOT,
    Built,
    Example,
    build_example,
    create_list,
    execute,
    exposure_yaml,
    make_example,
)

__all__ = ["EXAMPLE", "REPO_ROOT", "Built", "Example", "create_list", "exposure_yaml", "make_example"]

LOG_TABLES = ("hubspot_sync_runs", "hubspot_sync_record_log", "hubspot_sync_state", "hubspot_sync_rejections")


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    cfg = SandboxConfig(port=0, contacts_csv=CONTACTS_CSV, rate_max=100, rate_window_ms=10_000)
    with Sandbox(cfg) as sb:
        yield sb


@pytest.fixture
def hubspot_env(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", "sandbox-token")
    monkeypatch.setenv("HUBSPOT_BASE_URL", sandbox.url)
    return sandbox


@pytest.fixture(scope="session")
def built_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], Built]]:
    """`built_session(adapter)`: the example project built once per session on `adapter` (skips postgres without
    PG env), as it is: for module-scoped fixtures that add a model of their own (and remove it after)."""
    # Session-wide env (DBT_DUCKDB_PATH / the PG schema) for the copies built here, undone at the end.
    mp = pytest.MonkeyPatch()
    cache: dict[str, Built] = {}

    def get(adapter: str) -> Built:
        if adapter not in cache:
            cache[adapter] = build_example(adapter, tmp_path_factory.mktemp(f"built_{adapter}"), mp)
        return cache[adapter]

    yield get
    mp.undo()


@pytest.fixture
def built(built_session: Callable[[str], Built]) -> Callable[[str], Built]:
    """`built(adapter)`: the example project built once per session on `adapter`, with an empty run log and
    sync state, plus the HubSpot state a clean sync reaches (helpers.Built). Shared by the fault, crash,
    warehouse, bad-input and secrets tests: a build costs more than their checks. A test that adds files to the
    project removes them before it ends; one that changes the warehouse puts it back."""

    def get(adapter: str) -> Built:
        b = built_session(adapter)
        # Each test starts from an empty log and no sync state (the state would skip rows a previous test's
        # sandbox already holds).
        for table in LOG_TABLES:
            execute(b.example, f"delete from {{schema}}.{table}")
        return b

    return get
