"""A model unchanged since a settled run costs one scan, not a classification of every row.

A run whose rows query shipped nothing (every row settled in the warehouse: changes.py), closed no rejection and
failed nothing leaves a *steady mark*: the model's fingerprint (macros/_internal/_model_fingerprint.sql, salted
with what shapes what is sent) and the warehouse's counts of that run. The next run of the exposure computes the
fingerprint first; when it equals the mark, nothing it would read can differ from what the marked run read, so
its count rows are the mark's and no row is classified. That holds only while nothing else changed what the rows
query reads, so a mark counts only when:
- its run is the exposure's latest run in this log schema (any later run, even a failed one, may have written
  state or rejections), and the fingerprint was the same before and after that run read the model;
- this run trusts every remembered miss and forgot none (rechecks.py), is no `--full-refresh` and mirrors no list
  (list_mirror.py needs every row).
Marks are rows of hubspot_sync_checks (kind `steady`, the fingerprint and counts as JSON in `detail`).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dbt_hubspot_sync.checks.rechecks import Checks
from dbt_hubspot_sync.config.plan import SyncPlan
from dbt_hubspot_sync.engine.changes import (
    EXTRA_COLUMNS,
    FINGERPRINT,
    KIND,
    KNOWN,
    ROWS,
    RULES_VERSION,
    SETTLED,
    fingerprint_salt,
)
from dbt_hubspot_sync.engine.outcomes import RunResult
from dbt_hubspot_sync.tables.log_target import oneline
from dbt_hubspot_sync.tables.run_log import RUNS_TABLE, utcnow

log = logging.getLogger(__name__)
STEADY = "steady"
# (settled outcome or 'ship', known by id, rows): one count row of the rows query
Count = tuple[str, bool, int]


@dataclass
class Steady:
    """One run's use of the steady mark: `counts` set when this run may take the mark's counts as its own."""

    target: Any
    plan: SyncPlan
    run_id: str
    fingerprint: str
    counts: list[Count] | None = None
    # The DuckDB post-hook reads the model inside the transaction that built it: nothing can rebuild it meanwhile.
    model_locked: bool = False

    @classmethod
    def for_run(
        cls,
        target: Any,
        plan: SyncPlan,
        run_id: str,
        *,
        full_refresh: bool,
        trusted: bool,
        fingerprint: Sequence[Any] | None = None,
    ) -> Steady | None:
        """None where a mark cannot be used or left (a full refresh, a mirrored list, an untrusted miss).
        `fingerprint`: the _model_fingerprint row, where the door computed it (the post-hook's SQL)."""
        if full_refresh or not trusted or plan.config.list_mode == "mirror":
            return None
        locked = fingerprint is not None
        try:
            steady = cls(
                target, plan, run_id, model_fingerprint(target, plan, fingerprint), model_locked=locked
            )
            mark = _latest_mark(target, plan)
            usable = mark is not None and mark[0] == steady.fingerprint
            if usable and mark is not None and mark[1] == _previous_run(target, plan, run_id):
                steady.counts = mark[2]
                log.info(
                    "exposure '%s': the model is unchanged since run %s, which settled every row: its counts"
                    " stand, no row is read",
                    plan.exposure,
                    mark[1],
                )
        except Exception as exc:  # only a saving (e.g. a warehouse without the hash function): read the rows
            log.warning("exposure '%s': no steady mark this run: %s", plan.exposure, oneline(exc))
            return None
        return steady

    def count_rows(self) -> list[tuple[Any, ...]]:
        """The mark's counts as the rows query's `count` rows (changes.extras reads them)."""
        assert self.counts is not None
        pad = (None,) * (5 + len(self.plan.properties))
        rows = []
        for settled, known, n in self.counts:
            x: list[Any] = [None] * len(EXTRA_COLUMNS)
            x[FINGERPRINT], x[KIND], x[SETTLED], x[KNOWN], x[ROWS] = (
                str(len(self.counts)),
                "count",
                settled,
                known,
                n,
            )
            rows.append((*pad, *x))
        return rows

    def conclude(self, result: RunResult, counts: Sequence[Count], closed: int, dry_run: bool) -> None:
        """Leave a mark when the run read a model it settled entirely, and the model did not change meanwhile."""
        c = result.counters
        settled = result.rows_shipped == 0 and not closed and c.rows_failed == 0 and c.rows_updated == 0
        if dry_run or result.status != "completed" or not settled:
            return
        try:
            if (
                self.counts is None
                and not self.model_locked
                and model_fingerprint(self.target, self.plan) != self.fingerprint
            ):
                return  # rebuilt while this run read it: the counts are of neither version
            detail = json.dumps({"fingerprint": self.fingerprint, "counts": [list(x) for x in counts]})
            checks = Checks(self.target, self.plan.log_schema, self.plan.exposure)
            checks.record(STEADY, utcnow(), self.run_id, detail)
        except Exception as exc:  # only a saving for the next run: it reads the rows instead
            log.warning("exposure '%s': could not leave a steady mark: %s", self.plan.exposure, oneline(exc))


def model_fingerprint(target: Any, plan: SyncPlan, row: Sequence[Any] | None = None) -> str:
    """The model's fingerprint over the columns a run reads (`row`: computed by the door's own SQL), salted with
    what shapes what they send."""
    if row is None:
        columns = list(dict.fromkeys([plan.email_column, *plan.columns]))
        [row] = target.execute(target.render("_model_fingerprint", relation=plan.relation, columns=columns))
    salt = hashlib.md5(f"{fingerprint_salt(plan)}|{plan.email_column}|{RULES_VERSION}".encode()).hexdigest()
    return "|".join([salt, *(str(v) for v in row)])


def _latest_mark(target: Any, plan: SyncPlan) -> tuple[str, str, list[Count]] | None:
    """(fingerprint, run id, counts) of the exposure's latest steady mark."""
    latest = Checks(target, plan.log_schema, plan.exposure).latest(STEADY)
    if latest is None or latest[1] is None:
        return None
    detail = json.loads(latest[1])
    counts = [(str(s), bool(known), int(n)) for s, known, n in detail["counts"]]
    return str(detail["fingerprint"]), latest[0], counts


def _previous_run(target: Any, plan: SyncPlan, run_id: str) -> str | None:
    """The exposure's latest run before `run_id` (whatever its status)."""
    p = target.placeholder
    rows = target.execute(
        f"select run_id from {target.relation(plan.log_schema, RUNS_TABLE)}"
        f" where exposure_name = {p} and run_id <> {p} order by started_at desc limit 1",
        [plan.exposure, run_id],
    )
    return str(rows[0][0]) if rows else None
