"""Not-found rows at the cost of what changed in HubSpot, not of how many there are.

A miss is remembered in `hubspot_sync_state` (state.NOT_FOUND) and not looked up again while it can be trusted.
Before each run the pipeline asks HubSpot's search which contacts were created since the last check (with an
overlap for search's indexing lag) and forgets the misses whose email one of them has, as its primary email or
one of its `hs_additional_emails`: those are looked up, and updated, by this run. A contact whose *email changed*
to one the model has is not a new contact, and `lastmodifieddate` is no help (the sync's own updates move it), so
every `not_found_recheck_hours` (default 24) a run trusts no miss and looks every one of them up again; so does
`--full-refresh`, and so does a run whose search failed or could not list every new contact.

The checks are kept per exposure in `hubspot_sync_checks` (append-only: kind `created` or `full`, the time the
check covered up to), written once the run finished, so a failed run's window is searched again. The same table
keeps the steady marks (kind `steady`, engine/steady.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from dbt_hubspot_sync.config.plan import SyncPlan
from dbt_hubspot_sync.hubspot import HubSpotClient, HubSpotError
from dbt_hubspot_sync.tables.run_log import SqlTarget, utcnow
from dbt_hubspot_sync.tables.state import SyncState

CHECKS_TABLE = "hubspot_sync_checks"
# Search results lag writes by a few seconds: each window starts this long before the last one ended.
SEARCH_OVERLAP = timedelta(minutes=10)
SEARCH_PROPERTIES = ("email", "hs_additional_emails")


@dataclass
class Recheck:
    """What this run may trust, and the check it records once it finished."""

    trust: bool  # remembered misses are reported not_found without a request
    kind: str  # "created" (a search since the last check) or "full" (every miss looked up)
    until: datetime  # what the check covers up to
    reason: str
    forgotten: list[str] = field(default_factory=list)  # misses a new contact now has: looked up this run


class Checks:
    def __init__(self, target: SqlTarget, schema: str, exposure: str) -> None:
        self.target, self.exposure = target, exposure
        self.table = target.relation(schema, CHECKS_TABLE)
        self._p = target.placeholder

    def last(self, kind: str) -> datetime | None:
        rows = self.target.execute(
            f"select max(checked_until) from {self.table} where exposure_name = {self._p} and kind = {self._p}",
            [self.exposure, kind],
        )
        return rows[0][0] if rows and rows[0][0] is not None else None

    def latest(self, kind: str) -> tuple[str, str | None] | None:
        """(run id, detail) of the latest check of `kind`."""
        rows = self.target.execute(
            f"select run_id, detail from {self.table} where exposure_name = {self._p} and kind = {self._p}"
            " order by recorded_at desc limit 1",
            [self.exposure, kind],
        )
        return (str(rows[0][0]), rows[0][1]) if rows else None

    def record(self, kind: str, until: datetime, run_id: str, detail: str | None = None) -> None:
        self.target.execute(
            f"insert into {self.table} (exposure_name, kind, checked_until, run_id, recorded_at, detail)"
            f" values ({self._p}, {self._p}, {self._p}, {self._p}, {self._p}, {self._p})",
            [self.exposure, kind, until, run_id, utcnow(), detail],
        )


def new_contact_emails(contacts: Iterable[dict]) -> set[str]:
    """Primary and secondary emails (`hs_additional_emails` is `;`-separated) of contacts, lower-case."""
    emails: set[str] = set()
    for props in contacts:
        for value in (props.get("email"), *(str(props.get("hs_additional_emails") or "").split(";"))):
            text = str(value or "").strip().lower()
            if text:
                emails.add(text)
    return emails


def plan_recheck(
    target: SqlTarget,
    plan: SyncPlan,
    client: HubSpotClient,
    *,
    full_refresh: bool,
    dry_run: bool,
    now: datetime | None = None,
) -> Recheck:
    """Decide what this run trusts; forget the misses a new contact has (not in a dry run: it writes nothing)."""
    now = now or utcnow()
    if full_refresh:
        return Recheck(False, "full", now, "--full-refresh looks every row up")
    checks = Checks(target, plan.log_schema, plan.exposure)
    last_full = checks.last("full")
    period = timedelta(hours=plan.config.not_found_recheck_hours)
    if last_full is None or now - last_full >= period:
        return Recheck(False, "full", now, "the periodic full recheck of misses is due")
    state = SyncState(target, plan.log_schema)
    if not state.count_not_found(plan.exposure):
        return Recheck(True, "created", now, "no remembered misses: nothing to recheck")
    since = max(last_full, checks.last("created") or last_full) - SEARCH_OVERLAP
    search = getattr(client, "search_created", None)
    if search is None:  # a client without HubSpot's search (a test double): trust no miss
        return Recheck(False, "full", now, "no search for new contacts: every miss is looked up")
    try:
        contacts, complete = search(since, now, SEARCH_PROPERTIES)
    except HubSpotError as exc:
        return Recheck(False, "full", now, f"HubSpot's search failed ({exc}): every miss is looked up again")
    if not complete:
        return Recheck(False, "full", now, "more new contacts than search can list: every miss looked up")
    emails = sorted(new_contact_emails(contacts))
    if dry_run:
        # Nothing is written: a miss a new contact has would be reported wrongly, so trust none of them.
        return Recheck(
            not emails, "created", now, f"{len(emails)} new contact emails since {since:%Y-%m-%d %H:%M}"
        )
    forgotten = state.forget_not_found(plan.exposure, emails)
    return Recheck(
        True, "created", now, f"{len(contacts)} contacts created since {since:%Y-%m-%d %H:%M}", forgotten
    )


def record_recheck(target: SqlTarget, plan: SyncPlan, recheck: Recheck, run_id: str) -> None:
    Checks(target, plan.log_schema, plan.exposure).record(recheck.kind, recheck.until, run_id)
