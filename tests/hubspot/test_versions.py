"""The client's API version: every call takes its path from hubspot/paths.py for the client's version (proved
against sandboxes that serve only that version), the version is chosen config > HUBSPOT_API_VERSION > v3, and
`with_version` is a view of the same transport."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from dbt_hubspot_sync.hubspot import VERSION_ENV, VERSIONS, HubSpotClient, RateLimiter

from .helpers import (
    TOKEN,
    Reply,
    Req,
    batch_body,
    by_email,
    client_for,
    contact,
    not_found,
    sandbox,
    sb_client,
)


@pytest.mark.parametrize("version", VERSIONS)
def test_a_whole_sync_calls_only_its_versions_paths(version: str) -> None:
    # The sandbox serves this version alone: a path of any other answers 404 and the calls below would fail.
    with sandbox(versions=(version,), search_per_second=1000) as sb:
        with sb_client(sb, api_version=version, search_limiter=RateLimiter(1000, 1000)) as client:
            assert client.api_version == version
            assert {p["name"] for p in client.get_properties()} >= {"email", "hs_additional_emails"}
            found = client.read_by_email(
                ["p1@example.com", "P2@example.com", "nobody@example.com"], ["firstname"]
            )
            assert {e: rid for e, (rid, _) in found.items()} == {"p1@example.com": "1", "p2@example.com": "2"}
            assert found["p1@example.com"][1]["firstname"] == "F1"
            by_id = client.read_by_id(["1", "999"], ["firstname"])
            assert list(by_id) == ["1"] and by_id["1"]["firstname"] == "F1"
            out = client.update(
                [("1", {"firstname": "One"}), ("2", {"firstname": "Two"}), ("999", {"firstname": "X"})]
            )
            assert out.updated == {"1", "2"} and out.not_found == {"999"} and out.failed == {}
            lists = sb.url + {"v3": "/crm/v3/lists"}.get(version, f"/crm/lists/{version}")
            made = client._session.post(
                lists, json={"name": "L", "objectTypeId": "0-1", "processingType": "MANUAL"}
            )
            list_id = made.json()["list"]["listId"]
            assert client.get_list(list_id)["processingType"] == "MANUAL"
            assert client.add_to_list(list_id, ["1", "2", "3"]).added == {"1", "2", "3"}
            assert client.remove_from_list(list_id, ["3"]).removed == {"3"}
            assert client.add_and_remove(list_id, ["4"], ["2"]).added == {"4"}
            assert client.list_members(list_id) == ["1", "4"]
            result = client.search_created(0, 2**42, ["firstname"])
            assert result.complete and len(result.contacts) == 300
        stats = sb.stats()
    assert stats["internal_errors"] == 0
    statuses = {s for per in stats["requests"].values() for s in per}
    assert "404" not in statuses, stats["requests"]
    marker = "/crm/v3/" if version == "v3" else f"/{version}"
    assert all(marker in key for key in stats["requests"]), stats["requests"]


def test_version_from_the_constructor_the_environment_or_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    limiter = RateLimiter(10, 1000)
    monkeypatch.delenv(VERSION_ENV, raising=False)
    assert HubSpotClient(TOKEN, limiter=limiter).api_version == "v3"
    monkeypatch.setenv(VERSION_ENV, "2026-09")
    assert HubSpotClient(TOKEN, limiter=limiter).api_version == "2026-09"
    client = HubSpotClient(TOKEN, limiter=limiter, api_version="2026-03")  # the exposure's key wins
    assert (
        client.api_version == "2026-03"
        and client.paths.batch_update() == "/crm/objects/2026-03/contacts/batch/update"
    )
    assert "2026-03" in repr(client) and TOKEN not in repr(client)
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", TOKEN)
    assert HubSpotClient.from_env(limiter=limiter).api_version == "2026-09"
    assert HubSpotClient.from_env(api_version="v3", limiter=limiter).api_version == "v3"
    monkeypatch.setenv(VERSION_ENV, "2027-03")
    with pytest.raises(ValueError, match=VERSION_ENV):
        HubSpotClient(TOKEN, limiter=limiter)


def test_with_version_is_a_view_of_the_same_transport(fake: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(VERSION_ENV, raising=False)
    paths: list[str] = []

    def handle(req: Req) -> Reply:
        paths.append(req.path)
        ids = [i["id"] for i in req.body["inputs"]]
        return Reply(207, batch_body([contact(ids[0], email=ids[0])], [not_found(ids[1:])]))

    srv = fake(handle)
    base = client_for(srv)
    assert base.with_version(None) is base and base.with_version("v3") is base
    view = base.with_version("2026-09")
    assert view is not base and view.api_version == "2026-09" and base.api_version == "v3"
    assert (
        view.limiter is base.limiter
        and view.search_limiter is base.search_limiter
        and view.stats is base.stats
    )
    base.read_ids_by_email(["a@example.com", "b@example.com"])
    view.read_ids_by_email(["a@example.com", "b@example.com"])
    assert paths == ["/crm/v3/objects/contacts/batch/read", "/crm/objects/2026-09/contacts/batch/read"]
    assert base.stats.requests == 2  # one set of counters for the run
    stop = threading.Event()
    base.cancel = stop  # Ctrl-C set on the client the pipeline holds reaches every view
    assert view.cancel is stop
    view.close()  # a view closes nothing
    assert base.read_ids_by_email(["a@example.com"]) == {"a@example.com": "a@example.com"}
    with pytest.raises(ValueError, match="2099-01"):
        base.with_version("2099-01")
    base.close()


def test_2026_09_partial_reads_and_updates_come_as_200_with_errors() -> None:
    with sandbox(versions=("2026-09",)) as sb, sb_client(sb, api_version="2026-09") as client:
        assert client.read_ids_by_email(["p1@example.com", "gone@example.com"]) == {"p1@example.com": "1"}
        out = client.update([("1", {"firstname": "Uno"}), ("424242", {"firstname": "X"})])
        assert out.updated == {"1"} and out.not_found == {"424242"}
        assert by_email(sb)["p1@example.com"]["firstname"] == "Uno"
        assert set(sb.stats()["requests"]["POST /crm/objects/2026-09/{objectType}/batch/update"]) == {"200"}
