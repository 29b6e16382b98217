"""The import path's spool (engine/import_files.py): candidates written as HubSpot's CSV plus a sidecar read back
exactly (quotes, commas, newlines, non-ASCII, raw emails, known ids), split at the row and byte limits."""

from __future__ import annotations

import csv
from pathlib import Path

from dbt_hubspot_sync.engine.import_files import Spool, read_spooled
from dbt_hubspot_sync.engine.outcomes import Candidate

PROPS = ("firstname", "company")


def _candidates(n: int) -> list[Candidate]:
    values = ["Ada", 'Ada "the first", Countess', "two\nlines", "Zoë", "x\r\ny", "plain"]
    return [
        Candidate(
            f" C{i}@Example.com" if i % 3 == 0 else f"c{i}@example.com",
            f"c{i}@example.com",
            {"firstname": values[i % len(values)], **({"company": "Acme"} if i % 2 else {})},
            f"{i:032x}",
            str(1000 + i) if i % 4 == 0 else None,
        )
        for i in range(n)
    ]


def test_spooled_candidates_read_back_exactly_and_the_csv_is_hubspots(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "run", PROPS, 1_048_576, 512 * 2**20)
    cs = _candidates(60)
    for c in cs:
        spool.add(c)
    spool.close()
    [spooled] = spool.files
    back = list(read_spooled(spooled))
    assert [(b.email_raw, b.email, b.properties, b.digest, b.known_id) for b in back] == [
        (c.email_raw, c.email, c.properties, c.digest, c.known_id) for c in cs
    ]
    with open(spooled.csv_path, encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["email", *PROPS] and len(rows) == 61
    assert rows[2] == ["c1@example.com", 'Ada "the first", Countess', "Acme"]
    assert rows[1][2] == ""  # a property the row does not send: a blank cell (HubSpot leaves it untouched)
    assert spooled.bytes == spooled.csv_path.stat().st_size


def test_files_roll_at_the_row_and_byte_limits(tmp_path: Path) -> None:
    by_rows = Spool(tmp_path / "rows", PROPS, 25, 512 * 2**20)
    for c in _candidates(60):
        by_rows.add(c)
    by_rows.close()
    assert [f.rows for f in by_rows.files] == [25, 25, 10]
    by_bytes = Spool(tmp_path / "bytes", PROPS, 1_048_576, 1024)
    for c in _candidates(60):
        by_bytes.add(c)
    by_bytes.close()
    assert len(by_bytes.files) > 1 and all(f.csv_path.stat().st_size <= 1024 for f in by_bytes.files)
    assert sum(f.rows for f in by_bytes.files) == 60
    assert [c.email for f in by_bytes.files for c in read_spooled(f)] == [c.email for c in _candidates(60)]
    by_bytes.discard(keep=[by_bytes.files[0]])
    assert by_bytes.files[0].csv_path.exists() and not by_bytes.files[1].csv_path.exists()
