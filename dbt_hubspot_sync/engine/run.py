"""`SyncRun`: one sync run of one exposure, on the caller's thread. It classifies each row fed to it, buffers
the candidates, hands full buffers to a worker (`calls.talk`, two batches in flight), lands what HubSpot said
(counters, record log, state), and writes the runs row: waiting, running, end state.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import asdict
from typing import Any

from ..hubspot import HubSpotClient, RecordFailure, UpdateOutcome
from ..list_mirror import mirror_for
from ..notify import notify_run_end
from ..plan import SyncPlan
from ..run_log import Counters, RecordRow, RunLog, RunRow
from ..state import SyncState
from .calls import Halt, Pushed, talk
from .classify import classify
from .imports import import_push_for
from .outcomes import (
    INTERRUPTED,
    OUTCOME_COUNTERS,
    Candidate,
    RunResult,
    Stop,
    invariant_problem,
)
from .tracking import Tracker

log = logging.getLogger(__package__)  # "dbt_hubspot_sync.engine", as before the package split

# requests, so the half-empty last round of each phase costs little of the allowed rate.
PUSH_SIZE = 4000
# Batches whose HubSpot calls may run at once: one's updates overlap the next one's lookups.
IN_FLIGHT = 2
# Record-log rows held before a write (memory stays bounded; the end of the run writes the rest).
RECORDS_PER_WRITE = 10_000


class SyncRun:
    """Feed it chunks, then finish(). Writes the runs row as it goes: waiting, running, end state."""

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
        self.push_size = push_size
        self.on_progress = on_progress
        self.counters = Counters()
        # Remembered misses (hubspot_sync_state) are not looked up again: the pipeline says whether they may
        # be trusted this run (rechecks.py: no new contact has their emails, the full recheck is not due).
        self.trust_not_found = trust_not_found
        self.changes: dict[str, int] = {}  # a dry run's diff: records that would change, per property
        self.run = RunRow(str(uuid.uuid4()), invocation_id, plan.exposure, plan.relation, trigger)
        self._buffer: list[Candidate] = []
        self._in_flight: list[tuple[list[Candidate], Future[Pushed]]] = []
        self._pool: ThreadPoolExecutor | None = None
        self._halt = Halt(
            cancel
        )  # set by a worker whose calls ended the run (or Ctrl-C); read by the next one
        self._records: list[RecordRow] = []
        self._offline = False  # the warehouse went away: write nothing more (abandon)
        self._stopped: Stop | None = None
        self._error: str | None = None
        self._stats_at_start = None
        self._log_all = plan.config.log_records == "all"
        # For progress displays: the lifecycle status, the row count when the caller knows it, the end result.
        self.status = "waiting"
        self.rows_expected: int | None = None
        self.result: RunResult | None = None
        # Set by the runner's SIGINT handler: stop sending, let in-flight calls finish, end `failed`.
        self._cancel = cancel
        # The rows come from a query with change detection (changes.py; the pipeline says so): count rows, closed
        # records and, after each row's values, its fingerprint, record key and logged outcome.
        self.tracker: Tracker | None = None
        self._imports = import_push_for(self)  # the import path, the batch push's sibling (engine/imports.py)
        self._mirror = mirror_for(self)  # with list_id: the list's side (list_mirror.py)

    # -- lifecycle ------------------------------------------------------------------------------------
    def announce(self) -> None:
        """Insert the runs row as `waiting` (queued behind other exposures of the same invocation)."""
        self.log.fail_stale_runs(self.plan.exposure)
        self.log.insert_run(self.run)

    def start(self) -> None:
        self.run.started_at = self.log.set_running(self.run.run_id)
        # One client serves every exposure of the process: count this run's requests from here.
        self._stats_at_start = self.client.stats.snapshot() if self.client else None
        if self._imports is not None:
            self._imports.recover()  # before any row: land the imports a killed run left processing
        self.status = "running"
        self._report()

    def requests_so_far(self) -> int:
        """This run's requests until now (one client serves every exposure of the process)."""
        if self.result is not None or self.client is None or self._stats_at_start is None:
            return self.counters.requests
        return (self.client.stats.snapshot() - self._stats_at_start).requests

    @property
    def stopped(self) -> bool:
        return self._stopped is not None

    def track_changes(self) -> None:
        """The rows fed come from a rows query with change detection in the warehouse (changes.py)."""
        self.tracker = Tracker(self)

    def feed(self, rows: Iterable[Sequence[Any]]) -> None:
        """Classify a chunk of rows; push when the buffer is full. After a stop, rows are failed, not sent."""
        plan, trust, tracker = self.plan, self.trust_not_found, self.tracker
        key = logged = None
        for row in rows:
            if tracker is not None:
                x = tracker.extras(row)
                if x.kind == "count":
                    tracker.count(x)
                    continue
                if x.kind == "closed":
                    tracker.closed(row, x)
                    continue
                key, logged = x.record_key, x.logged
            if self._cancel is not None and self._stopped is None and self._cancel.is_set():
                self._interrupt()
            self.counters.rows_read += 1
            got = classify(row, plan, trust_not_found=trust)
            if self._mirror is not None:
                self._mirror.row(row, got)  # list_mode mirror: the run's audience
            if isinstance(got, Candidate):
                if tracker is not None:
                    got.fingerprint, got.record_key, got.logged = x.fingerprint, key, logged
                if self._stopped is not None:
                    stop = self._stopped
                    self._outcome("failed", row[0], row[1], stop.code, stop.message, stop.http_status, key, logged)
                elif self._imports is None or not self._imports.take(got):  # else spooled for an import
                    self._enqueue(got)
                continue
            outcome, code, detail = got
            if self._stopped is not None and outcome not in ("invalid", "duplicate"):
                stop = self._stopped  # after a stop, every row that would be sent or looked up fails
                outcome, code, detail = "failed", stop.code, stop.message
                self._outcome(outcome, row[0], row[1], code, detail, stop.http_status, key, logged)
                continue
            if tracker is not None and outcome == "unchanged" and row[4] is not None and x.fingerprint:
                # Nothing to send (the same values, or none): the state learns the row's fingerprint, so the
                # warehouse settles it next time (what HubSpot was sent, record_id and hash, stays).
                tracker.refresh.append((row[1], row[3], row[4], x.fingerprint))
            self._outcome(outcome, row[0], row[1], code, detail, None, key, logged)
        self._flush_records()

    def _enqueue(self, c: Candidate) -> None:
        """A candidate for the batch path: pushed when the buffer is full."""
        self._buffer.append(c)
        if len(self._buffer) >= self.push_size:
            self._push()

    def finish(self, error: str | None = None) -> RunResult:
        """Push what is buffered, write the end state. `error`: the caller's failure (e.g. the read broke)."""
        if error and self._stopped is None:
            self._stopped = Stop("RUN_FAILED", error)
        if self._cancel is not None and self._stopped is None and self._cancel.is_set():
            self._interrupt()
        if self._imports is not None:
            self._imports.finish(self._enqueue)  # import what was spooled, or hand it to the batch path
        self._push(drain=True)
        self._flush_records(force=True)
        if self.client is not None and self._stats_at_start is not None:
            delta = self.client.stats.snapshot() - self._stats_at_start
            self.counters.requests, self.counters.retries = delta.requests, delta.retries
            self.counters.rate_limited = delta.rate_limited
        if self._stopped is not None:
            status = "failed"
            message = self._stopped.message
            if self._stopped.code == "DAILY_LIMIT":
                message = f"daily_limit: {message}"
        elif self.counters.rows_failed:
            status, message = "completed_with_errors", None
        else:
            status, message = "completed", None
        if self._mirror is not None:  # list_mode mirror: who left the audience leaves the list
            status, message = self._mirror.finish(status, message)
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
        self.log.finish_run(self.run.run_id, status, self.counters, message)
        if not self.dry_run:  # a dry run changed nothing: nobody needs paging about it
            notify_run_end(self.plan.config.notify, self.run, status, asdict(self.counters), message)
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
        if self.tracker is not None:
            self.result.rows_shipped = self.counters.rows_read - self.tracker.settled
        self._report()
        return self.result

    def abandon(self, reason: str) -> RunResult:
        """End the run without its warehouse (it went away mid-run): nothing more is sent, the calls in flight
        land in the counters only, every row without an outcome is failed. Nothing is written (the record log
        and state of what could not be recorded are redone by the next run); the caller writes the end state
        through a fresh connection."""
        self._offline, self.state = True, None
        self._stopped = self._halt.stop = self._stopped or Stop("WAREHOUSE_LOST", reason)
        self._push(drain=True)
        if self._imports is not None:
            self._imports.abandon()
        self._records = []
        if self.client is not None and self._stats_at_start is not None:
            delta = self.client.stats.snapshot() - self._stats_at_start
            self.counters.requests, self.counters.retries = delta.requests, delta.retries
            self.counters.rate_limited = delta.rate_limited
        broken = invariant_problem(self.counters)
        message = f"{reason}; {broken}" if broken else reason
        self.status = "failed"
        self.result = RunResult(
            self.run.run_id, self.plan.exposure, "failed", self.counters, message, self.dry_run
        )
        self._report()
        return self.result

    # -- internals ------------------------------------------------------------------------------------
    def _interrupt(self) -> None:
        """Ctrl-C: nothing more is sent (workers see `_halt` before their next call); what is in flight lands."""
        self._stopped = self._halt.stop = self._halt.check() or INTERRUPTED

    def _result(self, future: Future[Pushed]) -> Pushed:
        """Wait for a batch, noticing a Ctrl-C meanwhile (so the batches behind stop before their updates)."""
        while True:
            try:
                return future.result(timeout=0.2 if self._cancel is not None else None)
            except FutureTimeout:
                if self._stopped is None and self._cancel is not None and self._cancel.is_set():
                    self._interrupt()

    def _outcome(
        self,
        outcome: str,
        raw: Any,
        clean: Any,
        code: str | None,
        detail: str | None,
        http_status: int | None = None,
        key: str | None = None,
        logged: tuple[str, str | None] | None = None,
    ) -> None:
        attr = OUTCOME_COUNTERS[outcome]
        setattr(self.counters, attr, getattr(self.counters, attr) + 1)
        if self.dry_run:
            detail = f"dry run: {detail}" if detail else "dry run"
        # A dry run logs its would-updates too: their details are the diff old → new users review. With change
        # detection, a record's rejection is logged when it first appears or changes (tracking.py).
        if self.tracker is not None:
            if self.tracker.logs(outcome, code, key, logged, raw, clean, detail, http_status):
                raw_text = None if raw is None else str(raw)
                self._records.append(RecordRow(raw_text, clean, outcome, code, detail, http_status))
        elif (
            outcome not in ("updated", "unchanged")
            or self._log_all
            or (self.dry_run and outcome == "updated")
        ):
            raw_text = None if raw is None else str(raw)
            self._records.append(RecordRow(raw_text, clean, outcome, code, detail, http_status))

    def _flush_records(self, *, force: bool = False) -> None:
        # Written in batches: each warehouse statement has a fixed cost far above a row's.
        if self._offline:
            self._records = []  # the warehouse is gone (abandon): the next run logs these records again
        elif self._records and (force or len(self._records) >= RECORDS_PER_WRITE):
            self.log.log_records(self.run.run_id, self.plan.exposure, self._records)
            self._records = []
        if self.tracker is not None and not self._offline:
            pending = len(self.tracker.events) + len(self.tracker.refresh)
            if pending and (force or pending >= RECORDS_PER_WRITE):
                self.tracker.flush()
        self._report()

    def _report(self) -> None:
        if self.on_progress is None:
            return
        try:
            self.on_progress(self)
        except Exception:  # a broken display must never break a sync
            log.warning("progress display failed", exc_info=True)

    def _settle(
        self,
        c: Candidate,
        outcome: str,
        code: str | None,
        detail: str | None,
        http_status: int | None = None,
    ) -> None:
        if not c.settled:
            c.settled = True
            self._outcome(outcome, c.email_raw, c.email, code, detail, http_status, c.record_key, c.logged)

    def _fail_all(self, batch: Iterable[Candidate], stop: Stop) -> None:
        """Fail every candidate of the batch that has no outcome yet."""
        for c in batch:
            self._settle(c, "failed", stop.code, stop.message, stop.http_status)

    def _push(self, *, drain: bool = False) -> None:
        """Hand the buffer to a worker; land finished batches. Two batches are in flight at most, so one
        batch's updates overlap the next one's lookups (the limiter keeps the total under HubSpot's rate)."""
        batch, self._buffer = self._buffer, []
        if batch and self._stopped is not None:
            self._fail_all(batch, self._stopped)
        elif batch:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=IN_FLIGHT, thread_name_prefix="hubspot-push")
            self._in_flight.append((batch, self._pool.submit(self._talk, batch)))
        while self._in_flight and (drain or len(self._in_flight) >= IN_FLIGHT):
            done_batch, future = self._in_flight.pop(0)
            try:
                self._land(self._result(future))
            except Exception as exc:  # anything unexpected ends the run; no row of the batch is lost
                self._stopped = self._stopped or Stop("INTERNAL_ERROR", f"{type(exc).__name__}: {exc}")
                self._fail_all(done_batch, self._stopped)
            self._flush_records()
        if drain and self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def _talk(self, batch: list[Candidate]) -> Pushed:
        """The HubSpot calls for one batch, on a worker thread (`calls.talk`)."""
        return talk(
            batch,
            self.client,
            self._halt,
            dry_run=self.dry_run,
            list_id=self.plan.config.list_id,
            properties=self.plan.properties,
        )

    def _land(self, pushed: Pushed) -> None:
        """Record what HubSpot said about one batch (the caller's thread: counters, record log, state)."""
        if pushed.read_stop is not None:
            self._stopped = self._stopped or pushed.read_stop
            self._fail_all(pushed.batch, pushed.read_stop)
            return
        if self._mirror is not None:
            self._mirror.landed(pushed)  # the batch's record ids (audience), the ids HubSpot added (recorded)
        for c in pushed.missing:
            self._settle(
                c,
                "not_found",
                "OBJECT_NOT_FOUND",
                "no HubSpot contact has this email (contacts are never created)",
            )
        if self.state is not None and pushed.missing:
            self.state.remember_not_found(
                self.plan.exposure,
                self.run.run_id,
                [c.email for c in pushed.missing],
                [c.fingerprint for c in pushed.missing],
            )
        first = {rid: c.email for c, rid in pushed.already} | {
            rid: c.email for rid, c in pushed.by_id.items()
        }
        for c, rid in pushed.doubles:
            self._settle(
                c,
                "duplicate",
                "DUPLICATE_RECORD",
                f"HubSpot contact {rid} is already updated from {first.get(rid, 'another row')}",
            )
        for c, rid in pushed.already:
            self._settle(c, "unchanged", "ALREADY_IN_HUBSPOT", f"contact {rid} already has these values")
        # Known from now on (the state), once the list, if any, holds them too: else the next run adds them.
        if self.state is not None and pushed.already and pushed.list_stop is None:
            synced = [(c.email, rid, c.digest, c.fingerprint) for c, rid in pushed.already]
            self.state.record(self.plan.exposure, self.run.run_id, synced)
        if self.dry_run:
            for rid, c in pushed.by_id.items():
                changes = pushed.changes.get(rid)
                for name in changes or ():
                    self.changes[name] = self.changes.get(name, 0) + 1
                detail = f"would update contact {rid}"
                if changes:
                    detail += ": " + "; ".join(f"{k}: {old!r} → {new!r}" for k, (old, new) in changes.items())
                self._settle(c, "updated", None, detail)
            return
        outcome = pushed.outcome or UpdateOutcome()
        self._apply(outcome, pushed.by_id, pushed.stop)
        if pushed.listed is not None:
            # Already-members count as in the list: the contact is where the user wants it.
            self.counters.list_added += len(pushed.listed.added) + len(pushed.listed.already)
            self.counters.list_missing += len(pushed.listed.missing)
        if pushed.list_stop is None:
            # The state says "HubSpot has this, list included": written only once both calls succeeded, so a
            # failed list add is redone by the next run instead of being skipped as unchanged.
            self._remember(outcome, pushed.by_id, pushed.stale)
        stop = pushed.stop or pushed.list_stop
        if stop is not None:
            self._stopped = self._stopped or stop
        # A call that broke mid-way (e.g. the daily limit during a stale id's lookup) may leave candidates in
        # none of the lists above: they are failed, never dropped.
        self._fail_all(pushed.batch, stop or Stop("NOT_SENT", "HubSpot returned no result for this record"))

    def _apply(self, outcome: UpdateOutcome, by_id: dict[str, Candidate], stop: Stop | None) -> None:
        for rid, c in by_id.items():
            if rid in outcome.updated:
                self._settle(c, "updated", None, f"contact {rid}")
            elif rid in outcome.not_found:
                self._settle(c, "not_found", "OBJECT_NOT_FOUND", f"HubSpot contact {rid} no longer exists")
            elif rid in outcome.failed:
                f: RecordFailure = outcome.failed[rid]
                self._settle(c, "failed", f.code, f.detail, f.http_status)
            else:
                s = stop or Stop("NOT_SENT", "HubSpot returned no result for this record")
                self._settle(c, "failed", s.code, s.message, s.http_status)

    def _remember(self, outcome: UpdateOutcome, by_id: dict[str, Candidate], stale: list[str]) -> None:
        if self.state is None:
            return
        # Forget first: a stale email found again under a new id is recorded afresh just below.
        gone = [by_id[rid].email for rid in outcome.not_found if rid in by_id]
        self.state.forget(self.plan.exposure, gone + stale)
        done = [(rid, by_id[rid]) for rid in outcome.updated if rid in by_id]
        synced = [(c.email, rid, c.digest, c.fingerprint) for rid, c in done]
        self.state.record(self.plan.exposure, self.run.run_id, synced)
