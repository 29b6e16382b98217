"""Run-end notifications: real runs (the engine harness) POSTing to a real HTTP server on loopback."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import pytest

from dbt_hubspot_sync.engine.notify import webhook_url
from dbt_hubspot_sync.hubspot import RecordFailure, UpdateOutcome
from tests.helpers import Harness, Receiver, row

ENV = "TEST_HUBSPOT_SYNC_WEBHOOK"


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    r = Receiver()
    monkeypatch.setenv(ENV, r.url)
    yield r
    r.close()


@pytest.fixture
def h(make_harness: Callable[[dict[str, str]], Harness]) -> Harness:
    return make_harness({"a@example.com": "1", "b@example.com": "2"})


def notify(when: str = "problems") -> dict:
    return {"notify": {"webhook_env": ENV, "when": when}}


def fail_b(inputs):  # HubSpot rejects contact 2's value
    return UpdateOutcome(
        updated={rid for rid, _ in inputs if rid != "2"},
        failed={"2": RecordFailure("INVALID_OPTION", "bad option", 400)},
    )


def test_problems_are_posted_with_a_slack_text_and_the_run(h: Harness, receiver: Receiver) -> None:
    h.client.on_update = fail_b
    result = h.sync([row("a@example.com"), row("b@example.com"), row("nope@example.com")], notify())
    assert result.status == "completed_with_errors"
    [body] = receiver.bodies
    assert body["status"] == "completed_with_errors" and body["exposure_name"] == "hs"
    assert body["run_id"] == result.run_id and body["trigger"] == "cli"
    assert (body["rows_read"], body["rows_updated"], body["rows_failed"], body["rows_not_found"]) == (
        3,
        1,
        1,
        1,
    )
    assert body["text"].startswith("⚠️ dbt-hubspot-sync: hs completed_with_errors (cli, run ")
    assert "3 read, 1 updated, 1 not found, 1 failed" in body["text"]
    assert receiver.headers[0]["Content-Type"] == "application/json"


def test_a_completed_run_is_quiet_unless_always(h: Harness, receiver: Receiver) -> None:
    assert h.sync([row("a@example.com")], notify()).status == "completed"
    assert receiver.bodies == []
    assert h.sync([row("a@example.com")], notify("always")).status == "completed"
    [body] = receiver.bodies
    assert body["status"] == "completed" and body["text"].startswith("✅")


def test_a_failed_run_carries_its_error(h: Harness, receiver: Receiver) -> None:
    run = h.new_run(notify())
    run.announce()
    run.start()
    run.feed([row("a@example.com")])
    result = h.finish(run, error="reading main.contacts failed: boom")
    assert result.status == "failed"
    [body] = receiver.bodies
    assert body["status"] == "failed" and body["error"] == "reading main.contacts failed: boom"
    assert body["text"].endswith("\nreading main.contacts failed: boom")


def test_no_notification_without_config_or_for_a_dry_run(h: Harness, receiver: Receiver) -> None:
    h.client.on_update = fail_b
    assert h.sync([row("b@example.com")]).status == "completed_with_errors"
    assert h.sync([row("zzz@example.com"), row("bad")], notify("always"), dry_run=True).dry_run
    assert receiver.bodies == []


def test_a_failing_webhook_never_fails_the_sync_nor_shows_the_url(
    h: Harness, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.status = 500
    with caplog.at_level(logging.WARNING, logger="dbt_hubspot_sync"):
        assert h.sync([row("a@example.com")], notify("always")).status == "completed"
    assert len(receiver.bodies) == 1  # it was tried
    assert f"the webhook in {ENV} answered HTTP 500" in caplog.text

    receiver.close()  # nothing listens any more: a connection error
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="dbt_hubspot_sync"):
        assert h.sync([row("a@example.com")], notify("always")).status == "completed"
    assert f"the webhook in {ENV} failed (ConnectionError)" in caplog.text
    assert "very-secret-part" not in caplog.text and "127.0.0.1" not in caplog.text


def test_unset_or_plain_http_webhook_is_a_warning(
    h: Harness, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv(ENV, raising=False)
    with caplog.at_level(logging.WARNING, logger="dbt_hubspot_sync"):
        assert h.sync([row("a@example.com")], notify("always")).status == "completed"
    assert f"environment variable {ENV} (notify.webhook_env) is not set" in caplog.text

    monkeypatch.setenv(ENV, "http://hooks.example.com/services/very-secret-part")
    with pytest.raises(ValueError, match="must be https") as exc:
        webhook_url(h.runs[-1].plan.config.notify)
    assert "very-secret-part" not in str(exc.value) and "example.com" not in str(exc.value)
