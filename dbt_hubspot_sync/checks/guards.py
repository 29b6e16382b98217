"""Guards: a run that would spend too much of the portal's day, or change too much of its audience, is refused
before it sends anything. `--force` overrides them for one run.

- `max_daily_share` (default 0.5): the run's estimated requests against the portal's requests left today, as
  HubSpot's `X-HubSpot-RateLimit-Daily-Remaining` header said on the run's first call.
- `max_change_share` (default: off): the contacts the run would change against the audience's known contacts
  (those the sync state holds): a broken model must not rewrite every contact.

The estimate comes from the counts the warehouse makes in the rows query itself, before any row reaches Python
(changes.py, `from_counts`): the rows it ships are those that may change, so the request count is an upper bound
(every shipped row changed, every lookup finds its contact). Without change detection (the DuckDB post-hook's
first push), every row is classified as the run will (`estimate`, engine/classify.py). Refusals end the run
`failed` with the reason (`guard_daily_budget: ...`, `guard_change_share: ...`), nothing sent, exit 1.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from dbt_hubspot_sync.config.plan import SyncPlan
from dbt_hubspot_sync.engine.changes import extras
from dbt_hubspot_sync.engine.classify import classify
from dbt_hubspot_sync.engine.outcomes import Candidate
from dbt_hubspot_sync.hubspot import BATCH_SIZE
from dbt_hubspot_sync.tables.log_target import oneline

# An import: its start, the polls of its state and the pages of its errors (benchmarks/imports.py measured 35 for
# a file of 1,000,000 rows), rounded up; HubSpot's row limit per file.
IMPORT_REQUESTS = 50
IMPORT_FILE_ROWS = 1_048_576


@dataclass
class Estimate:
    rows: int = 0
    known: int = 0  # rows of contacts the sync state knows (their record id)
    changed_known: int = 0  # ... whose values changed: updated by id
    unknown: int = 0  # rows to look up (and update when found)

    def requests(self, plan: SyncPlan) -> int:
        """At most: the lookups, the updates, and the list adds (100 records a request each); through HubSpot's
        imports API (push: import, or auto from import_threshold_rows on), IMPORT_REQUESTS per file and the
        lookups instead (the record ids of imported contacts are read once it landed: engine/import_land.py)."""
        sent = self.changed_known + self.unknown
        cfg = plan.config
        if cfg.push == "import" or (cfg.push == "auto" and sent >= cfg.import_threshold_rows):
            return IMPORT_REQUESTS * math.ceil(sent / IMPORT_FILE_ROWS) + math.ceil(self.unknown / BATCH_SIZE)
        per_call = math.ceil(sent / BATCH_SIZE)
        return math.ceil(self.unknown / BATCH_SIZE) + per_call * (2 if cfg.list_id else 1)


    def add(self, row: Sequence[Any], plan: SyncPlan, *, trust_not_found: bool) -> None:
        self.rows += 1
        # A contact the state knows, counted once (its duplicate rows are not sent).
        self.known += row[3] is not None and (row[2] is None or int(row[2]) <= 1)
        got = classify(row, plan, trust_not_found=trust_not_found)
        if isinstance(got, Candidate):
            if got.known_id is not None:
                self.changed_known += 1
            else:
                self.unknown += 1


def estimate(chunks: Iterable[Sequence[Sequence[Any]]], plan: SyncPlan, *, trust_not_found: bool) -> Estimate:
    est = Estimate()
    for rows in chunks:
        for row in rows:
            est.add(row, plan, trust_not_found=trust_not_found)
    return est


def from_counts(counts: Iterable[Sequence[Any]], n_values: int) -> Estimate:
    """The estimate from the `count` rows of a rows query with change detection (changes.py): the rows the
    warehouse ships are the ones that may change (an upper bound: some turn out unchanged, invalid or
    duplicates); the known contacts are those of every row, settled or shipped."""
    est = Estimate()
    for row in counts:
        x = extras(row, n_values)
        est.rows += x.rows
        est.known += x.rows if x.known else 0
        if x.settled == "ship":
            if x.known:
                est.changed_known += x.rows
            else:
                est.unknown += x.rows
    return est


def refusal(plan: SyncPlan, est: Estimate, daily_remaining: int | None) -> str | None:
    """Why the run may not go (naming what was measured), or None."""
    cfg = plan.config
    requests = est.requests(plan)
    if cfg.max_daily_share is not None and daily_remaining is not None:
        allowed = cfg.max_daily_share * daily_remaining
        if requests > allowed:
            return (
                f"guard_daily_budget: the run would send up to {requests:,} requests, more than max_daily_share"
                f" {cfg.max_daily_share:.0%} of the {daily_remaining:,} the portal has left today"
                " (X-HubSpot-RateLimit-Daily-Remaining); nothing was sent. Run later, raise max_daily_share,"
                " or --force"
            )
    if cfg.max_change_share is not None and est.known:
        share = est.changed_known / est.known
        if share > cfg.max_change_share:
            return (
                f"guard_change_share: the run would change {est.changed_known:,} of the {est.known:,} known"
                f" contacts ({share:.0%}), more than max_change_share {cfg.max_change_share:.0%}; nothing was"
                " sent. Check the model (a broken join rewrites every contact), or --force if it is intended"
            )
    return None


def guard_stream(
    plan: SyncPlan, run: Any, chunks: Iterator[Any], tracked: bool, reread: Callable[[], Iterable[Any]]
) -> tuple[Iterator[Any], str | None]:
    """The guards before a push reads its rows: from the warehouse's counts, which come first in the rows of a
    query with change detection (the chunks read to find them are handed back for the push); without it, from
    the relation read once more (`reread`) and classified."""
    if tracked:
        head: list[Any] = []
        for names, rows in chunks:
            head.append((names, rows))
            if any(r[-4] != "count" for r in rows):
                break
        counts = [r for _n, rows in head for r in rows if r[-4] == "count"]
        est = from_counts(counts, len(plan.properties))
        chunks = itertools.chain(head, chunks)
    else:
        try:
            est = estimate(reread(), plan, trust_not_found=run.trust_not_found)
        except Exception as exc:  # the push's own read reports a broken relation the same way
            return chunks, f"reading {plan.relation} failed: {oneline(exc)}"
    daily = getattr(getattr(run.client, "limiter", None), "daily_remaining", None)
    return chunks, refusal(plan, est, daily)
