"""The DuckDB post-hook's side of change detection in the warehouse (changes.py): one statement hands the plugin
only the rows that need work, with the warehouse's counts of the rest, instead of an estimate statement and a
push statement that each read the whole model.

    select sum(dbt_hubspot_sync_push_changes(ctx, ..., [values], [extras])) from (<sync_rows_query with changes>)

The query's salt, validation rules and trust in remembered misses exist in Python only (the run begins on the
first call): `dbt_hubspot_sync_changes(ctx)` returns them ('salt md5|rules|true'), read once by the query. The
guards are checked once every `count` row arrived (each says how many there are; DuckDB's threads may hand rows
over out of order, so rows before them wait, unsent).

Before that statement, the hook's Jinja hands `dbt_hubspot_sync_steady(ctx, [fingerprint])` the model's
fingerprint (engine/steady.py): when the model is unchanged since the exposure's last run, the run takes the counts
that run's mark foresaw here and the statement that reads the rows is left out ('mark'); else it runs ('read').
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from dbt_hubspot_sync.checks.guards import from_counts
from dbt_hubspot_sync.doors.hook_run import HookRun
from dbt_hubspot_sync.engine.changes import RULES_VERSION, fingerprint_salt
from dbt_hubspot_sync.engine.outcomes import RunResult
from dbt_hubspot_sync.engine.steady import Steady

FEED_CHUNK = 2000


def changes_value(hook: HookRun) -> str:
    """'md5 of the salt|rules version|trust' for the query of this hook's run."""
    if hook.plan is None or hook.push is None:
        return "-|-|false"  # the run did not begin (config error): its finish reports it, nothing is read
    salt = hashlib.md5(fingerprint_salt(hook.plan).encode("utf-8")).hexdigest()
    trust = "true" if hook.push.run.trust_not_found else "false"
    return f"{salt}|{RULES_VERSION}|{trust}"


def extras_row(row: tuple, extras: list[str | None]) -> tuple:
    """The row with its change-detection columns in the types the run reads (changes.extras)."""
    fp, key, outcome, reason, kind, settled, known, rows = extras
    return (*row, fp, key, outcome, reason, kind, settled, known == "1", int(rows) if rows else 0)


def take(hook: HookRun, row: tuple, guard: Any) -> None:
    """One row of the statement (under the hook's lock): counts gathered, the guards checked once they are all
    in (`guard(hook)`, guards.py), then rows fed in chunks."""
    push = hook.push
    if push is None:
        return
    if push.run.tracker is None:
        push.run.track_changes()
    hook.buffer.append(row)
    if row[-4] == "count":
        hook.counts.append(row)
        hook.count_rows = int(row[-8])
    if not hook.guarded:
        if hook.count_rows is None or len(hook.counts) < hook.count_rows:
            return
        settle_guard(hook, guard)
    if len(hook.buffer) >= FEED_CHUNK:
        chunk, hook.buffer = hook.buffer, []
        push.feed(chunk)


def settle_guard(hook: HookRun, guard: Any) -> None:
    """The guards from the counts (once; at the latest when the statement ended)."""
    if hook.guarded or hook.plan is None:
        return
    hook.guarded = True
    hook.estimate = from_counts(hook.counts, len(hook.plan.properties))
    guard(hook)


def steady(hook: HookRun, fingerprint: Sequence[Any], guard: Any) -> str:
    """'mark' when this run takes the counts of the model's steady mark (fed now, as count rows); else 'read'."""
    push = hook.push
    if push is None or hook.plan is None or push.result is not None:
        return "read"  # not begun, or ended already: the statements report it as ever
    hook.steady = Steady.for_run(
        push.pipeline.target,
        hook.plan,
        push.run.run.run_id,
        full_refresh=False,
        trusted=push.trusts_every_miss,
        fingerprint=fingerprint,
    )
    if hook.steady is None or hook.steady.counts is None:
        return "read"
    for row in hook.steady.count_rows():
        take(hook, row, guard)
    return "mark"


def conclude(hook: HookRun, result: RunResult) -> None:
    """Leave this run's steady mark (steady.py says when: a run that completed and foresaw the next run's counts)."""
    push = hook.push
    if hook.steady is None or push is None or push.run.tracker is None:
        return
    tracker = push.run.tracker
    hook.steady.conclude(result, tracker.next_counts(), push.run.dry_run)
