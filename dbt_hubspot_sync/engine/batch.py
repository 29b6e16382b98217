"""The batch push, a run's part (engine/parts.py) that sends candidates with HubSpot's batch calls: it buffers
them, hands full buffers to a worker (`calls.talk`, two batches in flight) and lands what HubSpot said (outcomes,
state) on the run's thread.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from dbt_hubspot_sync.engine.calls import Halt, Pushed, talk
from dbt_hubspot_sync.engine.outcomes import Candidate, Stop
from dbt_hubspot_sync.engine.parts import RunContext, RunPart
from dbt_hubspot_sync.hubspot import RecordFailure, UpdateOutcome

# Candidates handed to a worker at once: HubSpot takes 100 a request, so a push of 4,000 is 40 lookups and 40
# requests, so the half-empty last round of each phase costs little of the allowed rate.
PUSH_SIZE = 4000
# Batches whose HubSpot calls may run at once: one's updates overlap the next one's lookups.
IN_FLIGHT = 2
NOT_SENT = Stop("NOT_SENT", "HubSpot returned no result for this record")


class BatchPush(RunPart):
    """Takes every candidate (it is the last sender); `halt` is what its workers read before each call."""

    def __init__(self, run: RunContext, halt: Halt, push_size: int = PUSH_SIZE) -> None:
        self.run, self.halt, self.push_size = run, halt, push_size
        self._buffer: list[Candidate] = []
        self._in_flight: list[tuple[list[Candidate], Future[Pushed]]] = []
        self._pool: ThreadPoolExecutor | None = None

    # -- the hooks ------------------------------------------------------------------------------------------
    def take(self, candidate: Candidate) -> bool:
        self._buffer.append(candidate)
        if len(self._buffer) >= self.push_size:
            self._push()
        return True

    def drain(self) -> None:
        self._push(drain=True)

    def abandon(self) -> None:
        """The calls in flight land (in the counters only: the run writes nothing more); the buffer fails."""
        self.halt.stop = self.run.stop
        self._push(drain=True)

    # -- pushing --------------------------------------------------------------------------------------------
    def _push(self, *, drain: bool = False) -> None:
        """Hand the buffer to a worker; land finished batches. Two batches are in flight at most, so one
        batch's updates overlap the next one's lookups (the limiter keeps the total under HubSpot's rate)."""
        run = self.run
        batch, self._buffer = self._buffer, []
        if batch and run.stop is not None:
            self._fail_all(batch, run.stop)
        elif batch:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=IN_FLIGHT, thread_name_prefix="hubspot-push")
            self._in_flight.append((batch, self._pool.submit(self._talk, batch)))
        while self._in_flight and (drain or len(self._in_flight) >= IN_FLIGHT):
            done_batch, future = self._in_flight.pop(0)
            try:
                self._land(self._result(future))
            except Exception as exc:  # anything unexpected ends the run; no row of the batch is lost
                run.halt(Stop("INTERNAL_ERROR", f"{type(exc).__name__}: {exc}"))
                self._fail_all(done_batch, run.stop or NOT_SENT)
            run.flush_records()
        if drain and self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def _result(self, future: Future[Pushed]) -> Pushed:
        """Wait for a batch, noticing a Ctrl-C meanwhile (so the batches behind stop before their updates)."""
        while True:
            try:
                return future.result(timeout=0.2)
            except FutureTimeout:
                self.run.interrupted()

    def _talk(self, batch: list[Candidate]) -> Pushed:
        """The HubSpot calls for one batch, on a worker thread (`calls.talk`)."""
        run = self.run
        return talk(
            batch,
            run.client,
            self.halt,
            dry_run=run.dry_run,
            list_id=run.plan.config.list_id,
            properties=run.plan.properties,
        )

    def _fail_all(self, batch: Iterable[Candidate], stop: Stop) -> None:
        """Fail every candidate of the batch that has no outcome yet."""
        for c in batch:
            self.run.settle(c, "failed", stop.code, stop.message, stop.http_status)

    # -- landing (the run's thread) ---------------------------------------------------------------------------
    def _land(self, pushed: Pushed) -> None:
        """Record what HubSpot said about one batch: outcomes, state, list counters."""
        run = self.run
        if pushed.read_stop is not None:
            run.halt(pushed.read_stop)
            self._fail_all(pushed.batch, pushed.read_stop)
            return
        run.landed(pushed)  # the other parts see the batch (the list mirror: its record ids)
        self._settle_found(pushed)
        if run.dry_run:
            self._would_update(pushed)
            return
        outcome = pushed.outcome or UpdateOutcome()
        self._apply(outcome, pushed.by_id, pushed.stop)
        if pushed.listed is not None:
            # Already-members count as in the list: the contact is where the user wants it.
            run.counters.list_added += len(pushed.listed.added) + len(pushed.listed.already)
            run.counters.list_missing += len(pushed.listed.missing)
        if pushed.list_stop is None:
            # The state says "HubSpot has this, list included": written only once both calls succeeded, so a
            # failed list add is redone by the next run instead of being skipped as unchanged.
            self._remember(outcome, pushed.by_id, pushed.stale)
        stop = pushed.stop or pushed.list_stop
        if stop is not None:
            run.halt(stop)
        # A call that broke mid-way (e.g. the daily limit during a stale id's lookup) may leave candidates in
        # none of the lists above: they are failed, never dropped.
        self._fail_all(pushed.batch, stop or NOT_SENT)

    def _settle_found(self, pushed: Pushed) -> None:
        """The lookup's outcomes: misses, second emails of one contact, contacts that have the values already."""
        run, exposure = self.run, self.run.plan.exposure
        for c in pushed.missing:
            run.settle(
                c, "not_found", "OBJECT_NOT_FOUND", "no HubSpot contact has this email (contacts are never created)"
            )
        if run.state is not None and pushed.missing:
            run.state.remember_not_found(
                exposure,
                run.run.run_id,
                [c.email for c in pushed.missing],
                [c.fingerprint for c in pushed.missing],
            )
        first = {rid: c.email for c, rid in pushed.already} | {rid: c.email for rid, c in pushed.by_id.items()}
        for c, rid in pushed.doubles:
            detail = f"HubSpot contact {rid} is already updated from {first.get(rid, 'another row')}"
            run.settle(c, "duplicate", "DUPLICATE_RECORD", detail)
        for c, rid in pushed.already:
            run.settle(c, "unchanged", "ALREADY_IN_HUBSPOT", f"contact {rid} already has these values")
        # Known from now on (the state), once the list, if any, holds them too: else the next run adds them.
        if run.state is not None and pushed.already and pushed.list_stop is None:
            synced = [(c.email, rid, c.digest, c.fingerprint) for c, rid in pushed.already]
            run.state.record(exposure, run.run.run_id, synced)

    def _would_update(self, pushed: Pushed) -> None:
        """A dry run's candidates: `updated` with the diff old → new users review."""
        for rid, c in pushed.by_id.items():
            changes = pushed.changes.get(rid)
            for name in changes or ():
                self.run.changes[name] = self.run.changes.get(name, 0) + 1
            detail = f"would update contact {rid}"
            if changes:
                detail += ": " + "; ".join(f"{k}: {old!r} → {new!r}" for k, (old, new) in changes.items())
            self.run.settle(c, "updated", None, detail)

    def _apply(self, outcome: UpdateOutcome, by_id: dict[str, Candidate], stop: Stop | None) -> None:
        settle = self.run.settle
        for rid, c in by_id.items():
            if rid in outcome.updated:
                settle(c, "updated", None, f"contact {rid}")
            elif rid in outcome.not_found:
                settle(c, "not_found", "OBJECT_NOT_FOUND", f"HubSpot contact {rid} no longer exists")
            elif rid in outcome.failed:
                f: RecordFailure = outcome.failed[rid]
                settle(c, "failed", f.code, f.detail, f.http_status)
            else:
                s = stop or NOT_SENT
                settle(c, "failed", s.code, s.message, s.http_status)

    def _remember(self, outcome: UpdateOutcome, by_id: dict[str, Candidate], stale: list[str]) -> None:
        state, exposure = self.run.state, self.run.plan.exposure
        if state is None:
            return
        # Forget first: a stale email found again under a new id is recorded afresh just below.
        gone = [by_id[rid].email for rid in outcome.not_found if rid in by_id]
        state.forget(exposure, gone + stale)
        done = [(rid, by_id[rid]) for rid in outcome.updated if rid in by_id]
        synced = [(c.email, rid, c.digest, c.fingerprint) for rid, c in done]
        state.record(exposure, self.run.run.run_id, synced)
