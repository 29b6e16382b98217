"""`search_created` against a scripted HubSpot and the sandbox: the request it sends, paging with `after`, the
10,000 cap (windows split, or `complete=False`), search's own limiter (5/s, apart from the ten-secondly one) and
a SECONDLY 429 waited out."""

from __future__ import annotations

import bisect
import time
from datetime import datetime, timezone
from typing import Any

import pytest

from dbt_hubspot_sync.hubspot import SEARCH_CAP, HubSpotClient, HubSpotError, RateLimiter

from .helpers import Reply, Req, client_for, contact, sandbox, sb_client

SEARCH = "/crm/v3/objects/contacts/search"


def window(req: Req) -> tuple[int, int]:
    (group,) = req.body["filterGroups"]
    by_op = {f["operator"]: int(f["value"]) for f in group["filters"] if f["propertyName"] == "createdate"}
    return by_op["GTE"], by_op["LT"]


def scripted(created: list[int], *, cap_total: bool = False) -> Any:
    """A search endpoint over contacts created at `created` (epoch ms; id = index + 1): HubSpot's paging, its
    10,000 cap (past it: 400), optionally reporting a total capped at 10,000."""

    assert created == sorted(created)

    def handle(req: Req) -> Reply:
        assert (req.method, req.path) == ("POST", SEARCH)
        lo, hi = window(req)
        first, last = bisect.bisect_left(created, lo), bisect.bisect_left(created, hi)
        hits = [(created[i], i + 1) for i in range(first, last)]
        offset = int(req.body.get("after") or 0)
        if offset >= SEARCH_CAP:
            return Reply(400, {"status": "error", "category": "VALIDATION_ERROR", "message": "past 10000"})
        limit = req.body["limit"]
        end = min(offset + limit, len(hits), SEARCH_CAP)
        page = [contact(str(i), email=f"c{i}@example.com", createdate=str(ms)) for ms, i in hits[offset:end]]
        body: dict[str, Any] = {
            "total": min(len(hits), SEARCH_CAP) if cap_total else len(hits),
            "results": page,
        }
        if end < len(hits):
            body["paging"] = {"next": {"after": str(end)}}
        return Reply(200, body)

    return handle


def test_the_request_and_paging(fake: Any) -> None:
    srv = fake(scripted([1000 + i for i in range(450)]))
    start = datetime(1970, 1, 1, 0, 0, 1, tzinfo=timezone.utc)  # 1000 ms
    with client_for(srv, search_limiter=RateLimiter(1000, 1000)) as client:
        result = client.search_created(
            start, datetime(1970, 1, 1, 0, 0, 1, 400_000), ["hs_additional_emails"]
        )
    assert result.complete and len(result.contacts) == 400  # [1000, 1400): a naive datetime is UTC
    assert {c["hs_object_id"] for c in result.contacts} == {str(i) for i in range(1, 401)}
    contacts, complete = result  # unpacks as (contacts, complete)
    assert complete and contacts[0]["email"] == "c1@example.com"
    first = srv.requests[0].body
    assert first["filterGroups"] == [
        {
            "filters": [
                {"propertyName": "createdate", "operator": "GTE", "value": "1000"},
                {"propertyName": "createdate", "operator": "LT", "value": "1400"},
            ]
        }
    ]
    assert first["sorts"] == [{"propertyName": "createdate", "direction": "ASCENDING"}]
    assert first["limit"] == 200 and first["properties"] == ["email", "hs_additional_emails", "createdate"]
    assert "after" not in first
    assert [r.body.get("after") for r in srv.requests] == [None, "200"]  # 400 results: 2 pages
    assert client.stats.requests == 2


