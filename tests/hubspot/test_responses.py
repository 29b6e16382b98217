"""Parsing HubSpot's bodies (`hubspot.responses`) as pure functions, on the shapes docs/hubspot_api.md records."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dbt_hubspot_sync.hubspot.responses import (
    Reply,
    _missing_scopes,
    _named_offenders,
    _parse_value_errors,
    _rate_policy,
    _record_update_results,
    _retry_after,
    _ValueError,
    decide,
    primary_code,
)
from dbt_hubspot_sync.hubspot.results import UpdateOutcome

# HubSpot's documented 400 for an unknown property (docs/hubspot_api.md §3): the same fact twice, once in
# errors[] and once as the JSON array embedded in the message.
UNKNOWN_PROPERTY = {
    "status": "error",
    "message": "Property values were not valid: "
    + json.dumps([{"isValid": False, "message": 'Property "testproperty" does not exist',
                   "error": "PROPERTY_DOESNT_EXIST", "name": "testproperty"}]),
    "errors": [{"message": 'Property "testproperty" does not exist', "code": "PROPERTY_DOESNT_EXIST",
                "context": {"propertyName": ["testproperty"]}}],
    "category": "VALIDATION_ERROR",
}  # fmt: skip


def test_value_errors_come_from_errors_and_the_embedded_array() -> None:
    found = _parse_value_errors(UNKNOWN_PROPERTY)
    expected = _ValueError("PROPERTY_DOESNT_EXIST", "testproperty", 'Property "testproperty" does not exist')
    assert found == [expected, expected]


@pytest.mark.parametrize(
    "body,status,code",
    [
        (UNKNOWN_PROPERTY, 400, "PROPERTY_DOESNT_EXIST"),
        (
            {"category": "VALIDATION_ERROR", "message": "Duplicate IDs found in batch input: [1]."},
            400,
            "VALIDATION_ERROR",
        ),
        ({"errorType": "RATE_LIMIT", "message": "You have reached your daily limit."}, 429, "RATE_LIMIT"),
        ({"message": "Invalid input JSON on line 3, column 9"}, 400, "HTTP_400"),  # no category at all
        (["not", "a", "dict"], 502, "HTTP_502"),
        (None, 500, "HTTP_500"),
    ],
)
def test_primary_code_falls_back_from_code_to_category_to_status(body: Any, status: int, code: str) -> None:
    assert primary_code(body, status) == code


def test_missing_scopes_read_both_spellings_once() -> None:
    body = {
        "category": "MISSING_SCOPES",
        "context": {"missingScopes": ["crm.lists.write"]},
        "errors": [
            {"context": {"requiredGranularScopes": ["crm.objects.contacts.write", "crm.lists.write"]}}
        ],
    }
    assert _missing_scopes(body) == ["crm.lists.write", "crm.objects.contacts.write"]


@pytest.mark.parametrize(
    "body,policy",
    [
        ({"policyName": "daily", "message": "whatever"}, "DAILY"),
        ({"policyName": "TEN_SECONDLY_ROLLING"}, "TEN_SECONDLY_ROLLING"),
        ({"message": "You have reached your daily limit."}, "DAILY"),
        ({"message": "You have reached your secondly limit."}, "SECONDLY"),
        ({"message": "You have reached your ten_secondly_rolling limit."}, "TEN_SECONDLY_ROLLING"),
        (None, "TEN_SECONDLY_ROLLING"),
    ],
)
def test_rate_policy_from_policy_name_then_message(body: Any, policy: str) -> None:
    assert _rate_policy(body) == policy


@pytest.mark.parametrize(
    "headers,seconds",
    [
        ({"Retry-After": "2"}, 2.0),
        ({"Retry-After": "-3"}, 0.0),
        ({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, None),  # an HTTP-date: the window is used instead
        ({}, None),
        (None, None),
    ],
)
def test_retry_after_seconds_only(headers: Any, seconds: float | None) -> None:
    assert _retry_after(headers) == seconds


def not_found_207(ids: list[str], *extra: dict[str, Any]) -> Reply:
    errors = [{"status": "error", "category": "OBJECT_NOT_FOUND", "message": "Could not get some CONTACT objects",
               "context": {"ids": ids}}, *extra]  # fmt: skip
    return Reply(207, {"status": "COMPLETE", "results": [{"id": "2"}], "errors": errors}, {}, "")


def test_ids_echoed_as_empty_with_only_not_found_are_not_found() -> None:
    outcome = UpdateOutcome()
    _record_update_results(["1", "2", "3"], not_found_207([""]), outcome)
    assert (outcome.updated, outcome.not_found, outcome.failed) == ({"2"}, {"1", "3"}, {})


def test_ids_unaccounted_beside_another_error_are_failed_not_guessed() -> None:
    outcome = UpdateOutcome()
    conflict = {
        "status": "error",
        "category": "CONFLICT",
        "message": "x",
        "context": {"objectWriteTraceId": ["3"]},
    }
    _record_update_results(["1", "2", "3", "4"], not_found_207(["1"], conflict), outcome)
    assert outcome.updated == {"2"} and outcome.not_found == {"1"}
    assert {rid: f.code for rid, f in outcome.failed.items()} == {"3": "CONFLICT", "4": "NOT_IN_RESPONSE"}
    assert "CONFLICT" in outcome.failed["4"].detail and "OBJECT_NOT_FOUND" in outcome.failed["4"].detail


def test_named_offenders_duplicates_and_quoted_values() -> None:
    batch = [("1", {"email": "a@x.com"}), ("2", {"email": "b@x.con"}), ("3", {"email": "c@x.com"})]
    dupes = {
        "message": "Duplicate IDs found in batch input: [3]. IDs must be unique",
        "context": {"ids": ["3"]},
    }
    assert {rid: f.code for rid, f in _named_offenders(batch, dupes, []).items()} == {"3": "DUPLICATE_ID"}
    invalid = [_ValueError("INVALID_EMAIL", "email", "Email address b@x.con is invalid")]
    named = _named_offenders(batch, {"message": "Property values were not valid"}, invalid)
    assert list(named) == ["2"] and named["2"].code == "INVALID_EMAIL" and named["2"].http_status == 400


# -- decide: what an answer means to the request loop (pure) ----------------------------------------------------
@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (200, {"results": []}, ("return", None)),
        (207, {"results": [], "errors": []}, ("return", None)),
        (400, {"category": "VALIDATION_ERROR", "message": "bad"}, ("return", None)),
        (404, None, ("return", None)),
        (429, {"policyName": "TEN_SECONDLY_ROLLING"}, ("wait", "TEN_SECONDLY_ROLLING")),
        (429, {"policyName": "SECONDLY"}, ("wait", "SECONDLY")),
        (429, {"policyName": "DAILY", "message": "You have reached your daily limit."}, ("daily_limit", "DAILY")),
        (423, {"message": "locked"}, ("retry", "HTTP_423")),
        (500, None, ("retry", "HTTP_5XX")),
        (503, {"message": "unavailable"}, ("retry", "HTTP_5XX")),
        (401, {"category": "INVALID_AUTHENTICATION"}, ("auth", "INVALID_AUTHENTICATION")),
    ],
)
def test_decide_names_what_an_answer_means(status: int, body: Any, expected: tuple[str, str | None]) -> None:
    decision = decide(status, body, json.dumps(body) if body is not None else "")
    assert (decision.action, decision.code) == expected


def test_decide_carries_the_missing_scopes_of_a_403() -> None:
    body = {
        "category": "MISSING_SCOPES",
        "errors": [{"context": {"requiredGranularScopes": ["crm.objects.contacts.write"]}}],
        "message": "One or more of the following scopes are required.",
    }
    decision = decide(403, body, json.dumps(body))
    assert decision.action == "auth" and decision.code == "MISSING_SCOPES"
    assert decision.scopes == ("crm.objects.contacts.write",)
    assert "scopes are required" in decision.detail
