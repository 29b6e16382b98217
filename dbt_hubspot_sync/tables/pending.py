"""Pending syncs: rows the post-hook writes inside a model's transaction (adapters other than DuckDB).

A row exists if and only if its model committed. A pusher claims rows with a conditional UPDATE (the warehouse
serialises competing claims on the row), pushes the exposure once for all its claimed rows, then deletes them.
A pusher that dies after claiming leaves a claim that expires after `CLAIM_LEASE`; the next pusher takes it
over, so nothing stays pending forever (HubSpot updates are idempotent: a repeated push converges).

Append-only targets (Spark, Databricks: no UPDATE or DELETE) keep the post-hook's rows as they are (in
`hubspot_sync_pending_builds`; `hubspot_sync_pending` is the view of those not done yet) and write what happens
to them as rows of `hubspot_sync_pending_events`: `choosing`, `claimed` (with a ticket),
`released`, `done`, and `gate_results` (the test statuses the package's on-run-end keeps). Without a conditional
UPDATE to serialise claims, competing claimers run Lamport's bakery over those inserts and reads, as the
writer queue does (writer.py): each announces it is choosing, takes a ticket above every live one it sees, waits
until no other claimer is still choosing, and the smallest (ticket, claimer) owns the row; the others record
that they let it go. A claim is live until released, done, or older than `CLAIM_LEASE`; a `choosing` row older
than `CHOOSING_TIMEOUT` belongs to a claimer that died in between.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from dbt_hubspot_sync.tables.run_log import (
    SqlTarget,
    append_only,
    in_list,
    insert_rows,
    rows_per_statement,
    utcnow,
)

PENDING_TABLE = "hubspot_sync_pending"
# Append-only targets: the post-hook's rows, and what happened to each (hubspot_sync_pending is a view of both).
PENDING_BUILDS_TABLE = "hubspot_sync_pending_builds"
PENDING_EVENTS_TABLE = "hubspot_sync_pending_events"
CLAIM_LEASE = timedelta(hours=1)
CHOOSING_TIMEOUT = timedelta(minutes=2)
POLL_SECONDS = 0.2
_EVENT_ORDER = {"choosing": 0, "claimed": 1, "released": 2}  # one claimer's events in the same microsecond


@dataclass(frozen=True)
class Pending:
    pending_id: str
    exposure_name: str
    model_unique_id: str
    invocation_id: str | None
    # Tests of the same dbt invocation attached to the exposure's model: the push waits for them (gate.py).
    gate_tests: tuple[str, ...] = ()
    # Their statuses, kept by the package's on-run-end (run_results.json is replaced by the next dbt command).
    gate_results: dict[str, str] | None = None


class PendingQueue:
    def __init__(self, target: SqlTarget, schema: str, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.target = target
        self.table = target.relation(schema, PENDING_TABLE)
        self.append_only = append_only(target)
        self.events = target.relation(schema, PENDING_EVENTS_TABLE) if self.append_only else None
        self.builds = target.relation(schema, PENDING_BUILDS_TABLE) if self.append_only else self.table
        self._p = target.placeholder
        self._sleep = sleep
        self.claimer = f"claim-{uuid.uuid4()}"

    def waiting(self, *, model: str | None = None, invocation_id: str | None = None) -> list[Pending]:
        """Unclaimed rows (or rows whose claim expired), oldest first."""
        p = self._p
        cols = "p.pending_id, p.exposure_name, p.model_unique_id, p.invocation_id, p.gate_tests, p.gate_results"
        if self.events is None:
            sql = f"select {cols} from {self.table} p where (p.claimed_by is null or p.claimed_at < {p})"
            params: list = [utcnow() - CLAIM_LEASE]
        else:  # rows not done yet; their claims are read below
            sql = (
                f"select {cols} from {self.builds} p left join (select distinct pending_id from {self.events}"
                f" where event = 'done') d on d.pending_id = p.pending_id where d.pending_id is null"
            )
            params = []
        if model is not None:
            sql += f" and p.model_unique_id = {p}"
            params.append(model)
        if invocation_id is not None:
            sql += f" and p.invocation_id = {p}"
            params.append(invocation_id)
        rows = self.target.execute(sql + " order by p.created_at, p.pending_id", params or None)
        items = [
            Pending(*row[:4], tuple(json.loads(row[4] or "[]")), json.loads(row[5]) if row[5] else None)
            for row in rows
        ]
        if self.events is None:
            return items
        now, events = utcnow(), self._events([i.pending_id for i in items])
        out = []
        for item in items:
            state = _State(events.get(item.pending_id, []), now)
            if not state.claims:
                out.append(Pending(*_fields(item), gate_results=state.gate_results or item.gate_results))
        return out

    def claim(self, items: list[Pending]) -> list[Pending]:
        """The items this pusher now owns; others were claimed by a competing pusher in between."""
        if self.events is not None:
            return self._claim_append_only(items)
        now = utcnow()
        owned = []
        for item in items:
            self.target.execute(
                f"update {self.table} set claimed_by = {self._p}, claimed_at = {self._p}"
                f" where pending_id = {self._p} and (claimed_by is null or claimed_at < {self._p})",
                [self.claimer, now, item.pending_id, now - CLAIM_LEASE],
            )
            got = self.target.execute(
                f"select claimed_by from {self.table} where pending_id = {self._p}", [item.pending_id]
            )
            if got and got[0][0] == self.claimer:
                owned.append(item)
        return owned

    def done(self, items: list[Pending]) -> None:
        if self.events is not None:
            self._add_events(items, "done")
            return
        for item in items:
            self.target.execute(
                f"delete from {self.table} where pending_id = {self._p} and claimed_by = {self._p}",
                [item.pending_id, self.claimer],
            )

    def release(self, items: list[Pending]) -> None:
        """Give claims back unpushed (the push was interrupted): the next pusher takes them at once."""
        if self.events is not None:
            self._add_events(items, "released")
            return
        for item in items:
            self.target.execute(
                f"update {self.table} set claimed_by = null, claimed_at = null"
                f" where pending_id = {self._p} and claimed_by = {self._p}",
                [item.pending_id, self.claimer],
            )

    # -- append-only: the bakery over hubspot_sync_pending_events ---------------------------------------
    def _claim_append_only(self, items: list[Pending]) -> list[Pending]:
        if not items:
            return []
        ids = [i.pending_id for i in items]
        self._add_events(items, "choosing")
        now, events = utcnow(), self._events(ids)
        tickets: dict[str, int] = {}
        for item in items:
            state = _State(events.get(item.pending_id, []), now, me=self.claimer)
            if not state.done:
                tickets[item.pending_id] = 1 + max((t for t, _ in state.claims.values()), default=0)
        lost = [i for i in items if i.pending_id not in tickets]
        self._add_events([i for i in items if i.pending_id in tickets], "claimed", tickets)
        owned: list[Pending] = []
        undecided = [i for i in items if i.pending_id in tickets]
        while undecided:
            now, events = utcnow(), self._events([i.pending_id for i in undecided])
            still = []
            for item in undecided:
                state = _State(events.get(item.pending_id, []), now, me=self.claimer)
                mine = (tickets[item.pending_id], self.claimer)
                if state.done or any((t, c) < mine for c, (t, _) in state.claims.items()):
                    lost.append(item)
                elif state.choosing:
                    still.append(item)  # another claimer may be about to take a smaller ticket
                else:
                    owned.append(item)
            undecided = still
            if undecided:
                self._sleep(POLL_SECONDS)
        if lost:
            self._add_events(lost, "released")  # a ticket left behind would hold the row from later claimers
        return [i for i in items if i in owned]

    def _add_events(self, items: Sequence[Pending], event: str, tickets: dict[str, int] | None = None) -> None:
        if not items:
            return
        insert_rows(
            self.target,
            self.events or "",
            [("pending_id", "text"), ("ticket", "bigint")],
            [(i.pending_id, (tickets or {}).get(i.pending_id)) for i in items],
            [
                ("event", "text", event),
                ("claimed_by", "text", self.claimer),
                ("event_at", "timestamp", utcnow()),
            ],
        )

    def _events(self, ids: Sequence[str]) -> dict[str, list[tuple]]:
        """pending_id → its events (event, claimed_by, ticket, detail, event_at)."""
        out: dict[str, list[tuple]] = {}
        size = rows_per_statement(self.target)
        for i in range(0, len(ids), size):
            values, params = in_list(self.target, ids[i : i + size])
            for row in self.target.execute(
                f"select pending_id, event, claimed_by, ticket, detail, event_at from {self.events}"
                f" where pending_id in {values}",
                params,
            ):
                out.setdefault(row[0], []).append(tuple(row[1:]))
        return out


def _fields(item: Pending) -> tuple[Any, ...]:
    return (item.pending_id, item.exposure_name, item.model_unique_id, item.invocation_id, item.gate_tests)


class _State:
    """One pending row's events read at `now`: done or not, the live claims of other claimers than `me`
    (claimer → (ticket, claimed_at)), whether one of them is still choosing, the latest kept test results."""

    def __init__(self, events: Sequence[tuple], now: datetime, me: str | None = None) -> None:
        self.done = any(e[0] == "done" for e in events)
        latest: dict[str, tuple] = {}
        results: tuple | None = None
        for event, claimer, ticket, detail, at in events:
            if event == "gate_results":
                if results is None or (at or datetime.min) >= (results[1] or datetime.min):
                    results = (detail, at)
            elif event in _EVENT_ORDER and claimer and claimer != me:
                key = (at or datetime.min, _EVENT_ORDER[event])
                if claimer not in latest or key >= latest[claimer][0]:
                    latest[claimer] = (key, event, ticket)
        self.claims = {
            c: (int(t), k[0])
            for c, (k, e, t) in latest.items()
            if e == "claimed" and t is not None and k[0] >= now - CLAIM_LEASE
        }
        self.choosing = any(e == "choosing" and k[0] >= now - CHOOSING_TIMEOUT for k, e, _ in latest.values())
        self.gate_results = json.loads(results[0]) if results and results[0] else None
