"""The import path, the batch push's sibling for audiences of millions: `ImportPush`, which a run hands its
candidates to when its plan says import (config `push`, `import_threshold_rows`, `import_limits`).

- `push: import` sends every candidate through HubSpot's imports API; `auto` (the default) does once a run has at
  least `import_threshold_rows` candidates (valid, deduplicated, changed rows) and sends smaller runs' through
  batch calls; `batch` never imports. Rows an import cannot apply go through the batch path in the same run: a
  row that clears a property (HubSpot never clears a value from a blank cell) or sets `lifecyclestage` (an import
  never moves a stage backwards, and whether a change does is only known by reading the contact, which costs what
  the batch path costs).
- Candidates are spooled to CSV files as rows stream (import_files.py: memory stays flat), split at the account's
  per-file limits. At the run's end, the day's import limits the run can know (this log schema's imports of the
  last 24 hours, and the account's imports HubSpot lists) are checked first: over them, `auto` falls back to the
  batch path and `import` stops, rows failed `IMPORT_LIMIT`. Then each file is one update-only import (never
  UPSERT or CREATE), recorded in `hubspot_sync_imports` before it starts; their state is polled at a pace that
  grows with their age, and their errors are read page by page.
- Every row gets one outcome: imported rows `updated`; `UPDATE_ONLY_IMPORT` rows `not_found` (OBJECT_NOT_FOUND,
  the contact bookkeeping as the batch path's); other rejected rows `failed` with HubSpot's error type and
  message; rows of a FAILED or CANCELED import `failed` (IMPORT_FAILED, IMPORT_CANCELED: the next run resends
  them); rows of an import still processing when the run stops `failed` IMPORT_PENDING. The state is written only
  for rows an import confirmed, with their record id (read by email after landing where the run did not know it:
  import_land.py), so a later change of such a contact costs one update, as on the batch path.
- A run killed while HubSpot processes its imports leaves them unlanded: the next run (`recover`, before it reads
  a row) reads their outcome and records it, so nothing is imported twice. The runs row's `import_ids` lists the
  run's imports.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from dbt_hubspot_sync.engine.import_files import (
    ImportLog,
    LoggedImport,
    Spool,
    SpoolFile,
    read_spooled,
    spool_root,
)
from dbt_hubspot_sync.engine.import_land import land_import
from dbt_hubspot_sync.engine.outcomes import Candidate, Stop, stop_from
from dbt_hubspot_sync.engine.parts import RunContext, RunPart
from dbt_hubspot_sync.hubspot import AuthError, DailyLimitError, HubSpotError
from dbt_hubspot_sync.hubspot.imports import ImportRefused, Imports, ImportStatus

# A spool folder left this long by a run that never started an import is nobody's: its rows were counted
# `failed` by that run's end (or its stale mark), and the next run resends them.
STALE_SPOOL_S = 24 * 3600

log = logging.getLogger(__package__)

# Polling: the first look after POLL_FIRST_S, then every POLL_SHARE of the import's age (at most POLL_MAX_S), so a
# long import costs few requests and a short one is not waited on much longer than it takes.
POLL_FIRST_S = 2.0
POLL_SHARE = 0.25
POLL_MAX_S = 60.0
IMPORT_WAIT_S = 6 * 3600.0  # past this, the run stops waiting; the next run reads the outcome
BATCH_ONLY = ("lifecyclestage",)


def import_push_for(run: RunContext) -> ImportPush | None:
    """The run's import path, or None when it has none (a dry run, no client, no warehouse state)."""
    if run.dry_run or run.client is None or run.state is None:
        return None
    return ImportPush(run)


