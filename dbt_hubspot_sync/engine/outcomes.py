"""A run's bookkeeping: the candidate rows waiting for HubSpot's answer, the stops that end a run early, the
outcome → counter map, the invariant check, and the run's result.

Every row read gets exactly one outcome (invalid, duplicate, unchanged, updated, not_found, failed), counted
in its `rows_*` counter: `invariant_problem` says when the counts do not add up.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from dbt_hubspot_sync.hubspot import DailyLimitError, HubSpotError, PropertyError, UpdateOutcome
from dbt_hubspot_sync.tables.run_log import Counters

# Each outcome's counter.
OUTCOME_COUNTERS = {
    "invalid": "rows_invalid",
    "duplicate": "rows_duplicate",
    "unchanged": "rows_unchanged",
    "updated": "rows_updated",
    "not_found": "rows_not_found",
    "failed": "rows_failed",
}


@dataclass
class Candidate:
    """A row that passed the local checks: it is sent (or looked up) and gets its outcome from HubSpot."""

    email_raw: str | None
    email: str
    properties: dict[str, str]
    digest: str  # properties_hash(properties), stored in the state once HubSpot has them
    known_id: str | None = None  # the record id from the state: no lookup needed
    settled: bool = False  # has its one outcome
    # With change detection in the warehouse (changes.py): the row's fingerprint (stored in the state with the
    # digest), its record key and the (outcome, reason) its record is logged with, if any.
    fingerprint: str | None = None
    record_key: str | None = None
    logged: tuple[str, str | None] | None = None


@dataclass
class RunResult:
    run_id: str
    exposure: str
    status: str
    counters: Counters
    error: str | None = None
    dry_run: bool = False
    # A dry run's diff: how many records would change each property.
    changes: dict[str, int] = field(default_factory=dict)
    # Rows that left the warehouse (with change detection: those that needed work; None: every row read).
    rows_shipped: int | None = None

    @property
    def ok(self) -> bool:
        return self.status == "completed"


def run_result_ok(results: Iterable[RunResult]) -> bool:
    return all(r.ok for r in results)


@dataclass
class Stop:
    """Why a run ended early (a value, not an exception: nothing raises it): the remaining rows fail with `code`."""

    code: str
    message: str
    http_status: int | None = None
    outcome: UpdateOutcome | None = field(default=None)


INTERRUPTED = Stop(
    "INTERRUPTED", "interrupted: the run was stopped (SIGINT) before this row was sent; the next run sends it"
)


def stop_from(exc: HubSpotError) -> Stop:
    if isinstance(exc, DailyLimitError):
        return Stop("DAILY_LIMIT", "HubSpot's daily request limit was reached; what was done is kept", 429)
    if isinstance(exc, PropertyError):
        code = getattr(exc, "code", None) or "PROPERTY_DOESNT_EXIST"
        return Stop(code, str(exc), 400)
    status = getattr(exc, "status", None)
    code = (
        getattr(exc, "code", None)
        or getattr(exc, "category", None)
        or (f"HTTP_{status}" if status else "HUBSPOT_ERROR")
    )
    if status and 500 <= status < 600:
        code = "HTTP_5XX"
    return Stop(str(code), str(exc), status)


def invariant_problem(counters: Counters) -> str | None:
    """None when every row read has exactly one counted outcome; otherwise the error, naming the counts.

    An explicit check, not an `assert` (which `python -O` strips): a run whose counts do not add up must never
    be reported as a success."""
    if counters.holds():
        return None
    parts = ", ".join(
        f"{attr.removeprefix('rows_')} {getattr(counters, attr)}" for attr in OUTCOME_COUNTERS.values()
    )
    return f"invariant broken: rows_read {counters.rows_read} != outcomes {counters.outcomes()} ({parts})"


def option_problem(props: dict[str, str], enumerations: Any) -> str | None:
    """Why a value is not one of its enumeration's options (HubSpot would reject the whole batch), or None."""
    for name, (options, multiple) in enumerations.items():
        value = props.get(name)
        if not value:  # absent, or "" (clears the property)
            continue
        for choice in value.split(";") if multiple else [value]:
            if choice not in options:
                shown = ", ".join(sorted(options)[:20]) + (", ..." if len(options) > 20 else "")
                return f"property '{name}': {choice[:200]!r} is not one of the allowed options [{shown}]"
    return None
