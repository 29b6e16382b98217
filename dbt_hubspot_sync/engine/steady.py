"""A model unchanged since the exposure's last run costs one scan, not a classification of every row.

A run leaves a *steady mark*: the model's fingerprint (macros/_internal/_model_fingerprint.sql, salted with what
shapes what is sent) and the counts the next run's rows query (changes.py) would make of it: this run's own counts
when it shipped nothing, else its forecast (forecast.py: what it settled stays settled, what it shipped is
classified from what it wrote for each row). The next run of the exposure computes the fingerprint first; when
it equals the mark, nothing it would read can differ from what the marked run read, so its count rows are the
mark's and no row is classified. That holds only while nothing else changed what the rows query reads, so a mark
counts only when:
- its run is the exposure's latest run in this log schema (any later run, even a failed one, may have written
  state or rejections), the state and rejection tables are as it left them (log_digest), and the fingerprint
  was the same before and after that run read the model;
- the marked run completed with nothing failed and foresaw every row it shipped (forecast.py says when not);
- this run trusts every remembered miss and forgot none (rechecks.py: a run that looks misses up may leave a
  mark, as the next run's query counts misses it trusts), is no `--full-refresh` and mirrors no list
  (list_mirror.py needs every row).
Marks are rows of hubspot_sync_checks (kind `steady`, the fingerprint and counts as JSON in `detail`). With
DBT_HUBSPOT_SYNC_VERIFY_MARKS=1 (the test suite sets it) each mark is checked against the warehouse's own
classification when it is left, and a difference raises: it is a defect of the forecast.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
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
    REJECTIONS_TABLE,
    ROWS,
    RULES_VERSION,
    SETTLED,
    fingerprint_salt,
    rows_query,
)
from dbt_hubspot_sync.engine.outcomes import RunResult
from dbt_hubspot_sync.tables.log_target import oneline
from dbt_hubspot_sync.tables.run_log import RUNS_TABLE, utcnow
from dbt_hubspot_sync.tables.state import SyncState

log = logging.getLogger(__name__)
STEADY = "steady"
VERIFY_ENV = "DBT_HUBSPOT_SYNC_VERIFY_MARKS"
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
    digest: tuple[str, int] | None = None  # log_digest when the mark was taken (what this run leaves as its own)

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
        """None where a mark cannot be used or left (a full refresh, a mirrored list). A run that does not trust
        every remembered miss (`trusted`: it looks some up) may leave a mark, never take one.
        `fingerprint`: the _model_fingerprint row, where the door computed it (the post-hook's SQL)."""
        if full_refresh or plan.config.list_mode == "mirror":
            return None
        locked = fingerprint is not None
        try:
            steady = cls(
                target, plan, run_id, model_fingerprint(target, plan, fingerprint), model_locked=locked
            )
            mark = _latest_mark(target, plan) if trusted else None
            if mark is not None and mark.fingerprint == steady.fingerprint:
                steady.digest = log_digest(target, plan)
                # This run's own runs row is the one written since the mark's run left it.
                if mark.digest == (steady.digest[0], steady.digest[1] - 1):
                    steady.counts = mark.counts
                    log.info(
                        "exposure '%s': the model is unchanged since run %s, the exposure's last, and so are the"
                        " state and rejections it left: its mark's counts stand, no row is read",
                        plan.exposure,
                        mark.run_id,
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

    def conclude(self, result: RunResult, counts: Sequence[Count] | None, dry_run: bool) -> None:
        """Leave the mark `counts` (the next run's count rows as this run foresees them: Tracker.next_counts;
        None: not foreseen) of a run that completed, unless the model changed while the run read it."""
        if dry_run or result.status != "completed" or counts is None or result.counters.rows_failed:
            return
        try:
            if (
                self.counts is None
                and not self.model_locked
                and model_fingerprint(self.target, self.plan) != self.fingerprint
            ):
                return  # rebuilt while this run read it: the counts are of neither version
            if os.environ.get(VERIFY_ENV) == "1" and not self.model_locked:
                self._verify(counts)
            # A run counted from a mark wrote no state and no rejection: the log is as it found it.
            found = self.digest if self.counts is not None else None
            tables, runs = found or log_digest(self.target, self.plan)
            mark = {"fingerprint": self.fingerprint, "counts": [list(x) for x in counts], "tables": tables}
            mark["runs"] = runs
            detail = json.dumps(mark)
            checks = Checks(self.target, self.plan.log_schema, self.plan.exposure)
            checks.record(STEADY, utcnow(), self.run_id, detail)
        except AssertionError:
            raise
        except Exception as exc:  # only a saving for the next run: it reads the rows instead
            log.warning("exposure '%s': could not leave a steady mark: %s", self.plan.exposure, oneline(exc))

    def _verify(self, counts: Sequence[Count]) -> None:
        """The warehouse's classification now (what the next run computes unless it takes the mark) equals it."""
        sql = rows_query(self.target, self.plan, trust_not_found=True)
        got, closed = [], 0
        for kind, settled, known, n in self.target.execute(
            "select hubspot_sync__kind, hubspot_sync__settled, hubspot_sync__known, hubspot_sync__rows"
            f" from ({sql}) as hubspot_sync__q where hubspot_sync__kind <> 'row'"
        ):
            if kind == "count":
                got.append((str(settled), bool(known), int(n)))
            else:
                closed += 1
        mine = sorted((str(s), bool(k), int(n)) for s, k, n in counts)
        if sorted(got) != mine or closed:
            raise AssertionError(
                f"exposure '{self.plan.exposure}', run {self.run_id}: the steady mark {mine} is not the"
                f" warehouse's classification {sorted(got)} ({closed} records to close)"
            )


def model_fingerprint(target: Any, plan: SyncPlan, row: Sequence[Any] | None = None) -> str:
    """The model's fingerprint over the columns a run reads (`row`: computed by the door's own SQL), salted with
    what shapes what they send."""
    if row is None:
        columns = list(dict.fromkeys([plan.email_column, *plan.columns]))
        [row] = target.execute(target.render("_model_fingerprint", relation=plan.relation, columns=columns))
    salt = hashlib.md5(f"{fingerprint_salt(plan)}|{plan.email_column}|{RULES_VERSION}".encode()).hexdigest()
    return "|".join([salt, *(str(v) for v in row)])


@dataclass(frozen=True)
class Mark:
    fingerprint: str
    run_id: str
    counts: list[Count]
    digest: tuple[str | None, int]  # log_digest when it was left


def _latest_mark(target: Any, plan: SyncPlan) -> Mark | None:
    latest = Checks(target, plan.log_schema, plan.exposure).latest(STEADY)
    if latest is None or latest[1] is None:
        return None
    detail = json.loads(latest[1])
    counts = [(str(s), bool(known), int(n)) for s, known, n in detail["counts"]]
    runs = detail.get("runs")  # (a mark of an earlier release has neither: never taken)
    digest = (detail.get("tables"), -1 if runs is None else int(runs))
    return Mark(str(detail["fingerprint"]), latest[0], counts, digest)


def log_digest(target: Any, plan: SyncPlan) -> tuple[str, int]:
    """(row count and latest write of the exposure's state and rejection events, its runs): the state and the
    events only grow or are rewritten by the product, so a hand edit of either voids a mark; one run more than
    the mark's run saw is this run itself, any other voids it too. One statement (each costs a poll on Spark)."""
    p = target.placeholder
    state = SyncState(target, plan.log_schema)
    parts = [
        (state.versions or state.table, "synced_at"),
        (target.relation(plan.log_schema, REJECTIONS_TABLE), "logged_at"),
        (target.relation(plan.log_schema, RUNS_TABLE), "started_at"),
    ]
    sql = " union all ".join(
        f"select {i} as part, count(*) as n, max({at}) as latest from {table} where exposure_name = {p}"
        for i, (table, at) in enumerate(parts)
    )
    rows = sorted(target.execute(sql, [plan.exposure] * len(parts)), key=lambda r: int(r[0]))
    (_, sn, sat), (_, rn, rat), (_, runs, _) = rows
    return f"{sn}@{sat}|{rn}@{rat}", int(runs)
