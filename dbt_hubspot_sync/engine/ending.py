"""How a run ends, whatever ended it (its rows all landed, the gate stopped it, the warehouse went away): its runs
row gets the end state where the warehouse can still be written, and the exposure's webhook (notify.py) hears of
it by one rule: every end but a dry run's (a dry run changed nothing: nobody needs paging about it)."""

from __future__ import annotations

from dataclasses import asdict

from dbt_hubspot_sync.config.sync_config import NotifyConfig
from dbt_hubspot_sync.engine.notify import notify_run_end
from dbt_hubspot_sync.tables.run_log import Counters, RunLog, RunRow


def end_run(
    log: RunLog | None,
    row: RunRow,
    status: str,
    counters: Counters,
    message: str | None,
    notify: NotifyConfig | None,
    *,
    dry_run: bool = False,
) -> None:
    """Write the end state through `log` (None: the warehouse is gone, the next run marks the row stale), then
    announce it. A write that fails raises before anyone is told: the caller's warehouse-lost path ends the run."""
    if log is not None:
        log.finish_run(row.run_id, status, counters, message)
    announce_end(row, status, counters, message, notify, dry_run=dry_run)


def announce_end(
    row: RunRow,
    status: str,
    counters: Counters,
    message: str | None,
    notify: NotifyConfig | None,
    *,
    dry_run: bool = False,
) -> None:
    """Tell the exposure's webhook, if it asks for this status (never raises: notify.py)."""
    if not dry_run:
        notify_run_end(notify, row, status, asdict(counters), message)
