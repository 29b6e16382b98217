"""HubSpot property names and values: from warehouse columns and Python values to HubSpot's strings.

The same name rule exists as the dbt macro ``hubspot_property_name`` (macros/hubspot_property_name.sql); both
use Python's ``str.lower`` and the same character class, so they agree by construction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import re
import uuid
from collections.abc import Mapping
from decimal import Decimal

__all__ = ["changed_properties", "hubspot_property_name", "properties_hash", "same_in_hubspot", "to_hubspot_value"]

_NOT_NAME_CHAR = re.compile(r"[^a-z0-9_]")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_EPOCH_DATE = dt.date(1970, 1, 1)
_MS_PER_DAY = 86_400_000
_ONE_MS = dt.timedelta(milliseconds=1)


def hubspot_property_name(column: str) -> str:
    """HubSpot's internal property name for a column: lowercase, anything outside a-z0-9_ becomes '_'."""
    return _NOT_NAME_CHAR.sub("_", column.lower())


def _plain_decimal(value: Decimal) -> str:
    if not value.is_finite():
        raise ValueError(f"cannot send a non-finite number to HubSpot: {value}")
    text = format(value, "f")  # positional, keeps the scale: Decimal('10.50') -> '10.50', 1E+3 -> '1000'
    return text[1:] if text.startswith("-") and value == 0 else text


def _plain_float(value: float) -> str:
    if not math.isfinite(value):
        raise ValueError(f"cannot send a non-finite number to HubSpot: {value}")
    if value.is_integer():
        # 3.0 -> '3' (as JavaScript and HubSpot's UI print it); exact, also above 2**53.
        return str(int(value))
    # repr gives the shortest digits that round-trip; Decimal re-prints them without an exponent.
    text = repr(value)
    return text if "e" not in text else format(Decimal(text), "f")


def _epoch_ms(value: dt.datetime) -> int:
    if value.tzinfo is None or value.utcoffset() is None:
        value = value.replace(tzinfo=dt.timezone.utc)  # warehouses hand out naive timestamps in UTC
    return (value - _EPOCH) // _ONE_MS  # integer arithmetic: no float rounding


def to_hubspot_value(value: object, *, null_as_empty: bool) -> str | None:
    """Convert one warehouse value to the string HubSpot stores.

    None becomes '' (clear the property) when ``null_as_empty``, else None (leave the property out).
    Dates become midnight-UTC epoch milliseconds, as HubSpot's date properties require; datetimes become
    epoch milliseconds (naive = UTC). Numbers are printed positionally (never in scientific notation).
    Raises ValueError for NaN/infinity and TypeError for a type with no obvious HubSpot form.
    """
    if value is None:
        return "" if null_as_empty else None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):  # before int: bool is an int subclass
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return _plain_decimal(value)
    if isinstance(value, float):
        return _plain_float(value)
    if isinstance(value, dt.datetime):  # before date: datetime is a date subclass
        return str(_epoch_ms(value))
    if isinstance(value, dt.date):
        return str((value - _EPOCH_DATE).days * _MS_PER_DAY)
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"no HubSpot string form for a value of type {type(value).__name__}")


def properties_hash(props: Mapping[str, str | None]) -> str:
    """Stable sha256 hex of the properties sent, for change detection (key order does not matter).

    Each value is length-prefixed (None has no length), so no two different mappings share an encoding;
    cheaper than JSON, and it runs once per row."""
    payload = "".join(
        f"{name}!;" if value is None else f"{name}={len(value)}:{value};"
        for name, value in sorted(props.items())
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _as_epoch_ms(text: str) -> int | None:
    """HubSpot shows date properties as YYYY-MM-DD and datetimes as ISO 8601; we send epoch milliseconds."""
    try:
        if len(text) == 10:
            return (dt.date.fromisoformat(text) - _EPOCH_DATE).days * _MS_PER_DAY
        return _epoch_ms(dt.datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        return None


def same_in_hubspot(sent: str, current: str | None) -> bool:
    """Whether HubSpot already holds `sent` as `current` (a property's value as a batch read returns it).

    Equal text; a clear ("") of a property that is empty; the same number in another spelling ("10.50" and
    "10.5"); true/false in any case; a date or datetime we send as epoch ms and HubSpot shows as ISO 8601.
    Anything else counts as a change: a false "changed" costs one update, a false "same" would lose one."""
    if current is None:
        return sent == ""
    if sent == current:
        return True
    if sent.lower() in ("true", "false"):
        return sent.lower() == current.strip().lower()
    try:
        if Decimal(sent) == Decimal(current):
            return True
    except ArithmeticError:
        pass
    if sent.isdigit() and not current.isdigit():
        return _as_epoch_ms(current.strip()) == int(sent)
    return False


def changed_properties(
    sent: Mapping[str, str], current: Mapping[str, str | None]
) -> dict[str, tuple[str | None, str]]:
    """{property: (HubSpot's value, the value to send)} for the properties HubSpot does not already hold."""
    return {
        name: (current.get(name), value)
        for name, value in sent.items()
        if not same_in_hubspot(value, current.get(name))
    }
