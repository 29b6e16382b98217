"""Landing one finished import: every row of its file gets its outcome from HubSpot's error pages, and the state
is written for the rows it confirmed.

A row is matched to its errors by the email in the error's row data (emails are unique in a run's files: rows are
deduplicated by cleaned email), else by its line number (the header is line 1). No error: `updated`.
`UPDATE_ONLY_IMPORT`: `not_found` (OBJECT_NOT_FOUND; the email is remembered as a miss as the batch path does).
Any other error: `failed` with HubSpot's error type and message. A FAILED or CANCELED import fails every row
(IMPORT_FAILED / IMPORT_CANCELED, with its file-wide error when HubSpot gives one): the next run resends them.
With `list_id`, the list the import made of its contacts is added to the exposure's list in one request
(memberships/add-from); as on the batch path, the state is written only once that succeeded.

Record ids: HubSpot's import names none (its status has counters, its error pages only the rows it rejected), so
the contacts it updated that the run did not know are read by email once it landed (batch/read, 100 a request:
the lookup the batch path makes of a new contact, once in the contact's life) and remembered with their id. A
later change of one is then one update by id (ceil(N/100) requests for N changed), not a lookup plus an update.
Where that read fails, the rows are remembered without an id (as before: a later change looks the contact up).
"""

from __future__ import annotations

import logging
import sys
from typing import Protocol

from dbt_hubspot_sync.engine.import_files import SpoolFile, read_spooled
from dbt_hubspot_sync.engine.outcomes import Candidate, Stop, stop_from
from dbt_hubspot_sync.engine.parts import RunContext
from dbt_hubspot_sync.hubspot import HubSpotError
from dbt_hubspot_sync.hubspot.imports import Imports, ImportStatus

log = logging.getLogger(__package__)

Row = tuple[str, str | None, str, str | None]
STATE_CHUNK = 50_000  # state rows written per statement batch while a large import lands


class ImportPush(Protocol):
    """What landing needs of the import path (engine/imports.py)."""

    run: RunContext
    ids_unread: str | None  # why the record ids of imported contacts could not be read

    @property
    def imports(self) -> Imports: ...

    def settle(
        self, c: Candidate, outcome: str, code: str | None, detail: str | None, status: int | None = None
    ) -> None: ...

    def fail_files(self, files: list[SpoolFile], stop: Stop) -> None: ...


def land_import(
    push: ImportPush, spooled: SpoolFile, status: ImportStatus, *, counted: bool, run_id: str | None = None
) -> None:
    """Record the outcome of `status` for the rows of `spooled`. `counted`: the rows are this run's (outcomes
    counted and logged); else a crashed run's, recovered (only the state is written)."""
    run = push.run
    if status.state != "DONE":
        if counted:
            code = "IMPORT_CANCELED" if status.state == "CANCELED" else "IMPORT_FAILED"
            why = next((e.message for e in push.imports.errors(status.id) if e.line == 0 and e.message), "")
            ended = f"HubSpot import {status.id} ended {status.state}" + (f": {why}" if why else "")
            detail = f"{ended}; the next run resends this row"
            push.fail_files([spooled], Stop(code, detail))
        return
    by_email, by_line = _row_errors(push, status)
    list_stop = _add_to_list(push, status)
    exposure, owner = run.plan.exposure, run_id or run.run.run_id
    # State rows (email, record id, hash, the warehouse's fingerprint) and misses (email, fingerprint).
    synced: list[Row] = []
    missing: list[tuple[str, str | None]] = []
    updated = 0
    for i, c in enumerate(read_spooled(spooled)):
        e = by_email.get(c.email.strip().lower()) or by_line.get(i + 2)
        if e is None:
            updated += 1
            synced.append((c.email, c.known_id, c.digest, c.fingerprint))
            if counted:
                push.settle(c, "updated", None, f"HubSpot import {status.id}")
        elif e[0] == "UPDATE_ONLY_IMPORT":
            missing.append((c.email, c.fingerprint))
            if counted:
                push.settle(
                    c,
                    "not_found",
                    "OBJECT_NOT_FOUND",
                    f"no HubSpot contact has this email (contacts are never created): update-only import {status.id}"
                    " answered UPDATE_ONLY_IMPORT",
                )
        elif counted:
            push.settle(c, "failed", e[0], e[1] or f"HubSpot import {status.id}: {e[0]}")
        if len(synced) + len(missing) >= STATE_CHUNK:
            _write_state(push, exposure, owner, synced, missing, list_stop)
            synced, missing = [], []
            run.flush_records()
    _write_state(push, exposure, owner, synced, missing, list_stop)
    if counted and run.plan.config.list_id and list_stop is None:
        run.counters.list_added += updated  # members now, as the batch path counts added + already members
    if list_stop is not None:
        run.halt(list_stop)
    run.flush_records()


def _row_errors(
    push: ImportPush, status: ImportStatus
) -> tuple[dict[str, tuple[str, str]], dict[int, tuple[str, str]]]:
    """(error type, message) per row of the import, by email and else by line, streamed from the error pages: the
    row data is not kept."""
    by_email: dict[str, tuple[str, str]] = {}
    by_line: dict[int, tuple[str, str]] = {}
    for e in push.imports.errors(status.id):
        if e.line == 0:
            continue
        key = e.row[0].strip().lower() if e.row else ""
        found = (sys.intern(e.error_type), e.message)
        if key:
            by_email.setdefault(key, found)
        else:
            by_line.setdefault(e.line, found)
    return by_email, by_line


def _add_to_list(push: ImportPush, status: ImportStatus) -> Stop | None:
    list_id = push.run.plan.config.list_id
    if not list_id:
        return None
    if not status.list_ids:
        return Stop(
            "LIST_NOT_MADE",
            f"HubSpot import {status.id} made no list of its contacts to add to list {list_id}",
        )
    try:
        push.imports.add_from_list(list_id, status.list_ids[0])
    except HubSpotError as exc:
        return stop_from(exc)
    return None


def _write_state(
    push: ImportPush,
    exposure: str,
    run_id: str,
    synced: list[Row],
    missing: list[tuple[str, str | None]],
    list_stop: Stop | None,
) -> None:
    state = push.run.state
    if state is None:
        return
    if synced and list_stop is None:
        state.record(exposure, run_id, _with_ids(push, synced))
    if missing:
        emails = [email for email, _ in missing]
        remember = getattr(state, "remember_not_found", None)
        if remember is not None:
            remember(exposure, run_id, emails, [fingerprint for _, fingerprint in missing])
        else:
            state.forget(exposure, emails)


def _with_ids(push: ImportPush, synced: list[Row]) -> list[Row]:
    """`synced` with the record ids of the contacts the run did not know, read by email (100 a request)."""
    unknown = [row[0] for row in synced if row[1] is None]
    run = push.run
    if not unknown or run.client is None or push.ids_unread is not None:
        return synced
    if run.interrupted():
        return synced  # Ctrl-C: remembered without ids, nothing more is sent
    try:
        ids = run.client.read_ids_by_email(unknown)
    except HubSpotError as exc:
        # The import's outcome stands; only the ids are missing (a later change looks these contacts up).
        push.ids_unread = str(exc)
        log.warning(
            "exposure %s: the record ids of the contacts an import updated could not be read (%s); they are"
            " remembered without them",
            run.plan.exposure,
            exc,
        )
        return synced
    return [(row[0], row[1] or ids.get(row[0].strip().lower()), row[2], row[3]) for row in synced]
