"""The one pipeline: every way to run hands its plans here, and each push is assembled the same way.

    log tables → lists and property preflight → announce the run (`waiting`) → one writer per exposure
    (writer.py) → `running` → rows (streamed from the relation dbt built, or fed by the DuckDB post-hook)
    → clean/validate/push (engine/run.py) → end state → notify (notify.py) → release the writer

The doors only build plans and hand them over: `runner.py` (`sync`, `sync --pending`), `dbt_run.py`
(`run -- <dbt args>`), `duckdb_plugin.py` (the DuckDB post-hook and the package's on-run-end). The gate
(gate.py) and pending claims (pending.py) are steps of the same pipeline, for the doors that push builds.

A warehouse that goes away mid-run (connection terminated, server restarted, disk full) ends that run `failed`
with the step that broke named, recorded through a fresh connection when one can be had (else the next run finds
it stale); HubSpot calls in flight land first and nothing more is sent.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from dbt_hubspot_sync.checks.canary import check_canary
from dbt_hubspot_sync.checks.gate import TestStatuses, gate_verdict, record_gated_out
from dbt_hubspot_sync.checks.guards import guard_stream
from dbt_hubspot_sync.checks.lists import list_problem
from dbt_hubspot_sync.checks.preflight import preflight_properties
from dbt_hubspot_sync.checks.rechecks import Recheck, plan_recheck, record_recheck
from dbt_hubspot_sync.config.plan import SyncPlan
from dbt_hubspot_sync.config.sync_config import NotifyConfig
from dbt_hubspot_sync.engine import RunResult, SyncRun
from dbt_hubspot_sync.engine.changes import rows_query
from dbt_hubspot_sync.engine.ending import end_run
from dbt_hubspot_sync.engine.steady import Steady
from dbt_hubspot_sync.errors import ConfigError, WarehouseLostError
from dbt_hubspot_sync.hubspot import HubSpotClient
from dbt_hubspot_sync.tables.log_target import Guarded, LogTarget, Reconnect, RowSource, oneline
from dbt_hubspot_sync.tables.pending import PendingQueue
from dbt_hubspot_sync.tables.run_log import Counters, RunLog
from dbt_hubspot_sync.tables.state import SyncState
from dbt_hubspot_sync.tables.writer import Holder, WriterBusyError, WriterLease

log = logging.getLogger(__name__)

READ_CHUNK = 10_000
# How long a second pusher of an exposure waits for the first before it refuses (config: writer_wait_seconds).
WRITER_BUSY = "writer_busy"  # the runs row's error of a push refused because another pusher kept the exposure


def check_lists(plans: Sequence[SyncPlan], client: HubSpotClient) -> None:
    """Each plan's `list_id` names a list a sync can add to (lists.py), else a config error before any row."""
    for plan in plans:
        if plan.config.list_id:
            _kind, problem = list_problem(client, plan.config.list_id)
            if problem is not None:
                raise ConfigError(plan.exposure, "hubspot_sync.list_id", problem)


