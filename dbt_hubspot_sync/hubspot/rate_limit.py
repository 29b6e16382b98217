"""Client-side pacing for HubSpot's rolling request window.

HubSpot counts every request of an app in a rolling window (100 or 190 per 10 s, see docs/hubspot_api.md §5) and
answers 429 to everything beyond it. One `RateLimiter` per token is shared by every client in the process
(`RateLimiter.for_token`), so concurrent syncs never add up to more than the allowed rate.

Pacing model: each request holds a *slot* from the moment it is sent until `interval` after its response
arrived. HubSpot counts a request when it arrives, which is somewhere between the two; holding the slot until
`response + interval` therefore never lets two of our requests share the server's window more often than the
limit allows, whatever the latency. At most `max - headroom` slots exist, and the `X-HubSpot-RateLimit-*`
headers of every response retune `max`, `interval` and what other consumers of the same token use.
"""

from __future__ import annotations

import hashlib
import math
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

from dbt_hubspot_sync.errors import SettingError

__all__ = [
    "RateLimiter",
    "DEFAULT_MAX",
    "DEFAULT_INTERVAL_MS",
    "SEARCH_MAX",
    "SEARCH_INTERVAL_MS",
    "defaults_from_env",
]

# Conservative start (Free/Starter tier) until the first response's headers tell the real figures. Behind a
# proxy that drops the X-HubSpot-RateLimit-* headers, set the account's tier in the environment instead.
DEFAULT_MAX = 100
DEFAULT_INTERVAL_MS = 10_000
# HubSpot's search endpoints: "rate limited to five requests per second per account" (docs/hubspot_api.md §10).
SEARCH_MAX = 5
SEARCH_INTERVAL_MS = 1000
MAX_ENV = "HUBSPOT_RATE_LIMIT_MAX"
INTERVAL_ENV = "HUBSPOT_RATE_LIMIT_INTERVAL_MS"

Clock = Callable[[], float]
# wait(condition, timeout_s): blocks on the condition (its lock held) for at most timeout_s.
Waiter = Callable[[threading.Condition, float], None]

_INFLIGHT = math.inf
# Responses without rate-limit headers after which a limiter stops waiting for them (one request at a time until).
BLIND_RESPONSES = 3


def _cond_wait(cond: threading.Condition, timeout: float) -> None:
    cond.wait(timeout)


