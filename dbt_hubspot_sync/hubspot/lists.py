"""Static-list calls (HubSpot's Lists API, docs/hubspot_api.md §6): `ListCalls`.

Read a list's definition; add records (`memberships/add`), remove them (`memberships/remove`), do both in one call
per chunk (`memberships/add-and-remove`), and page through its members (`GET .../memberships`, 250 a page). Only
MANUAL and SNAPSHOT lists take membership writes. The spec caps no write's size: chunks of `LIST_CHUNK` ids keep
each call small (each counts against the rate limits).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import quote

from dbt_hubspot_sync.hubspot.responses import as_dict, str_list
from dbt_hubspot_sync.hubspot.results import ListOutcome
from dbt_hubspot_sync.hubspot.transport import Transport, chunks

__all__ = ["ListCalls", "LIST_CHUNK", "MEMBERS_PAGE"]

LIST_CHUNK = 100  # ids per membership write: no documented cap; stay small (docs/hubspot_api.md §6)
MEMBERS_PAGE = 250  # the spec: "The maximum `limit` is 250."


def _unique(ids: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(str(r) for r in ids if str(r)))


class ListCalls(Transport):
    def get_list(self, list_id: str) -> dict[str, Any]:
        """The list's definition (`processingType`, `size`, ...): GET .../lists/{listId}."""
        body = self.get_json(self.paths.get_list(list_id), "200 with the list")
        inner = as_dict(body).get("list")
        return inner if isinstance(inner, dict) else as_dict(body)

    def _membership_write(self, path: str, payload: Any) -> dict[str, Any]:
        resp = self.request("PUT", path, payload)
        if resp.status != 200 or not isinstance(resp.body, dict):
            raise self.unexpected(
                f"PUT {path}",
                resp,
                "200 with recordsIdsAdded/recordIdsRemoved/recordIdsMissing (a MANUAL or SNAPSHOT list)",
            )
        return resp.body

    @staticmethod
    def _tally(body: dict[str, Any], add: set[str], remove: set[str], outcome: ListOutcome) -> None:
        # The spec says recordsIdsAdded, older examples recordIdsAdded: accept both.
        added = set(str_list(body.get("recordsIdsAdded"))) | set(str_list(body.get("recordIdsAdded")))
        removed = set(str_list(body.get("recordIdsRemoved")))
        missing = set(str_list(body.get("recordIdsMissing")))
        outcome.added |= added & add
        outcome.removed |= removed & remove
        outcome.missing |= (missing & (add | remove)) - added - removed
        outcome.already |= add - added - missing
        outcome.not_members |= remove - removed - missing

    def add_to_list(self, list_id: str, record_ids: Sequence[str]) -> ListOutcome:
        """Add records to a MANUAL/SNAPSHOT list (PUT memberships/add), in chunks of LIST_CHUNK. `added`: now
        members; `missing`: no such record; `already`: were members."""
        path = self.paths.memberships_add(list_id)
        outcome = ListOutcome()
        for chunk in chunks(_unique(record_ids), LIST_CHUNK):
            self._tally(self._membership_write(path, list(chunk)), set(chunk), set(), outcome)
        return outcome

    def remove_from_list(self, list_id: str, record_ids: Sequence[str]) -> ListOutcome:
        """Remove records from a MANUAL/SNAPSHOT list (PUT memberships/remove), in chunks of LIST_CHUNK.
        `removed`: no longer members; `missing`: no such record; `not_members`: were not members (ignored)."""
        path = self.paths.memberships_remove(list_id)
        outcome = ListOutcome()
        for chunk in chunks(_unique(record_ids), LIST_CHUNK):
            self._tally(self._membership_write(path, list(chunk)), set(), set(chunk), outcome)
        return outcome

    def add_and_remove(self, list_id: str, add: Sequence[str], remove: Sequence[str]) -> ListOutcome:
        """Add some records and remove others (PUT memberships/add-and-remove), at most LIST_CHUNK of each per
        call. An id in both is a ValueError (the spec does not say which wins), raised before any call."""
        to_add, to_remove = _unique(add), _unique(remove)
        both = sorted(set(to_add) & set(to_remove))
        if both:
            raise ValueError(
                f"record ids both to add to and to remove from list {list_id}: {', '.join(both[:10])}"
            )
        path = self.paths.memberships_add_and_remove(list_id)
        outcome = ListOutcome()
        add_chunks, remove_chunks = chunks(to_add, LIST_CHUNK), chunks(to_remove, LIST_CHUNK)
        for i in range(max(len(add_chunks), len(remove_chunks))):
            a = list(add_chunks[i]) if i < len(add_chunks) else []
            r = list(remove_chunks[i]) if i < len(remove_chunks) else []
            body = self._membership_write(path, {"recordIdsToAdd": a, "recordIdsToRemove": r})
            self._tally(body, set(a), set(r), outcome)
        return outcome

    def iter_list_members(self, list_id: str, page_size: int = MEMBERS_PAGE) -> Iterator[str]:
        """Every member's record id, page by page (GET .../memberships, `after` from `paging.next.after`), in
        HubSpot's order (ascending record id)."""
        if not 1 <= page_size <= MEMBERS_PAGE:
            raise ValueError(f"page_size must be between 1 and {MEMBERS_PAGE}")
        base = self.paths.memberships(list_id)
        after: str | None = None
        seen: set[str] = set()
        while True:
            query = f"?limit={page_size}" + (f"&after={quote(after, safe='')}" if after else "")
            body = self.get_json(base + query, "200 with results")
            for item in as_dict(body).get("results") or []:
                rid = str(as_dict(item).get("recordId") or "")
                if rid and rid not in seen:
                    seen.add(rid)
                    yield rid
            nxt = as_dict(as_dict(as_dict(body).get("paging")).get("next")).get("after")
            if not nxt or str(nxt) == after:
                return
            after = str(nxt)

    def list_members(self, list_id: str) -> list[str]:
        """Every member's record id (all pages)."""
        return list(self.iter_list_members(list_id))
