"""Fixtures of the HubSpot client tests."""

from __future__ import annotations

import pytest

from .helpers import FakeHubSpot, Handler


@pytest.fixture
def fake():
    servers: list[FakeHubSpot] = []

    def start(handler: Handler) -> FakeHubSpot:
        srv = FakeHubSpot(handler)
        servers.append(srv)
        return srv

    yield start
    for srv in servers:
        srv.close()
