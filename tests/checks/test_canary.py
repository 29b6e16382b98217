"""The canary's Python reference of `clean_email` is the macro's behaviour: it reproduces every row of the shared
corpus (messy.tsv) exactly as the macro tests require of the SQL on each adapter, so the canary compares the
warehouse with the right answers. (The canary against real warehouses: tests/macros/test_canary_macro.py and
tests/spark/.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dbt_hubspot_sync.checks.canary import (
    CANARY_EMAILS,
    CanaryError,
    canary_inputs,
    canary_problem,
    check_canary,
    reference_clean_email,
)
from dbt_hubspot_sync.engine.validation import validate_email

MESSY = Path(__file__).resolve().parents[2] / ".." / "shared" / "email-corpus" / "messy.tsv"


def _corpus() -> list[tuple[str, str, str]]:
    if not MESSY.is_file():
        pytest.skip(f"shared email corpus not found at {MESSY.resolve()}")
    rows = []
    with MESSY.open(encoding="utf-8", newline="") as f:
        header = f.readline().rstrip("\n").split("\t")
        for line in f:
            rec = dict(zip(header, line.rstrip("\n").split("\t"), strict=True))
            rows.append((json.loads(rec["raw_json"]), rec["expected_clean"], rec["note"]))
    return rows


def test_the_reference_cleans_every_corpus_row_as_expected() -> None:
    wrong = [
        f"{raw!r} -> {reference_clean_email(raw)!r}, expected {expected!r} ({note})"
        for raw, expected, note in _corpus()
        if expected != "INVALID" and reference_clean_email(raw) != expected
    ]
    assert not wrong, "\n".join(wrong)


def test_the_reference_leaves_invalid_rows_invalid() -> None:
    accepted = [
        raw
        for raw, expected, _ in _corpus()
        if expected == "INVALID" and validate_email(reference_clean_email(raw)).ok
    ]
    assert not accepted


def test_canary_expectations() -> None:
    pairs = dict(canary_inputs())
    assert len(pairs) == len(CANARY_EMAILS)
    assert pairs["Jane Doe <Jane.Doe@Example.com>"] == "jane.doe@example.com"
    assert pairs["jane@example.com (work)"] == "jane@example.com"
    assert pairs["'jane@example.com'"] == "jane@example.com"
    assert pairs["back\\slash@example.com"] == "back\\slash@example.com"
    assert pairs["dollar$1@example.com"] == "dollar$1@example.com"
    assert pairs["two words@example.com"] == "two words@example.com"
    assert pairs[""] is None and pairs[None] is None and pairs["mailto:"] is None


class _Target:
    """A warehouse whose cleanup is some Python function (rendering returns what the macros would)."""

    type = "fakedb"

    def __init__(self, clean, property_name=None) -> None:
        self.clean, self.property_name = clean, property_name
        self.queries = 0

    def describe(self) -> str:
        return "warehouse (fakedb, s)"

    def render(self, macro: str, **kw):
        if macro == "hubspot_property_name":
            from dbt_hubspot_sync.config.properties import hubspot_property_name

            return (self.property_name or hubspot_property_name)(kw["name"])
        return f"canary sql for {self.clean.__name__}"

    def execute(self, sql: str, params=None):
        self.queries += 1
        return [(i, raw, self.clean(raw)) for i, raw in enumerate(CANARY_EMAILS)]


def test_a_matching_warehouse_passes_once_per_process() -> None:
    def same(raw):
        return reference_clean_email(raw)

    target = _Target(same)
    check_canary(target)
    check_canary(target)
    assert target.queries == 1
    assert canary_problem(target) is None


def test_a_warehouse_that_rewrites_emails_is_refused_naming_the_first_wrong_output() -> None:
    def spark_before_its_variant(raw):  # what Spark made of the standard-SQL macro
        return None if raw in (None, "") else "1234567"

    with pytest.raises(CanaryError) as err:
        check_canary(_Target(spark_before_its_variant))
    text = str(err.value)
    assert "adapter 'fakedb'" in text and "warehouse (fakedb, s)" in text
    assert "clean_email('Jane.Doe@Example.COM') gave '1234567', expected 'jane.doe@example.com'" in text
    assert "Nothing was read or sent" in text
    assert "1234567" in (canary_problem(_Target(spark_before_its_variant)) or "")


def test_a_wrong_property_name_macro_is_refused() -> None:
    with pytest.raises(
        CanaryError, match="hubspot_property_name macro on adapter 'fakedb' turns 'Amperity ID'"
    ):
        check_canary(_Target(reference_clean_email, property_name=lambda n: n.lower()))


def test_targets_without_macros_are_not_checked() -> None:
    check_canary(object())  # the DuckDB post-hook's own connection
