"""The canary: before a run reads a row, the warehouse's own SQL cleanup is checked against the Python reference.

The cleanup runs as SQL (the `clean_email` macro), and SQL dialects differ where it matters: string-literal
escapes (Spark drops a backslash it does not know), regex engines and their replacement syntax (`\\1` or `$1`),
`translate`, `trim`, `lower`. An adapter that reads the macro differently does not fail: it silently rewrites
every email (Spark before its own variant turned each address into `1234567`, and the run said `completed`).
So every run first has the warehouse clean a fixed set of canary inputs, one per cleanup step and per literal
hazard, and compares each output with `reference_clean_email` (this module: the same steps in Python, held to
the shared corpus by tests/checks/test_canary.py); the property-name macro is compared with
`properties.hubspot_property_name` the same way. A mismatch stops the run before any row is read or sent
(`CanaryError`, exit code 2) naming the adapter and the first wrong output, so an adapter nobody tested
(Snowflake, BigQuery, Redshift, ...) either cleans emails exactly as the tested ones do or refuses to run.
`check` reports the same verdict. A pass is remembered per adapter type and rendered SQL for the process.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from dbt_hubspot_sync.config.properties import hubspot_property_name
from dbt_hubspot_sync.errors import SyncError, UsageKind

# -- the reference: macros/_internal/_clean_email_sql.sql, step by step (docs/email_validation.md) ------------
_INVISIBLE = (
    "\u00ad\u180e\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
    "\u2060\u2061\u2062\u2063\u2064\u2066\u2067\u2068\u2069\ufeff"
)
_SPACES = (
    "\t\n\u000b\u000c\r\u0085\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_WIDE = "".join(chr(c) for c in range(0xFF01, 0xFF5F)) + "\ufe6b\u3002\uff61"
_NARROW = "".join(chr(c - 0xFEE0) for c in range(0xFF01, 0xFF5F)) + "@.."
_FOLD = str.maketrans(
    {**dict(zip(_WIDE, _NARROW)), **{c: " " for c in _SPACES}, **{c: None for c in _INVISIBLE}}
)
_DISPLAY_NAME = re.compile(r"^[^<>]*<([^<>]*)>[ .,;:]*$")
_MAILTO = re.compile(r"^mailto: *([^?]*).*$")
_COMMENT = re.compile(r"^([^()]*@[^()]*[^() ]) *\([^()]*\)$")
_WRAPPED = re.compile("^(?:\"(.*)\"|'(.*)'|\u201c(.*)\u201d|\u2018(.*)\u2019|\\((.*)\\)|\\[(.*)\\]|<(.*)>)$")
_LEADING = re.compile(r"^[ <]+")
_TRAILING = re.compile(r"[ .,;:!?>]+$")


def reference_clean_email(raw: str | None) -> str | None:
    """What the `clean_email` macro must return for `raw` on every adapter."""
    if raw is None:
        return None
    s = raw.translate(_FOLD).strip(" ").lower()
    s = _DISPLAY_NAME.sub(r"\1", s, count=1).strip(" ")
    s = _MAILTO.sub(r"\1", s, count=1)
    s = _COMMENT.sub(r"\1", s, count=1)
    s = _WRAPPED.sub(lambda m: "".join(g or "" for g in m.groups()), s, count=1).strip(" ")
    s = _TRAILING.sub("", _LEADING.sub("", s, count=1), count=1)
    return s or None


# -- the canary inputs: each cleanup step, and what dialects read differently ----------------------------------
CANARY_EMAILS: tuple[str | None, ...] = (
    "Jane.Doe@Example.COM",  # lower()
    "  jane@example.com \t\n",  # odd spaces, trim()
    "Jane Doe <Jane.Doe@Example.com>",  # display name: a regex group in the replacement (\1 or $1)
    '"Doe, Jane" <jane@example.com>;',
    "mailto:jane@example.com?subject=Hi",
    "jane@example.com (work)",  # an escaped parenthesis in the pattern
    '"jane@example.com"',
    "'jane@example.com'",  # a quote inside the pattern's literal
    "\u201cjane@example.com\u201d",
    "(jane@example.com)",
    "[jane@example.com]",
    "<jane@example.com>",
    "jane@example.com.,;",
    "\uff4a\uff41\uff4e\uff45\uff20\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45\uff0e\uff43\uff4f\uff4d",  # full width
    "ja\u200bne@exam\u00adple.com\ufeff",  # invisible characters
    "\u00a0jane@example.com\u3000",
    "o'brien@example.com",  # a quote in the value
    "back\\slash@example.com",  # a backslash in the value
    "x\\1y@example.com",
    "dollar$1@example.com",  # what a replacement string would read as a group
    "J\u00f6rg.M\u00fcller@Example.de",
    "two words@example.com",  # not repaired: validation rejects it
    "mailto:",
    "",
    None,
)
CANARY_PROPERTY_NAMES = (
    "Amperity ID",
    "Email",
    "Lifetime Value ($)",
    "Is VIP?",
    "first-name",
    "Stra\u00dfe",
    "a_b9",
)

_PASSED: set[tuple[str, str]] = set()


class CanaryError(UsageKind, SyncError):
    """The warehouse's SQL cleanup (or the property-name macro) differs from the reference: nothing may run."""


