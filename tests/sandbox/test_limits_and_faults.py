"""Rate limits (rolling window, daily), latency and seeded fault injection."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from dbt_hubspot_sync.sandbox.faults import FaultInjector, parse_spec

from .helpers import READ, session_for

BODY = {
    "idProperty": "email",
    "properties": [],
    "propertiesWithHistory": [],
    "inputs": [{"id": "ada@example.com"}],
}


def test_rolling_window_429_counts_every_request_and_recovers(
    sandbox_factory: Any, spec_checker: Any
) -> None:
    sb = sandbox_factory(rate_max=4, rate_window_ms=400)
    s = session_for(sb, checker=spec_checker)
    remaining = []
    # Errors count too: a 400 and a 404 use up the window like successes.
    for r in (
        s.post(sb.url + READ, json=BODY),
        s.post(sb.url + READ, data=b"{"),
        s.get(sb.url + "/crm/v3/objects/contacts/999"),
        s.post(sb.url + READ, json=BODY),
    ):
        remaining.append(int(r.headers["X-HubSpot-RateLimit-Remaining"]))
    assert remaining == [3, 2, 1, 0]
    r = s.post(sb.url + READ, json=BODY)
    assert r.status_code == 429
    assert r.json() == {
        **r.json(),
        "status": "error",
        "errorType": "RATE_LIMIT",
        "policyName": "TEN_SECONDLY_ROLLING",
    }
    assert r.json()["message"] == "You have reached your ten_secondly_rolling limit."
    assert r.headers["X-HubSpot-RateLimit-Remaining"] == "0"
    assert r.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "400"
    # Unauthenticated requests are not attributed to the token's window.
    assert session_for(sb, token="other").post(sb.url + READ, json=BODY).status_code == 401
    time.sleep(0.45)
    assert s.post(sb.url + READ, json=BODY).status_code == 200
    stats = sb.stats()
    assert stats["rate_limited"] == 1
    assert stats["requests"]["POST " + READ]["429"] == 1


def test_window_is_per_token(sandbox_factory: Any) -> None:
    sb = sandbox_factory(rate_max=1, rate_window_ms=60_000)
    sb.add_token("second")
    assert session_for(sb).post(sb.url + READ, json=BODY).status_code == 200
    assert session_for(sb).post(sb.url + READ, json=BODY).status_code == 429
    assert session_for(sb, token="second").post(sb.url + READ, json=BODY).status_code == 200


def test_daily_limit(sandbox_factory: Any, spec_checker: Any) -> None:
    sb = sandbox_factory(daily_max=2)
    s = session_for(sb, checker=spec_checker)
    first = s.post(sb.url + READ, json=BODY)
    assert first.headers["X-HubSpot-RateLimit-Daily"] == "2"
    assert first.headers["X-HubSpot-RateLimit-Daily-Remaining"] == "1"
    assert s.post(sb.url + READ, json=BODY).status_code == 200
    r = s.post(sb.url + READ, json=BODY)
    assert r.status_code == 429
    assert r.json()["policyName"] == "DAILY"
    assert r.json()["message"] == "You have reached your daily limit."
    assert r.headers["X-HubSpot-RateLimit-Daily-Remaining"] == "0"


def test_latency(sandbox_factory: Any) -> None:
    # A latency well above what a loaded 2-core machine adds to a loopback request (0.17 s seen under the suite).
    sb = sandbox_factory(latency_ms=600)
    s = session_for(sb)
    t0 = time.monotonic()
    assert s.post(sb.url + READ, json=BODY).status_code == 200
    assert time.monotonic() - t0 >= 0.6
    t0 = time.monotonic()
    requests.get(sb.url + "/__sandbox__/stats")
    assert time.monotonic() - t0 < 0.6  # admin endpoints are not delayed


def _statuses(sb: Any, n: int) -> list[int | str]:
    out: list[int | str] = []
    s = session_for(sb)
    for _ in range(n):
        try:
            out.append(s.post(sb.url + READ, json=BODY).status_code)
        except requests.ConnectionError:
            out.append("reset")
            s = session_for(sb)
    return out


def test_faults_are_seeded_and_reproducible(sandbox_factory: Any, spec_checker: Any) -> None:
    spec = "503:0.2,500:0.1,423:0.1,reset:0.1"
    a = _statuses(sandbox_factory(faults=spec, seed=7, rate_max=1000), 40)
    b = _statuses(sandbox_factory(faults=spec, seed=7, rate_max=1000), 40)
    assert a == b
    assert {503, 500, 423, "reset", 200} <= set(a)
    c = _statuses(sandbox_factory(faults=spec, seed=8, rate_max=1000), 40)
    assert c != a


def test_fault_bodies_are_hubspot_errors_and_admin_is_spared(sandbox_factory: Any, spec_checker: Any) -> None:
    sb = sandbox_factory(faults="502:1.0", rate_max=1000)
    r = session_for(sb, checker=spec_checker).post(sb.url + READ, json=BODY)
    assert r.status_code == 502 and r.json()["status"] == "error"
    assert "X-HubSpot-RateLimit-Remaining" in r.headers
    for _ in range(5):
        assert requests.get(sb.url + "/__sandbox__/stats").status_code == 200
    assert sb.stats()["faults"] == {"502": 1}


def test_reset_fault_raises_connection_error(sandbox_factory: Any) -> None:
    sb = sandbox_factory(faults="reset:1.0")
    with pytest.raises(requests.ConnectionError):
        session_for(sb).post(sb.url + READ, json=BODY)
    assert sb.stats()["requests"]["POST " + READ] == {"reset": 1}


def test_slow_fault(sandbox_factory: Any) -> None:
    sb = sandbox_factory(faults="slow:1.0", slow_ms=300)
    t0 = time.monotonic()
    assert session_for(sb).post(sb.url + READ, json=BODY).status_code == 200
    assert time.monotonic() - t0 >= 0.3
    with pytest.raises(requests.Timeout):
        session_for(sb).post(sb.url + READ, json=BODY, timeout=0.1)


def test_fault_spec_parsing() -> None:
    assert parse_spec("503:0.05, reset:0.02,slow:0.01") == [("503", 0.05), ("reset", 0.02), ("slow", 0.01)]
    assert parse_spec("") == []
    for bad in ("418:0.1", "503", "503:x", "503:1.5", "503:0.6,500:0.6"):
        with pytest.raises(ValueError):
            parse_spec(bad)
    inj = FaultInjector("503:0.5", seed=1)
    draws = [inj.draw() for _ in range(1000)]
    assert 400 < draws.count("503") < 600 and set(draws) == {"503", None}
