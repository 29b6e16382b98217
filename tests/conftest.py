"""Fixtures the unit tests share (the plain helpers behind them are tests/helpers.py's).

`make_harness(contacts)` gives an engine `Harness` over a fresh in-memory DuckDB log and a `FakeHubSpot` that
knows `contacts` (email → record id); `h` is the engine tests' default one. Imports are deferred to the
fixtures, so collecting tests that use neither imports nothing of the engine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.helpers import Harness


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
