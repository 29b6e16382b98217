"""What the next run's rows query will count if the model does not change: the steady mark of a run that sent.

A run counts the rows its warehouse settled (changes.py) and ships the rest to Python. If the model stays the
same, the next run's query settles the rows this run settled the same way (nothing this run writes touches
them), and classifies each row this run shipped from what this run wrote for it: the state of its email
(hubspot_sync_state: record id, hash, fingerprint) and the rejection of its record (hubspot_sync_rejected).
`Forecast` watches those writes and puts each shipped row through `next_outcome`, the rows query's CASE
(macros/_internal/_changed_rows_query.sql) in Python. So a run that sent something leaves a mark too
(steady.py), and the run after it, when the model is unchanged, classifies nothing.

A shipped row's record is logged under the current validation rules once this run is done (the rows query hands
over a verdict of older rules as RULES_CHANGED, which Python logs afresh). Where a value is not seen (the
fingerprint the state held for a row this run wrote no state for), a write is not this run's own row's, or a row
would be shipped again, the forecast is void: no mark, the next run classifies its rows.
`DBT_HUBSPOT_SYNC_VERIFY_MARKS=1` has each mark checked against the warehouse (steady.py).
"""

from __future__ import annotations

from collections import Counter
from typing import Any, NamedTuple

from dbt_hubspot_sync.tables.state import NOT_FOUND

# A value the run did not see (e.g. the fingerprint the state held for a row it shipped and did not write).
UNSEEN = "\x00unseen"
# (record_id, properties_hash, row_fingerprint) of an email in hubspot_sync_state; None: no state row.
State = tuple[Any, Any, Any]
# (outcome, reason code) of a record in hubspot_sync_rejected, logged under the current rules.
Logged = tuple[str, Any]


class Tracked(NamedTuple):
    """A shipped row as the rows query handed it over: its record, logged outcome, fingerprint and what the state
    held (the hash UNSEEN for a candidate, which carries only its record id)."""

    key: str | None
    logged: tuple[str, str | None] | None
    fingerprint: str | None
    rank: Any
    record_id: Any
    properties_hash: Any


def next_outcome(
    rank: Any, fingerprint: Any, state: State | None, logged: Logged | None, *, log_all: bool
) -> str | None:
    """The outcome the rows query settles the row with (its CASE, with `trust` true: a mark is only taken by a
    run that trusts its misses), or None: shipped, or not known."""
    rid, phash, sfp = state if state is not None else (None, None, None)
    first = rank is not None and int(rank) == 1
    if logged is not None and (logged[0] == "invalid" or logged == ("duplicate", "DUPLICATE_EMAIL")):
        return logged[0]
    if first and rid is None and phash == NOT_FOUND and logged == ("not_found", "OBJECT_NOT_FOUND"):
        return "not_found"
    if first and phash not in (None, NOT_FOUND, UNSEEN) and fingerprint is not None and sfp == fingerprint:
        if log_all:
            return "unchanged" if logged == ("unchanged", "UNCHANGED") else None
        # A record logged rejected on an unchanged row would be closed by the next run: not a quiet one.
        return "unchanged" if logged is None else None
    return None


class Forecast:
    """The next run's counts of the rows this run shipped, decided window by window (`window`: every outcome
    given since the last window has had its writes)."""

    def __init__(self, *, log_all: bool) -> None:
        self.log_all = log_all
        self.void: str | None = None  # why there is no forecast
        self.counts: Counter[tuple[str, bool]] = Counter()
        self.rows = 0
        self._pending: list[tuple[Any, Tracked, Logged | None]] = []
        self._written: dict[Any, State | None] = {}

    def fail(self, why: str) -> None:
        self.void = self.void or why

    def settled(self, email: Any, tracked: Tracked, logged: Logged | None) -> None:
        """A shipped row got its outcome; `logged`: what its record is logged with now."""
        if self.void is None:
            self._pending.append((email, tracked, logged))

    def wrote(self, email: Any, state: State | None) -> None:
        """The run wrote the state of `email` (None: forgot it)."""
        if self.void is None:
            self._written[email] = state

    def window(self) -> None:
        pending, written = self._pending, self._written
        self._pending, self._written = [], {}
        if self.void is not None:
            return
        emails = set()
        for email, t, logged in pending:
            emails.add(email)
            state = written[email] if email in written else (t.record_id, t.properties_hash, UNSEEN)
            outcome = next_outcome(t.rank, t.fingerprint, state, logged, log_all=self.log_all)
            if outcome is None:
                return self.fail(f"record {t.key} would be read again")
            known = int(t.rank) == 1 and state is not None and state[0] is not None
            self.counts[(outcome, known)] += 1
        self.rows += len(pending)
        if not set(written) <= emails:
            self.fail("the state of a row this run did not read was written")

    def next_counts(self, counted: list[tuple[str, bool, int]], shipped: int) -> list[tuple[str, bool, int]] | None:
        """The next run's count rows: this run's settled ones (`counted`) and the forecast of the `shipped`."""
        self.window()
        if self.void is not None or self.rows != shipped:
            return None
        total: Counter[tuple[str, bool]] = Counter(self.counts)
        for settled, known, n in counted:
            if settled != "ship":
                total[(settled, known)] += n
        return [(s, k, n) for (s, k), n in sorted(total.items()) if n]