class RateLimiter:
    """Blocks `acquire()` until a request may be sent without exceeding the rolling window.

    `clock` and `waiter` are injectable so the pacing logic can be tested without real sleeps. `warm_up` (the
    process-wide limiters of `for_token`): one request at a time until a response's headers told what is left.
    """

    _registry: dict[str, RateLimiter] = {}
    _registry_lock = threading.Lock()

    def __init__(
        self,
        max_requests: int = DEFAULT_MAX,
        interval_ms: int = DEFAULT_INTERVAL_MS,
        *,
        headroom: int = 1,
        warm_up: bool = False,
        clock: Clock = time.monotonic,
        waiter: Waiter = _cond_wait,
    ) -> None:
        if max_requests < 1 or interval_ms <= 0:
            raise ValueError("max_requests must be >= 1 and interval_ms > 0")
        self._max = max_requests
        self._interval = interval_ms / 1000.0
        self._headroom = max(0, headroom)
        self._clock = clock
        self._waiter = waiter
        self._cond = threading.Condition()
        self._slots: dict[int, float] = {}  # slot id -> expiry time (inf while the request is in flight)
        self._next_id = 0
        self._blocked_until = 0.0  # set after a 429: nobody sends before this time
        self._external = 0  # requests seen by the server from other consumers of this token
        self._external_until = 0.0
        # Until a response's headers told how much of the window is left (another process or integration may
        # have spent it), one request at a time: a new process never bursts into a window it cannot see.
        self._informed = not warm_up
        self.daily_remaining: int | None = None  # from X-HubSpot-RateLimit-Daily-Remaining, once seen
        self.daily_max: int | None = None
        self._blind_responses = 0

    # -- registry -------------------------------------------------------------------------------------------
    @classmethod
    def for_token(cls, token: str) -> RateLimiter:
        """The process-wide limiter of `token` (keyed by a hash: the token itself is never stored here)."""
        key = hashlib.sha256(token.encode("utf-8")).hexdigest()
        with cls._registry_lock:
            limiter = cls._registry.get(key)
            if limiter is None:
                limiter = cls._registry[key] = cls(*defaults_from_env(), warm_up=True)
            return limiter

    @classmethod
    def for_search(cls, token: str) -> RateLimiter:
        """The process-wide limiter of `token`'s searches: HubSpot allows 5 search requests per second per
        account, outside the ten-secondly window, and sends no rate-limit headers with them (docs/hubspot_api.md
        §10), so the figures are fixed (`SEARCH_MAX` per `SEARCH_INTERVAL_MS`, no headroom needed: a slot is held
        until a full second after its response)."""
        key = "search:" + hashlib.sha256(token.encode("utf-8")).hexdigest()
        with cls._registry_lock:
            limiter = cls._registry.get(key)
            if limiter is None:
                limiter = cls._registry[key] = cls(SEARCH_MAX, SEARCH_INTERVAL_MS, headroom=0)
            return limiter

    # -- introspection ---------------------------------------------------------------------------------------
    @property
    def max_requests(self) -> int:
        return self._max

    @property
    def interval_s(self) -> float:
        return self._interval

    @property
    def allowed(self) -> int:
        """Requests we allow ourselves per window: the server's max minus a safety headroom."""
        return max(1, self._max - self._headroom)

    def in_use(self) -> int:
        with self._cond:
            self._purge(self._clock())
            return len(self._slots)

    def __repr__(self) -> str:
        ms = int(self._interval * 1000)
        return f"RateLimiter(max={self._max}, interval_ms={ms}, headroom={self._headroom})"

    # -- core ---------------------------------------------------------------------------------------------
    def _purge(self, now: float) -> None:
        expired = [sid for sid, exp in self._slots.items() if exp <= now]
        for sid in expired:
            del self._slots[sid]

    def try_acquire(self) -> tuple[int | None, float]:
        """Non-blocking: (slot id, 0) when a slot is free, else (None, seconds until one may be free).

        The wait is `inf` when every slot is held by an in-flight request (a release will wake waiters).
        """
        with self._cond:
            return self._try_acquire_locked(self._clock())

    def _try_acquire_locked(self, now: float) -> tuple[int | None, float]:
        if now < self._blocked_until:
            return None, self._blocked_until - now
        self._purge(now)
        external = self._external if now < self._external_until else 0
        capacity = max(0, self.allowed - external)
        if not self._informed and _INFLIGHT in self._slots.values():
            return None, math.inf  # a release wakes the waiters
        if len(self._slots) < capacity:
            sid = self._next_id
            self._next_id += 1
            self._slots[sid] = _INFLIGHT
            return sid, 0.0
        finite = [exp for exp in self._slots.values() if exp != _INFLIGHT]
        waits = [min(finite) - now] if finite else []
        if external and now < self._external_until:
            waits.append(self._external_until - now)
        return None, (max(0.0, min(waits)) if waits else math.inf)

    def acquire(self) -> int:
        """Block until a slot is free; returns the slot id to `release` once the response arrived."""
        with self._cond:
            while True:
                sid, wait = self._try_acquire_locked(self._clock())
                if sid is not None:
                    return sid
                # In-flight-only: wake on release; poll anyway so a lost notification cannot hang us.
                self._waiter(self._cond, min(wait, 1.0) if wait != math.inf else 1.0)

    def release(self, slot: int) -> None:
        """The response of `slot` arrived: the slot stays counted for one interval from now."""
        with self._cond:
            if slot in self._slots:
                self._slots[slot] = self._clock() + self._interval
            if not self._informed:
                # Behind a proxy that drops the headers they never come: open up after a few responses
                # (the pace is then the configured one, HUBSPOT_RATE_LIMIT_MAX/_INTERVAL_MS).
                self._blind_responses += 1
                self._informed = self._blind_responses >= BLIND_RESPONSES
            self._cond.notify_all()

    @contextmanager
    def slot(self) -> Iterator[int]:
        sid = self.acquire()
        try:
            yield sid
        finally:
            self.release(sid)

    def block_for(self, seconds: float) -> None:
        """After a 429: nobody sends before `seconds` from now."""
        with self._cond:
            self._blocked_until = max(self._blocked_until, self._clock() + max(0.0, seconds))
            self._cond.notify_all()

    def observe(self, headers: Mapping[str, str], slot: int | None = None) -> None:
        """Retune from a response's X-HubSpot-RateLimit-* headers (absent or garbled headers are ignored).

        `slot`: the request the headers answer. HubSpot counted the window when that request arrived: our
        requests sent after it (higher slot ids, still in flight) were not in its count, so only ours up to it
        are subtracted from the server's count to tell what other consumers of the token use."""
        daily_h = _int_header(headers, "X-HubSpot-RateLimit-Daily-Remaining")
        if daily_h is not None:
            # The portal's requests left today (the guards estimate a run against it: guards.py).
            self.daily_remaining = max(0, daily_h)
            self.daily_max = _int_header(headers, "X-HubSpot-RateLimit-Daily")
        max_h = _int_header(headers, "X-HubSpot-RateLimit-Max")
        interval_h = _int_header(headers, "X-HubSpot-RateLimit-Interval-Milliseconds")
        remaining_h = _int_header(headers, "X-HubSpot-RateLimit-Remaining")
        with self._cond:
            now = self._clock()
            if max_h is not None and max_h >= 1:
                self._max = max_h
            if interval_h is not None and interval_h > 0:
                self._interval = interval_h / 1000.0
            if remaining_h is not None:
                # The server's count of the window minus ours (in flight + recent) is what others use.
                self._purge(now)
                server_used = self._max - max(0, remaining_h)
                ours = len(self._slots) if slot is None else sum(1 for sid in self._slots if sid <= slot)
                # Latest report wins; it lapses after one interval, so a wrong estimate cannot stall us.
                self._external = max(0, server_used - ours)
                self._external_until = now + self._interval
                self._informed = True
            self._cond.notify_all()


def defaults_from_env(env: Mapping[str, str] | None = None) -> tuple[int, int]:
    """(max requests, interval ms) until headers say otherwise: HUBSPOT_RATE_LIMIT_MAX and
    HUBSPOT_RATE_LIMIT_INTERVAL_MS, else HubSpot's Free/Starter figures. ValueError names a bad variable."""
    env = os.environ if env is None else env
    out = []
    for name, default in ((MAX_ENV, DEFAULT_MAX), (INTERVAL_ENV, DEFAULT_INTERVAL_MS)):
        raw = (env.get(name) or "").strip()
        try:
            value = int(raw) if raw else default
        except ValueError:
            value = 0
        if value < 1:
            raise SettingError(f"{name} must be a positive whole number (got {raw!r})")
        out.append(value)
    return out[0], out[1]


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    if value is None:
        # requests' CaseInsensitiveDict handles case; plain dicts in tests may not.
        lowered = name.lower()
        for key, val in headers.items():
            if key.lower() == lowered:
                value = val
                break
    if value is None:
        return None
    try:
        return int(str(value).strip())
    except ValueError:
        return None