class ImportPush(RunPart):
    """The run's part that sends candidates through imports (engine/parts.py: begin, take, drain, abandon)."""

    def __init__(self, run: RunContext) -> None:
        self.run = run
        cfg = run.plan.config
        self.wanted = cfg.push
        self.threshold = cfg.import_threshold_rows
        self.limits = cfg.import_limits
        self.mode: str | None = (
            None  # decided at the first candidate: batch | import | auto (spool, decide at end)
        )
        self.log = ImportLog(run.log.target, run.plan.log_schema, run.plan.exposure)
        self.folder = spool_root() / _slug(run.plan.exposure)
        self.spool = Spool(
            self.folder / run.run.run_id,
            tuple(run.plan.properties),
            min(self.limits.file_rows, 1_048_576),
            self.limits.file_bytes,
        )
        self.import_ids: list[str] = []
        self.pending: list[SpoolFile] = []  # files of imports started and not landed: kept for the next run
        self.settled = 0
        self.draining = False  # the rows are read: the spool is closed
        self.ids_unread: str | None = None  # why the record ids of imported contacts could not be read

    @property
    def imports(self) -> Imports:
        return Imports(self.run.client)  # type: ignore[arg-type]

    # -- before the first row: what a killed run left ----------------------------------------------------
    def begin(self) -> None:
        self.recover()

    def recover(self) -> None:
        """Land the imports an earlier run started and never recorded the outcome of (a crash, a kill, Ctrl-C
        while HubSpot processed them); an import still processing is waited for (the run stops if it outlasts
        IMPORT_WAIT_S, so it is never sent twice). Only where that run left its files: a run that ended cleanly
        leaves none, so hubspot_sync_imports is not even read."""
        if not self.folder.is_dir():
            return
        for logged in self.log.unlanded():
            try:
                self._recover_one(logged)
            except HubSpotError as exc:
                # Not knowing its outcome, resending its rows could import them twice: this run sends nothing.
                self.run.halt(
                    Stop(
                        "IMPORT_PENDING",
                        f"the outcome of import {logged.import_id or logged.name!r} of run {logged.run_id} could"
                        f" not be read ({exc}); this run sends nothing rather than import its rows twice: run again",
                    )
                )
            if self.run.stop is not None:
                return
        self._tidy()

    def _tidy(self) -> None:
        """Remove the run folders nobody will read: empty ones, and those untouched for STALE_SPOOL_S (a run
        killed before it started an import). Never the whole exposure folder: the same exposure name on another
        target (a dev and a prod schema, a second project) may be spooling there right now."""
        cutoff = time.time() - STALE_SPOOL_S
        for folder in self.folder.iterdir():
            with contextlib.suppress(OSError):
                if not any(folder.iterdir()):
                    folder.rmdir()
                elif folder.stat().st_mtime < cutoff:
                    shutil.rmtree(folder, ignore_errors=True)

    def _recover_one(self, logged: LoggedImport) -> None:
        status = self._find(logged)
        if status is None:
            self.log.step(
                self.run.run.run_id, logged.name, "landed", detail="never started: its rows are resent"
            )
            return
        status = self._wait([status])[0]
        if not status.finished:
            self.run.halt(
                Stop(
                    "IMPORT_PENDING",
                    f"HubSpot import {status.id} of run {logged.run_id} is still {status.state}: this run waits"
                    " for it rather than sending its rows twice; run again once it finished",
                )
            )
            return
        spooled = SpoolFile(Path(logged.file_path))
        if spooled.csv_path.is_file() and spooled.meta_path.is_file():
            land_import(self, spooled, status, counted=False, run_id=logged.run_id)
            detail = f"recovered: {status.state}"
        else:  # its files are gone (another host, a reboot): the rows are resent, HubSpot converges
            detail = f"recovered without its files ({status.state}): its rows are resent"
        self.log.step(self.run.run.run_id, logged.name, "landed", import_id=status.id, detail=detail)
        spooled.csv_path.unlink(missing_ok=True)
        spooled.meta_path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            spooled.csv_path.parent.rmdir()  # the killed run's folder, once empty
        log.info(
            "exposure %s: landed import %s left by run %s",
            self.run.plan.exposure,
            status.id,
            logged.run_id,
        )

    def _find(self, logged: LoggedImport) -> ImportStatus | None:
        if logged.import_id:
            try:
                return self.imports.status(logged.import_id)
            except HubSpotError as exc:
                if exc.status == 404:
                    return None  # HubSpot has no such import (any more): its rows are resent
                raise
        return next((s for s in self.imports.recent() if s.name == logged.name), None)

    # -- while rows stream ---------------------------------------------------------------------------------
    def take(self, c: Candidate) -> bool:
        """Spool `c` for an import (True), or leave it to the batch path (False)."""
        if self.draining:
            return False
        if self.mode is None:
            self.mode = self._decide()
        if self.mode == "batch" or any(v == "" for v in c.properties.values()):
            return False
        if any(name in c.properties for name in BATCH_ONLY):
            return False
        self.spool.add(c)
        return True

    def _decide(self) -> str:
        if self.wanted == "batch" or "email" in self.run.plan.properties:
            return "batch"
        if self.wanted == "import":
            return "import"
        expected = self.run.rows_expected
        return "batch" if expected is not None and expected < self.threshold else "auto"

    # -- at the run's end ----------------------------------------------------------------------------------
    def drain(self) -> None:
        """Import what was spooled (or hand it back to the run for the batch push), then record every outcome."""
        spool = self.spool
        spool.close()
        self.draining = True  # what is handed back goes to the batch push
        try:
            if spool.rows == 0:
                return
            run = self.run
            run.interrupted()
            if run.stop is not None:
                self.fail_files(spool.files, run.stop)
                return
            if self.mode == "auto" and spool.rows < self.threshold:
                self._hand_back(spool.files)
                return
            problem = self._limit_problem()
            if problem is not None:
                self._refused(spool.files, "IMPORT_LIMIT", problem)
                return
            started = self._start()
            self._record_ids()
            statuses = self._wait([s for _, s in started])
            for (spooled, _), status in zip(started, statuses):
                self._land(spooled, status)
        finally:
            spool.discard(keep=self.pending)

    def abandon(self) -> None:
        """The warehouse went away: rows spooled and not yet given an outcome are failed (counted only)."""
        self.spool.close()
        owed = self.spool.rows - self.settled
        if owed > 0:
            self.run.counters.rows_failed += owed
            self.settled += owed

    def _start(self) -> list[tuple[SpoolFile, ImportStatus]]:
        run, started = self.run, []
        files = self.spool.files
        for i, spooled in enumerate(files):
            name = f"dbt-hubspot-sync {run.plan.exposure} run {run.run.run_id} part {i + 1} of {len(files)}"
            self.log.step(
                run.run.run_id, name, "starting", file_path=str(spooled.csv_path), file_rows=spooled.rows
            )
            try:
                status = self.imports.start(
                    name, spooled.csv_path, self.spool.header, make_list=bool(run.plan.config.list_id)
                )
            except ImportRefused as exc:
                self.log.step(run.run.run_id, name, "landed", detail=f"refused: {exc}")
                self._refused([spooled], exc.code or "IMPORT_REFUSED", str(exc))
                continue
            except AuthError as exc:
                self.log.step(run.run.run_id, name, "landed", detail=f"refused: {exc}")
                self._refused([spooled], exc.code or "MISSING_SCOPES", str(exc))
                continue
            except HubSpotError as exc:
                # Not known to have started: the next run looks for it by name before sending these rows again.
                stop = stop_from(exc)
                run.halt(stop)
                self.fail_files([spooled], stop)
                self.pending.append(spooled)
                continue
            self.log.step(
                run.run.run_id,
                name,
                "started",
                import_id=status.id,
                file_path=str(spooled.csv_path),
                file_rows=spooled.rows,
            )
            self.import_ids.append(status.id)
            self.pending.append(spooled)  # kept until landed: a crash leaves it to the next run
            started.append((spooled, status))
            log.info(
                "exposure %s: HubSpot import %s started (%d rows)", run.plan.exposure, status.id, spooled.rows
            )
        return started

    def _wait(self, statuses: list[ImportStatus]) -> list[ImportStatus]:
        """Poll until every import finished, the run is interrupted, the daily limit ends it, or IMPORT_WAIT_S."""
        run, begun = self.run, time.monotonic()
        current = list(statuses)
        delay = POLL_FIRST_S
        while any(not s.finished for s in current):
            waited = time.monotonic() - begun
            if waited > IMPORT_WAIT_S:
                break
            if run.wait_interrupted(delay):
                break
            try:
                current = [s if s.finished else self.imports.status(s.id) for s in current]
            except DailyLimitError as exc:
                run.halt(stop_from(exc))
                break
            except HubSpotError as exc:
                log.warning("exposure %s: reading an import's state failed: %s", run.plan.exposure, exc)
            run.report()
            delay = min(POLL_MAX_S, max(POLL_FIRST_S, (time.monotonic() - begun) * POLL_SHARE))
        return current

    def _land(self, spooled: SpoolFile, status: ImportStatus) -> None:
        run = self.run
        if not status.finished:
            pending = Stop(
                "IMPORT_PENDING",
                f"HubSpot import {status.id} was still {status.state} when the run stopped; the next run reads its"
                " outcome (its rows are not imported again)",
            )
            self.fail_files([spooled], pending)  # left unlanded in hubspot_sync_imports: recovered next run
            return
        land_import(self, spooled, status, counted=True)
        self.log.step(run.run.run_id, status.name, "landed", import_id=status.id, detail=status.state)
        self.pending.remove(spooled)

    # -- helpers ---------------------------------------------------------------------------------------------
    def _limit_problem(self) -> str | None:
        files, rows = len(self.spool.files), self.spool.rows
        ours = self.log.started_since(24)
        try:
            theirs = {s.id: s.rows for s in self.imports.recent() if s.id not in ours and _today(s)}
        except HubSpotError as exc:
            log.warning(
                "exposure %s: the account's imports could not be listed: %s", self.run.plan.exposure, exc
            )
            theirs = {}
        used_imports, used_rows = len(ours) + len(theirs), sum(ours.values()) + sum(theirs.values())
        lim = self.limits
        if used_imports + files <= lim.daily_imports and used_rows + rows <= lim.daily_rows:
            return None
        return (
            f"import_limit: {files} import(s) of {rows} rows would pass the account's daily import limits "
            f"({used_imports} imports and {used_rows} rows in the last 24 hours; the limits are {lim.daily_imports} "
            f"imports and {lim.daily_rows} rows a day: import_limits)"
        )

    def _refused(
        self,
        files: list[SpoolFile],
        code: str,
        message: str,
    ) -> None:
        """`auto`: the rows go through the batch path instead; `import`: they fail and the run stops."""
        if self.mode == "auto":
            log.warning(
                "exposure %s: %s; sending these rows with batch calls instead",
                self.run.plan.exposure,
                message,
            )
            self._hand_back(files)
            return
        s = Stop(code, message)
        self.run.halt(s)
        self.fail_files(files, s)

    def _hand_back(self, files: list[SpoolFile]) -> None:
        for spooled in files:
            for c in read_spooled(spooled):
                self.settled += 1  # its outcome comes from the batch path
                self.run.send(c)

    def fail_files(self, files: list[SpoolFile], stop: Stop) -> None:
        for spooled in files:
            for c in read_spooled(spooled):
                self.settle(c, "failed", stop.code, stop.message, stop.http_status)
        self.run.flush_records()

    def settle(
        self, c: Candidate, outcome: str, code: str | None, detail: str | None, status: int | None = None
    ) -> None:
        self.settled += 1
        self.run.settle(c, outcome, code, detail, status)

    def _record_ids(self) -> None:
        """The runs row's `import_ids` (run_log.py)."""
        self.run.log.set_import_ids(self.run.run.run_id, self.import_ids)

def _slug(exposure: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in exposure)[:100] or "exposure"


def _today(status: ImportStatus) -> bool:
    if status.created_at is None:
        return True
    return status.created_at >= datetime.now(timezone.utc) - timedelta(hours=24)