class Pipeline:
    """Assembles and runs the pushes of one door's invocation; one HubSpot client for all of them."""

    def __init__(
        self,
        target: LogTarget,
        client: HubSpotClient | None = None,
        *,
        client_factory: Callable[[], HubSpotClient] | None = None,
        trigger: str,
        invocation_id: str | None = None,
        dry_run: bool = False,
        full_refresh: bool = False,
        count_rows: bool = False,
        on_progress: Callable[[SyncRun], None] | None = None,
        cancel: threading.Event | None = None,
        reconnect: Reconnect | None = None,
        describe: str = "warehouse",
        force: bool = False,
    ) -> None:
        self.target = target
        # A door shares its client (one rate limiter per token) or lets the pipeline make one when first needed.
        self._client, self._client_factory = client, client_factory
        self.trigger, self.invocation_id = trigger, invocation_id
        self.dry_run, self.full_refresh, self.count_rows = dry_run, full_refresh, count_rows
        self.on_progress, self.cancel = on_progress, cancel
        self.force = force  # --force: the guards (guards.py) do not hold this invocation's runs back
        self._reconnect = reconnect
        self._guarded = Guarded(target, describe)
        self._created: set[str] = set()
        self.lost: WarehouseLostError | None = None  # once set, later runs of this pipeline are not started

    # -- setup -------------------------------------------------------------------------------------------
    @property
    def client(self) -> HubSpotClient:
        if self._client is None:
            self._client = (self._client_factory or HubSpotClient.from_env)()
            if self.cancel is not None:
                self._client.cancel = self.cancel  # Ctrl-C: requests not yet sent are refused
        return self._client

    def client_for(self, plan: SyncPlan) -> HubSpotClient:
        """The client on the plan's `api_version` (a view sharing the limiter, counters and workers)."""
        with_version = getattr(self.client, "with_version", None)  # test doubles speak one version
        return with_version(plan.config.api_version) if with_version is not None else self.client

    def close(self) -> None:
        """Close the client the pipeline made (a door's own client stays the door's)."""
        if self._client is not None and self._client_factory is not None:
            self._client.close()
            self._client = None

    def ensure_log_tables(self, schemas: Iterable[str]) -> None:
        for schema in dict.fromkeys(schemas):
            if schema not in self._created:
                self.target.create_log_tables(schema)
                self._created.add(schema)

    def prepare(self, plans: Sequence[SyncPlan], *, preflight: bool = True) -> list[SyncPlan]:
        """Log tables, lists and (unless the door checks later, per push) the property preflight: every
        config problem of `plans` is raised here, before any row is read."""
        self.ensure_log_tables(p.log_schema for p in plans)
        check_canary(self.target)  # the warehouse's SQL cleanup matches the reference, or nothing runs
        checked: dict[str, SyncPlan] = {}
        by_version: dict[str | None, list[SyncPlan]] = {}
        for plan in plans:  # each on its own API version; the properties read once per version
            by_version.setdefault(plan.config.api_version, []).append(plan)
        for group in by_version.values():
            client = self.client_for(group[0])
            check_lists(group, client)
            for plan in preflight_properties(group, client) if preflight else group:
                checked[plan.exposure] = plan
        return [checked[p.exposure] for p in plans]

    # -- one push ----------------------------------------------------------------------------------------
    def announce(self, plan: SyncPlan, *, invocation_id: str | None = None) -> SyncRun:
        """The run's row as `waiting` (queued behind the exposures before it, or behind another writer)."""
        run = SyncRun(
            plan,
            RunLog(self._guarded, plan.log_schema),
            self.client_for(plan),
            trigger=self.trigger,
            invocation_id=invocation_id if invocation_id is not None else self.invocation_id,
            dry_run=self.dry_run,
            on_progress=self.on_progress,
            state=SyncState(self._guarded, plan.log_schema),
            cancel=self.cancel,
        )
        run.announce()
        return run

    def begin(self, run: SyncRun, *, fed: bool = True) -> Push:
        """Take the exposure's writer lease (waiting for a running pusher), decide which remembered misses this
        run trusts (rechecks.py), then mark the run `running`. `fed`: the rows were read before (the DuckDB
        post-hook's statement), so a miss forgotten now still carries its mark in them."""
        push = Push(self, run, fed=fed)
        push.begin()
        return push

    def push(self, plan: SyncPlan, run: SyncRun | None = None) -> RunResult:
        """One exposure end to end, its rows streamed from the relation (a dbt `Warehouse` target)."""
        if self.lost is not None:
            return self._not_started(plan, run)
        run = run or self.announce(plan)
        if self.cancel is not None and self.cancel.is_set():
            return run.finish()  # interrupted before this exposure's turn: failed, nothing read
        source = self.target
        if not isinstance(source, RowSource):
            raise TypeError("Pipeline.push reads the rows itself: it needs a target that streams (RowSource)")
        p = self.begin(run, fed=False)
        if p.result is not None:
            return p.result
        if self.count_rows:
            try:
                run.rows_expected = int(self.target.execute(f"select count(*) from {plan.relation}")[0][0])
            except Exception:  # only a display nicety: the read below reports a broken relation
                run.rows_expected = None
        sql = rows_query(
            self.target, plan, full_refresh=self.full_refresh, trust_not_found=run.trust_not_found
        )
        tracked = "hubspot_sync__kind" in sql  # change detection
        if tracked:
            run.track_changes()
        guarded = not (self.force or run.dry_run) and (
            plan.config.max_daily_share is not None or plan.config.max_change_share is not None
        )
        error, steady = None, None

        def read() -> Iterator[Any]:  # a model unchanged since a settled run: its counts, no row (steady.py)
            if steady is not None and steady.counts is not None:
                return iter([([], steady.count_rows())])
            return source.stream(sql, READ_CHUNK)

        try:
            if tracked:
                steady = Steady.for_run(
                    source, plan, run.run.run_id, full_refresh=self.full_refresh, trusted=p.trusts_every_miss
                )
            chunks = read()
            if guarded:
                reread = lambda: (rows for _n, rows in read())  # noqa: E731
                chunks, problem = guard_stream(plan, run, chunks, tracked, reread)
                if problem is not None:
                    return p.finish(problem)  # refused before sending: failed, nothing read
            for _names, rows in chunks:
                p.feed(rows)
                if run.stopped or p.result is not None:
                    break
        except Exception as exc:  # the warehouse read broke: the run is failed, what was done stays logged
            error = f"reading {plan.relation} failed: {oneline(exc)}"
        result = p.finish(error)
        if steady is not None and run.tracker is not None:
            steady.conclude(result, run.tracker.next_counts(), run.dry_run)
        return result

    def push_pending(
        self,
        plans: Sequence[SyncPlan],
        *,
        model: str | None = None,
        invocation_id: str | None = None,
        test_statuses: TestStatuses | None = None,
        preflight: bool = True,
    ) -> list[RunResult]:
        """Claim the pending builds of `plans` and push each exposure once for all its claimed builds.

        The latest claimed build made the table a push would read, so its tests decide (gate.py): when they did
        not pass, nothing is sent and the runs row says `failed` with `tests_failed` naming them."""
        results = []
        for plan in plans:
            if (self.cancel is not None and self.cancel.is_set()) or self.lost is not None:
                break  # interrupted or the warehouse is gone: the rest stays pending for the next push
            queue = PendingQueue(self.target, plan.log_schema)
            waiting = [
                p
                for p in queue.waiting(model=model, invocation_id=invocation_id)
                if p.exposure_name == plan.exposure
            ]
            owned = queue.claim(waiting)
            if not owned:
                continue
            verdict = gate_verdict(plan, owned[-1], test_statuses)
            if not verdict.ok:
                results.append(
                    self.gated_out(
                        plan.exposure,
                        plan.relation,
                        plan.log_schema,
                        invocation_id=owned[-1].invocation_id,
                        reason=verdict.reason or "tests_failed",
                        notify=plan.config.notify,
                    )
                )
                queue.done(owned)
                continue
            if preflight:
                try:
                    [plan] = preflight_properties([plan], self.client_for(plan))
                except BaseException:
                    queue.release(owned)  # a config error: the builds stay pending for the push after the fix
                    raise
            result = self.push(plan, self.announce(plan, invocation_id=owned[-1].invocation_id))
            results.append(result)
            if self.lost is not None:
                continue  # the claims expire: the next pusher takes these builds again
            if (self.cancel is not None and self.cancel.is_set()) or _busy(result):
                queue.release(owned)  # not pushed: the next push takes these builds again
            else:
                queue.done(owned)
        return results

    def gated_out(
        self,
        exposure: str,
        relation: str,
        log_schema: str,
        *,
        invocation_id: str | None,
        reason: str,
        notify: NotifyConfig | None,
    ) -> RunResult:
        """The runs row of a push the gate stopped (failed, nothing read); its webhook hears of it."""
        self.ensure_log_tables([log_schema])
        return record_gated_out(
            self._guarded,
            log_schema,
            exposure,
            relation,
            trigger=self.trigger,
            invocation_id=invocation_id,
            reason=reason,
            notify=notify,
        )

    # -- the warehouse gone ------------------------------------------------------------------------------
    def record_lost(self, run: SyncRun, exc: WarehouseLostError) -> RunResult:
        """End `run` failed without its warehouse: stop sending, let in-flight calls land, then write the end
        state through a fresh connection when one can be had (else the next run marks the row stale)."""
        self.lost = self.lost or exc
        return self._end_lost(run, run.abandon(f"warehouse_lost: {exc}"))

    def _end_lost(self, run: SyncRun, result: RunResult) -> RunResult:
        """End an abandoned run (engine/ending.py): its runs row through a fresh connection when one can be had
        (else the next run marks it stale), and its webhook told, as every end is."""
        notify, dry = run.plan.config.notify, run.dry_run
        if self._reconnect is not None:
            try:
                with self._reconnect() as fresh:
                    log_ = RunLog(fresh, run.plan.log_schema)
                    end_run(log_, run.run, result.status, result.counters, result.error, notify, dry_run=dry)
                return result
            except Exception as again:  # still gone: the next run finds the row stale and marks it failed
                log.warning("could not record run %s as failed: %s", result.run_id, oneline(again))
                result.error = (
                    f"{result.error}; the runs row could not be updated (the next run marks it stale)"
                )
        end_run(None, run.run, result.status, result.counters, result.error, notify, dry_run=dry)
        return result

    def _not_started(self, plan: SyncPlan, run: SyncRun | None) -> RunResult:
        reason = f"not run: {self.lost}"
        if run is not None:
            return self._end_lost(run, run.abandon(reason))
        return RunResult("", plan.exposure, "failed", Counters(), reason)


