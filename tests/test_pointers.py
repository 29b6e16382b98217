"""Comments, docstrings and docs point only at files that exist in the repository: every repository path named
in the package, the macros, the docs and the README (a name with a folder, ending in .py, .sql, .md or .yml) is a
file here, and none points at the reference material outside it (the product contract, the API notes)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [
    *sorted((ROOT / "dbt_hubspot_sync").rglob("*.py")),
    *sorted((ROOT / "macros").rglob("*.sql")),
    *sorted((ROOT / "docs").glob("*.md")),
    ROOT / "README.md",
    ROOT / "benchmarks" / "README.md",
]
PATH = re.compile(r"(?<![\w/.:-])((?:[\w-]+/)+[\w.-]+\.(?:py|sql|md|yml))\b")
# Folders a path may be relative to, besides the repository root (the package's own modules say `hubspot/x.py`).
BASES = [ROOT, ROOT / "dbt_hubspot_sync", ROOT / "example_project"]
# Paths that name files of the user's project or of dbt, not of this repository.
NOT_OURS = {"models/exposures.yml", "models/hubspot_sync_health.sql", "models/schema.yml"}
# A file named without its folder (`run_log.py`): a module or macro of the repository all the same.
BARE = re.compile(r"(?<![\w/.-])([\w-]+\.(?:py|sql))\b")
NOT_FILES = {"spark.sql", "pyspark.sql"}  # Spark's module paths, not file names
OUTSIDE = re.compile(r"PRODUCT\.md|HUBSPOT_NOTES\.md|\.\./shared")


def _pointers() -> list[tuple[Path, int, str]]:
    found = []
    for source in SOURCES:
        for number, line in enumerate(source.read_text(encoding="utf-8").splitlines(), 1):
            for match in PATH.finditer(line):
                found.append((source, number, match.group(1)))
    return found


def test_the_scan_finds_pointers() -> None:
    pointers = {p for _, _, p in _pointers()}
    assert {"docs/hubspot_api.md", "hubspot/paths.py", "macros/log_tables_ddl.sql"} <= pointers


def test_every_pointer_names_a_file_of_the_repository() -> None:
    missing = [
        f"{source.relative_to(ROOT)}:{number}: {path}"
        for source, number, path in _pointers()
        if path not in NOT_OURS and not any((base / path).exists() for base in BASES + [source.parent])
    ]
    assert missing == []


def test_nothing_points_outside_the_repository() -> None:
    outside = [
        f"{source.relative_to(ROOT)}:{number}"
        for source in SOURCES
        for number, line in enumerate(source.read_text(encoding="utf-8").splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert outside == []


def test_every_file_named_without_its_folder_is_one_of_the_repository() -> None:
    ours = ("dbt_hubspot_sync", "macros", "models", "tests", "benchmarks", "scripts", "example_project")
    names = {p.name for folder in ours for p in (ROOT / folder).rglob("*") if p.suffix in (".py", ".sql")}
    missing = [
        f"{source.relative_to(ROOT)}:{number}: {match.group(1)}"
        for source in SOURCES
        for number, line in enumerate(source.read_text(encoding="utf-8").splitlines(), 1)
        for match in BARE.finditer(line)
        if match.group(1) not in names and match.group(1) not in NOT_FILES
    ]
    assert missing == []
