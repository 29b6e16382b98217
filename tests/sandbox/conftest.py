"""Fixtures for the sandbox tests: a running sandbox, an HTTP session whose every response is checked against
HubSpot's official OpenAPI specs, and the official `hubspot-api-client` pointed at the sandbox (the helpers
behind them are helpers.py's)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from dbt_hubspot_sync.sandbox import Sandbox, SandboxConfig

from .helpers import CONTACTS, SPEC_DIR, SpecChecker, hubspot_client, session_for


@pytest.fixture(scope="session")
def spec_checker() -> SpecChecker:
    if not SPEC_DIR.is_dir():
        pytest.skip(
            f"HubSpot OpenAPI specs not found at {SPEC_DIR} (the shared folder beside the repository)"
        )
    return SpecChecker()


@pytest.fixture
def sandbox_factory() -> Iterator[Any]:
    started: list[Sandbox] = []

    def make(**overrides: Any) -> Sandbox:
        cfg = SandboxConfig(**{"contacts": [dict(c) for c in CONTACTS], **overrides})
        sb = Sandbox(cfg).start()
        started.append(sb)
        return sb

    yield make
    for sb in started:
        stats = sb.stats()
        sb.stop()
        assert stats["internal_errors"] == 0, "the sandbox answered 500 for an unexpected exception"


@pytest.fixture
def sandbox(sandbox_factory: Any) -> Sandbox:
    return sandbox_factory()


@pytest.fixture
def api(sandbox: Sandbox, spec_checker: SpecChecker) -> requests.Session:
    """A session on the default sandbox whose every response is validated against the official specs."""
    return session_for(sandbox, checker=spec_checker)


@pytest.fixture
def hs(sandbox: Sandbox) -> Any:
    return hubspot_client(sandbox)
