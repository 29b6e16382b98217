"""CRM search (`POST .../contacts/search`, docs/hubspot_api.md §10): `SearchCalls`.

Search has its own rate limit (5 requests per second per account, outside the ten-secondly window, no rate
headers): every search holds a slot of the token's search limiter, and a SECONDLY 429 pauses searches only
(`Transport.request(search=True)`). A query lists at most 10,000 results (paging past them is a 400), at most 200
a page: `search_created` checks a window's `total` on its first page and splits a window holding more into halves
until each fits, or says the result is incomplete.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from dbt_hubspot_sync.hubspot.responses import as_dict
from dbt_hubspot_sync.hubspot.results import SearchResult
from dbt_hubspot_sync.hubspot.transport import Transport

__all__ = ["SearchCalls", "SEARCH_PAGE", "SEARCH_CAP", "epoch_ms"]

SEARCH_PAGE = 200  # "The maximum number of supported objects per page is 200."
SEARCH_CAP = 10_000  # "limited to 10,000 total results for any given query"


def epoch_ms(when: datetime | int | float) -> int:
    """A datetime (naive = UTC) or epoch milliseconds, as the epoch milliseconds search filters compare."""
    if isinstance(when, datetime):
        aware = when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)
        return int(aware.timestamp() * 1000)
    return int(when)


class SearchCalls(Transport):
    def search(self, request: dict[str, Any]) -> dict[str, Any]:
        """One search request (one page) as HubSpot takes it (`filterGroups`, `sorts`, `properties`, `limit`,
        `after`); returns the 200 body (`total`, `results`, `paging.next.after`). HubSpotError otherwise."""
        path = self.paths.search()
        resp = self.request("POST", path, request, search=True)
        if resp.status != 200 or not isinstance(resp.body, dict):
            raise self.unexpected(f"POST {path}", resp, "200 with total and results")
        return resp.body

    def search_created(
        self,
        start: datetime | int | float,
        end: datetime | int | float,
        properties: Sequence[str] = ("email",),
        *,
        split: bool = True,
        page_size: int = SEARCH_PAGE,
    ) -> SearchResult:
        """Contacts created in [start, end) (`createdate`), each as its `properties` plus `hs_object_id`.

        A window holding 10,000 or more contacts (search lists at most 10,000 per query) is split into halves
        until each holds fewer (`split`); a window that cannot be split further (one millisecond), or any window
        when `split` is False, is left out and the result is `complete=False`, so the caller can fall back. Search
        results lag writes by a few seconds: a caller that needs every contact overlaps its windows."""
        if not 1 <= page_size <= SEARCH_PAGE:
            raise ValueError(f"page_size must be between 1 and {SEARCH_PAGE}")
        wanted = list(dict.fromkeys(["email", *properties, "createdate"]))
        found: dict[str, dict[str, str | None]] = {}
        complete = True
        windows = [(epoch_ms(start), epoch_ms(end))]
        while windows:
            lo, hi = windows.pop()
            if hi <= lo:
                continue
            listed = self._created_window(lo, hi, wanted, page_size, found)
            if listed:
                continue
            if split and hi - lo > 1:
                mid = lo + (hi - lo) // 2
                windows.extend([(mid, hi), (lo, mid)])  # earliest first
            else:
                complete = False
        return SearchResult(list(found.values()), complete)

    def _created_window(
        self, lo: int, hi: int, wanted: list[str], page_size: int, found: dict[str, dict[str, str | None]]
    ) -> bool:
        """Page through the contacts created in [lo, hi) into `found`; False (nothing paged) when the window holds
        SEARCH_CAP or more (HubSpot may report a capped total, so reaching the cap counts as over it)."""
        request: dict[str, Any] = {
            "filterGroups": [
                {
                    "filters": [
                        {"propertyName": "createdate", "operator": "GTE", "value": str(lo)},
                        {"propertyName": "createdate", "operator": "LT", "value": str(hi)},
                    ]
                }
            ],
            # Ascending by creation: contacts created while paging land after the pages already read.
            "sorts": [{"propertyName": "createdate", "direction": "ASCENDING"}],
            "properties": wanted,
            "limit": page_size,
        }
        after: str | None = None
        while True:
            body = self.search({**request, **({"after": after} if after else {})})
            if after is None:
                total = body.get("total")
                if isinstance(total, int) and total >= SEARCH_CAP:
                    return False
            for result in body.get("results") or []:
                result = as_dict(result)
                rid = str(result.get("id") or "")
                if rid:
                    props = dict(as_dict(result.get("properties")))
                    props.setdefault("hs_object_id", rid)
                    found[rid] = props
            nxt = as_dict(as_dict(body.get("paging")).get("next")).get("after")
            if not nxt or str(nxt) == after or (str(nxt).isdigit() and int(str(nxt)) >= SEARCH_CAP):
                return True
            after = str(nxt)
