"""HubSpot's rate limits: a rolling window per token (100 requests / 10 s by default), a daily counter, and the
search endpoints' own limit (5 requests per second per account, exempt from the ten-secondly window).

Every admitted request counts, whatever its outcome (HubSpot counts errors too). A request refused with 429
is not added to the window, so a client that waits out the window gets through again. Search requests count
against the daily limit [INF: nothing exempts them from it] and their answers carry no rate-limit headers
("Responses from the search API endpoints will not include any of the rate limit headers").
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass

# HubSpot Free/Starter's daily allowance, used when no daily maximum is configured.
DEFAULT_DAILY_MAX = 250_000


@dataclass(frozen=True)
class Decision:
    allowed: bool
    policy: str | None  # "TEN_SECONDLY_ROLLING" or "DAILY" when refused
    headers: dict[str, str]


class RateLimiter:
    def __init__(
        self, rate_max: int, window_ms: int, daily_max: int | None = None, search_per_second: int = 5
    ) -> None:
        self.rate_max = rate_max
        self.search_per_second = search_per_second
        self.window_s = window_ms / 1000.0
        self.window_ms = window_ms
        self.daily_max = DEFAULT_DAILY_MAX if daily_max is None else daily_max
        self._lock = threading.Lock()
        self._windows: dict[str, deque[float]] = {}
        self._daily: dict[str, tuple[str, int]] = {}  # token -> (local date, count)
        self._search: dict[str, deque[float]] = {}  # token -> admitted search requests of the last second

    def reset(self) -> None:
        with self._lock:
            self._windows.clear()
            self._daily.clear()
            self._search.clear()

    def _daily_used(self, token: str, today: str) -> int:
        day, used = self._daily.get(token, (today, 0))
        return 0 if day != today else used

    def admit_search(self, token: str) -> Decision:
        """A search request: its own rolling second (policy SECONDLY) and the daily count; no headers."""
        now = time.monotonic()
        today = time.strftime("%Y-%m-%d")
        with self._lock:
            window = self._search.setdefault(token, deque())
            while window and window[0] <= now - 1.0:
                window.popleft()
            used = self._daily_used(token, today)
            if used >= self.daily_max:
                return Decision(False, "DAILY", {})
            if len(window) >= self.search_per_second:
                return Decision(False, "SECONDLY", {})
            window.append(now)
            self._daily[token] = (today, used + 1)
        return Decision(True, None, {})

    def admit(self, token: str) -> Decision:
        now = time.monotonic()
        today = time.strftime("%Y-%m-%d")  # HubSpot resets the daily limit at the account's midnight
        with self._lock:
            window = self._windows.setdefault(token, deque())
            cutoff = now - self.window_s
            while window and window[0] <= cutoff:
                window.popleft()
            used = self._daily_used(token, today)
            if used >= self.daily_max:
                policy: str | None = "DAILY"
            elif len(window) >= self.rate_max:
                policy = "TEN_SECONDLY_ROLLING"
            else:
                policy = None
                window.append(now)
                used += 1
                self._daily[token] = (today, used)
            headers = {
                "X-HubSpot-RateLimit-Max": str(self.rate_max),
                "X-HubSpot-RateLimit-Remaining": str(max(self.rate_max - len(window), 0)),
                "X-HubSpot-RateLimit-Interval-Milliseconds": str(self.window_ms),
                "X-HubSpot-RateLimit-Daily": str(self.daily_max),
                "X-HubSpot-RateLimit-Daily-Remaining": str(max(self.daily_max - used, 0)),
            }
        return Decision(policy is None, policy, headers)
