"""RateLimiter pacing with an injected clock: no real sleeps except where threads must meet."""

from __future__ import annotations

import math
import threading
import time

import pytest

from dbt_hubspot_sync.hubspot.rate_limit import (
    DEFAULT_INTERVAL_MS,
    DEFAULT_MAX,
    RateLimiter,
    defaults_from_env,
)


class FakeClock:
    """A clock that only moves when a waiter 'sleeps' on it."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    def waiter(self, cond: threading.Condition, timeout: float) -> None:
        self.waits.append(timeout)
        self.now += timeout


def make(max_requests: int = 5, interval_ms: int = 1000, headroom: int = 1) -> tuple[RateLimiter, FakeClock]:
    clock = FakeClock()
    return RateLimiter(max_requests, interval_ms, headroom=headroom, clock=clock, waiter=clock.waiter), clock


def test_defaults_are_conservative() -> None:
    limiter = RateLimiter()
    assert (limiter.max_requests, limiter.interval_s) == (DEFAULT_MAX, DEFAULT_INTERVAL_MS / 1000)
    assert limiter.allowed == 99  # max - 1 headroom


def test_allows_max_minus_headroom_then_waits_for_the_oldest_to_expire() -> None:
    limiter, clock = make(max_requests=5, interval_ms=1000)
    slots = []
    for _ in range(4):
        sid, wait = limiter.try_acquire()
        assert sid is not None and wait == 0
        slots.append(sid)
    sid, wait = limiter.try_acquire()
    assert sid is None and wait == math.inf  # all in flight: wait for a release
    limiter.release(slots[0])  # response at t=1000: slot counted until t=1001
    clock.now += 0.25
    limiter.release(slots[1])
    sid, wait = limiter.try_acquire()
    assert sid is None and wait == pytest.approx(0.75)
    clock.now += 0.75
    sid, wait = limiter.try_acquire()
    assert sid is not None


def test_acquire_blocks_until_a_slot_expires() -> None:
    limiter, clock = make(max_requests=3, interval_ms=2000)
    start = clock.now
    for _ in range(2):
        limiter.release(limiter.acquire())
    limiter.acquire()  # 3rd: waits until the first slot (released at start) expires at start + 2 s
    assert clock.now - start == pytest.approx(2.0)


def test_sustained_rate_never_exceeds_allowed_per_window() -> None:
    """Send 50 requests with 30 ms latency; any window of `interval` holds at most `allowed` sends."""
    limiter, clock = make(max_requests=10, interval_ms=1000)
    sends = []
    for _ in range(50):
        sid = limiter.acquire()
        sends.append(clock.now)
        clock.now += 0.03  # latency
        limiter.release(sid)
    for i, t in enumerate(sends):
        in_window = [s for s in sends[i:] if s < t + 1.0]
        assert len(in_window) <= limiter.allowed
    # ... and it keeps the allowed rate busy: 50 sends at 9 per (1 s + latency).
    assert sends[-1] - sends[0] < 50 / 9 * 1.03 + 0.1


def test_headers_retune_max_and_interval() -> None:
    limiter, clock = make(max_requests=100, interval_ms=10_000)
    limiter.observe(
        {
            "X-HubSpot-RateLimit-Max": "190",
            "X-HubSpot-RateLimit-Interval-Milliseconds": "2000",
            "X-HubSpot-RateLimit-Remaining": "189",
        }
    )
    assert (limiter.max_requests, limiter.interval_s, limiter.allowed) == (190, 2.0, 189)
    # lower-case keys (a plain dict) and garbage are tolerated
    limiter.observe({"x-hubspot-ratelimit-max": "50", "X-HubSpot-RateLimit-Interval-Milliseconds": "soon"})
    assert (limiter.max_requests, limiter.interval_s) == (50, 2.0)


def test_remaining_reveals_other_consumers_of_the_token() -> None:
    limiter, clock = make(max_requests=10, interval_ms=1000)
    sid = limiter.acquire()
    # The server saw 8 requests in its window; we account for 1: 7 belong to someone else.
    limiter.observe({"X-HubSpot-RateLimit-Max": "10", "X-HubSpot-RateLimit-Remaining": "2"})
    limiter.release(sid)
    granted = 0
    while limiter.try_acquire()[0] is not None:
        granted += 1
    assert granted == 9 - 7 - 1  # allowed - external - our own recent one
    # The estimate lapses after one interval, so a wrong one cannot stall us.
    clock.now += 1.01
    assert limiter.try_acquire()[0] is not None


def test_block_for_pauses_everyone() -> None:
    limiter, clock = make()
    limiter.block_for(3.0)
    sid, wait = limiter.try_acquire()
    assert sid is None and wait == pytest.approx(3.0)
    start = clock.now
    limiter.acquire()
    assert clock.now - start == pytest.approx(3.0)


def test_release_wakes_a_blocked_thread() -> None:
    """Real threads: a waiter blocked on in-flight slots wakes as soon as one is released + expires."""
    limiter = RateLimiter(2, 50, headroom=1)  # one slot, 50 ms
    sid = limiter.acquire()
    got = threading.Event()

    def second() -> None:
        limiter.release(limiter.acquire())
        got.set()

    t = threading.Thread(target=second)
    t.start()
    time.sleep(0.05)
    assert not got.is_set()
    limiter.release(sid)
    assert got.wait(2.0)
    t.join()


def test_for_token_shares_one_limiter_per_token_without_storing_it() -> None:
    a = RateLimiter.for_token("tok-one-for-test")
    assert RateLimiter.for_token("tok-one-for-test") is a
    assert RateLimiter.for_token("tok-two-for-test") is not a
    assert all("tok-one" not in key for key in RateLimiter._registry)
    assert "tok-one" not in repr(a)


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError):
        RateLimiter(0, 1000)
    with pytest.raises(ValueError):
        RateLimiter(10, 0)


def test_defaults_from_env_when_headers_are_absent() -> None:
    assert defaults_from_env({}) == (100, 10_000)  # HubSpot's Free/Starter tier until headers retune it
    assert defaults_from_env(
        {"HUBSPOT_RATE_LIMIT_MAX": "190", "HUBSPOT_RATE_LIMIT_INTERVAL_MS": "10000"}
    ) == (
        190,
        10_000,
    )
    for bad in ("0", "-5", "ten"):
        with pytest.raises(ValueError, match="HUBSPOT_RATE_LIMIT_MAX must be a positive whole number"):
            defaults_from_env({"HUBSPOT_RATE_LIMIT_MAX": bad})


def test_for_token_starts_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("HUBSPOT_RATE_LIMIT_MAX", "250")
    limiter = RateLimiter.for_token("tok-env-default-for-test")
    assert (limiter.max_requests, limiter.interval_s) == (250, 10.0)
