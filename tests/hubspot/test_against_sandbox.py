"""HubSpotClient against the embedded sandbox: HubSpot's bodies, limits and faults end to end."""

from __future__ import annotations

import math

import pytest

from dbt_hubspot_sync.hubspot import (
    AuthError,
    DailyLimitError,
    PropertyError,
)

from .helpers import (
    SB_TOKEN,
    by_email,
    sandbox,
    sb_client,
)


def test_sandbox_read_then_update_end_to_end() -> None:
    with sandbox() as sb, sb_client(sb) as client:
        emails = [f"P{i}@Example.com" for i in range(1, 351)]  # 300 exist, 50 don't; mixed case
        ids = client.read_ids_by_email(emails)
        assert len(ids) == 300 and "p301@example.com" not in ids
        assert ids["p7@example.com"] == next(
            c["id"] for c in sb.contacts() if c["properties"]["email"] == "p7@example.com"
        )
        out = client.update(
            [(rid, {"firstname": f"New {email}"}) for email, rid in ids.items()] + [("999999", {})]
        )
        assert len(out.updated) == 300 and out.not_found == {"999999"} and not out.failed
        assert by_email(sb)["p7@example.com"]["firstname"] == "New p7@example.com"
        stats = sb.stats()
        assert stats["contacts_created"] == 0 and stats["rate_limited"] == 0
        assert (
            stats["requests_total"] == client.stats.requests == 4 + 4
        )  # ceil(350/100) reads, ceil(301/100) updates
        assert not any("upsert" in k or "create" in k for k in stats["requests"])


def test_sandbox_400_isolation_keeps_every_good_row() -> None:
    with sandbox() as sb, sb_client(sb) as client:
        ids = client.read_ids_by_email([f"p{i}@example.com" for i in range(1, 101)])
        inputs = []
        for i in range(1, 101):
            props = {"lastname": f"L{i}"}
            if i == 10:
                props["email"] = "p10@example.con"  # unknown TLD: INVALID_EMAIL
            if i in (20, 77):
                props["lifecyclestage"] = "not-a-stage"  # INVALID_OPTION
            inputs.append((ids[f"p{i}@example.com"], props))
        before = client.stats.requests
        out = client.update(inputs)
        codes = {rid: f.code for rid, f in out.failed.items()}
        assert codes == {ids["p10@example.com"]: "INVALID_EMAIL", ids["p20@example.com"]: "INVALID_OPTION",
                         ids["p77@example.com"]: "INVALID_OPTION"}  # fmt: skip
        assert len(out.updated) == 97
        assert client.stats.requests - before <= 1 + 3 * 2 * math.ceil(math.log2(100))
        contacts = by_email(sb)
        assert (
            contacts["p11@example.com"]["lastname"] == "L11" and "lastname" not in contacts["p10@example.com"]
        )


@pytest.mark.parametrize(
    "prop,code", [("no_such_property", "PROPERTY_DOESNT_EXIST"), ("hs_object_id", "READ_ONLY_VALUE")]
)
def test_sandbox_property_error(prop: str, code: str) -> None:
    with sandbox() as sb, sb_client(sb, concurrency=1) as client:
        ids = sorted(client.read_ids_by_email([f"p{i}@example.com" for i in range(1, 201)]).values(), key=int)
        inputs = [(rid, {"firstname": "x"}) for rid in ids[:100]] + [(rid, {prop: "1"}) for rid in ids[100:]]
        with pytest.raises(PropertyError) as info:
            client.update(inputs)
        assert info.value.code == code and info.value.property_name == prop
        assert info.value.outcome_so_far is not None and info.value.outcome_so_far.updated == set(ids[:100])


def test_sandbox_faults_lose_no_row() -> None:
    with (
        sandbox(faults="503:0.1,502:0.05,reset:0.05,423:0.05", seed=3) as sb,
        sb_client(sb, max_retries=6) as client,
    ):
        ids = client.read_ids_by_email([f"p{i}@example.com" for i in range(1, 301)])
        out = client.update([(rid, {"company": "Acme"}) for rid in ids.values()])
        assert len(out.updated) + len(out.failed) + len(out.not_found) == 300
        assert len(out.updated) == 300  # with 6 retries nothing should be left failed at these rates
        assert client.stats.retries >= 1
        assert all(c["properties"].get("company") == "Acme" for c in sb.contacts())


