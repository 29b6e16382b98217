"""The sandbox's import jobs: HubSpot's imports processed asynchronously, as its imports guide and knowledge base
describe them.

An import is `STARTED` when its file is accepted, waits (`DEFERRED`) while HubSpot already processes 3 imports of
the portal (at most 2 of them over 10,000 rows), is `PROCESSING` at `rows_per_second`, then `DONE` (or `FAILED`,
`CANCELED`). Each row updates the contact its id column names (email as the alternate id, or the record id);
`importOperations` UPDATE never creates (an unknown contact is the row error `UPDATE_ONLY_IMPORT`), CREATE never
updates, UPSERT (HubSpot's default) does both. A blank cell never clears a value and a lifecycle stage never
moves backwards. A row with an error changes nothing; its error is listed by GET .../errors. The limits (file
size and rows, imports and rows per rolling day) are checked when an import starts (`imports.py`).
"""

from __future__ import annotations

import csv
import itertools
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dbt_hubspot_sync.sandbox import bodies
from dbt_hubspot_sync.sandbox.property_defs import LIFECYCLE_STAGES
from dbt_hubspot_sync.sandbox.rules import check_value, hubspot_email_ok
from dbt_hubspot_sync.sandbox.store import Store

TERMINAL = ("DONE", "FAILED", "CANCELED", "REVERTED")
LARGE_IMPORT_ROWS = 10_000  # HubSpot: at most 2 of the 3 imports processing at once may be larger
DAY_MS = 24 * 3600 * 1000
_STAGE_ORDER = {value: i for i, (value, _) in enumerate(LIFECYCLE_STAGES)}
# Our property-rule codes (rules.py, those of batch writes) as the imports API's `errorType`s.
_ROW_ERROR_TYPES = {
    "PROPERTY_DOESNT_EXIST": "PROPERTY_DEFINITION_NOT_FOUND",
    "READ_ONLY_VALUE": "FAILED_VALIDATION",
    "INVALID_OPTION": "INVALID_ENUMERATION_OPTION",
    "INVALID_INTEGER": "COULD_NOT_PARSE_NUMBER",
    "INVALID_EMAIL": "INVALID_EMAIL",
}


@dataclass
class ImportsConfig:
    """One portal's import limits (HubSpot's paid tiers by default; `free()` for the free tools) and the
    processing rate. `fail_next`: the next N imports end FAILED (a file HubSpot could not process)."""

    rows_per_second: float = 20_000.0
    max_file_bytes: int = 512 * 1024 * 1024
    max_file_rows: int = 1_048_576
    daily_max_imports: int = 500
    daily_max_rows: int = 80_000_000
    max_processing: int = 3
    max_processing_large: int = 2
    fail_next: int = 0
    tick_s: float = 0.02

    @classmethod
    def free(cls, **kw: Any) -> ImportsConfig:
        """HubSpot's free tools: 20 MB files, 50 imports and 500,000 rows a day."""
        return cls(
            **{"max_file_bytes": 20 * 1024 * 1024, "daily_max_imports": 50, "daily_max_rows": 500_000, **kw}
        )


@dataclass
class RowError:
    line: (
        int  # 1-indexed line of the file: the header is line 1, the first data row line 2; 0: the whole file
    )
    error_type: str
    message: str
    row: list[str]
    column: int | None = None
    value: str | None = None
    created_ms: int = field(default_factory=lambda: int(time.time() * 1000))


@dataclass
class Job:
    id: int
    name: str
    request: dict[str, Any]
    operation: str  # UPDATE | CREATE | UPSERT
    path: Path
    file_id: int
    rows: int
    id_column: int
    id_kind: str  # "email" | "id"
    columns: list[tuple[int, str]]  # (column index, property) of every mapped property but the id's
    make_list: bool
    created_ms: int
    state: str = "STARTED"
    updated_ms: int = 0
    errors: list[RowError] = field(default_factory=list)
    done_rows: int = 0
    updated: int = 0
    created: int = 0
    emitted: int = 0
    list_id: str | None = None
    list_rids: list[str] = field(default_factory=list)
    fail: bool = False
    _reader: Any = None
    _fh: Any = None
    _carry: float = 0.0

    @property
    def large(self) -> bool:
        return self.rows > LARGE_IMPORT_ROWS

    def counters(self) -> dict[str, int]:
        counters = {"TOTAL_ROWS": self.rows}
        if self.state in TERMINAL:
            written = self.updated + self.created
            counters.update(
                CREATED_OBJECTS=self.created,
                UPDATED_OBJECTS=self.updated,
                UNIQUE_OBJECTS_WRITTEN=written,
                PROPERTY_VALUES_EMITTED=self.emitted,
            )
        return counters


