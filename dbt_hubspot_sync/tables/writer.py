"""One writer per exposure: a second pusher of an exposure being pushed waits for the first, or refuses.

Pushers may be separate processes on separate hosts (a `sync`, a post-hook, `sync --pending`), sharing nothing
but the warehouse, and the warehouse may offer no locks, constraints or atomic upserts that every dbt adapter
agrees on. So the queue is Lamport's bakery algorithm, which needs only inserts and reads that see committed
inserts: a pusher announces that it is choosing a ticket, takes one above every live ticket it sees, then waits
until no live pusher is still choosing and none holds a smaller (ticket, run id). Ties and a pusher that chose
concurrently are ordered by the pair, so exactly one pusher of an exposure sends at a time.

A ticket is live while its run's row in `hubspot_sync_runs` is `waiting` or `running`: finishing the run (any end
state) releases it, and a run killed before finishing is released by the stale-run rule
(`RunLog.fail_stale_runs`: at once when its process is gone from this host, else after `STALE_AFTER`).
`release()` deletes the run's queue rows; on an append-only target (Spark, Databricks: no DELETE) it adds a
`released` row instead, which ends the run's ticket just the same.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from dbt_hubspot_sync.errors import RunKind, SyncError
from dbt_hubspot_sync.tables.run_log import RUNS_TABLE, RunLog, SqlTarget, append_only, utcnow

WRITERS_TABLE = "hubspot_sync_writers"
# Choosing takes two statements; a `choosing` row older than this belongs to a pusher that died in between.
CHOOSING_TIMEOUT = timedelta(minutes=2)
POLL_SECONDS = 1.0


@dataclass(frozen=True)
class Holder:
    """The run that holds (or is ahead in) an exposure's queue, as the refusal names it."""

    run_id: str
    runner: str | None
    started_at: datetime | None
    status: str

    def describe(self) -> str:
        since = f"{self.started_at:%Y-%m-%d %H:%M:%S} UTC" if self.started_at else "an unknown time"
        return f"run {self.run_id} ({self.status}, runner {self.runner or 'unknown'}, since {since})"


class WriterBusyError(RunKind, SyncError):
    """Another pusher kept the exposure past the wait bound: this run sends nothing (exit code 1)."""

    def __init__(self, exposure: str, holder: Holder, waited: float) -> None:
        self.exposure, self.holder = exposure, holder
        super().__init__(
            f"exposure '{exposure}' is being pushed by {holder.describe()}; waited {waited:.0f} s"
            " (writer_wait_seconds) and sent nothing: one writer per exposure. Run again once it finished,"
            " or raise writer_wait_seconds"
        )


class WriterLease:
    """The bakery queue of one exposure, for one run. `acquire()` before sending; the run's end releases it."""

    def __init__(
        self,
        target: SqlTarget,
        schema: str,
        exposure: str,
        run_id: str,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.target, self.exposure, self.run_id = target, exposure, run_id
        self.table = target.relation(schema, WRITERS_TABLE)
        self.runs = target.relation(schema, RUNS_TABLE)
        self._log = RunLog(target, schema)
        self._p = target.placeholder
        self._append_only = append_only(target)
        self._sleep, self._clock = sleep, clock

    def acquire(self, wait_seconds: float, *, on_wait: Callable[[Holder], None] | None = None) -> None:
        """Block until this run is the exposure's only writer; WriterBusyError after `wait_seconds`."""
        self._insert("choosing", None)
        live = self._live()
        ticket = 1 + max((t for _, t, _ in live.values() if t is not None), default=0)
        self._insert("ticket", ticket)
        started, told = self._clock(), False
        while True:
            ahead = self._ahead(ticket)
            if ahead is None:
                return
            waited = self._clock() - started
            if waited >= wait_seconds:
                self.release()
                raise WriterBusyError(self.exposure, ahead, waited)
            if on_wait is not None and not told:
                on_wait(ahead)
                told = True
            self._sleep(min(POLL_SECONDS, max(wait_seconds - waited, 0.01)))

    def release(self) -> None:
        """Drop this run's queue rows (its end state releases them anyway; this keeps the table small)."""
        if self._append_only:
            self._insert("released", None)
            return
        self.target.execute(
            f"delete from {self.table} where exposure_name = {self._p} and run_id = {self._p}",
            [self.exposure, self.run_id],
        )

    # -- internals -------------------------------------------------------------------------------------
    def _insert(self, phase: str, ticket: int | None) -> None:
        self.target.execute(
            f"insert into {self.table} (exposure_name, run_id, phase, ticket, created_at)"
            f" values ({self._p}, {self._p}, {self._p}, {self._p}, {self._p})",
            [self.exposure, self.run_id, phase, ticket, utcnow()],
        )

    def _live(self) -> dict[str, tuple[bool, int | None, Holder]]:
        """Other runs of the exposure still queued or sending: run id → (choosing, ticket, holder)."""
        self._log.fail_stale_runs(self.exposure)  # a killed holder's ticket dies with its run row
        rows = self.target.execute(
            f"select w.run_id, w.phase, w.ticket, w.created_at, r.runner, r.started_at, r.status"
            f" from {self.table} w join {self.runs} r on r.run_id = w.run_id"
            f" where w.exposure_name = {self._p} and w.run_id <> {self._p}"
            " and r.status in ('waiting', 'running')",
            [self.exposure, self.run_id],
        )
        live: dict[str, tuple[bool, int | None, Holder]] = {}
        stale_choice = utcnow() - CHOOSING_TIMEOUT
        released = {r[0] for r in rows if r[1] == "released"}
        for run_id, phase, ticket, created_at, runner, started_at, status in rows:
            if run_id in released:
                continue
            choosing, current, holder = live.get(run_id, (False, None, None))
            holder = Holder(str(run_id), runner, started_at, str(status))
            if phase == "ticket":
                live[run_id] = (False, int(ticket), holder)
            elif current is None and (created_at is None or created_at >= stale_choice):
                live[run_id] = (True, None, holder)
        # A run seen choosing and with a ticket has chosen.
        return {k: v for k, v in live.items() if v[0] or v[1] is not None}

    def _ahead(self, ticket: int) -> Holder | None:
        """A live run that must send before this one (or is still choosing), preferring one that is running."""
        mine = (ticket, self.run_id)
        blocking = [
            holder
            for run_id, (choosing, their, holder) in self._live().items()
            if choosing or (their is not None and (their, run_id) < mine)
        ]
        blocking.sort(key=lambda h: h.status != "running")
        return blocking[0] if blocking else None
