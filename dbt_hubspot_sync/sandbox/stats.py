"""The sandbox's request log and counts: every request it answered (API and refused ones; admin requests are
not counted), per path template and status, plus rate-limit answers, injected faults and internal errors."""

from __future__ import annotations

import threading
from collections import deque
from typing import Any


class Stats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.requests: dict[str, dict[str, int]] = {}
            self.total = 0
            self.rate_limited = 0
            self.faults: dict[str, int] = {}
            self.internal_errors = 0
            self.log: deque[dict[str, Any]] = deque(maxlen=100_000)

    def record(self, entry: dict[str, Any]) -> None:
        key = f"{entry['method']} {entry['template']}"
        status = "reset" if entry["status"] is None else str(entry["status"])
        with self._lock:
            per = self.requests.setdefault(key, {})
            per[status] = per.get(status, 0) + 1
            self.total += 1
            if entry["status"] == 429:
                self.rate_limited += 1
            if entry["fault"]:
                self.faults[entry["fault"]] = self.faults.get(entry["fault"], 0) + 1
            if entry["status"] == 500 and not entry["fault"]:
                self.internal_errors += 1
            self.log.append(entry)

    def entries(self) -> list[dict[str, Any]]:
        """The request log, oldest first (the last 100,000 requests)."""
        with self._lock:
            return list(self.log)

    def body(self, contacts_updated: int, contacts_created: int) -> dict[str, Any]:
        """GET /__sandbox__/stats."""
        with self._lock:
            return {
                "requests": {k: dict(v) for k, v in self.requests.items()},
                "rate_limited": self.rate_limited,
                "contacts_updated": contacts_updated,
                "contacts_created": contacts_created,
                "requests_total": self.total,
                "faults": dict(self.faults),
                "internal_errors": self.internal_errors,
            }
