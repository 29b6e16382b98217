"""Property names and value conversion to HubSpot strings."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest

from dbt_hubspot_sync.config.properties import hubspot_property_name, properties_hash, to_hubspot_value


@pytest.mark.parametrize(
    ("column", "name"),
    [
        ("Amperity ID", "amperity_id"),
        ("Email", "email"),
        ("first_name", "first_name"),
        ("LTV (EUR)", "ltv__eur_"),  # one '_' per character, not collapsed
        ("a.b-c/d", "a_b_c_d"),
        ("Ünïcode", "_n_code"),
        ("2024 Score", "2024_score"),
        ("", ""),
    ],
)
def test_property_name_rule(column: str, name: str) -> None:
    assert hubspot_property_name(column) == name


def test_property_name_output_alphabet() -> None:
    every_char = "".join(chr(c) for c in range(0x20, 0x250))
    assert set(hubspot_property_name(every_char)) <= set("abcdefghijklmnopqrstuvwxyz0123456789_")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Jane", "Jane"),
        ("", ""),
        (" keep spaces ", " keep spaces "),
        (True, "true"),
        (False, "false"),
        (0, "0"),
        (42, "42"),
        (-7, "-7"),
        (10**30, "1000000000000000000000000000000"),
        (Decimal("10.50"), "10.50"),  # the warehouse's scale is kept
        (Decimal("1E+3"), "1000"),
        (Decimal("1.5E-7"), "0.00000015"),
        (Decimal("-0.00"), "0.00"),
        (3.0, "3"),
        (-2.0, "-2"),
        (0.1, "0.1"),
        (1 / 3, "0.3333333333333333"),
        (1e20, "100000000000000000000"),
        (1.5e-7, "0.00000015"),
        (12345.678, "12345.678"),
        (dt.date(2019, 10, 31), "1572480000000"),
        (dt.date(1970, 1, 1), "0"),
        (dt.date(1969, 12, 31), "-86400000"),
        (dt.datetime(2019, 10, 31), "1572480000000"),  # naive = UTC
        (dt.datetime(2019, 10, 31, 12, 30, 15, 250_999), "1572525015250"),  # ms truncated
        (dt.datetime(2019, 10, 31, 2, tzinfo=dt.timezone(dt.timedelta(hours=2))), "1572480000000"),
        (uuid.UUID("12345678-1234-5678-1234-567812345678"), "12345678-1234-5678-1234-567812345678"),
    ],
)
def test_value_conversion(value: object, expected: str) -> None:
    assert to_hubspot_value(value, null_as_empty=False) == expected
    assert to_hubspot_value(value, null_as_empty=True) == expected


def test_none_clears_or_omits() -> None:
    assert to_hubspot_value(None, null_as_empty=True) == ""
    assert to_hubspot_value(None, null_as_empty=False) is None


@pytest.mark.parametrize(
    "value", [float("nan"), float("inf"), -float("inf"), Decimal("NaN"), Decimal("Infinity")]
)
def test_non_finite_numbers_are_refused(value: object) -> None:
    with pytest.raises(ValueError, match="non-finite"):
        to_hubspot_value(value, null_as_empty=False)


@pytest.mark.parametrize("value", [b"bytes", [1, 2], {"a": 1}, dt.time(12, 0)])
def test_unknown_types_are_refused(value: object) -> None:
    with pytest.raises(TypeError, match=type(value).__name__):
        to_hubspot_value(value, null_as_empty=False)


def test_floats_never_use_scientific_notation() -> None:
    for x in (1e-30, 2.5e-10, 1e16, 1.7976931348623157e308, 5e-324):
        text = to_hubspot_value(x, null_as_empty=False)
        assert text is not None and "e" not in text.lower()
        assert float(text) == x  # still the same number


def test_properties_hash_is_stable_and_order_independent() -> None:
    a = properties_hash({"firstname": "Jane", "amperity_id": "42"})
    b = properties_hash({"amperity_id": "42", "firstname": "Jane"})
    assert a == b
    assert len(a) == 64 and int(a, 16) >= 0
    # A fixed value: the hash is stored in the warehouse, so a change means one full resend after upgrading.
    golden = {"lastname": "Müller", "firstname": "Jane", "phone": None}
    assert properties_hash(golden) == "39675b08916ed195cb30657e9f66e0f331bb76a326b40341aa9d0ac1d92f9441"


def test_properties_hash_detects_changes() -> None:
    base = {"firstname": "Jane", "lastname": ""}
    variants = [
        {"firstname": "Jane"},  # a key dropped
        {"firstname": "Jane", "lastname": None},  # cleared vs omitted
        {"firstname": "jane", "lastname": ""},
        {"firstname": "Jane", "lastname": " "},
        {"firstname": "Jane", "last": "name"},
        {"firstname": "Jane;lastname=0:"},  # separators inside a value cannot forge another mapping
        {"firstname": "Jane", "lastname": "", "x": None},
    ]
    hashes = {properties_hash(v) for v in variants} | {properties_hash(base)}
    assert len(hashes) == len(variants) + 1
