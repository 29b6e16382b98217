"""`SyncRun`: one sync run of one exposure, on the caller's thread. It classifies each row fed to it, hands each
candidate to its parts (engine/parts.py: the import path, the batch push, the list mirror), counts every row's one
outcome, writes the record log, and the runs row: waiting, running, end state (engine/ending.py).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from dbt_hubspot_sync.config.plan import SyncPlan
from dbt_hubspot_sync.engine.batch import IN_FLIGHT, PUSH_SIZE, BatchPush
from dbt_hubspot_sync.engine.calls import Halt, Pushed
from dbt_hubspot_sync.engine.classify import classify
from dbt_hubspot_sync.engine.ending import end_run
from dbt_hubspot_sync.engine.forecast import UNSEEN, Tracked
from dbt_hubspot_sync.engine.imports import import_push_for
from dbt_hubspot_sync.engine.list_mirror import mirror_for
from dbt_hubspot_sync.engine.outcomes import (
    INTERRUPTED,
    OUTCOME_COUNTERS,
    Candidate,
    RunResult,
    Stop,
    invariant_problem,
)
from dbt_hubspot_sync.engine.parts import RunPart
from dbt_hubspot_sync.engine.tracking import Tracker
from dbt_hubspot_sync.hubspot import HubSpotClient
from dbt_hubspot_sync.tables.run_log import Counters, RecordRow, RunLog, RunRow
from dbt_hubspot_sync.tables.state import SyncState

log = logging.getLogger(__package__)  # "dbt_hubspot_sync.engine", as before the package split

__all__ = ["IN_FLIGHT", "PUSH_SIZE", "RECORDS_PER_WRITE", "SyncRun"]

# Record-log rows held before a write (memory stays bounded; the end of the run writes the rest).
RECORDS_PER_WRITE = 10_000


class SyncRun:
    """Feed it chunks, then finish(). Writes the runs row as it goes: waiting, running, end state. It is the
    `RunContext` (engine/parts.py) its parts see."""

    def __init__(
        self,
        plan: SyncPlan,
        log: RunLog,
        client: HubSpotClient | None,
        *,
        trigger: str,
        invocation_id: str | None = None,
        dry_run: bool = False,
        push_size: int = PUSH_SIZE,
        on_progress: Callable[[SyncRun], None] | None = None,
        state: SyncState | None = None,
        cancel: threading.Event | None = None,
        trust_not_found: bool = False,
    ) -> None:
        if client is None and not dry_run:
            raise ValueError("a HubSpot client is needed unless dry_run")
        self.plan, self.log, self.client = plan, log, client
        self.dry_run = dry_run
        self.state = None if dry_run else state  # a dry run changes nothing, the state included
        self.on_progress = on_progress
        self.counters = Counters()
        # Remembered misses (hubspot_sync_state) are not looked up again: the pipeline says whether they may
        # be trusted this run (rechecks.py: no new contact has their emails, the full recheck is not due).
        self.trust_not_found = trust_not_found
        self.changes: dict[str, int] = {}  # a dry run's diff: records that would change, per property
        self.run = RunRow(str(uuid.uuid4()), invocation_id, plan.exposure, plan.relation, trigger)
        self._records: list[RecordRow] = []
        self._offline = False  # the warehouse went away: write nothing more (abandon)
        self._stop: Stop | None = None
        # Set by the runner's SIGINT handler: stop sending, let in-flight calls finish, end `failed`.
        self._cancel = cancel
        # What the batch push's workers read before each call: set by the one whose calls ended the run, or here.
        self._halt = Halt(cancel)
        self._stats_at_start = None
        self._log_all = plan.config.log_records == "all"
        # For progress displays: the lifecycle status, the row count when the caller knows it, the end result.
        self.status = "waiting"
        self.rows_expected: int | None = None
        self.result: RunResult | None = None
        # The rows come from a query with change detection (changes.py; the pipeline says so): count rows, closed
        # records and, after each row's values, its fingerprint, record key and logged outcome.
        self.tracker: Tracker | None = None
        # The parts, in the order a candidate is offered to them: the import path takes what it spools, the batch
        # push takes the rest; the list mirror follows the audience.
        self.parts: list[RunPart] = [
            part
            for part in (import_push_for(self), BatchPush(self, self._halt, push_size), mirror_for(self))
            if part is not None
        ]

    # -- the run as its parts see it (engine/parts.py: RunContext) -------------------------------------
    @property
    def stop(self) -> Stop | None:
        return self._stop

    @property
    def stopped(self) -> bool:
        return self._stop is not None

    @property
    def offline(self) -> bool:
        return self._offline

    def halt(self, stop: Stop) -> None:
        self._stop = self._stop or stop

    def interrupted(self) -> bool:
        if self._cancel is None or not self._cancel.is_set():
            return False
        if self._stop is None:  # nothing more is sent (workers see `_halt` before their next call)
            self._stop = self._halt.stop = self._halt.check() or INTERRUPTED
        return True

    def wait_interrupted(self, seconds: float) -> bool:
        if self._cancel is None:
            time.sleep(seconds)
            return False
        return self._cancel.wait(seconds) and self.interrupted()

    def send(self, candidate: Candidate) -> None:
        for part in self.parts:
            if part.take(candidate):
                return
        raise AssertionError("the batch push takes every candidate")  # pragma: no cover

    def landed(self, pushed: Pushed) -> None:
        for part in self.parts:
            part.landed(pushed)

    def settle(
        self, c: Candidate, outcome: str, code: str | None, detail: str | None, http_status: int | None = None
    ) -> None:
        if not c.settled:
            c.settled = True
            tracked = None  # (a candidate carries no state hash: forecast.py foresees it from what it writes)
            if c.record_key is not None:
                tracked = Tracked(c.record_key, c.logged, c.fingerprint, 1, c.known_id, UNSEEN)
            self._outcome(outcome, c.email_raw, c.email, code, detail, http_status, tracked)

    def flush_records(self, *, force: bool = False) -> None:
        # Written in batches: each warehouse statement has a fixed cost far above a row's.
        if self._offline:
            self._records = []  # the warehouse is gone (abandon): the next run logs these records again
        elif self._records and (force or len(self._records) >= RECORDS_PER_WRITE):
            self.log.log_records(self.run.run_id, self.plan.exposure, self._records)
            self._records = []
        if self.tracker is not None and not self._offline:
            self.tracker.forecast.window()  # every outcome given so far has had its state written
            pending = len(self.tracker.events) + len(self.tracker.refresh)
            if pending and (force or pending >= RECORDS_PER_WRITE):
                self.tracker.flush()
        self.report()

    def report(self) -> None:
        if self.on_progress is None:
            return
        try:
            self.on_progress(self)
        except Exception:  # a broken display must never break a sync
            log.warning("progress display failed", exc_info=True)

    # -- lifecycle ------------------------------------------------------------------------------------
    def announce(self) -> None:
        """Insert the runs row as `waiting` (queued behind other exposures of the same invocation)."""
        self.log.fail_stale_runs(self.plan.exposure)
        self.log.insert_run(self.run)

    def start(self) -> None:
        self.run.started_at = self.log.set_running(self.run.run_id)
        # One client serves every exposure of the process: count this run's requests from here.
        self._stats_at_start = self.client.stats.snapshot() if self.client else None
        for part in self.parts:
            part.begin()  # the import path lands the imports a killed run left processing
        self.status = "running"
        self.report()

    def requests_so_far(self) -> int:
        """This run's requests until now (one client serves every exposure of the process)."""
        if self.result is not None or self.client is None or self._stats_at_start is None:
            return self.counters.requests
        return (self.client.stats.snapshot() - self._stats_at_start).requests

    def track_changes(self) -> None:
        """The rows fed come from a rows query with change detection in the warehouse (changes.py)."""
        self.tracker = Tracker(self)

    def feed(self, rows: Iterable[Sequence[Any]]) -> None:
        """Classify a chunk of rows; push when the buffer is full. After a stop, rows are failed, not sent."""
        plan, trust, tracker = self.plan, self.trust_not_found, self.tracker
        tracked = None
        for row in rows:
            if tracker is not None:
                x = tracker.extras(row)
                if x.kind == "count":
                    tracker.count(x)
                    continue
                if x.kind == "closed":
                    tracker.closed(row, x)
                    continue
                tracked = Tracked(x.record_key, x.logged, x.fingerprint, row[2], row[3], row[4])
            if self._stop is None:
                self.interrupted()
            self.counters.rows_read += 1
            got = classify(row, plan, trust_not_found=trust)
            for part in self.parts:
                part.row(row, got)  # list_mode mirror: the run's audience
            if isinstance(got, Candidate):
                if tracked is not None:
                    got.fingerprint, got.record_key, got.logged = tracked.fingerprint, tracked.key, tracked.logged
                if self._stop is not None:
                    stop = self._stop
                    self._outcome("failed", row[0], row[1], stop.code, stop.message, stop.http_status, tracked)
                else:
                    self.send(got)
                continue
            outcome, code, detail = got
            if self._stop is not None and outcome not in ("invalid", "duplicate"):
                stop = self._stop  # after a stop, every row that would be sent or looked up fails
                self._outcome("failed", row[0], row[1], stop.code, stop.message, stop.http_status, tracked)
                continue
            if tracker is not None and outcome == "unchanged" and row[4] is not None and x.fingerprint:
                # Nothing to send (the same values, or none): the state learns the row's fingerprint, so the
                # warehouse settles it next time (what HubSpot was sent, record_id and hash, stays).
                tracker.refreshed((row[1], row[3], row[4], x.fingerprint))
            self._outcome(outcome, row[0], row[1], code, detail, None, tracked)
        self.flush_records()

    def finish(self, error: str | None = None) -> RunResult:
        """Send what the parts hold, write the end state. `error`: the caller's failure (e.g. the read broke)."""
        if error:
            self.halt(Stop("RUN_FAILED", error))
        self.interrupted()
        for part in self.parts:
            part.drain()  # the import path imports what it spooled (or hands it to the batch push), which sends
        self.flush_records(force=True)
        self._count_requests()
        status, message = self._status()
        for part in self.parts:
            status, message = part.conclude(status, message)  # list_mode mirror: who left the list leaves it
        if self.dry_run:
            note = "dry run: nothing was written to HubSpot (rows_updated counts would-update rows)"
            message = f"{note}; {message}" if message else note
        broken = invariant_problem(self.counters)
        if broken is not None:
            # Never reported as a success: the counts do not account for every row read. The end state is
            # still written (and notified), so the run does not stay `running`.
            log.error("exposure %s, run %s: %s", self.plan.exposure, self.run.run_id, broken)
            status = "failed"
            message = f"{broken}; {message}" if message else broken
        end_run(self.log, self.run, status, self.counters, message, self.plan.config.notify, dry_run=self.dry_run)
        return self._ended(status, message)

    def abandon(self, reason: str) -> RunResult:
        """End the run without its warehouse (it went away mid-run): nothing more is sent, the calls in flight
        land in the counters only, every row without an outcome is failed. Nothing is written (the record log
        and state of what could not be recorded are redone by the next run); the caller ends the run
        (engine/ending.py) through a fresh connection, if one can be had."""
        self._offline, self.state = True, None
        self.halt(Stop("WAREHOUSE_LOST", reason))
        for part in self.parts:
            part.abandon()
        self._records = []
        self._count_requests()
        broken = invariant_problem(self.counters)
        return self._ended("failed", f"{reason}; {broken}" if broken else reason)

    # -- internals ------------------------------------------------------------------------------------
    def _status(self) -> tuple[str, str | None]:
        if self._stop is not None:
            if self._stop.code == "DAILY_LIMIT":
                return "failed", f"daily_limit: {self._stop.message}"
            return "failed", self._stop.message
        if self.counters.rows_failed:
            return "completed_with_errors", None
        return "completed", None

    def _count_requests(self) -> None:
        if self.client is not None and self._stats_at_start is not None:
            delta = self.client.stats.snapshot() - self._stats_at_start
            self.counters.requests, self.counters.retries = delta.requests, delta.retries
            self.counters.rate_limited = delta.rate_limited

    def _ended(self, status: str, message: str | None) -> RunResult:
        self.status = status
        self.result = RunResult(
            self.run.run_id,
            self.plan.exposure,
            status,
            self.counters,
            message,
            self.dry_run,
            dict(self.changes),
        )
        if self.tracker is not None and not self._offline:
            self.result.rows_shipped = self.counters.rows_read - self.tracker.settled
        self.report()
        return self.result

    def _outcome(
        self,
        outcome: str,
        raw: Any,
        clean: Any,
        code: str | None,
        detail: str | None,
        http_status: int | None = None,
        tracked: Tracked | None = None,
    ) -> None:
        attr = OUTCOME_COUNTERS[outcome]
        setattr(self.counters, attr, getattr(self.counters, attr) + 1)
        if self.dry_run:
            detail = f"dry run: {detail}" if detail else "dry run"
        # A dry run logs its would-updates too: their details are the diff old → new users review. With change
        # detection, a record's rejection is logged when it first appears or changes (tracking.py).
        if self.tracker is not None:
            if self.tracker.logs(outcome, code, tracked, raw, clean, detail, http_status):
                raw_text = None if raw is None else str(raw)
                self._records.append(RecordRow(raw_text, clean, outcome, code, detail, http_status))
        elif (
            outcome not in ("updated", "unchanged")
            or self._log_all
            or (self.dry_run and outcome == "updated")
        ):
            raw_text = None if raw is None else str(raw)
            self._records.append(RecordRow(raw_text, clean, outcome, code, detail, http_status))