class ImportsState:
    """The imports of one sandbox portal: the registry, the limits' rolling day, and the processing thread."""

    def __init__(self, store: Store, cfg: ImportsConfig | None = None) -> None:
        self.store = store
        self.cfg = cfg or ImportsConfig()
        self.jobs: dict[int, Job] = {}
        self.lock = threading.Lock()
        self._ids = itertools.count(1)
        self._file_ids = itertools.count(5_000_001)
        self._dir = tempfile.TemporaryDirectory(prefix="hubspot-sandbox-imports-")
        self._thread: threading.Thread | None = None

    # -- registry --------------------------------------------------------------------------------------
    def new_file(self) -> tuple[int, Path]:
        file_id = next(self._file_ids)
        return file_id, Path(self._dir.name) / f"{file_id}.csv"

    def used_today(self) -> tuple[int, int]:
        """(imports, rows) started in the last 24 hours."""
        since = int(time.time() * 1000) - DAY_MS
        with self.lock:
            recent = [j for j in self.jobs.values() if j.created_ms >= since]
        return len(recent), sum(j.rows for j in recent)

    def add(self, job_args: dict[str, Any]) -> Job:
        with self.lock:
            job = Job(id=next(self._ids), **job_args)
            job.updated_ms = job.created_ms
            if self.cfg.fail_next > 0:
                self.cfg.fail_next -= 1
                job.fail = True
            self.jobs[job.id] = job
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="hubspot-sandbox-imports", daemon=True)
                self._thread.start()
        return job

    def get(self, import_id: int) -> Job | None:
        with self.lock:
            return self.jobs.get(import_id)

    def newest_first(self) -> list[Job]:
        with self.lock:
            return sorted(self.jobs.values(), key=lambda j: j.id, reverse=True)

    def cancel(self, job: Job) -> bool:
        """False when the import had already ended."""
        with self.lock:
            if job.state in TERMINAL:
                return False
            self._end(job, "CANCELED")
            return True

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """For tests: True once no import is waiting or processing."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if all(j.state in TERMINAL for j in self.jobs.values()):
                    return True
            time.sleep(0.01)
        return False

    # -- processing ------------------------------------------------------------------------------------
    def _run(self) -> None:
        last = time.monotonic()
        while True:
            time.sleep(self.cfg.tick_s)
            now = time.monotonic()
            elapsed, last = now - last, now
            with self.lock:
                self._schedule()
                working = [j for j in self.jobs.values() if j.state == "PROCESSING"]
                if not working and all(j.state in TERMINAL for j in self.jobs.values()):
                    self._thread = None
                    return
            for job in working:
                job._carry += self.cfg.rows_per_second * elapsed
                budget = int(job._carry)
                job._carry -= budget
                if budget:
                    self._process(job, budget)

    def _schedule(self) -> None:
        """Promote waiting imports while fewer than 3 process (at most 2 of them large); the rest wait."""
        processing = [j for j in self.jobs.values() if j.state == "PROCESSING"]
        large = sum(1 for j in processing if j.large)
        for job in sorted(self.jobs.values(), key=lambda j: j.id):
            if job.state not in ("STARTED", "DEFERRED"):
                continue
            if len(processing) < self.cfg.max_processing and (
                not job.large or large < self.cfg.max_processing_large
            ):
                if job.fail:
                    message = "HubSpot could not process the file of this import"
                    job.errors.append(RowError(0, "UNKNOWN_ERROR", message, []))
                    self._end(job, "FAILED")
                    continue
                job.state, job.updated_ms = "PROCESSING", _now_ms()
                job._fh = open(job.path, newline="", encoding="utf-8")  # noqa: SIM115 - closed by _end
                job._reader = csv.reader(job._fh)
                next(job._reader, None)  # the header
                processing.append(job)
                large += job.large
            elif job.state == "STARTED":
                job.state, job.updated_ms = "DEFERRED", _now_ms()

    def _process(self, job: Job, budget: int) -> None:
        store = self.store
        stamp = bodies.now_iso()
        n_columns = len(job.columns) + 1
        with store.lock:
            if job.state != "PROCESSING":  # canceled meanwhile
                return
            for cells in itertools.islice(job._reader, budget):
                job.done_rows += 1
                line = job.done_rows + 1
                if len(cells) != n_columns:
                    message = f"Row has {len(cells)} columns; the import maps {n_columns}"
                    job.errors.append(RowError(line, "INCORRECT_NUMBER_OF_COLUMNS", message, cells))
                    continue
                self._row(job, cells, line, stamp)
        if job.done_rows >= job.rows:
            with self.lock:
                if job.state == "PROCESSING":
                    self._end(job, "DONE")

    def _row(self, job: Job, cells: list[str], line: int, stamp: str) -> None:
        """One data row, under the store's lock: a row with an error changes nothing."""
        store = self.store
        key = cells[job.id_column].strip()
        if job.id_kind == "email":
            rid = store.by_email.get(key.lower()) if key else None
        else:
            rid = key if key in store.contacts else None
        contact = store.contacts.get(rid) if rid else None
        props: dict[str, str] = {}
        for col, name in job.columns:
            value = cells[col]
            if value == "":
                continue  # a blank cell never clears a value
            problem = check_value(store.props.get(name), name, value)
            if problem is not None:
                kind = _ROW_ERROR_TYPES.get(problem.code, "INVALID_PROPERTY_VALUE_FORMAT")
                job.errors.append(RowError(line, kind, problem.message, cells, col, value))
                return
            if name == "lifecyclestage" and contact is not None:
                current = contact["properties"].get("lifecyclestage")
                if _STAGE_ORDER.get(current, -1) > _STAGE_ORDER.get(value, -1):
                    continue  # an import never moves a lifecycle stage backwards
            props[name] = value
        if contact is None:
            if job.id_kind == "email" and not hubspot_email_ok(key):
                message = f"Email address {key} is invalid"
                job.errors.append(RowError(line, "INVALID_EMAIL", message, cells, job.id_column, key))
                return
            if job.operation == "UPDATE" or job.id_kind != "email":
                message = (
                    "This import only updates existing records, and no existing contact has "
                    f"{'email' if job.id_kind == 'email' else 'record ID'} {key}"
                )
                job.errors.append(RowError(line, "UPDATE_ONLY_IMPORT", message, cells, job.id_column, key))
                return
            contact = store.insert(store.new_id(), {"email": key, **props}, stamp)
            store.created += 1
            job.created += 1
        elif job.operation == "CREATE":
            message = f"This import only creates records, and contact {contact['id']} already has this email"
            job.errors.append(RowError(line, "CREATE_ONLY_IMPORT", message, cells, job.id_column, key))
            return
        else:
            store.apply(contact, props, stamp)
            store.updated += 1
            job.updated += 1
        job.emitted += len(props)
        if job.make_list:
            job.list_rids.append(contact["id"])

    def _end(self, job: Job, state: str) -> None:
        """(under self.lock) The import's last state; the list of its contacts when the request asked for one."""
        with self.store.lock:  # not while a processing tick reads the file
            job.state, job.updated_ms = state, _now_ms()
            if job._fh is not None:
                job._fh.close()
                job._fh = job._reader = None
        if job.make_list and state == "DONE":
            created = self.store.create_list(f"{job.name} (import {job.id})", "0-1", "MANUAL")
            job.list_id = created["listId"]
            self.store.add_members(job.list_id, job.list_rids)
        job.list_rids = []
        job.path.unlink(missing_ok=True)


def _now_ms() -> int:
    return int(time.time() * 1000)