def _show(value: Any) -> str:
    return "NULL" if value is None else repr(value)


def _problem(target: Any) -> str | None:
    """The first difference between the warehouse and the reference, as a sentence; None when they agree."""
    adapter = getattr(target, "type", "?")
    for name in CANARY_PROPERTY_NAMES:
        got = target.render("hubspot_property_name", name=name)
        want = hubspot_property_name(name)
        if got != want:
            return (
                f"the hubspot_property_name macro on adapter '{adapter}' turns {name!r} into {_show(got)},"
                f" the product's rule gives {want!r}"
            )
    sql = target.render("_clean_email_canary", inputs=list(CANARY_EMAILS))
    key = (str(adapter), str(sql))
    if key in _PASSED:
        return None
    rows = {int(r[0]): (r[1], r[2]) for r in target.execute(str(sql))}
    wrong: list[str] = []
    for i, raw in enumerate(CANARY_EMAILS):
        want = reference_clean_email(raw)
        echoed, got = rows.get(i, ("<missing>", "<missing row>"))
        if echoed != raw:
            wrong.append(
                f"the canary input {_show(raw)} reached the warehouse as {_show(echoed)}"
                " (the adapter's string literals differ from the package's _sql_string)"
            )
        elif got != want:
            wrong.append(f"clean_email({_show(raw)}) gave {_show(got)}, expected {_show(want)}")
    if wrong:
        more = (
            f" (and {len(wrong) - 1} more of {len(CANARY_EMAILS)} canary inputs wrong)"
            if len(wrong) > 1
            else ""
        )
        return f"on adapter '{adapter}', {wrong[0]}{more}"
    _PASSED.add(key)
    return None


def _sentence(target: Any, problem: str) -> str:
    where = (
        target.describe() if hasattr(target, "describe") else f"warehouse ({getattr(target, 'type', '?')})"
    )
    return (
        f"{where}: the SQL cleanup does not match the product's reference, so emails would be rewritten"
        f" wrongly: {problem}. Nothing was read or sent. This adapter needs its own variant of the macro"
        " (macros/clean_email.sql; tested adapters: duckdb, postgres, spark), or remove a project macro that"
        " overrides it"
    )


def check_canary(target: Any) -> None:
    """Raise CanaryError unless the warehouse cleans the canary inputs as the reference does. Targets that
    render no macros (the DuckDB post-hook's own connection: its rows were cleaned by dbt's DuckDB) pass."""
    if not hasattr(target, "render"):
        return
    try:
        problem = _problem(target)
    except CanaryError:
        raise
    except Exception as exc:  # the canary query failed: the rows query would fail (or drift) the same way
        adapter = getattr(target, "type", "?")
        problem = f"the canary query failed on adapter '{adapter}': {' '.join(str(exc).split())[:500]}"
    if problem is not None:
        raise CanaryError(_sentence(target, problem))


def canary_problem(target: Any) -> str | None:
    """For `check`: what check_canary would refuse the run for, or None when the cleanup matches."""
    try:
        check_canary(target)
    except CanaryError as exc:
        return str(exc)
    return None


def canary_inputs() -> Sequence[tuple[str | None, str | None]]:
    """(input, expected) pairs, for tests and docs."""
    return [(raw, reference_clean_email(raw)) for raw in CANARY_EMAILS]
