"""HubSpot's CRM search (`POST .../contacts/search`): the request, its limits, filter evaluation, sorting, paging
and the indexing lag. Facts and inferences: docs/hubspot_api.md §10.

- filterGroups are OR'd, a group's filters AND'd; at most 5 groups of at most 6 filters, 18 in all (400 past);
  operators EQ, NEQ, LT, LTE, GT, GTE, BETWEEN, IN, NOT_IN, HAS_PROPERTY, NOT_HAS_PROPERTY, CONTAINS_TOKEN,
  NOT_CONTAINS_TOKEN (the spec's enum). `email` EQ also matches a contact's `hs_additional_emails` [OBS].
- `limit` defaults to 10, at most 200; `after` is an offset; results stop at 10,000 (an `after` at or past it is a
  400, though the last page still carries a cursor to it) while `total` counts every match.
- Results lag writes by `search_lag_ms` (`SearchIndex`).
"""

from __future__ import annotations

import fnmatch
import functools
import re
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from dbt_hubspot_sync.sandbox import payloads
from dbt_hubspot_sync.sandbox.bodies import validation_error
from dbt_hubspot_sync.sandbox.views import DEFAULT_READ, id_key, public

OPERATORS = (
    "BETWEEN", "CONTAINS_TOKEN", "EQ", "GT", "GTE", "HAS_PROPERTY", "IN", "LT", "LTE", "NEQ",
    "NOT_CONTAINS_TOKEN", "NOT_HAS_PROPERTY", "NOT_IN",
)  # fmt: skip
MAX_GROUPS, MAX_FILTERS_PER_GROUP, MAX_FILTERS = 5, 6, 18
MAX_LIMIT, DEFAULT_LIMIT = 200, 10
RESULT_CAP = 10_000
_TOKEN_SPLIT = re.compile(r"[\s;,]+")


@dataclass(frozen=True)
class Filter:
    name: str
    operator: str
    value: str | None = None
    high: str | None = None
    values: tuple[str, ...] = ()


@dataclass
class SearchRequest:
    groups: list[list[Filter]] = field(default_factory=list)
    sorts: list[tuple[str, bool]] = field(default_factory=list)  # (property, descending)
    properties: list[str] = field(default_factory=list)
    limit: int = DEFAULT_LIMIT
    offset: int = 0
    query: str | None = None


# -- the request ----------------------------------------------------------------------------------------------
def parse(body: Any) -> SearchRequest:
    # Long on purpose: one check per field of HubSpot's PublicObjectSearchRequest, in the schema's order.
    s = payloads.text
    obj = payloads.obj(body, "PublicObjectSearchRequest")
    req = SearchRequest()
    for group in payloads.arr(obj.get("filterGroups") or [], "java.util.List<FilterGroup>"):
        filters = []
        for f in payloads.arr(
            payloads.obj(group, "FilterGroup").get("filters") or [], "java.util.List<Filter>"
        ):
            f = payloads.obj(f, "Filter")
            operator = s(f.get("operator") or "", "FilterOperator")
            if operator not in OPERATORS:
                raise validation_error(
                    f"Invalid input JSON on line 1, column 1: Cannot deserialize value of type `FilterOperator` "
                    f'from String "{operator}": not one of the values accepted for Enum class: [{", ".join(OPERATORS)}]'
                )
            name = s(f.get("propertyName") or "", "java.lang.String")
            if not name:
                raise validation_error("Every filter needs a propertyName")
            value, high = f.get("value"), f.get("highValue")
            values = payloads.arr(f.get("values") or [], "java.util.List<java.lang.String>")
            filters.append(
                Filter(
                    name,
                    operator,
                    None if value is None else s(value, "java.lang.String"),
                    None if high is None else s(high, "java.lang.String"),
                    tuple(s(v, "java.lang.String") for v in values),
                )
            )
        req.groups.append(filters)
    _check_filter_limits(req.groups)
    for sort in payloads.arr(obj.get("sorts") or [], "java.util.List"):
        # The spec types sorts as strings; HubSpot's guide sends {"propertyName", "direction"}: accept both
        # ("-name" descending as a string [INF]).
        if isinstance(sort, dict):
            direction = s(sort.get("direction") or "ASCENDING", "java.lang.String").upper()
            req.sorts.append(
                (s(sort.get("propertyName") or "", "java.lang.String"), direction == "DESCENDING")
            )
        else:
            text = s(sort, "java.lang.String")
            req.sorts.append((text.lstrip("-"), text.startswith("-")))
    req.properties = [
        s(p, "java.lang.String") for p in payloads.arr(obj.get("properties") or [], "java.util.List")
    ]
    limit = obj.get("limit")
    req.limit = DEFAULT_LIMIT if limit is None else _int(limit, "limit")
    if not 0 <= req.limit <= MAX_LIMIT:
        raise validation_error(f"limit must be between 0 and {MAX_LIMIT} (got {req.limit})")
    after = obj.get("after")
    req.offset = 0 if after in (None, "") else _int(after, "after")
    if req.offset < 0:
        raise validation_error(f"Invalid paging cursor 'after': {after}")
    if req.offset >= RESULT_CAP:
        # [DOC search guide] paging stops at 10,000 results; the exact text of HubSpot's 400 is not known [INF].
        raise validation_error(
            f"The search endpoints are limited to {RESULT_CAP} total results for any given query; "
            f"'after' {req.offset} is beyond the last result that can be paged to"
        )
    query = obj.get("query")
    req.query = None if query in (None, "") else s(query, "java.lang.String")
    return req