def test_sandbox_paced_without_429s() -> None:
    contacts = [{"email": f"p{i}@example.com"} for i in range(1, 2001)]
    with (
        sandbox(contacts=contacts, rate_max=15, rate_window_ms=1000) as sb,
        sb_client(sb, concurrency=4) as client,
    ):
        ids = client.read_ids_by_email([c["email"] for c in contacts])
        out = client.update([(rid, {"firstname": "Z"}) for rid in ids.values()])
        assert len(out.updated) == 2000
        assert sb.stats()["rate_limited"] == 0 and client.stats.rate_limited == 0
        assert client.limiter.max_requests == 15 and client.limiter.interval_s == 1.0


def test_sandbox_429_from_another_consumer_is_waited_out() -> None:
    import requests

    with sandbox(rate_max=10, rate_window_ms=600) as sb, sb_client(sb) as client:
        for _ in range(10):  # someone else drains the window
            requests.get(
                sb.url + "/crm/v3/properties/contacts", headers={"Authorization": f"Bearer {SB_TOKEN}"}
            )
        ids = client.read_ids_by_email(["p1@example.com"])
        assert ids and client.stats.rate_limited >= 1 and client.stats.retries == 0


def test_sandbox_daily_limit_ends_cleanly() -> None:
    with sandbox(daily_max=3) as sb, sb_client(sb, concurrency=1) as client:
        ids = client.read_ids_by_email([f"p{i}@example.com" for i in range(1, 101)])  # request 1
        ids2 = client.read_ids_by_email([f"p{i}@example.com" for i in range(101, 201)])  # request 2
        inputs = [(rid, {"firstname": "D"}) for rid in [*ids.values(), *ids2.values()]]
        with pytest.raises(DailyLimitError) as info:
            client.update(inputs)
        assert info.value.outcome_so_far is not None and len(info.value.outcome_so_far.updated) == 100
        assert sb.stats()["contacts_updated"] == 100


def test_sandbox_auth_errors() -> None:
    with sandbox() as sb:
        sb.add_token("read-only-token", scopes={"crm.objects.contacts.read"})
        with sb_client(sb, token="read-only-token") as client:
            assert client.read_ids_by_email(["p1@example.com"]) == {"p1@example.com": "1"}
            with pytest.raises(AuthError) as info:
                client.update([("1", {"firstname": "x"})])
            assert info.value.status == 403 and "crm.objects.contacts.write" in info.value.missing_scopes
            assert "read-only-token" not in str(info.value)
        with sb_client(sb, token="wrong-token") as client:
            with pytest.raises(AuthError) as info:
                client.check_token()
            assert info.value.status == 401 and "wrong-token" not in str(info.value)


def test_sandbox_lists() -> None:
    import requests

    with sandbox() as sb, sb_client(sb) as client:
        made = requests.post(
            sb.url + "/crm/v3/lists",
            json={"name": "newsletter", "objectTypeId": "0-1", "processingType": "MANUAL"},
            headers={"Authorization": f"Bearer {SB_TOKEN}"},
        ).json()["list"]
        assert client.get_list(made["listId"])["processingType"] == "MANUAL"
        first = client.add_to_list(made["listId"], ["1", "2", "999999"])
        assert first.added == {"1", "2"} and first.missing == {"999999"}
        again = client.add_to_list(made["listId"], ["2", "3"])
        # An existing member is "ignored": the spec does not say under which key (if any) it is reported.
        assert again.added == {"3"} and "2" in again.already | again.missing
        assert sorted(sb.list_members(made["listId"]), key=int) == ["1", "2", "3"]
        assert any(p["name"] == "lifecyclestage" for p in client.get_properties())


@pytest.mark.parametrize("merged", [["p2"], ["p2", "p4", "p6"]])
def test_a_merged_contacts_former_email_resolves_to_the_primary(merged: list[str]) -> None:
    # HubSpot answers a former email with the primary contact, whose `email` is another one: the result is paired
    # with its input by elimination, or (several unpaired) by asking for each alone.
    with sandbox() as sb, sb_client(sb) as client:
        ids = {c["properties"]["email"]: c["id"] for c in sb.contacts()}
        for i, name in enumerate(merged):
            sb.merge_contacts(ids[f"{name}@example.com"], ids[f"p{100 + i}@example.com"])
        asked = [f"{name}@example.com" for name in merged] + ["p1@example.com", "nobody@example.com"]
        found = client.read_ids_by_email(asked)
        expected = {f"{name}@example.com": ids[f"p{100 + i}@example.com"] for i, name in enumerate(merged)}
        assert found == {**expected, "p1@example.com": ids["p1@example.com"]}
        assert client.stats.requests == (1 if len(merged) == 1 else 1 + len(merged))
