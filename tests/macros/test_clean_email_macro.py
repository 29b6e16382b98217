"""The real clean_email macro, compiled and run by real dbt, against messy.tsv: on DuckDB, PostgreSQL and Spark.

(hubspot_property_name is pinned to its Python home in test_rules_pinned.py.)
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dbt_hubspot_sync.engine.validation import validate_email

pytestmark = pytest.mark.dbt

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"
MESSY = SHARED / "email-corpus" / "messy.tsv"

FULLWIDTH = "".join(chr(c) for c in range(0xFF01, 0xFF5F))
# Rows beyond the corpus: NULL stays NULL; the whole full-width ASCII block folds to ASCII (then lower-case).
EXTRA_ROWS: list[tuple[str | None, str | None, str]] = [
    (None, None, "NULL stays NULL"),
    (FULLWIDTH, "".join(chr(c - 0xFEE0) for c in range(0xFF01, 0xFF5F)).lower(), "full-width ASCII block"),
    (
        "\u2029 Jane\u2063.Doe@Example.com\u00a0",
        "jane.doe@example.com",
        "paragraph separator, invisible times",
    ),
]


def _messy_rows() -> list[tuple[str, str, str]]:
    if not MESSY.is_file():
        pytest.skip(f"shared email corpus not found at {MESSY.resolve()} (the tests read it, never copy it)")
    rows = []
    with MESSY.open(encoding="utf-8", newline="") as f:
        header = f.readline().rstrip("\n").split("\t")
        for line in f:
            rec = dict(zip(header, line.rstrip("\n").split("\t"), strict=True))
            rows.append((json.loads(rec["raw_json"]), rec["expected_clean"], rec["note"]))
    return rows


@pytest.fixture(scope="module")
def cleaned(dbt_project_with_spark) -> dict[int, tuple[str | None, str | None, str, str | None]]:
    """id -> (raw, expected, note, cleaned by the macro), on DuckDB, PostgreSQL and Spark."""
    dbt_project = dbt_project_with_spark
    cases = [*_messy_rows(), *EXTRA_ROWS]
    p = dbt_project.placeholder
    dbt_project.execute(f"create table {dbt_project.schema}.raw_emails (id integer, raw varchar(1000))")
    dbt_project.execute(
        f"insert into {dbt_project.schema}.raw_emails values ({p}, {p})",
        many=[(i, raw) for i, (raw, _, _) in enumerate(cases)],
    )
    dbt_project.write_model(
        "cleaned_emails",
        "select id, raw, {{ dbt_hubspot_sync.clean_email('raw') }} as clean\n"
        "from {{ target.schema }}.raw_emails\n",
    )
    dbt_project.dbt("run")
    got = dict(dbt_project.query(f"select id, clean from {dbt_project.schema}.cleaned_emails"))
    assert len(got) == len(cases)
    return {i: (raw, expected, note, got[i]) for i, (raw, expected, note) in enumerate(cases)}


def test_every_messy_row_cleans_to_its_expectation(cleaned) -> None:
    wrong = [
        f"{raw!r} -> {clean!r}, expected {expected!r} ({note})"
        for raw, expected, note, clean in cleaned.values()
        if expected != "INVALID" and clean != expected
    ]
    assert not wrong, "\n".join(wrong)


def test_invalid_rows_are_rejected_after_cleanup(cleaned) -> None:
    accepted = [
        f"{raw!r} -> {clean!r} was accepted ({note})"
        for raw, expected, note, clean in cleaned.values()
        if expected == "INVALID" and validate_email(clean).ok
    ]
    assert not accepted, "\n".join(accepted)
    invalid = sum(1 for _, expected, _, _ in cleaned.values() if expected == "INVALID")
    assert invalid >= 42  # the corpus README's count: the rows are really there


def test_empty_results_are_null_not_empty_string(cleaned) -> None:
    assert all(clean != "" for _, _, _, clean in cleaned.values())
    by_raw = {raw: clean for raw, _, _, clean in cleaned.values()}
    assert by_raw[None] is None
    assert by_raw[""] is None
    assert by_raw["mailto:"] is None
    assert by_raw["\u200b"] is None