def _int(value: Any, what: str) -> int:
    try:
        return int(str(value).strip())
    except ValueError:
        raise validation_error(f"Invalid value for '{what}': {value!r} is not a number") from None


def _check_filter_limits(groups: list[list[Filter]]) -> None:
    # [DOC search guide]: 5 filterGroups of at most 6 filters each, 18 filters in all.
    total = sum(len(g) for g in groups)
    if len(groups) > MAX_GROUPS:
        raise validation_error(f"Too many filter groups ({len(groups)}): at most {MAX_GROUPS} are allowed")
    if any(len(g) > MAX_FILTERS_PER_GROUP for g in groups):
        worst = max(len(g) for g in groups)
        raise validation_error(
            f"Too many filters in a group ({worst}): at most {MAX_FILTERS_PER_GROUP} are allowed"
        )
    if total > MAX_FILTERS:
        raise validation_error(f"Too many filters ({total}): at most {MAX_FILTERS} are allowed in all groups")


# -- evaluation -----------------------------------------------------------------------------------------------
def stamp_of(value: str | None) -> str | None:
    """An ISO 8601 or epoch-ms datetime as HubSpot writes one (2025-11-04T20:29:54.816Z); None if neither."""
    ms = _epoch_ms(value)
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


# Cached: a search with a datetime filter parses every contact's stamp, and many contacts share one (an import's,
# a backfill's); at a million contacts the parse alone made one search take seconds.
@functools.lru_cache(maxsize=65536)
def _epoch_ms(value: str | None) -> float | None:
    text = (value or "").strip()
    if not text:
        return None
    if re.fullmatch(r"-?\d+(\.\d+)?", text):
        return float(text)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp() * 1000


def _key(prop_type: str, value: str | None) -> Any:
    """A value in the order its property type sorts by (numbers, datetimes as epoch ms, else case-folded)."""
    if value is None:
        return None
    if prop_type == "number":
        try:
            return float(value)
        except ValueError:
            return None
    if prop_type in ("datetime", "date"):
        return _epoch_ms(value)
    return value.casefold()


def _matches(f: Filter, props: dict[str, str], types: dict[str, str]) -> bool:
    kind = types.get(f.name, "string")
    raw = props.get(f.name) or None
    op = f.operator
    if op == "HAS_PROPERTY":
        return raw is not None
    if op == "NOT_HAS_PROPERTY":
        return raw is None
    have = _key(kind, raw)
    if op in ("EQ", "NEQ"):
        want = _key(kind, f.value)
        equal = have is not None and have == want
        if f.name == "email" and not equal and want is not None:
            # [OBS] email EQ also finds a contact by one of its additional emails.
            extras = (props.get("hs_additional_emails") or "").split(";")
            equal = any(e.strip().casefold() == want for e in extras if e.strip())
        return equal if op == "EQ" else not equal
    if op in ("IN", "NOT_IN"):
        inside = have is not None and have in {_key(kind, v) for v in f.values}
        return inside if op == "IN" else not inside
    if op in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        pattern = (f.value or "").casefold()
        tokens = [t for t in _TOKEN_SPLIT.split((raw or "").casefold()) if t]
        found = raw is not None and (
            fnmatch.fnmatchcase((raw or "").casefold(), pattern)
            or any(fnmatch.fnmatchcase(t, pattern) for t in tokens)
        )
        return found if op == "CONTAINS_TOKEN" else not found
    if have is None:
        return False
    if op == "BETWEEN":
        low, high = _key(kind, f.value), _key(kind, f.high)
        return low is not None and high is not None and low <= have <= high
    want = _key(kind, f.value)
    if want is None:
        return False
    return {"GT": have > want, "GTE": have >= want, "LT": have < want, "LTE": have <= want}[op]


