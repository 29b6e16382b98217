"""A bound on what DuckDB holds in the sync's process while the product reads and writes.

DuckDB runs inside the process that opens it. Left at its default `memory_limit` (80% of RAM) it keeps in memory
whatever a query's blocking operators hold: the rows query's `row_number()` window over the whole model (the
duplicate winner) holds the model, ~170 MB a million rows (benchmarks/README.md, sync_memory.py). Under a lower
limit the same operators spill to DuckDB's temp directory instead, so the process's memory stays flat as the
audience grows. `memory_limit` is the database instance's (DuckDB has no per-connection limit that reaches a
window: `operator_memory_limit` caps sorts, hash tables and joins only), so the bound is taken only while the
product owns the instance (the standalone runner's session) and the previous limit is put back after.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

MIB = 1024 * 1024
# DuckDB needs memory per thread for a window's partitions even when it spills: measured on 3,000,000 rows,
# 64 MiB ran out of memory at 2 threads, 128 MiB ran at 2 and ran out at 8, 256 MiB ran at 8. Hence a floor
# and a share per thread, with a margin. The floor sits under what 1,000,000 rows hold unbounded (~200 MiB),
# so a sync of a million rows and one of three run under the same bound (benchmarks/README.md).
FLOOR_BYTES = 192 * MIB
PER_THREAD_BYTES = 48 * MIB

_UNITS = {
    "": 1,
    "b": 1,
    "bytes": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}


def parse_size(text: str | None) -> int | None:
    """`'18.8 GiB'`, `'244.1 MiB'`, `'134217728B'` (as DuckDB shows a size) in bytes; None when not a size."""
    if text is None:
        return None
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*", str(text))
    if not match or match.group(2).lower() not in _UNITS:
        return None
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def bound_bytes(threads: int) -> int:
    """The product's bound for an instance running `threads` threads."""
    return max(FLOOR_BYTES, PER_THREAD_BYTES * max(1, threads))


def is_out_of_memory(exc: BaseException) -> bool:
    """DuckDB's out-of-memory error, raw or as dbt wraps it."""
    return "OutOfMemory" in type(exc).__name__ or "Out of Memory Error" in str(exc)


@dataclass(frozen=True)
class MemoryBound:
    """The limit the instance had before the product lowered it (restored by `restore`)."""

    previous: str
    bound: str

    @classmethod
    def apply(cls, cur: Any) -> MemoryBound | None:
        """Lower the instance's memory_limit to the bound on `cur` (a DuckDB cursor); None when left as it is:
        the limit is already at or under the bound (the user's own), DuckDB has no temp directory to spill to
        (`temp_directory: ''`: a lower limit would fail queries instead), or the settings cannot be read."""
        try:
            limit, threads, temp_dir = cur.execute(
                "select current_setting('memory_limit'), current_setting('threads'),"
                " current_setting('temp_directory')"
            ).fetchone()
        except Exception:  # a DuckDB without these settings: left as it is
            return None
        if not temp_dir:
            return None
        bound = bound_bytes(int(threads))
        current = parse_size(limit)
        if current is not None and current <= bound:
            return None
        text = f"{bound // MIB}MiB"
        try:
            cur.execute(f"set global memory_limit = '{text}'")
        except Exception:  # the instance refuses (e.g. a read-only setting): left as it is
            return None
        return cls(previous=str(limit), bound=text)

    def restore(self, cur: Any) -> None:
        """The limit as it was: DuckDB's default through RESET when it was the default, else the value read."""
        try:
            cur.execute("reset global memory_limit")
            now = cur.execute("select current_setting('memory_limit')").fetchone()[0]
            if now != self.previous:
                cur.execute(f"set global memory_limit = '{self.previous}'")
        except Exception:  # the connection died (the run's end goes through a fresh one): nothing to restore
            pass
