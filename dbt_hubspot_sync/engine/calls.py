"""The HubSpot calls for one batch, made on a worker thread: look the emails up (batch/read), update the
contacts (batch/update), look up again the emails whose cached record id HubSpot no longer knows, add the
updated contacts to the list. What HubSpot said comes back as a `Pushed`, which the run lands on its own thread:
nothing here touches a counter, the log or the warehouse.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from dbt_hubspot_sync.config.properties import changed_properties
from dbt_hubspot_sync.engine.outcomes import INTERRUPTED, Candidate, Stop, stop_from
from dbt_hubspot_sync.hubspot import HubSpotClient, HubSpotError, ListOutcome, UpdateOutcome


class Halt:
    """Why no further call may be sent: set by the worker whose calls ended the run, or by Ctrl-C (`cancel`).
    Workers ask before each phase, so the batch behind a failing one stops before its update."""

    def __init__(self, cancel: threading.Event | None) -> None:
        self.stop: Stop | None = None
        self._cancel = cancel

    def check(self) -> Stop | None:
        if self.stop is None and self._cancel is not None and self._cancel.is_set():
            self.stop = INTERRUPTED
        return self.stop


@dataclass
class Pushed:
    """What HubSpot said about one batch."""

    batch: list[Candidate]
    by_id: dict[str, Candidate] = field(default_factory=dict)  # sent (or, in a dry run, would be)
    missing: list[Candidate] = field(default_factory=list)  # no contact has the email
    doubles: list[tuple[Candidate, str]] = field(default_factory=list)  # a second email of one contact
    already: list[tuple[Candidate, str]] = field(default_factory=list)  # HubSpot holds these values: not sent
    # A dry run's diff: record id → {property: (HubSpot's value, the value to send)}.
    changes: dict[str, dict[str, tuple[str | None, str]]] = field(default_factory=dict)
    stale: list[str] = field(default_factory=list)  # emails whose cached record id HubSpot no longer knows
    outcome: UpdateOutcome | None = None
    listed: ListOutcome | None = None
    read_stop: Stop | None = None  # the lookup failed: nothing of the batch was sent
    stop: Stop | None = None  # the update ended the run (what it did is in `outcome`)
    list_stop: Stop | None = None


def talk(
    batch: list[Candidate],
    client: HubSpotClient | None,
    halt: Halt,
    *,
    dry_run: bool,
    list_id: str | None,
    properties: Sequence[str] = (),
) -> Pushed:
    """The HubSpot calls for one batch (worker thread: touches no counter, log or warehouse): look up, keep only
    what changes, update, add to the list.

    The lookup reads the mapped `properties` too (same request): a contact that already holds every value is
    not updated. A dry run also reads the contacts the state knows by id, for the diff old → new."""
    pushed = Pushed(batch)
    if halt.check() is not None:  # an earlier batch ended the run, or Ctrl-C: send nothing more
        pushed.read_stop = halt.stop
        return pushed
    current = _look_up(pushed, client, halt, properties)
    if pushed.read_stop is not None:
        return pushed
    if dry_run and client is not None:
        _read_known(pushed, client, current, properties)
    _drop_unchanged(pushed, current, dry_run=dry_run)
    if dry_run or (not pushed.by_id and not (list_id and pushed.already)):
        return pushed
    if client is None:  # SyncRun refuses a real run without a client; never reached
        raise RuntimeError("a HubSpot client is needed unless dry_run")
    if halt.check() is not None:
        pushed.read_stop = halt.stop
        return pushed
    _update_and_list(pushed, client, halt, list_id)
    return pushed


def _look_up(
    pushed: Pushed, client: HubSpotClient | None, halt: Halt, properties: Sequence[str]
) -> dict[str, dict[str, str | None]]:
    """Resolve the batch's emails to record ids (one batch read for those the state does not know): fills
    `by_id`, `missing` and `doubles`; returns HubSpot's current values by record id. A failed read sets
    `read_stop`."""
    batch = pushed.batch
    unknown = [c.email for c in batch if c.known_id is None]
    try:
        found = client.read_by_email(unknown, properties) if client and unknown else {}
    except HubSpotError as exc:
        pushed.read_stop = halt.stop = stop_from(exc)
        return {}
    current: dict[str, dict[str, str | None]] = {}
    for c in batch:
        # The client keys by lower(email), as HubSpot matches.
        hit = None if c.known_id else found.get(c.email.strip().lower())
        rid = c.known_id or (hit[0] if hit else None)
        if rid is None:
            pushed.missing.append(c)
        elif rid in pushed.by_id:
            # Two cleaned emails resolving to one contact would make HubSpot reject the whole batch.
            pushed.doubles.append((c, rid))
        else:
            pushed.by_id[rid] = c
            if hit is not None:
                current[rid] = hit[1]
    return current


def _read_known(
    pushed: Pushed, client: HubSpotClient, current: dict[str, dict[str, str | None]], properties: Sequence[str]
) -> None:
    """A dry run's diff also needs the old values of the contacts known by id (not read by email above)."""
    by_id_only = [rid for rid in pushed.by_id if rid not in current]
    if by_id_only:
        try:
            current.update(client.read_by_id(by_id_only, properties))
        except HubSpotError:
            pass  # the diff lacks the old values of these; the dry run still says they would update


