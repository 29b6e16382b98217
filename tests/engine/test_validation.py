"""validate_email against HubSpot's rules, the shared corpus and the documented disagreements."""

from __future__ import annotations

import dataclasses
import json
import random
import re
from pathlib import Path

import pytest

from dbt_hubspot_sync.engine.validation import (
    INVALID_SYNTAX,
    NULL_EMAIL,
    QUOTED_LOCAL_PART,
    UNKNOWN_TLD,
    EmailVerdict,
    _full_verdict,
    _plainly_valid,
    validate_email,
)

REPO = Path(__file__).resolve().parents[2]
CORPUS_DIR = REPO / ".." / "shared" / "email-corpus"
DOC = REPO / "docs" / "email_validation.md"


def _read_tsv(name: str) -> list[dict[str, str]]:
    path = CORPUS_DIR / name
    if not path.is_file():
        pytest.skip(f"shared email corpus not found at {path.resolve()} (the tests read it, never copy it)")
    with path.open(encoding="utf-8", newline="") as f:
        header = f.readline().rstrip("\n").split("\t")
        return [dict(zip(header, line.rstrip("\n").split("\t"), strict=True)) for line in f]


@pytest.fixture(scope="module")
def corpus() -> list[tuple[str, bool, str, EmailVerdict]]:
    """(address, expected_valid, confidence, our verdict) for every corpus row."""
    rows = _read_tsv("corpus.tsv")
    out = []
    for row in rows:
        address = json.loads(row["address_json"])
        out.append((address, row["expected"] == "valid", row["confidence"], validate_email(address)))
    return out


def _documented_disagreements() -> set[str]:
    text = DOC.read_text(encoding="utf-8")
    block = re.search(r"<!-- disagreements:start -->(.*?)<!-- disagreements:end -->", text, re.S)
    assert block, f"disagreement markers missing in {DOC}"
    return {json.loads(m) for m in re.findall(r"^\| `(\".*?\")` \|", block.group(1), re.M)}


def test_corpus_is_complete(corpus) -> None:
    # README: 863 rows, 682 high / 181 low. Guards against a silently truncated read.
    assert len(corpus) == 863
    assert sum(1 for _, _, conf, _ in corpus if conf == "high") == 682


def test_agrees_with_every_high_confidence_row(corpus) -> None:
    wrong = [
        f"{addr!r}: expected {'valid' if exp else 'invalid'}, got {v}"
        for addr, exp, conf, v in corpus
        if conf == "high" and v.ok != exp
    ]
    assert not wrong, "\n".join(wrong)


def test_low_confidence_disagreements_are_exactly_the_documented_ones(corpus) -> None:
    ours = {addr for addr, exp, conf, v in corpus if conf == "low" and v.ok != exp}
    assert ours == _documented_disagreements()


def test_reasons_are_consistent_with_ok(corpus) -> None:
    for _, _, _, v in corpus:
        assert (v.reason is None) == v.ok
        assert v.ok or v.detail


def test_messy_expectations_are_accepted_as_cleaned() -> None:
    # Every expected_clean value of messy.tsv is what the SQL sends: validation must accept it unchanged.
    rows = [r for r in _read_tsv("messy.tsv") if r["expected_clean"] != "INVALID"]
    assert len(rows) == 77
    rejected = {r["expected_clean"]: validate_email(r["expected_clean"]) for r in rows}
    assert not {k: v for k, v in rejected.items() if not v.ok}


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        (None, NULL_EMAIL),
        ("", NULL_EMAIL),
        ("john.doe", INVALID_SYNTAX),
        ("john..doe@example.com", INVALID_SYNTAX),
        ("john doe@example.com", INVALID_SYNTAX),
        ("john.doe@@example.com", INVALID_SYNTAX),
        ("john.doe@[192.168.1.10]", INVALID_SYNTAX),
        ("John <john.doe@example.com>", INVALID_SYNTAX),
        (" john.doe@example.com", INVALID_SYNTAX),
        ("pelé@example.com", INVALID_SYNTAX),  # non-ASCII local part
        ("a" * 65 + "@example.com", INVALID_SYNTAX),  # RFC 5321 local-part limit
        ("test@io", INVALID_SYNTAX),  # bare TLD as domain
        ("me@anything.arpa", INVALID_SYNTAX),  # documented disagreement
        ('"a"@x.com', QUOTED_LOCAL_PART),
        ('"john doe"@example.com', QUOTED_LOCAL_PART),
        ('"a@b"@example.com', QUOTED_LOCAL_PART),
        ('"a"@example.test', QUOTED_LOCAL_PART),  # quotes win over the TLD
        ("x@test.con", UNKNOWN_TLD),
        ("john.doe@gmail.c", UNKNOWN_TLD),
        ("john.doe@example.local", UNKNOWN_TLD),  # special-use, not on IANA's list
        ("john.doe@example.test", UNKNOWN_TLD),
        ("john.doe@a.localhost", UNKNOWN_TLD),
        ("john.doe@192.168.1.10", UNKNOWN_TLD),  # numeric last label
        ("a@example.xn--zzzz", UNKNOWN_TLD),
        ("a..b@example.local", INVALID_SYNTAX),  # syntax is reported before the TLD
    ],
)
def test_reason_codes(address: str | None, reason: str) -> None:
    verdict = validate_email(address)
    assert (verdict.ok, verdict.reason) == (False, reason), verdict
    assert verdict.detail


