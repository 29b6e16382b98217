"""Fixtures the unit tests share (the plain helpers behind them are tests/helpers.py's).

`make_harness(contacts)` gives an engine `Harness` over a fresh in-memory DuckDB log and a `FakeHubSpot` that
knows `contacts` (email → record id); `h` is the engine tests' default one. Imports are deferred to the
fixtures, so collecting tests that use neither imports nothing of the engine.

Also how pytest-xdist shares the tests between workers (scripts/test.sh runs the suite on two), and
DBT_HUBSPOT_SYNC_VERIFY_MARKS=1 for every run the suite makes, in process and in the dbt it starts: each steady
mark a run leaves is checked against the warehouse's own classification (engine/steady.py), so every test that
syncs twice also tests the forecast of the run before (engine/forecast.py).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.helpers import Harness


os.environ["DBT_HUBSPOT_SYNC_VERIFY_MARKS"] = "1"
SPARK = "tests/spark/"  # the Spark group: one example built on the Spark Thrift server for all its modules


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In a pytest-xdist worker (scripts/test.sh), the Spark group, the longest, comes first: work units are handed
    out in collection order (`--no-loadscope-reorder`), so no worker sits idle while the Spark group ends the run."""
    if hasattr(config, "workerinput"):
        items.sort(key=lambda item: not item.nodeid.startswith(SPARK))  # stable: the rest keeps its order


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist: without it installed, never called
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any | None:
    """Work units for pytest-xdist: a test module each (its module fixtures, e.g. a built dbt project, are built
    once), and the Spark group as one unit (its session fixture builds the example on Spark once, in one worker).
    Called only when pytest-xdist runs the tests; other `--dist` modes keep xdist's own scheduler."""
    if config.getoption("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ModuleScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return SPARK if nodeid.startswith(SPARK) else super()._split_scope(nodeid)

    return ModuleScheduling(config, log)


@pytest.fixture
def make_harness() -> Iterator[Callable[[dict[str, str]], Harness]]:
    import duckdb

    from tests.helpers import FakeHubSpot, Harness, create_log_tables

    conns: list[duckdb.DuckDBPyConnection] = []

    def make(contacts: dict[str, str]) -> Harness:
        conn = duckdb.connect(":memory:")
        conns.append(conn)
        create_log_tables(conn)
        return Harness(conn, FakeHubSpot(contacts))

    yield make
    for conn in conns:
        conn.close()


@pytest.fixture
def h(make_harness: Callable[[dict[str, str]], Harness]) -> Harness:
    """The engine tests' harness: HubSpot knows c0@example.com … c9@example.com as contacts 100 … 109."""
    return make_harness({f"c{i}@example.com": str(100 + i) for i in range(10)})
