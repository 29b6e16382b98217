"""The request loop (`hubspot.transport`) against a scripted HubSpot: retries, backoff, the retry budget, 429s."""

from __future__ import annotations

import logging
import time

import pytest

from dbt_hubspot_sync.hubspot import (
    DailyLimitError,
    HubSpotError,
    RetriesExhaustedError,
)

from .helpers import (
    READ,
    RESET,
    UPDATE,
    Reply,
    Req,
    batch_body,
    client_for,
    flaky,
    rate_limited,
    rows,
    updater,
)

# ---------------------------------------------------------------------------------------------------------
# Retries, timeouts, resets, 423
# ---------------------------------------------------------------------------------------------------------


def test_retries_503_and_connection_reset_then_succeeds(fake) -> None:
    srv = fake(flaky([Reply(503, {"status": "error", "message": "unavailable"}), RESET], updater()))
    with client_for(srv) as client:
        out = client.update(rows(3))
        assert out.updated == {"1", "2", "3"}
        assert client.stats.retries == 2 and client.stats.requests == 3


def test_plain_500_is_retried_then_succeeds(fake, caplog) -> None:
    srv = fake(flaky([Reply(500, {"status": "error", "message": "internal error"})], updater()))
    caplog.set_level(logging.INFO, logger="dbt_hubspot_sync")
    with client_for(srv) as client:
        out = client.update(rows(3))
        snap = client.stats.snapshot()
    assert out.updated == {"1", "2", "3"} and not out.failed and not out.not_found
    assert (snap.requests, snap.retries, snap.rate_limited) == (2, 1, 0)
    assert srv.count(UPDATE) == 2 and srv.requests[0].body == srv.requests[1].body  # the same call, resent
    retries = [r.getMessage() for r in caplog.records if "retry 1/5" in r.getMessage()]
    assert len(retries) == 1 and "HTTP 500: internal error" in retries[0]


def test_timeout_is_retried(fake) -> None:
    srv = fake(flaky([Reply(200, batch_body([], []), delay=1.0)], updater()))
    with client_for(srv, timeout=0.2) as client:
        out = client.update(rows(2))
        assert out.updated == {"1", "2"} and client.stats.retries == 1


def test_423_waits_at_least_the_locked_delay(fake) -> None:
    srv = fake(flaky([Reply(423, {"status": "error", "message": "locked"})], updater()))
    with client_for(srv, locked_delay=0.3) as client:
        start = time.monotonic()
        out = client.update(rows(1))
        assert time.monotonic() - start >= 0.3
    assert out.updated == {"1"}


def test_exhausted_retries_fail_that_chunk_and_the_run_goes_on(fake) -> None:
    def handle(req: Req) -> Reply:
        if any(i["id"] == "150" for i in req.body["inputs"]):
            return Reply(502, {"status": "error", "message": "bad gateway"})
        return updater()(req)

    srv = fake(handle)
    with client_for(srv, max_retries=2) as client:
        out = client.update(rows(200))
    assert out.updated == {str(i) for i in range(1, 101)}
    assert set(out.failed) == {str(i) for i in range(101, 201)}
    assert {(f.code, f.http_status) for f in out.failed.values()} == {("HTTP_5XX", 502)}
    assert srv.count(UPDATE) == 1 + 3


def test_retry_budget_caps_retries_per_run(fake) -> None:
    """Every request failing: 1 + 2 retries each until the run's budget (3 + 10% of requests) is spent, then
    each request gives up on its first failure, naming the budget; every record is failed, none lost."""
    srv = fake(lambda req: Reply(503, {"status": "error", "message": "unavailable"}))
    with client_for(srv, max_retries=2, retry_budget=3, retry_budget_ratio=0.1, concurrency=1) as client:
        out = client.update(rows(1000))
        s = client.stats.snapshot()
    assert len(out.failed) == 1000 and not out.updated
    assert s.retries <= 3 + 0.1 * s.requests
    assert s.requests < 10 * 3  # without the budget: 10 chunks x 3 attempts
    assert any("retry budget is spent" in f.detail for f in out.failed.values())


def test_backoff_is_exponential_with_jitter_and_capped(fake) -> None:
    srv = fake(updater())
    with client_for(srv, backoff_base=1.0, backoff_max=8.0) as client:
        for attempt in range(6):
            delays = {client._backoff(attempt) for _ in range(50)}
            cap = min(8.0, 2.0**attempt)
            assert all(cap / 2 <= d <= cap for d in delays)
            assert len(delays) > 40  # jittered: not one fixed value


def test_exhausted_retries_on_read_raise(fake) -> None:
    srv = fake(lambda req: RESET)
    with client_for(srv, max_retries=1) as client:
        with pytest.raises(HubSpotError) as info:
            client.read_ids_by_email(["a@example.com"])
    assert isinstance(info.value, RetriesExhaustedError)
    assert info.value.code == "CONNECTION_ERROR" and info.value.call == f"POST {READ}"


# ---------------------------------------------------------------------------------------------------------
# 429s
# ---------------------------------------------------------------------------------------------------------


def test_429_ten_secondly_waits_out_the_interval_then_succeeds(fake) -> None:
    headers = {"X-HubSpot-RateLimit-Interval-Milliseconds": "300", "X-HubSpot-RateLimit-Max": "100",
               "X-HubSpot-RateLimit-Remaining": "0"}  # fmt: skip
    srv = fake(flaky([rate_limited("TEN_SECONDLY_ROLLING", headers)], updater()))
    with client_for(srv, max_retries=0) as client:  # a 429 does not use the retry budget
        start = time.monotonic()
        out = client.update(rows(2))
        assert time.monotonic() - start >= 0.3
        assert out.updated == {"1", "2"}
        assert (client.stats.rate_limited, client.stats.retries, client.stats.requests) == (1, 0, 2)


def test_429_honours_retry_after(fake) -> None:
    srv = fake(flaky([rate_limited("TEN_SECONDLY_ROLLING", {"Retry-After": "1"})], updater()))
    with client_for(srv) as client:
        start = time.monotonic()
        client.update(rows(1))
        assert time.monotonic() - start >= 1.0


def test_429_daily_raises_daily_limit_error_keeping_what_was_done(fake) -> None:
    calls = {"n": 0}

    def handle(req: Req) -> Reply:
        calls["n"] += 1
        return updater()(req) if calls["n"] == 1 else rate_limited("DAILY")

    srv = fake(handle)
    with client_for(srv, concurrency=1) as client:
        with pytest.raises(DailyLimitError) as info:
            client.update(rows(300))
    assert info.value.status == 429 and info.value.code == "DAILY"
    assert info.value.outcome_so_far is not None
    assert info.value.outcome_so_far.updated == {str(i) for i in range(1, 101)}
    assert srv.count(UPDATE) == 2  # stopped at once: no retries of a DAILY 429