@dataclass
class Push:
    """One run between `begin` and `finish`: the writer lease held, rows fed in chunks."""

    pipeline: Pipeline
    run: SyncRun
    fed: bool = True
    lease: WriterLease | None = None
    recheck: Recheck | None = None
    result: RunResult | None = None

    @property
    def trusts_every_miss(self) -> bool:
        """This run reports every remembered miss not_found without a lookup, and the search forgot none."""
        return self.run.trust_not_found and not (self.recheck is not None and self.recheck.forgotten)

    def begin(self) -> None:
        run, pipe = self.run, self.pipeline
        try:
            if not run.dry_run:  # a dry run sends no write: it needs no turn
                self.lease = WriterLease(
                    pipe._guarded, run.plan.log_schema, run.plan.exposure, run.run.run_id
                )
                self.lease.acquire(run.plan.config.writer_wait_seconds, on_wait=self._waiting)
            self.recheck = plan_recheck(
                pipe._guarded,
                run.plan,
                pipe.client_for(run.plan),
                full_refresh=pipe.full_refresh,
                dry_run=run.dry_run,
            )
            run.trust_not_found = self.recheck.trust and not (self.fed and self.recheck.forgotten)
            run.start()
        except WriterBusyError as exc:
            self.lease = None
            self.result = run.finish(f"{WRITER_BUSY}: {exc}")
        except WarehouseLostError as exc:
            self.result = pipe.record_lost(run, exc)

    def _waiting(self, holder: Holder) -> None:
        log.warning(
            "exposure '%s' is being pushed by %s: waiting for it to finish",
            self.run.plan.exposure,
            holder.describe(),
        )

    def feed(self, rows: Sequence[Sequence[Any]]) -> None:
        """Rows fed after the run ended (refused, warehouse gone) are not read: the next run reads them."""
        if self.result is not None:
            return
        try:
            self.run.feed(rows)
        except WarehouseLostError as exc:
            self.result = self.pipeline.record_lost(self.run, exc)

    def finish(self, error: str | None = None) -> RunResult:
        if self.result is None:
            try:
                self.result = self.run.finish(error)
                if self.recheck is not None and not self.run.dry_run and self.result.status != "failed":
                    record_recheck(self.pipeline._guarded, self.run.plan, self.recheck, self.result.run_id)
            except WarehouseLostError as exc:
                self.result = self.result or self.pipeline.record_lost(self.run, exc)
        if self.lease is not None and self.pipeline.lost is None:
            try:
                self.lease.release()
            except WarehouseLostError:
                pass  # the run's end state released it already
        return self.result


def _busy(result: RunResult) -> bool:
    return (result.error or "").startswith(f"{WRITER_BUSY}:")