def _drop_unchanged(pushed: Pushed, current: dict[str, dict[str, str | None]], *, dry_run: bool) -> None:
    """Contacts already holding every value leave `by_id` for `already`; a dry run keeps each change."""
    for rid, c in list(pushed.by_id.items()):
        if rid not in current:
            continue
        changes = changed_properties(c.properties, current[rid])
        if not changes:
            pushed.already.append((c, rid))
            del pushed.by_id[rid]
        elif dry_run:
            pushed.changes[rid] = changes


def _update_and_list(pushed: Pushed, client: HubSpotClient, halt: Halt, list_id: str | None) -> None:
    if pushed.by_id:
        try:
            pushed.outcome = client.update([(rid, c.properties) for rid, c in pushed.by_id.items()])
            relookup_stale(client, pushed, pushed.outcome)
        except HubSpotError as exc:
            pushed.stop = halt.stop = stop_from(exc)
            pushed.outcome = pushed.outcome or exc.outcome_so_far
    pushed.outcome = pushed.outcome or UpdateOutcome()
    # Contacts updated before an error still join the list; so do those that already held the values.
    members = set(pushed.outcome.updated) | {rid for _c, rid in pushed.already}
    if list_id and members:
        try:
            pushed.listed = client.add_to_list(list_id, sorted(members))
        except HubSpotError as exc:
            pushed.list_stop = halt.stop = stop_from(exc)


def relookup_stale(client: HubSpotClient, pushed: Pushed, outcome: UpdateOutcome) -> None:
    """A cached id HubSpot no longer knows (the contact was deleted or merged into another): look the email up
    again and update whatever contact has it now, in the same run. `outcome` is the batch's update outcome;
    the retry's is merged into it."""
    stale = {
        rid: c
        for rid, c in pushed.by_id.items()
        if rid == c.known_id
        and (rid in outcome.not_found or getattr(outcome.failed.get(rid), "code", "") == "NOT_IN_RESPONSE")
    }
    if not stale:
        return
    for rid, c in stale.items():
        outcome.not_found.discard(rid)
        outcome.failed.pop(rid, None)
        del pushed.by_id[rid]
        c.known_id = None
        pushed.stale.append(c.email)
    ids = client.read_ids_by_email([c.email for c in stale.values()])
    retry: dict[str, Candidate] = {}
    for c in stale.values():
        rid = ids.get(c.email.strip().lower())
        if rid is None:
            pushed.missing.append(c)
        elif rid in pushed.by_id or rid in retry:
            pushed.doubles.append((c, rid))
        else:
            retry[rid] = c
    if retry:
        pushed.by_id.update(retry)
        try:
            outcome.merge(client.update([(rid, c.properties) for rid, c in retry.items()]))
        except HubSpotError as exc:
            outcome.merge(exc.outcome_so_far or UpdateOutcome())
            raise
