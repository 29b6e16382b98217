"""List mirroring (`list_mode: mirror`): the static list follows the audience, contacts that left it are removed.

What the sync added is remembered in `hubspot_sync_list_members`, an append-only table of membership events per
exposure and list (`added` when HubSpot reports the record added, `removed` once the sync removed it, `would_remove`
from a dry run): a record id is *owned* by the sync while its latest `added` is later than its latest `removed`.
Adds are recorded whenever a sync has a `list_id` (`list_mode: add` too), so switching to `mirror` later removes
what the sync added since. A contact that was already a member when the sync added it is not owned: someone else
put it there. Contacts an import adds (`push: import`, through the import's own list) are not recorded either:
HubSpot does not say which ids joined.

The audience of a run is the record ids its rows ended with: updated (or would be, in a dry run), unchanged by
the state (its record id) or ALREADY_IN_HUBSPOT, failed after the lookup, and a second email of one contact. Rows
whose record id the run never learnt (unchanged imported contacts, rows failed before any lookup, imported rows)
are kept as emails: a member about to be removed whose email (or one of its `hs_additional_emails`) is one of
them stays. Invalid rows, not-found rows and rows no longer in the model are not in the audience.

After a run that was not `failed` (a partial run never removes anyone), the members that left (owned ones, or
with `mirror_all: true` every member of the list, read with the paged GET memberships) are removed in chunks of
LIST_CHUNK ids and counted in the runs row's `list_removed`. A dry run removes nothing: it counts them in
`list_removed`, names a few in the runs row's note and records each as `would_remove`. A HubSpot error while
mirroring ends the run `completed_with_errors` (`failed` on the daily limit), naming what was removed; the next
run removes the rest.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from dbt_hubspot_sync.engine.parts import RunPart
from dbt_hubspot_sync.hubspot import LIST_CHUNK, DailyLimitError, HubSpotError
from dbt_hubspot_sync.tables.run_log import SqlTarget, insert_rows, utcnow

if TYPE_CHECKING:
    from dbt_hubspot_sync.engine.calls import Pushed
    from dbt_hubspot_sync.engine.parts import RunContext

log = logging.getLogger(__name__)

LIST_MEMBERS_TABLE = "hubspot_sync_list_members"
ADDED, REMOVED, WOULD_REMOVE = "added", "removed", "would_remove"
EXAMPLES = 10  # record ids a dry run names in the runs row's note (the table has them all)
EMAIL_PROPERTIES = ("email", "hs_additional_emails")
NOT_AUDIENCE = ("invalid", "duplicate", "not_found")  # rows settled locally that match no contact of theirs


def _id_order(rid: str) -> tuple[int, str]:
    return (int(rid), "") if rid.isdigit() else (0, rid)


def _norm(email: Any) -> str:
    return str(email).strip().lower()


class ListMembers:
    """`hubspot_sync_list_members`: (exposure_name, list_id, record_id, event, run_id, event_at), append-only."""

    def __init__(self, target: SqlTarget, schema: str) -> None:
        self.target = target
        self.table = target.relation(schema, LIST_MEMBERS_TABLE)
        self._p = target.placeholder

    def record(self, exposure: str, list_id: str, run_id: str, event: str, ids: Iterable[str]) -> None:
        rows = [(rid,) for rid in sorted(set(ids), key=_id_order)]
        if rows:
            insert_rows(
                self.target,
                self.table,
                [("record_id", "text")],
                rows,
                [
                    ("exposure_name", "text", exposure),
                    ("list_id", "text", list_id),
                    ("event", "text", event),
                    ("run_id", "text", run_id),
                    ("event_at", "timestamp", utcnow()),
                ],
            )

    def owned(self, exposure: str, list_id: str) -> set[str]:
        """The record ids the sync added to the list and has not removed since (a tie counts as removed)."""
        p = self._p
        rows = self.target.execute(
            "select record_id from ("
            f"select record_id, max(case when event = '{ADDED}' then event_at end) as added_at,"
            f" max(case when event = '{REMOVED}' then event_at end) as removed_at from {self.table}"
            f" where exposure_name = {p} and list_id = {p} group by record_id) as m"
            " where added_at is not null and (removed_at is null or added_at > removed_at)",
            [exposure, list_id],
        )
        return {str(r[0]) for r in rows}

    def events(self, run_id: str) -> list[tuple[str, str]]:
        """(event, record_id) of one run, in record id order."""
        rows = self.target.execute(
            f"select event, record_id from {self.table} where run_id = {self._p}", [run_id]
        )
        return sorted(((str(e), str(r)) for e, r in rows), key=lambda x: (x[0], _id_order(x[1])))


class ListMirror(RunPart):
    """One run's side of the list: records what it added; with `list_mode: mirror`, its audience and, at the end,
    the removals. The run calls `row` per classified row, `landed` per batch and `conclude` once (engine/parts.py)."""

    def __init__(self, run: RunContext) -> None:
        self.run = run
        cfg = run.plan.config
        self.list_id: str = cfg.list_id or ""
        self.mirroring = cfg.list_mode == "mirror"
        self.mirror_all = cfg.mirror_all
        self.members = ListMembers(run.log.target, run.plan.log_schema)
        self.ids: set[str] = set()  # the audience's record ids
        self.unresolved: set[str] = set()  # audience rows whose record id this run has not learnt (emails)

    # -- while the run goes ------------------------------------------------------------------------------
    def row(self, row: Sequence[Any], got: Any) -> None:
        """A classified row (`engine/classify.py`: a Candidate, or settled as (outcome, code, detail)). In the
        audience unless invalid, a duplicate or a remembered miss: by record id when the state knows it, else by
        email until a lookup says (`landed`)."""
        if not self.mirroring or (isinstance(got, tuple) and got[0] in NOT_AUDIENCE):
            return
        known_id, email = row[3], row[1]
        if known_id:
            self.ids.add(str(known_id))
        elif email is not None:
            self.unresolved.add(_norm(email))

    def landed(self, pushed: Pushed) -> None:
        """One batch's answer: the ids its rows resolved to join the audience; ids HubSpot added are recorded."""
        if self.mirroring:
            for rid, c in pushed.by_id.items():
                self._resolved(c.email, rid)
            for c, rid in [*pushed.already, *pushed.doubles]:
                self._resolved(c.email, rid)
            for c in pushed.missing:
                self.unresolved.discard(_norm(c.email))
        if pushed.listed is not None and not self.run.dry_run and pushed.listed.added:
            self._record(ADDED, pushed.listed.added)

    def _resolved(self, email: str, rid: str) -> None:
        self.ids.add(str(rid))
        self.unresolved.discard(_norm(email))

    # -- at the end --------------------------------------------------------------------------------------
    def conclude(self, status: str, message: str | None) -> tuple[str, str | None]:
        """Remove (or, dry, name) the members that left the audience; the run's (status, message) after it."""
        run = self.run
        if not self.mirroring or status == "failed" or not run.counters.holds():
            return status, message  # a partial run never removes anyone
        client = run.client
        if client is None:  # a dry run without HubSpot: nobody to ask who is in the list
            return status, _join(message, f"list {self.list_id}: not mirrored (dry run without HubSpot)")
        before = client.stats.snapshot()
        removed: list[str] = []
        leaving: list[str] = []
        try:
            leaving = self._leaving(client)
            if run.dry_run:
                self._record(WOULD_REMOVE, leaving)
                run.counters.list_removed = len(leaving)
                if leaving:
                    shown = ", ".join(leaving[:EXAMPLES]) + (", ..." if len(leaving) > EXAMPLES else "")
                    message = _join(
                        message,
                        f"list {self.list_id}: would remove {len(leaving)} contacts that left the audience"
                        f" (record ids {shown}; every one in {LIST_MEMBERS_TABLE})",
                    )
            else:
                for i in range(0, len(leaving), LIST_CHUNK):
                    chunk = leaving[i : i + LIST_CHUNK]
                    outcome = client.remove_from_list(self.list_id, chunk)
                    removed += sorted(outcome.removed, key=_id_order)
                    run.counters.list_removed += len(outcome.removed)
                    # No longer members, whoever removed them: the sync owns them no more.
                    self._record(REMOVED, outcome.removed | outcome.not_members | outcome.missing)
        except HubSpotError as exc:
            done = f"removed {len(removed)} of {len(leaving)}" if leaving else "before any removal"
            problem = f"list {self.list_id}: mirroring stopped ({done}; the next run removes the rest): {exc}"
            log.warning("exposure %s: %s", run.plan.exposure, problem)
            if isinstance(exc, DailyLimitError):
                return "failed", _join(f"daily_limit: {problem}", message)
            return "completed_with_errors", _join(message, f"list_mirror_failed: {problem}")
        finally:
            delta = client.stats.snapshot() - before
            run.counters.requests += delta.requests
            run.counters.retries += delta.retries
            run.counters.rate_limited += delta.rate_limited
        if removed:
            log.info(
                "exposure %s: removed %d contacts that left the audience from list %s",
                run.plan.exposure,
                len(removed),
                self.list_id,
            )
        return status, message

    def _leaving(self, client: Any) -> list[str]:
        """Members (owned, or every one with mirror_all) not in the audience, in record id order."""
        if self.mirror_all:
            pool = set(client.iter_list_members(self.list_id))
        else:
            pool = self.members.owned(self.run.plan.exposure, self.list_id)
        leaving = sorted(pool - self.ids, key=_id_order)
        if leaving and self.unresolved:
            leaving = self._not_by_email(client, leaving)
        return leaving

    def _not_by_email(self, client: Any, leaving: Sequence[str]) -> list[str]:
        """Of `leaving`, those whose emails are none of the audience's unresolved rows' (read by id)."""
        found = client.read_by_id(list(leaving), list(EMAIL_PROPERTIES))
        keep = []
        for rid in leaving:
            props = found.get(rid) or {}
            emails = {_norm(props.get("email") or "")}
            emails |= {_norm(e) for e in str(props.get("hs_additional_emails") or "").split(";")}
            if not (emails - {""}) & self.unresolved:
                keep.append(rid)
        return keep

    def _record(self, event: str, ids: Iterable[str]) -> None:
        self.members.record(self.run.plan.exposure, self.list_id, self.run.run.run_id, event, ids)


def _join(first: str | None, second: str | None) -> str | None:
    return "; ".join(m for m in (first, second) if m) or None


def mirror_for(run: RunContext) -> ListMirror | None:
    """The run's list side: None without a `list_id`, or in a dry run that does not mirror (nothing to record)."""
    cfg = run.plan.config
    if not cfg.list_id or (run.dry_run and cfg.list_mode != "mirror"):
        return None
    return ListMirror(run)
