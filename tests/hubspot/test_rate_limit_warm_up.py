"""A new process's limiter sends one request at a time until HubSpot's headers said how much of the window is
left, so back-to-back runs (or a token shared with another integration) never burst into a spent window."""

from __future__ import annotations

import math

from dbt_hubspot_sync.hubspot import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_one_request_at_a_time_until_the_headers_arrive() -> None:
    clock = Clock()
    limiter = RateLimiter(100, 10_000, warm_up=True, clock=clock)
    first, _ = limiter.try_acquire()
    assert first is not None
    second, wait = limiter.try_acquire()
    assert second is None and wait == math.inf  # the first is in flight: wait for its answer
    # The answer says another process spent 95 of the window: 99 allowed - 95 others - our 1 held slot.
    limiter.observe({"X-HubSpot-RateLimit-Max": "100", "X-HubSpot-RateLimit-Remaining": "4"})
    limiter.release(first)
    granted = []
    while (sid := limiter.try_acquire()[0]) is not None:
        granted.append(sid)
    assert len(granted) == 3  # not 98: the window is nearly spent


def test_without_headers_it_opens_up_after_a_few_blind_answers() -> None:
    clock = Clock()
    limiter = RateLimiter(10, 1000, warm_up=True, clock=clock)
    for _ in range(3):
        sid, _ = limiter.try_acquire()
        assert sid is not None and limiter.try_acquire()[0] is None
        limiter.release(sid)
    held = [limiter.try_acquire()[0] for _ in range(6)]
    assert all(h is not None for h in held)  # concurrent again: 3 released (still counted) + 6 = 9 allowed


def test_a_limiter_without_warm_up_is_concurrent_at_once() -> None:
    limiter = RateLimiter(10, 1000, clock=Clock())
    assert all(limiter.try_acquire()[0] is not None for _ in range(9))


def test_the_process_wide_limiter_warms_up() -> None:
    limiter = RateLimiter.for_token("warm-up-test-token")
    sid, _ = limiter.try_acquire()
    try:
        assert sid is not None and limiter.try_acquire() == (None, math.inf)
    finally:
        limiter.release(sid)


def test_requests_still_in_flight_are_not_subtracted_from_the_servers_count() -> None:
    """HubSpot counted its window when the answered request arrived: our requests sent after it were not in it.
    (Subtracting them made a second process's limiter believe the window was empty: 429s back to back.)"""
    limiter = RateLimiter(100, 10_000, clock=Clock())
    held = [limiter.try_acquire()[0] for _ in range(16)]  # 16 requests in flight
    assert all(h is not None for h in held)
    # The first one's answer: 22 requests of another process + this one in HubSpot's window.
    limiter.observe({"X-HubSpot-RateLimit-Max": "100", "X-HubSpot-RateLimit-Remaining": "77"}, slot=held[0])
    more = 0
    while limiter.try_acquire()[0] is not None:
        more += 1
    assert more == 99 - 22 - 16  # 61: the other process's 22 stay counted