@pytest.mark.parametrize("cap_total", [False, True])
def test_a_window_over_10000_is_split_until_each_half_fits(fake: Any, cap_total: bool) -> None:
    created = [i // 2 for i in range(25_000)]  # two contacts a millisecond over 12.5 s
    srv = fake(scripted(created, cap_total=cap_total))
    with client_for(srv, search_limiter=RateLimiter(10_000, 1000)) as client:
        result = client.search_created(0, 12_500, ["email"])
    assert result.complete and len(result.contacts) == 25_000
    # Never asked past the cap; a window at or over it costs one request before it is split.
    assert all(int(r.body.get("after") or 0) < SEARCH_CAP for r in srv.requests)
    assert len(srv.requests) < 25_000 / 200 + 12


def test_an_unsplittable_or_unsplit_window_is_reported_incomplete(fake: Any) -> None:
    srv = fake(scripted([5] * 10_001 + [7, 8]))
    with client_for(srv, search_limiter=RateLimiter(10_000, 1000)) as client:
        result = client.search_created(0, 10)
        assert not result.complete  # ms 5 alone holds 10,001: nothing can list it
        assert {c["createdate"] for c in result.contacts} == {"7", "8"}  # the rest of the window still is
        assert not client.search_created(0, 10, split=False).complete
        with pytest.raises(ValueError):
            client.search_created(0, 10, page_size=201)


def test_a_secondly_429_is_waited_out_without_pausing_the_other_requests(fake: Any) -> None:
    calls: list[float] = []

    def handle(req: Req) -> Reply:
        calls.append(time.monotonic())
        if len(calls) == 1:  # HubSpot's captured SECONDLY body; search answers carry no rate headers
            body = {"status": "error", "message": "You have reached your secondly limit.", "errorType": "RATE_LIMIT",
                    "correlationId": "c033cdaa-2c40-4a64-ae48-b4cec88dad24", "policyName": "SECONDLY"}  # fmt: skip
            return Reply(429, body)
        return Reply(200, {"total": 1, "results": [contact("9", email="n@example.com")]})

    srv = fake(handle)
    with client_for(srv, search_limiter=RateLimiter(5, 1000, headroom=0)) as client:
        t0 = time.monotonic()
        result = client.search_created(0, 10)
        assert result.complete and [c["hs_object_id"] for c in result.contacts] == ["9"]
        assert calls[1] - calls[0] >= 0.95  # the second's wait
        assert client.stats.rate_limited == 1 and client.stats.retries == 0
        sid, wait = client.limiter.try_acquire()  # the ten-secondly limiter was never blocked
        assert sid is not None and wait == 0
        assert time.monotonic() - t0 < 5


def test_searches_keep_to_5_a_second_against_the_sandbox() -> None:
    created = [{"email": f"s{i}@example.com", "createdate": str(1_000 + i)} for i in range(12)]
    with sandbox(contacts=created) as sb:
        # The sandbox allows 5 searches per second, as HubSpot does; the client's own search limiter keeps to it.
        with sb_client(sb, search_limiter=RateLimiter(5, 1000, headroom=0)) as client:
            t0 = time.monotonic()
            result = client.search_created(0, 2_000, page_size=1)  # 12 pages
            elapsed = time.monotonic() - t0
        stats = sb.stats()
    assert result.complete and len(result.contacts) == 12
    assert stats["rate_limited"] == 0 and stats["requests"]["POST /crm/v3/objects/contacts/search"] == {
        "200": 12
    }
    assert elapsed >= 1.9  # 12 requests at 5 a second, each slot held a second after its answer


def test_an_unexpected_answer_raises(fake: Any) -> None:
    srv = fake(
        lambda req: Reply(400, {"status": "error", "category": "VALIDATION_ERROR", "message": "bad filter"})
    )
    with client_for(srv, search_limiter=RateLimiter(10, 1000)) as client, pytest.raises(HubSpotError) as exc:
        client.search_created(0, 10)
    assert exc.value.status == 400 and "bad filter" in str(exc.value) and exc.value.call == f"POST {SEARCH}"


def test_each_token_has_one_search_limiter_apart_from_its_ten_secondly_one() -> None:
    token = "pat-search-limiter-test-token"
    search = RateLimiter.for_search(token)
    assert search is RateLimiter.for_search(token) and search is not RateLimiter.for_token(token)
    assert (search.max_requests, search.interval_s, search.allowed) == (5, 1.0, 5)
    client = HubSpotClient(token, "https://api.hubapi.com")
    assert client.search_limiter is search and client.limiter is RateLimiter.for_token(token)
    client.close()