@pytest.mark.parametrize(
    "address",
    [
        "john.doe@example.com",
        "jane_o'neil@example.ie",
        "john.doe+newsletter@example.com",
        "a!#$%&*/=?^{|}~b@example.com",
        "a@example.рф",  # Unicode TLD compared as xn--p1ai
        "a@example.xn--p1ai",
        "john.doe@exämple.com",
        "a@b.co",
    ],
)
def test_valid_addresses(address: str) -> None:
    verdict = validate_email(address)
    assert verdict.ok, verdict
    assert verdict.reason is None


def test_input_is_not_normalized_but_difference_is_noted() -> None:
    verdict = validate_email("someone@xn--d1abbgf6aiiy.xn--p1ai")
    assert verdict.ok
    assert "президент.рф" in verdict.detail  # what email-validator would have sent; we send the input
    assert validate_email("john.doe@example.com").detail == ""


def test_verdict_is_frozen() -> None:
    verdict = validate_email("john.doe@example.com")
    with pytest.raises(dataclasses.FrozenInstanceError):
        verdict.ok = False  # type: ignore[misc]


def _generated_addresses(n: int, seed: int = 5) -> list[str]:
    """Plain-looking addresses with the edge cases the fast path must leave to email-validator mixed in."""
    rng = random.Random(seed)
    local_bits = [
        "john",
        "J",
        "a.b",
        "x_y",
        "o'neil",
        "+tag",
        "-",
        ".",
        "..",
        "postmaster",
        "Info",
        "é",
        '"q"',
        " ",
    ]
    domain_bits = [
        "example",
        "ex-ample",
        "a--b",
        "xn--p1ai",
        "-x",
        "x-",
        "EXAMPLE",
        "sub.example",
        "",
        "a" * 64,
    ]
    tlds = ["com", "io", "arpa", "local", "test", "c0m", "xn--p1ai", "COM", "zz", "museum", "a"]
    out = []
    for _ in range(n):
        local = "".join(rng.choice(local_bits) for _ in range(rng.randint(1, 3)))
        if rng.random() < 0.05:
            local = "a" * rng.randint(60, 70)
        domain = ".".join(rng.choice(domain_bits) for _ in range(rng.randint(1, 3)))
        out.append(f"{local}@{domain}.{rng.choice(tlds)}")
    return out


def _fast_path_inputs() -> list[str]:
    corpus_rows = _read_tsv("corpus.tsv")
    messy_rows = _read_tsv("messy.tsv")
    addresses = [json.loads(r["address_json"]) for r in corpus_rows]
    addresses += [r["expected_clean"] for r in messy_rows] + [json.loads(r["raw_json"]) for r in messy_rows]
    return addresses + _generated_addresses(60_000)


def test_fast_path_gives_email_validators_verdicts() -> None:
    # The fast path may only answer "valid, nothing to note" where the full path says exactly that: checked on
    # every corpus and messy.tsv row and on generated near-misses (quotes, '--', special-use TLDs, lengths).
    taken, wrong = 0, []
    for address in _fast_path_inputs():
        if _plainly_valid(address):
            taken += 1
            if _full_verdict(address) != validate_email(address):
                wrong.append(f"{address!r}: full path says {_full_verdict(address)}")
    assert not wrong, "\n".join(wrong[:20])
    assert taken > 1_000, f"the fast path took only {taken} addresses: it no longer covers the plain case"


@pytest.mark.parametrize(
    "address",
    ["a@b.arpa", "Postmaster@example.com", "a@xn--p1ai.com", "a@ab--c.com", "a@EXAMPLE.com", "é@x.com"],
)
def test_fast_path_leaves_edge_cases_to_the_full_path(address: str) -> None:
    assert not _plainly_valid(address)
