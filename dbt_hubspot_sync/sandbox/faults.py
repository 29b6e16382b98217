"""Seeded fault injection for HubSpot API paths.

SPEC is comma-separated `kind:probability`, kinds 500, 502, 503, 504, 423 (an error response), 429 (HubSpot's
TEN_SECONDLY_ROLLING 429, as if another app of the portal had filled the window), `reset` (the socket is closed
without a response) and `slow` (the answer is delayed by slow_ms). One draw per request from
`random.Random(seed)` picks at most one fault. A faulted request is not processed (nothing is written).
"""

from __future__ import annotations

import random
import threading
from typing import Any

from dbt_hubspot_sync.sandbox.bodies import error, rate_limited

KINDS = ("500", "502", "503", "504", "423", "429", "reset", "slow")

_BODIES: dict[str, tuple[str, str]] = {
    "500": ("INTERNAL_ERROR", "internal error"),
    "502": ("BAD_GATEWAY", "Bad Gateway: the upstream service did not respond in time"),
    "503": ("SERVICE_UNAVAILABLE", "Service Unavailable: please retry after a short pause"),
    "504": ("GATEWAY_TIMEOUT", "Gateway Timeout: please retry after a short pause"),
    "423": ("LOCKED", "The requested records are locked; retry after at least 2 seconds"),
}


def parse_spec(spec: str | None) -> list[tuple[str, float]]:
    """`"503:0.05,reset:0.02"` -> [("503", 0.05), ("reset", 0.02)]; ValueError on a bad spec."""
    out: list[tuple[str, float]] = []
    for part in (spec or "").split(","):
        part = part.strip()
        if not part:
            continue
        kind, sep, prob = part.partition(":")
        kind = kind.strip().lower()
        if not sep or kind not in KINDS:
            raise ValueError(f"bad fault {part!r}: expected kind:probability with kind in {', '.join(KINDS)}")
        try:
            p = float(prob)
        except ValueError:
            raise ValueError(f"bad fault probability in {part!r}") from None
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"fault probability must be within 0..1 in {part!r}")
        out.append((kind, p))
    if sum(p for _, p in out) > 1.0 + 1e-9:
        raise ValueError("fault probabilities add up to more than 1")
    return out


class FaultInjector:
    def __init__(self, spec: str | None, seed: int = 0) -> None:
        self.faults = parse_spec(spec)
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def draw(self) -> str | None:
        if not self.faults:
            return None
        with self._lock:
            r = self._rng.random()
        for kind, p in self.faults:
            if r < p:
                return kind
            r -= p
        return None


def fault_body(kind: str) -> tuple[int, dict[str, Any]]:
    if kind == "429":
        return 429, rate_limited("TEN_SECONDLY_ROLLING")
    category, message = _BODIES[kind]
    return int(kind), error(category, message)
