"""The import path's two durable parts: the CSV files a run spools its candidates to, and `hubspot_sync_imports`,
the warehouse's record of each import a run starts.

`Spool` writes candidates as they stream, one CSV (the file HubSpot imports: `email`, then one column per property,
blank where the row sends nothing) plus a sidecar of what the run needs back per line (raw email, known record id,
properties hash), rolling to a new file at the account's per-file row and byte limits: memory stays flat whatever
the audience's size. Files live in `HUBSPOT_SYNC_SPOOL_DIR` (default: a folder of the system's temp dir) so that a
run killed while HubSpot processes its import leaves them for the next run to land.

`ImportLog` appends one row per step of an import (`starting` before the request that starts it, `started` with
HubSpot's import id, `landed` once its outcomes are recorded): the next run finds the imports a crash left
unlanded and reads their outcome instead of importing their rows again. Insert-only, so it works on append-only
warehouses too.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from dbt_hubspot_sync.engine.outcomes import Candidate
from dbt_hubspot_sync.tables.run_log import SqlTarget, insert_rows, utcnow

IMPORTS_TABLE = "hubspot_sync_imports"
SPOOL_ENV = "HUBSPOT_SYNC_SPOOL_DIR"
IMPORT_COLUMNS = [
    ("import_name", "text"),
    ("import_id", "text"),
    ("phase", "text"),
    ("file_path", "text"),
    ("file_rows", "bigint"),
    ("detail", "text"),
]


def spool_root() -> Path:
    return Path(os.environ.get(SPOOL_ENV) or Path(tempfile.gettempdir()) / "dbt-hubspot-sync" / "imports")


@dataclass
class SpoolFile:
    csv_path: Path
    rows: int = 0
    bytes: int = 0

    @property
    def meta_path(self) -> Path:
        return self.csv_path.with_suffix(".meta")


@dataclass
class Spool:
    """The candidates of one run, as CSV files of at most `max_rows` rows and `max_bytes` bytes each."""

    folder: Path
    properties: tuple[str, ...]
    max_rows: int
    max_bytes: int
    files: list[SpoolFile] = field(default_factory=list)
    _csv: Any = None
    _meta: Any = None
    _writer: Any = None

    @property
    def header(self) -> list[str]:
        return ["email", *self.properties]

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)

    def add(self, c: Candidate) -> None:
        line = _csv_line([c.email, *(c.properties.get(p, "") for p in self.properties)])
        size = len(line) if line.isascii() else len(line.encode("utf-8"))
        current = self.files[-1] if self.files else None
        if current is None or current.rows >= self.max_rows or current.bytes + size > self.max_bytes:
            current = self._roll()
        self._csv.write(line)
        # The sidecar: hash, known record id, and the raw email when it is not the cleaned one (JSON).
        raw = "" if c.email_raw == c.email else json.dumps(c.email_raw)
        # ... and, from a rows query with change detection, the fingerprint, record key and logged outcome.
        track = json.dumps([c.fingerprint, c.record_key, c.logged]) if c.record_key is not None else ""
        self._meta.write(f"{c.digest}\t{c.known_id or ''}\t{raw}\t{track}\n")
        current.rows += 1
        current.bytes += size

    def _roll(self) -> SpoolFile:
        self.close()
        self.folder.mkdir(parents=True, exist_ok=True)
        spooled = SpoolFile(self.folder / f"part-{len(self.files) + 1:03d}.csv")
        self._csv = open(spooled.csv_path, "w", encoding="utf-8", newline="")  # noqa: SIM115 - closed by close()
        self._meta = open(spooled.meta_path, "w", encoding="utf-8")  # noqa: SIM115
        head = _csv_line(self.header)
        self._csv.write(head)
        spooled.bytes = len(head.encode("utf-8"))
        self.files.append(spooled)
        return spooled

    def close(self) -> None:
        for fh in (self._csv, self._meta):
            if fh is not None:
                fh.close()
        self._csv = self._meta = None

    def discard(self, keep: Sequence[SpoolFile] = ()) -> None:
        """Delete the files, but those of imports HubSpot may still be processing (the next run lands them)."""
        self.close()
        if not keep:
            shutil.rmtree(self.folder, ignore_errors=True)
            return
        kept = {f.csv_path for f in keep}
        for spooled in self.files:
            if spooled.csv_path not in kept:
                spooled.csv_path.unlink(missing_ok=True)
                spooled.meta_path.unlink(missing_ok=True)


def read_spooled(spooled: SpoolFile | Path, properties: Sequence[str] | None = None) -> Iterator[Candidate]:
    """The candidates of one spooled file, in its line order (from its CSV and sidecar)."""
    csv_path = spooled.csv_path if isinstance(spooled, SpoolFile) else spooled
    with (
        open(csv_path, encoding="utf-8", newline="") as data,
        open(csv_path.with_suffix(".meta"), encoding="utf-8") as meta,
    ):
        reader = csv.reader(data)
        header = next(reader)
        names = header[1:]
        for cells, line in zip(reader, meta):
            digest, known_id, raw, *more = line.rstrip("\n").split("\t")  # (JSON has no raw tab)
            email = cells[0]
            props = {n: v for n, v in zip(names, cells[1:]) if v != ""}
            c = Candidate(json.loads(raw) if raw else email, email, props, digest, known_id or None)
            if more and more[0]:
                c.fingerprint, c.record_key, logged = json.loads(more[0])
                c.logged = tuple(logged) if logged else None  # type: ignore[assignment]
            yield c


def _csv_line(cells: Sequence[str]) -> str:
    """One CSV line (RFC 4180 quoting only where a cell needs it)."""
    line = ",".join(cells)
    if line.count(",") == len(cells) - 1 and '"' not in line and "\n" not in line and "\r" not in line:
        return line + "\n"
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(cells)
    return out.getvalue()


@dataclass(frozen=True)
class LoggedImport:
    """An import a run started (or was about to) and whose outcome has not been recorded yet."""

    name: str
    import_id: str | None
    file_path: str
    file_rows: int
    run_id: str


class ImportLog:
    """`hubspot_sync_imports`: one row per step of each import (starting, started, landed)."""

    def __init__(self, target: SqlTarget, schema: str, exposure: str) -> None:
        self.target = target
        self.table = target.relation(schema, IMPORTS_TABLE)
        self.exposure = exposure
        self._p = target.placeholder

    def step(
        self,
        run_id: str,
        name: str,
        phase: str,
        *,
        import_id: str | None = None,
        file_path: str = "",
        file_rows: int = 0,
        detail: str | None = None,
    ) -> None:
        insert_rows(
            self.target,
            self.table,
            IMPORT_COLUMNS,
            [(name, import_id, phase, file_path, file_rows, detail)],
            [
                ("exposure_name", "text", self.exposure),
                ("run_id", "text", run_id),
                ("logged_at", "timestamp", utcnow()),
            ],
        )

    def unlanded(self) -> list[LoggedImport]:
        """This exposure's imports with no `landed` row, oldest first."""
        p = self._p
        rows = self.target.execute(
            f"select import_name, phase, import_id, file_path, file_rows, run_id from {self.table}"
            f" where exposure_name = {p} order by logged_at",
            [self.exposure],
        )
        steps: dict[str, dict[str, Any]] = {}
        for name, phase, import_id, file_path, file_rows, run_id in rows:
            entry = steps.setdefault(name, {"file_path": file_path, "file_rows": file_rows, "run_id": run_id})
            entry[phase] = True
            if import_id:
                entry["import_id"] = import_id
        return [
            LoggedImport(
                name, e.get("import_id"), e["file_path"] or "", int(e["file_rows"] or 0), e["run_id"]
            )
            for name, e in steps.items()
            if "landed" not in e
        ]

    def started_since(self, hours: float = 24.0) -> dict[str, int]:
        """{import id: rows} of the imports this log schema's runs started in the last `hours` (any exposure)."""
        since = utcnow() - timedelta(hours=hours)
        rows = self.target.execute(
            f"select import_id, file_rows from {self.table} where phase = 'started' and logged_at >= {self._p}",
            [since],
        )
        return {str(i): int(n or 0) for i, n in rows if i}
