"""The list-membership calls against a scripted HubSpot: remove and add-and-remove in chunks, what each id ended
as, the paged members GET, and refusals before any request."""

from __future__ import annotations

from typing import Any

import pytest

from dbt_hubspot_sync.hubspot import LIST_CHUNK, HubSpotError

from .helpers import Reply, Req, client_for

BASE = "/crm/v3/lists/7/memberships"


class FakeList:
    """A MANUAL list over records 1..1000 answering as the spec says (missing = no such record)."""

    def __init__(self, members: set[str]) -> None:
        self.members = set(members)

    def __call__(self, req: Req) -> Reply:
        path, _, query = req.path.partition("?")
        if req.method == "GET" and path == BASE:
            params = dict(p.split("=", 1) for p in query.split("&") if p)
            ordered = sorted(self.members, key=int)
            after = params.get("after")
            if after:
                ordered = [m for m in ordered if int(m) > int(after)]
            page = ordered[: int(params["limit"])]
            body: dict[str, Any] = {"results": [{"recordId": m, "membershipTimestamp": "x"} for m in page]}
            if len(ordered) > len(page):
                body["paging"] = {"next": {"after": page[-1]}}
            return Reply(200, body)
        add, remove = [], []
        if path == BASE + "/remove":
            remove = req.body
        elif path == BASE + "/add-and-remove":
            add, remove = req.body["recordIdsToAdd"], req.body["recordIdsToRemove"]
        else:
            raise AssertionError(req.path)
        exists = lambda r: 1 <= int(r) <= 1000  # noqa: E731
        added = [r for r in add if exists(r) and r not in self.members]
        removed = [r for r in remove if r in self.members]
        self.members |= set(added)
        self.members -= set(removed)
        missing = [r for r in add + remove if not exists(r)]
        # The older spelling of the added key (the client reads both).
        return Reply(200, {"recordIdsAdded": added, "recordIdsRemoved": removed, "recordIdsMissing": missing})


def test_remove_in_chunks_of_100(fake: Any) -> None:
    lst = FakeList({str(i) for i in range(1, 201)})
    srv = fake(lst)
    ids = [str(i) for i in range(150, 350)] + ["5000", "150"]  # a repeat is sent once
    with client_for(srv) as client:
        out = client.remove_from_list("7", ids)
    assert [len(r.body) for r in srv.requests] == [LIST_CHUNK, LIST_CHUNK, 1]
    assert all(r.method == "PUT" and r.path == BASE + "/remove" for r in srv.requests)
    assert out.removed == {str(i) for i in range(150, 201)}
    assert out.not_members == {str(i) for i in range(201, 350)}
    assert out.missing == {"5000"} and out.added == set()
    assert lst.members == {str(i) for i in range(1, 150)}


def test_add_and_remove_pairs_chunks_and_refuses_an_id_in_both(fake: Any) -> None:
    lst = FakeList({"1", "2"})
    srv = fake(lst)
    with client_for(srv) as client:
        out = client.add_and_remove("7", [str(i) for i in range(3, 153)], ["1", "9999"])
        assert [(len(r.body["recordIdsToAdd"]), len(r.body["recordIdsToRemove"])) for r in srv.requests] == [
            (100, 2),
            (50, 0),
        ]
        assert (
            out.added == {str(i) for i in range(3, 153)} and out.removed == {"1"} and out.missing == {"9999"}
        )
        with pytest.raises(ValueError, match="both"):
            client.add_and_remove("7", ["2", "3"], ["3"])
    assert len(srv.requests) == 2  # refused before any request


def test_members_are_paged_until_no_next_cursor(fake: Any) -> None:
    srv = fake(FakeList({str(i) for i in range(1, 601)}))
    with client_for(srv) as client:
        assert client.list_members("7") == [str(i) for i in range(1, 601)]
        assert [r.path for r in srv.requests] == [
            BASE + "?limit=250",
            BASE + "?limit=250&after=250",
            BASE + "?limit=250&after=500",
        ]
    with client_for(srv) as client, pytest.raises(ValueError):
        list(client.iter_list_members("7", page_size=251))


def test_a_membership_write_answered_otherwise_raises(fake: Any) -> None:
    body = {"status": "error", "category": "VALIDATION_ERROR", "message": "List 7 has processingType DYNAMIC"}
    srv = fake(lambda req: Reply(400, body))
    with client_for(srv) as client, pytest.raises(HubSpotError) as exc:
        client.remove_from_list("7", ["1"])
    assert exc.value.status == 400 and exc.value.call == f"PUT {BASE}/remove" and "DYNAMIC" in str(exc.value)
