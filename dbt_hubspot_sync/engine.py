"""One sync run of one exposure: rows in, one counted outcome per row out.

Rows arrive in chunks (from the runner's streaming query or from the DuckDB post-hook's UDF) shaped as the
`sync_rows_query` macro returns them: (email_raw, email_clean, rank, state record id, state hash, *values).
Unchanged rows (same hash as the state's) cost no request; valid first-of-their-email rows are buffered up to
`push_size`, resolved to record ids with batch/read (unless the state knows them) and updated with batch/update,
two batches in flight so one's updates overlap the next one's lookups; every other row is logged. A call that
ends the run (daily limit, unknown property) stops the batch behind it before its update is sent. Memory holds
at most one chunk plus two push buffers, whatever the model's size.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import asdict, dataclass, field
from typing import Any

from .hubspot_client import (
    DailyLimitError,
    HubSpotClient,
    HubSpotError,
    ListOutcome,
    PropertyError,
    RecordFailure,
    UpdateOutcome,
)
from .notify import notify_run_end
from .plan import SyncPlan
from .properties import properties_hash, to_hubspot_value
from .run_log import Counters, RecordRow, RunLog, RunRow
from .state import SyncState
from .validation import validate_email

log = logging.getLogger(__name__)

# Resolve and update this many contacts at a time: 40 lookups of 100, five rounds of the client's 8 concurrent
# requests, so the half-empty last round of each phase costs little of the allowed rate.
PUSH_SIZE = 4000
# Batches whose HubSpot calls may run at once: one's updates overlap the next one's lookups.
IN_FLIGHT = 2
# Record-log rows held before a write (memory stays bounded; the end of the run writes the rest).
RECORDS_PER_WRITE = 10_000


@dataclass
class _Candidate:
    email_raw: str | None
    email: str
    properties: dict[str, str]
    digest: str  # properties_hash(properties), stored in the state once HubSpot has them
    known_id: str | None = None  # the record id from the state: no lookup needed
    settled: bool = False  # has its one outcome


@dataclass
class _Pushed:
    """What HubSpot said about one batch."""

    batch: list[_Candidate]
    by_id: dict[str, _Candidate] = field(default_factory=dict)  # sent (or, in a dry run, would be)
    missing: list[_Candidate] = field(default_factory=list)  # no contact has the email
    doubles: list[tuple[_Candidate, str]] = field(default_factory=list)  # a second email of one contact
    stale: list[str] = field(default_factory=list)  # emails whose cached record id HubSpot no longer knows
    outcome: UpdateOutcome | None = None
    listed: ListOutcome | None = None
    read_stop: _Stop | None = None  # the lookup failed: nothing of the batch was sent
    stop: _Stop | None = None  # the update ended the run (what it did is in `outcome`)
    list_stop: _Stop | None = None


@dataclass
class RunResult:
    run_id: str
    exposure: str
    status: str
    counters: Counters
    error: str | None = None
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        return self.status == "completed"


@dataclass
class _Stop(Exception):
    """Ends the run early: the remaining buffered rows are failed with `code`."""

    code: str
    message: str
    http_status: int | None = None
    outcome: UpdateOutcome | None = field(default=None)


_INTERRUPTED = _Stop(
    "INTERRUPTED", "interrupted: the run was stopped (SIGINT) before this row was sent; the next run sends it"
)


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
    ) -> None:
        if client is None and not dry_run:
            raise ValueError("a HubSpot client is needed unless dry_run")
        self.plan, self.log, self.client = plan, log, client
        self.dry_run = dry_run
        self.state = None if dry_run else state  # a dry run changes nothing, the state included
        self.push_size = push_size
        self.on_progress = on_progress
        self.counters = Counters()
        self.run = RunRow(str(uuid.uuid4()), invocation_id, plan.exposure, plan.relation, trigger)
        self._buffer: list[_Candidate] = []
        self._in_flight: list[tuple[list[_Candidate], Future[_Pushed]]] = []
        self._pool: ThreadPoolExecutor | None = None
        self._halt: _Stop | None = None  # set by a worker whose calls ended the run; read by the next one
        self._records: list[RecordRow] = []
        self._stopped: _Stop | None = None
        self._error: str | None = None
        self._stats_at_start = None
        self._log_all = plan.config.log_records == "all"
        # For progress displays: the lifecycle status, the row count when the caller knows it, the end result.
        self.status = "waiting"
        self.rows_expected: int | None = None
        self.result: RunResult | None = None
        # Set by the runner's SIGINT handler: stop sending, let in-flight calls finish, end `failed`.
        self._cancel = cancel

    # -- lifecycle ------------------------------------------------------------------------------------
    def announce(self) -> None:
        """Insert the runs row as `waiting` (queued behind other exposures of the same invocation)."""
        self.log.fail_stale_runs(self.plan.exposure)
        self.log.insert_run(self.run)

    def start(self) -> None:
        self.run.started_at = self.log.set_running(self.run.run_id)
        # One client serves every exposure of the process: count this run's requests from here.
        self._stats_at_start = self.client.stats.snapshot() if self.client else None
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

    def feed(self, rows: Iterable[Sequence[Any]]) -> None:
        """Classify a chunk of rows; push when the buffer is full. After a stop, rows are failed, not sent."""
        null_as_empty = self.plan.config.null_as_empty
        names = self.plan.properties
        for row in rows:
            if self._cancel is not None and self._stopped is None and self._cancel.is_set():
                self._interrupt()
            self.counters.rows_read += 1
            raw, clean, rank, known_id, known_hash = row[0], row[1], row[2], row[3], row[4]
            verdict = validate_email(clean)
            if not verdict.ok:
                self._outcome("invalid", raw, clean, verdict.reason, verdict.detail)
                continue
            if rank is not None and int(rank) > 1:
                self._outcome(
                    "duplicate",
                    raw,
                    clean,
                    "DUPLICATE_EMAIL",
                    "another row with the same cleaned email is sent instead",
                )
                continue
            if self._stopped is not None:
                self._outcome(
                    "failed", raw, clean, self._stopped.code, self._stopped.message, self._stopped.http_status
                )
                continue
            try:
                props = {}
                for name, value in zip(names, row[5:]):
                    text = to_hubspot_value(value, null_as_empty=null_as_empty)
                    if text is not None:
                        props[name] = text
            except (TypeError, ValueError) as exc:
                self._outcome("failed", raw, clean, "INVALID_VALUE", str(exc))
                continue
            if not props:
                self._outcome(
                    "unchanged", raw, clean, "NO_PROPERTIES", "every property is NULL; nothing to send"
                )
                continue
            bad_option = _option_problem(props, self.plan.enumerations)
            if bad_option:
                self._outcome("failed", raw, clean, "INVALID_OPTION", bad_option)
                continue
            digest = properties_hash(props)
            if known_id and known_hash == digest:
                self._outcome(
                    "unchanged",
                    raw,
                    clean,
                    "UNCHANGED",
                    f"contact {known_id} already has these values (hubspot_sync_state)",
                )
                continue
            self._buffer.append(_Candidate(raw, clean, props, digest, known_id or None))
            if len(self._buffer) >= self.push_size:
                self._push()
        self._flush_records()

    def finish(self, error: str | None = None) -> RunResult:
        """Push what is buffered, write the end state. `error`: the caller's failure (e.g. the read broke)."""
        if error and self._stopped is None:
            self._stopped = _Stop("RUN_FAILED", error)
        if self._cancel is not None and self._stopped is None and self._cancel.is_set():
            self._interrupt()
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
        if self.dry_run:
            note = "dry run: nothing was written to HubSpot (rows_updated counts would-update rows)"
            message = f"{note}; {message}" if message else note
        assert self.counters.holds(), f"invariant broken: {self.counters}"
        self.log.finish_run(self.run.run_id, status, self.counters, message)
        if not self.dry_run:  # a dry run changed nothing: nobody needs paging about it
            notify_run_end(self.plan.config.notify, self.run, status, asdict(self.counters), message)
        self.status = status
        self.result = RunResult(
            self.run.run_id, self.plan.exposure, status, self.counters, message, self.dry_run
        )
        self._report()
        return self.result

    # -- internals ------------------------------------------------------------------------------------
    def _interrupt(self) -> None:
        """Ctrl-C: nothing more is sent (workers see `_halt` before their next call); what is in flight lands."""
        self._stopped = self._halt = self._halted() or _INTERRUPTED

    def _halted(self) -> _Stop | None:
        """Why no further call may be sent (worker threads ask before each phase), or None."""
        if self._halt is None and self._cancel is not None and self._cancel.is_set():
            self._halt = _INTERRUPTED
        return self._halt

    def _result(self, future: Future[_Pushed]) -> _Pushed:
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
    ) -> None:
        attr = {
            "invalid": "rows_invalid",
            "duplicate": "rows_duplicate",
            "unchanged": "rows_unchanged",
            "updated": "rows_updated",
            "not_found": "rows_not_found",
            "failed": "rows_failed",
        }[outcome]
        setattr(self.counters, attr, getattr(self.counters, attr) + 1)
        if self.dry_run:
            detail = f"dry run: {detail}" if detail else "dry run"
        if outcome not in ("updated", "unchanged") or self._log_all:
            raw_text = None if raw is None else str(raw)
            self._records.append(RecordRow(raw_text, clean, outcome, code, detail, http_status))

    def _flush_records(self, *, force: bool = False) -> None:
        # Written in batches: each warehouse statement has a fixed cost far above a row's.
        if self._records and (force or len(self._records) >= RECORDS_PER_WRITE):
            self.log.log_records(self.run.run_id, self.plan.exposure, self._records)
            self._records = []
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
        c: _Candidate,
        outcome: str,
        code: str | None,
        detail: str | None,
        http_status: int | None = None,
    ) -> None:
        if not c.settled:
            c.settled = True
            self._outcome(outcome, c.email_raw, c.email, code, detail, http_status)

    def _fail_all(self, batch: Iterable[_Candidate], stop: _Stop) -> None:
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
                self._stopped = self._stopped or _Stop("INTERNAL_ERROR", f"{type(exc).__name__}: {exc}")
                self._fail_all(done_batch, self._stopped)
            self._flush_records()
        if drain and self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def _talk(self, batch: list[_Candidate]) -> _Pushed:
        """The HubSpot calls for one batch (worker thread: touches no counter, log or warehouse)."""
        pushed = _Pushed(batch)
        if self._halted() is not None:  # an earlier batch ended the run, or Ctrl-C: send nothing more
            pushed.read_stop = self._halt
            return pushed
        unknown = [c.email for c in batch if c.known_id is None]
        try:
            ids = self.client.read_ids_by_email(unknown) if self.client and unknown else {}
        except HubSpotError as exc:
            pushed.read_stop = self._halt = _stop_from(exc)
            return pushed
        for c in batch:
            # The client keys by lower(email), as HubSpot matches.
            rid = c.known_id or ids.get(c.email.strip().lower())
            if rid is None:
                pushed.missing.append(c)
            elif rid in pushed.by_id:
                # Two cleaned emails resolving to one contact would make HubSpot reject the whole batch.
                pushed.doubles.append((c, rid))
            else:
                pushed.by_id[rid] = c
        if self.dry_run or not pushed.by_id:
            return pushed
        if self._halted() is not None:
            pushed.read_stop = self._halt
            return pushed
        try:
            pushed.outcome = self.client.update([(rid, c.properties) for rid, c in pushed.by_id.items()])
            self._relookup_stale(pushed)
        except HubSpotError as exc:
            pushed.stop = self._halt = _stop_from(exc)
            pushed.outcome = pushed.outcome or exc.outcome_so_far or UpdateOutcome()
        list_id = self.plan.config.list_id
        if list_id and pushed.outcome.updated:
            # Contacts updated before an error still join the list.
            try:
                pushed.listed = self.client.add_to_list(list_id, sorted(pushed.outcome.updated))
            except HubSpotError as exc:
                pushed.list_stop = self._halt = _stop_from(exc)
        return pushed

    def _relookup_stale(self, pushed: _Pushed) -> None:
        """A cached id HubSpot no longer knows (the contact was deleted or merged into another): look the email
        up again and update whatever contact has it now, in the same run."""
        outcome = pushed.outcome
        assert outcome is not None and self.client is not None
        stale = {
            rid: c
            for rid, c in pushed.by_id.items()
            if rid == c.known_id
            and (
                rid in outcome.not_found or getattr(outcome.failed.get(rid), "code", "") == "NOT_IN_RESPONSE"
            )
        }
        if not stale:
            return
        for rid, c in stale.items():
            outcome.not_found.discard(rid)
            outcome.failed.pop(rid, None)
            del pushed.by_id[rid]
            c.known_id = None
            pushed.stale.append(c.email)
        ids = self.client.read_ids_by_email([c.email for c in stale.values()])
        retry: dict[str, _Candidate] = {}
        for c in stale.values():
            rid = ids.get(c.email.strip().lower())
            if rid is None:
                pushed.missing.append(c)
            elif rid in pushed.by_id or rid in retry:
                pushed.doubles.append((c, rid))
            else:
                retry[rid] = c
        if retry:
            pushed.by_id.update(retry)
            try:
                outcome.merge(self.client.update([(rid, c.properties) for rid, c in retry.items()]))
            except HubSpotError as exc:
                outcome.merge(exc.outcome_so_far or UpdateOutcome())
                raise

    def _land(self, pushed: _Pushed) -> None:
        """Record what HubSpot said about one batch (the caller's thread: counters, record log, state)."""
        if pushed.read_stop is not None:
            self._stopped = self._stopped or pushed.read_stop
            self._fail_all(pushed.batch, pushed.read_stop)
            return
        for c in pushed.missing:
            self._settle(
                c,
                "not_found",
                "OBJECT_NOT_FOUND",
                "no HubSpot contact has this email (contacts are never created)",
            )
        for c, rid in pushed.doubles:
            self._settle(
                c,
                "duplicate",
                "DUPLICATE_RECORD",
                f"HubSpot contact {rid} is already updated from {pushed.by_id[rid].email}",
            )
        if self.dry_run:
            for rid, c in pushed.by_id.items():
                self._settle(c, "updated", None, f"would update contact {rid}")
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
        self._fail_all(pushed.batch, stop or _Stop("NOT_SENT", "HubSpot returned no result for this record"))

    def _apply(self, outcome: UpdateOutcome, by_id: dict[str, _Candidate], stop: _Stop | None) -> None:
        for rid, c in by_id.items():
            if rid in outcome.updated:
                self._settle(c, "updated", None, f"contact {rid}")
            elif rid in outcome.not_found:
                self._settle(c, "not_found", "OBJECT_NOT_FOUND", f"HubSpot contact {rid} no longer exists")
            elif rid in outcome.failed:
                f: RecordFailure = outcome.failed[rid]
                self._settle(c, "failed", f.code, f.detail, f.http_status)
            else:
                s = stop or _Stop("NOT_SENT", "HubSpot returned no result for this record")
                self._settle(c, "failed", s.code, s.message, s.http_status)

    def _remember(self, outcome: UpdateOutcome, by_id: dict[str, _Candidate], stale: list[str]) -> None:
        if self.state is None:
            return
        # Forget first: a stale email found again under a new id is recorded afresh just below.
        gone = [by_id[rid].email for rid in outcome.not_found if rid in by_id]
        self.state.forget(self.plan.exposure, gone + stale)
        synced = [(by_id[rid].email, rid, by_id[rid].digest) for rid in outcome.updated if rid in by_id]
        self.state.record(self.plan.exposure, self.run.run_id, synced)


def _option_problem(props: dict[str, str], enumerations: Any) -> str | None:
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


def _stop_from(exc: HubSpotError) -> _Stop:
    if isinstance(exc, DailyLimitError):
        return _Stop("DAILY_LIMIT", "HubSpot's daily request limit was reached; what was done is kept", 429)
    if isinstance(exc, PropertyError):
        code = getattr(exc, "code", None) or "PROPERTY_DOESNT_EXIST"
        return _Stop(code, str(exc), 400)
    status = getattr(exc, "status", None)
    code = (
        getattr(exc, "code", None)
        or getattr(exc, "category", None)
        or (f"HTTP_{status}" if status else "HUBSPOT_ERROR")
    )
    if status and 500 <= status < 600:
        code = "HTTP_5XX"
    return _Stop(str(code), str(exc), status)


def run_result_ok(results: Iterable[RunResult]) -> bool:
    return all(r.ok for r in results)
