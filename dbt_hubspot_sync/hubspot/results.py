"""What the HubSpot calls hand back, and what the client counts.

Plain data with no I/O: per-record outcomes of an update (`UpdateOutcome`, with a `RecordFailure` for each record
HubSpot did not take), of a list-membership add (`ListOutcome`), and the client's thread-safe request counters
(`ClientStats`, read as a `StatsSnapshot`). The engine and the run log consume these; nothing here knows HTTP.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

__all__ = ["RecordFailure", "UpdateOutcome", "ListOutcome", "SearchResult", "StatsSnapshot", "ClientStats"]


@dataclass(frozen=True)
class RecordFailure:
    """Why one record was not updated. `code` is HubSpot's (INVALID_EMAIL, INVALID_OPTION, ...) or ours for
    transport failures (HTTP_5XX, HTTP_423, TIMEOUT, CONNECTION_ERROR, RATE_LIMITED)."""

    code: str
    detail: str
    http_status: int | None = None


@dataclass
class UpdateOutcome:
    """Per record id: updated, not found (HubSpot has no such record) or failed (with the reason)."""

    updated: set[str] = field(default_factory=set)
    not_found: set[str] = field(default_factory=set)
    failed: dict[str, RecordFailure] = field(default_factory=dict)

    def merge(self, other: UpdateOutcome) -> None:
        self.updated |= other.updated
        self.not_found |= other.not_found
        self.failed.update(other.failed)

    def fail_all(self, ids: Iterable[str], failure: RecordFailure) -> None:
        for rid in ids:
            self.failed[rid] = failure


@dataclass
class ListOutcome:
    """Of the ids sent to a list: `added` (now members), `removed` (no longer members), `missing` (HubSpot has no
    such record), `already` (asked to add, were members: ignored), `not_members` (asked to remove, were not)."""

    added: set[str] = field(default_factory=set)
    missing: set[str] = field(default_factory=set)
    already: set[str] = field(default_factory=set)
    removed: set[str] = field(default_factory=set)
    not_members: set[str] = field(default_factory=set)


class SearchResult(NamedTuple):
    """What `search_created` found: each contact's properties (with `hs_object_id`), and whether that is every
    contact of the window (False: more than search can list, 10,000 per query, even after splitting the window)."""

    contacts: list[dict[str, str | None]]
    complete: bool


@dataclass(frozen=True)
class StatsSnapshot:
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0

    def __sub__(self, other: StatsSnapshot) -> StatsSnapshot:
        return StatsSnapshot(
            self.requests - other.requests,
            self.retries - other.retries,
            self.rate_limited - other.rate_limited,
        )


class ClientStats:
    """Thread-safe counters: HTTP requests sent, retries (5xx/423/timeouts/connection), 429s received."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests = 0
        self._retries = 0
        self._rate_limited = 0

    def add(self, *, requests: int = 0, retries: int = 0, rate_limited: int = 0) -> None:
        with self._lock:
            self._requests += requests
            self._retries += retries
            self._rate_limited += rate_limited

    @property
    def requests(self) -> int:
        return self._requests

    @property
    def retries(self) -> int:
        return self._retries

    @property
    def rate_limited(self) -> int:
        return self._rate_limited

    def snapshot(self) -> StatsSnapshot:
        with self._lock:
            return StatsSnapshot(self._requests, self._retries, self._rate_limited)

    def __repr__(self) -> str:
        s = self.snapshot()
        return f"ClientStats(requests={s.requests}, retries={s.retries}, rate_limited={s.rate_limited})"
