"""Credentials (`hubspot.auth`): 401/403, the token kept out of every message, repr and log, base URLs, env."""

from __future__ import annotations

import logging

import pytest
import requests

from dbt_hubspot_sync.hubspot import (
    AuthError,
    HubSpotClient,
    HubSpotError,
    MissingTokenError,
    RateLimiter,
)

from .helpers import (
    RESET,
    TOKEN,
    Reply,
    client_for,
    flaky,
    rows,
)


def test_403_missing_scopes_are_listed(fake) -> None:
    body = {
        "status": "error",
        "message": "This app hasn't been granted all required scopes to make this call.",
        "errors": [{"message": "One or more of the following scopes are required.",
                    "context": {"requiredGranularScopes": ["crm.objects.contacts.write"]}}],
        "category": "MISSING_SCOPES",
    }  # fmt: skip
    srv = fake(lambda req: Reply(403, body))
    with client_for(srv) as client:
        with pytest.raises(AuthError) as info:
            client.update(rows(1))
    assert info.value.missing_scopes == ["crm.objects.contacts.write"]
    assert info.value.status == 403 and "crm.objects.contacts.write" in str(info.value)


def test_token_absent_from_reprs_of_client_session_auth_and_401_errors(fake) -> None:
    echo = {"status": "error", "message": f"Authentication credentials not found. Bearer {TOKEN}",
            "correlationId": "c8617a85-58a6-4a95-b619-e7d3594c170c", "category": "INVALID_AUTHENTICATION"}  # fmt: skip
    srv = fake(lambda req: Reply(401, echo))
    with client_for(srv) as client:
        session = client._session
        auth = session.auth
        # The token is held and applied: the reprs below hide it, they do not merely lack it.
        prepared = auth(requests.Request("GET", srv.url).prepare())
        assert prepared.headers["Authorization"] == f"Bearer {TOKEN}"
        assert repr(auth) == "BearerAuth(<redacted>)"
        for text in (repr(client), repr(session), repr(session.headers), repr(auth)):
            assert TOKEN not in text
        with pytest.raises(AuthError) as info:
            client.check_token()
    assert srv.requests[0].headers["Authorization"] == f"Bearer {TOKEN}"  # it was really sent
    err = info.value
    assert (err.status, err.code, err.category) == (401, "INVALID_AUTHENTICATION", "INVALID_AUTHENTICATION")
    assert "Authentication credentials not found. Bearer ***" in str(err)  # scrubbed, not dropped
    for text in (str(err), repr(err)):
        assert TOKEN not in text


def test_token_never_in_errors_or_logs(fake, caplog) -> None:
    echo = {"status": "error", "message": f"Authentication credentials not found: Bearer {TOKEN}",
            "category": "INVALID_AUTHENTICATION"}  # fmt: skip
    replies = [Reply(401, echo), Reply(503, {"message": TOKEN}), RESET, Reply(404, {"message": TOKEN})]
    srv = fake(flaky(replies, lambda req: Reply(500, {"message": TOKEN})))
    caplog.set_level(logging.DEBUG)
    errors: list[BaseException] = []
    with client_for(srv, max_retries=2) as client:
        for call in (
            lambda: client.update(rows(1)),
            lambda: client.get_properties(),
            lambda: client.get_list("9"),
        ):
            try:
                call()
            except HubSpotError as exc:
                errors.append(exc)
        assert TOKEN not in repr(client)
    assert len(errors) == 3
    assert srv.requests[0].headers["Authorization"] == f"Bearer {TOKEN}"  # it was really sent
    for exc in errors:
        for text in (str(exc), repr(exc), repr(exc.args), repr(vars(exc))):
            assert TOKEN not in text
    assert caplog.records and all(TOKEN not in r.getMessage() for r in caplog.records)
    with pytest.raises(ValueError) as info:  # a token pasted into the URL is not echoed either
        HubSpotClient(TOKEN, f"http://{TOKEN}.example.com")
    assert TOKEN.lower() not in str(info.value).lower() and "https" in str(info.value)


@pytest.mark.parametrize(
    "url,ok",
    [
        ("https://api.hubapi.com", True),
        ("http://127.0.0.1:8765", True),
        ("http://localhost:8765/", True),
        ("http://[::1]:8765", True),
        ("http://api.hubapi.com", False),
        ("http://10.0.0.5:8765", False),
        ("ftp://127.0.0.1", False),
        ("api.hubapi.com", False),
    ],
)
def test_https_is_required_except_loopback(url: str, ok: bool) -> None:
    if ok:
        HubSpotClient(TOKEN, url, limiter=RateLimiter()).close()
    else:
        with pytest.raises(ValueError, match="https"):
            HubSpotClient(TOKEN, url, limiter=RateLimiter())


def test_from_env(monkeypatch) -> None:
    monkeypatch.delenv("HUBSPOT_ACCESS_TOKEN", raising=False)
    monkeypatch.delenv("HUBSPOT_BASE_URL", raising=False)
    with pytest.raises(MissingTokenError, match="HUBSPOT_ACCESS_TOKEN"):
        HubSpotClient.from_env()
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", TOKEN)
    with HubSpotClient.from_env(limiter=RateLimiter()) as client:
        assert client.base_url == "https://api.hubapi.com"
    monkeypatch.setenv("HUBSPOT_BASE_URL", "http://example.org")
    with pytest.raises(ValueError) as info:
        HubSpotClient.from_env()
    assert TOKEN not in str(info.value)
