"""A run's side of change detection in the warehouse (changes.py): the rows the warehouse settled itself are
counted from its `count` rows, and a record is logged (hubspot_sync_record_log) only when its outcome or reason
first appears or changes, tracked per record in hubspot_sync_rejections (the hubspot_sync_rejected view).

Tracked outcomes are the rejected ones (invalid, duplicate, not_found, failed) and, with log_records: all,
unchanged too; an updated record is an event of its own (logged with log_records: all, or in a dry run) and
closes a rejection its record had. A dry run logs as a real run would but writes no event and no state.

It also keeps the run's forecast (forecast.py): each shipped row's outcome, the event logged for it and the state
written for its email (the run's state reports its writes here), for the steady mark of a run that sent.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from dbt_hubspot_sync.engine.changes import Extras, Rejection, extras, write_rejections
from dbt_hubspot_sync.engine.forecast import Forecast, Tracked
from dbt_hubspot_sync.engine.outcomes import OUTCOME_COUNTERS

if TYPE_CHECKING:
    from dbt_hubspot_sync.engine.parts import RunContext

REJECTED = ("invalid", "duplicate", "not_found", "failed")
log = logging.getLogger(__name__)


class Tracker:
    def __init__(self, run: RunContext) -> None:
        self.run = run
        self.n_values = len(run.plan.properties)
        self.log_all = run.plan.config.log_records == "all"
        self.events: list[Rejection] = []
        self.refresh: list[tuple[Any, ...]] = []  # state rows whose fingerprint the state lacked
        self.settled = 0  # rows the warehouse settled (counted, not shipped)
        self.shipped_expected = 0
        self.counts: list[tuple[str, bool, int]] = []  # the count rows as read (a steady mark keeps them)
        self.closed_rows = 0
        self.forecast = Forecast(log_all=self.log_all)
        if run.state is not None:
            run.state.watch = self.forecast.wrote

    def extras(self, row: Sequence[Any]) -> Extras:
        return extras(row, self.n_values)

    def count(self, x: Extras) -> None:
        """A `count` row: rows settled in the warehouse, counted with their outcome (nothing to log: their record
        is logged with it already)."""
        self.counts.append((str(x.settled), x.known, x.rows))
        if x.settled == "ship" or x.settled not in OUTCOME_COUNTERS:
            self.shipped_expected += x.rows
            return
        counters = self.run.counters
        counters.rows_read += x.rows
        attr = OUTCOME_COUNTERS[x.settled]
        setattr(counters, attr, getattr(counters, attr) + x.rows)
        self.settled += x.rows

    def closed(self, row: Sequence[Any], x: Extras) -> None:
        """A record logged rejected whose row left the model or is now unchanged."""
        self.closed_rows += 1
        if x.record_key is None:
            self.forecast.fail("a closed record without its key")
        else:
            self.events.append((x.record_key, row[0], row[1], None, None, None, None))

    def refreshed(self, state_row: tuple[Any, Any, Any, Any]) -> None:
        """(email, record id, hash, fingerprint): an unchanged row whose fingerprint the state learns."""
        self.refresh.append(state_row)
        self.forecast.wrote(state_row[0], state_row[1:])

    def logs(
        self,
        outcome: str,
        code: str | None,
        tracked: Tracked | None,
        raw: Any,
        clean: Any,
        detail: str | None,
        http_status: int | None,
    ) -> bool:
        """Whether this outcome goes to the record log; records the event that keeps the record's state."""
        kept = outcome in REJECTED or (self.log_all and outcome == "unchanged")
        if tracked is None or tracked.key is None:  # a row from a query without change detection: all is news
            return kept or (outcome == "updated" and (self.log_all or self.run.dry_run))
        key, logged = tracked.key, tracked.logged
        if outcome == "failed":
            self.forecast.fail(f"record {key} failed")
        if kept:
            self.forecast.settled(clean, tracked, (outcome, code))
            if logged is not None and logged == (outcome, code):
                return False  # logged so already, under these rules (changes.py): no news
            raw_text = None if raw is None else str(raw)
            self.events.append((key, raw_text, clean, outcome, code, detail, http_status))
            return True
        if logged is not None:
            self.events.append((key, None if raw is None else str(raw), clean, None, None, None, None))
        self.forecast.settled(clean, tracked, None)
        return outcome == "updated" and (self.log_all or self.run.dry_run)

    def next_counts(self) -> list[tuple[str, bool, int]] | None:
        """The next run's count rows if the model does not change (forecast.py), or None: not foreseen."""
        counts = self.forecast.next_counts(self.counts, self.shipped_expected)
        if counts is None:
            why = self.forecast.void or "not every shipped row was foreseen"
            log.info("exposure '%s': no forecast of the next run's counts: %s", self.run.plan.exposure, why)
        return counts

    def flush(self) -> None:
        run = self.run
        events, refresh = self.events, self.refresh
        self.events, self.refresh = [], []
        if run.dry_run or run.offline:
            return
        if refresh and run.state is not None:  # noted when found (refreshed)
            run.state.record(run.plan.exposure, run.run.run_id, refresh, watched=False)
        write_rejections(run.log.target, run.plan.log_schema, run.plan.exposure, run.run.run_id, events)
