"""The sandbox's static lists (HubSpot's Lists v3 and date versions): create, read, add, remove, add-and-remove
members, page through them.

`ListsMixin` is part of `store.Store`: it works on the store's state under the store's lock (the list methods
need the contacts to tell an existing record id from a missing one).
"""

from __future__ import annotations

import threading
from typing import Any

from dbt_hubspot_sync.sandbox import bodies
from dbt_hubspot_sync.sandbox.bodies import ErrorAnswer, error, validation_error
from dbt_hubspot_sync.sandbox.views import id_key

PROCESSING_TYPES = ("MANUAL", "SNAPSHOT", "DYNAMIC")


class ListsMixin:
    # The store's state this part reads and writes (set by Store.reset).
    lock: threading.Lock
    contacts: dict[str, dict[str, Any]]
    lists: dict[str, dict[str, Any]]
    members: dict[str, dict[str, str]]  # list id -> record id -> membershipTimestamp
    next_list_id: int

    def create_list(self, name: str, object_type_id: str, processing_type: str) -> dict[str, Any]:
        if processing_type not in PROCESSING_TYPES:
            raise validation_error(
                f"Invalid processingType {processing_type}. Must be one of: SNAPSHOT, MANUAL, DYNAMIC"
            )
        if object_type_id not in ("0-1", "contacts"):
            raise validation_error(
                f"The sandbox only has contact lists (objectTypeId 0-1), not {object_type_id}"
            )
        with self.lock:
            if any(lst["name"] == name for lst in self.lists.values()):
                raise validation_error(f"A list named '{name}' already exists.")
            stamp = bodies.now_iso()
            list_id = str(self.next_list_id)
            self.next_list_id += 1
            self.lists[list_id] = {
                "listId": list_id,
                "listVersion": 1,
                "name": name,
                "objectTypeId": "0-1",
                "processingType": processing_type,
                "processingStatus": "COMPLETE",
                "createdAt": stamp,
                "updatedAt": stamp,
                "filtersUpdatedAt": stamp,
                "createdById": "1",
                "updatedById": "1",
            }
            self.members[list_id] = {}
            return self._list_view(list_id)

    def _list_view(self, list_id: str) -> dict[str, Any]:
        return {**self.lists[list_id], "size": len(self.members[list_id])}

    def get_list(self, list_id: str) -> dict[str, Any]:
        with self.lock:
            if list_id not in self.lists:
                raise ErrorAnswer(404, error("OBJECT_NOT_FOUND", f"List {list_id} does not exist."))
            return self._list_view(list_id)

    def list_members(self, list_id: str) -> list[str]:
        with self.lock:
            if list_id not in self.lists:
                raise ErrorAnswer(404, error("OBJECT_NOT_FOUND", f"List {list_id} does not exist."))
            return list(self.members[list_id])

    def _static_list(self, list_id: str, verb: str) -> dict[str, Any]:
        if list_id not in self.lists:
            raise ErrorAnswer(404, error("OBJECT_NOT_FOUND", f"List {list_id} does not exist."))
        lst = self.lists[list_id]
        if lst["processingType"] == "DYNAMIC":
            raise validation_error(
                f"List {list_id} has processingType DYNAMIC; records can only be {verb} MANUAL or SNAPSHOT lists."
            )
        return lst

    def add_members(self, list_id: str, ids: list[str]) -> dict[str, list[str]]:
        return self.change_members(list_id, ids, [])

    def change_members(self, list_id: str, add: list[str], remove: list[str]) -> dict[str, list[str]]:
        """Add and remove records (memberships/add, /remove, /add-and-remove). The spec: records that do not exist
        are `recordIdsMissing`; existing members added, or non-members removed, are ignored."""
        with self.lock:
            lst = self._static_list(list_id, "added to or removed from" if remove else "added to")
            both = sorted(set(add) & set(remove))
            if both:
                # [INF] the spec does not say what one id in both lists does: refused, so a client never relies on it.
                raise validation_error(f"Record ids both to add and to remove: [{', '.join(both)}]")
            members = self.members[list_id]
            added, removed, missing = [], [], []
            stamp = bodies.now_iso()
            for rid in add:
                if rid not in self.contacts:
                    if rid not in missing:
                        missing.append(rid)  # the spec: recordIdsMissing = did not exist in the portal
                elif rid not in members:
                    members[rid] = stamp
                    added.append(rid)
                # an existing member is ignored: neither added nor missing
            for rid in remove:
                if rid in members:
                    del members[rid]
                    removed.append(rid)  # a member whose contact was deleted can still be removed [INF]
                elif rid not in self.contacts and rid not in missing:
                    missing.append(rid)
            if added or removed:
                lst["updatedAt"] = stamp
            return {"recordsIdsAdded": added, "recordIdsMissing": missing, "recordIdsRemoved": removed}

    def member_page(self, list_id: str, after: str | None, limit: int) -> dict[str, Any]:
        """GET .../memberships: members in ascending record id order, `limit` a page, `after` the last id seen."""
        with self.lock:
            if list_id not in self.lists:
                raise ErrorAnswer(404, error("OBJECT_NOT_FOUND", f"List {list_id} does not exist."))
            ordered = sorted(self.members[list_id].items(), key=lambda kv: id_key(kv[0]))
            if after:
                ordered = [kv for kv in ordered if id_key(kv[0]) > id_key(after)]
            page = ordered[:limit]
            body: dict[str, Any] = {
                "results": [{"recordId": rid, "membershipTimestamp": ts} for rid, ts in page],
                "total": len(self.members[list_id]),
            }
            if len(ordered) > limit:
                last = page[-1][0]
                body["paging"] = {"next": {"after": last, "link": f"?after={last}"}}
            return body

    def list_views(self) -> list[dict[str, Any]]:
        """Every list, as GET /crm/v3/lists/{id} shows it (the admin's GET /__sandbox__/lists)."""
        with self.lock:
            return [self._list_view(i) for i in self.lists]
