"""HubSpot's email rule and property-value checks used by the sandbox."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from dbt_hubspot_sync.sandbox.rules import check_value, hubspot_email_ok, problems_message
from dbt_hubspot_sync.sandbox.store import Store, default_properties

CORPUS = Path(__file__).resolve().parents[2] / ".." / "shared" / "email-corpus" / "corpus.tsv"


@pytest.mark.parametrize(
    "email,ok",
    [
        ("x@test.design", True),
        ("a@example.рф", True),
        ("Ada@Example.COM", True),
        ("x@test.con", False),
        ("tb.tb@yahoo.comtttt", False),
        ('"Test Email"@hubspot.com', False),
        ("example.lcom", False),
        ("a@b@example.com", False),
        ("a@localhost", False),
        ("", False),
    ],
)
def test_email_rule_examples(email: str, ok: bool) -> None:
    assert hubspot_email_ok(email) is ok


def test_email_rule_agrees_with_high_confidence_corpus() -> None:
    if not CORPUS.is_file():
        pytest.skip(f"email corpus not found at {CORPUS} (the shared folder beside the repository)")
    with CORPUS.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))
    high = [r for r in rows if r["confidence"] == "high"]
    assert len(high) > 600
    wrong = [
        r["address"]
        for r in high
        if hubspot_email_ok(json.loads(r["address_json"])) != (r["expected"] == "valid")
    ]
    assert wrong == []


def test_check_value_codes() -> None:
    props = default_properties()
    assert check_value(None, "nope", "x").code == "PROPERTY_DOESNT_EXIST"  # type: ignore[union-attr]
    assert check_value(props["createdate"], "createdate", "").code == "READ_ONLY_VALUE"  # type: ignore[union-attr]
    assert check_value(props["lifecyclestage"], "lifecyclestage", "lead") is None
    assert check_value(props["lifecyclestage"], "lifecyclestage", "") is None  # "" clears, any type
    assert check_value(props["lifecyclestage"], "lifecyclestage", "Lead").code == "INVALID_OPTION"  # type: ignore[union-attr]
    assert check_value(props["email"], "email", "") is None  # clearing is allowed
    problem = check_value(props["email"], "email", "example.lcom")
    assert problem is not None and problem.code == "INVALID_EMAIL"
    assert problems_message([problem]) == (
        'Property values were not valid: [{"isValid":false,"message":"Email address example.lcom is invalid",'
        '"error":"INVALID_EMAIL","name":"email"}]'
    )


def test_number_property_values() -> None:
    score = Store([{"email": "a@example.com"}], number_properties=["score"]).props["score"]
    assert check_value(score, "score", "12.5") is None and check_value(score, "score", "-3") is None
    problem = check_value(score, "score", "12 points")
    assert problem is not None and problem.code == "INVALID_INTEGER"
    assert "12 points" not in problem.message  # HubSpot names the property, not the value
