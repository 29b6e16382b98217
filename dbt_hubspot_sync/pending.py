"""Pending syncs: rows the post-hook writes inside a model's transaction (adapters other than DuckDB).

A row exists if and only if its model committed. A pusher claims rows with a conditional UPDATE (the warehouse
serialises competing claims on the row), pushes the exposure once for all its claimed rows, then deletes them.
A pusher that dies after claiming leaves a claim that expires after `CLAIM_LEASE`; the next pusher takes it
over, so nothing stays pending forever (HubSpot updates are idempotent: a repeated push converges).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import timedelta

from .run_log import SqlTarget, utcnow

PENDING_TABLE = "hubspot_sync_pending"
CLAIM_LEASE = timedelta(hours=1)


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
    def __init__(self, target: SqlTarget, schema: str) -> None:
        self.target = target
        self.table = target.relation(schema, PENDING_TABLE)
        self._p = target.placeholder
        self.claimer = f"claim-{uuid.uuid4()}"

    def waiting(self, *, model: str | None = None, invocation_id: str | None = None) -> list[Pending]:
        """Unclaimed rows (or rows whose claim expired), oldest first."""
        sql = (
            f"select pending_id, exposure_name, model_unique_id, invocation_id, gate_tests, gate_results"
            f" from {self.table}"
            f" where (claimed_by is null or claimed_at < {self._p})"
        )
        params: list = [utcnow() - CLAIM_LEASE]
        if model is not None:
            sql += f" and model_unique_id = {self._p}"
            params.append(model)
        if invocation_id is not None:
            sql += f" and invocation_id = {self._p}"
            params.append(invocation_id)
        rows = self.target.execute(sql + " order by created_at, pending_id", params)
        return [
            Pending(*row[:4], tuple(json.loads(row[4] or "[]")), json.loads(row[5]) if row[5] else None)
            for row in rows
        ]

    def claim(self, items: list[Pending]) -> list[Pending]:
        """The items this pusher now owns; others were claimed by a competing pusher in between."""
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
        for item in items:
            self.target.execute(
                f"delete from {self.table} where pending_id = {self._p} and claimed_by = {self._p}",
                [item.pending_id, self.claimer],
            )

    def release(self, items: list[Pending]) -> None:
        """Give claims back unpushed (the push was interrupted): the next pusher takes them at once."""
        for item in items:
            self.target.execute(
                f"update {self.table} set claimed_by = null, claimed_at = null"
                f" where pending_id = {self._p} and claimed_by = {self._p}",
                [item.pending_id, self.claimer],
            )