def _query_hit(query: str, props: dict[str, str]) -> bool:
    needle = query.casefold()
    return any(
        needle in (props.get(p) or "").casefold()
        for p in ("email", "firstname", "lastname", "phone", "company")
    )


def run_search(
    contacts: Iterable[dict[str, Any]], defs: dict[str, dict[str, Any]], req: SearchRequest
) -> dict[str, Any]:
    """The 200 body (`CollectionResponseWithTotalSimplePublicObject`) of one search over `contacts`."""
    types = {name: str(d.get("type") or "string") for name, d in defs.items()}
    for name in {f.name for g in req.groups for f in g} | {s for s, _ in req.sorts}:
        if name not in defs:
            raise validation_error(f'There was a problem with the request: property "{name}" does not exist')
    hits = [
        c
        for c in contacts
        if (not req.groups or any(all(_matches(f, c["properties"], types) for f in g) for g in req.groups))
        and (req.query is None or _query_hit(req.query, c["properties"]))
    ]
    hits.sort(key=lambda c: id_key(c["id"]))  # [INF] no sort: record id order; ties of a sort: the same
    for name, descending in reversed(req.sorts):
        kind = types.get(name, "string")
        present = [c for c in hits if _key(kind, c["properties"].get(name) or None) is not None]
        absent = [c for c in hits if _key(kind, c["properties"].get(name) or None) is None]
        present.sort(key=lambda c: _key(kind, c["properties"].get(name)), reverse=descending)
        hits = present + absent  # [INF] records without the property sort last
    end = min(req.offset + req.limit, len(hits), RESULT_CAP)
    wanted = req.properties or list(DEFAULT_READ)
    body: dict[str, Any] = {
        "total": len(hits),
        "results": [public(c, wanted) for c in hits[req.offset : end]],
    }
    if end < len(hits):
        # Past the 10,000th result the cursor still comes, and using it is the 400 [OBS: activepieces PR #10160,
        # paging "unbounded" beyond 10k "will keep failing"].
        body["paging"] = {"next": {"after": str(end), "link": f"?after={end}"}}
    return body


# -- the indexing lag -----------------------------------------------------------------------------------------
class SearchIndex:
    """What search sees: the live contacts, or with a lag, each contact as it was `lag_ms` ago.

    HubSpot: search results lag writes by a few seconds (docs/hubspot_api.md §10). The store reports every change
    (`changed`); with a lag, a snapshot of the changed contact becomes visible `lag_ms` later. Used under the
    store's lock."""

    def __init__(self, lag_ms: int = 0) -> None:
        self.lag_s = max(0, lag_ms) / 1000.0
        self._visible: dict[str, dict[str, Any]] = {}
        self._pending: deque[tuple[float, str, dict[str, Any] | None]] = deque()

    def load(self, contacts: Iterable[dict[str, Any]]) -> None:
        """The contacts a portal starts with are indexed already."""
        self._pending.clear()
        if self.lag_s:
            self._visible = {c["id"]: _snapshot(c) for c in contacts}

    def changed(self, contact: dict[str, Any], gone: bool = False) -> None:
        if self.lag_s:
            due = time.monotonic() + self.lag_s
            self._pending.append((due, contact["id"], None if gone else _snapshot(contact)))

    def view(self, live: dict[str, dict[str, Any]]) -> Iterable[dict[str, Any]]:
        if not self.lag_s:
            return list(live.values())
        now = time.monotonic()
        while self._pending and self._pending[0][0] <= now:
            _, rid, snap = self._pending.popleft()
            if snap is None:
                self._visible.pop(rid, None)
            else:
                self._visible[rid] = snap
        return list(self._visible.values())


def _snapshot(contact: dict[str, Any]) -> dict[str, Any]:
    return {**contact, "properties": dict(contact["properties"])}
