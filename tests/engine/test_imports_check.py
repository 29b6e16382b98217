"""`check` proves the crm.import scope for syncs that may import: a problem for `push: import`, a note for `auto`
(it falls back to batch calls), nothing for `batch`."""

from __future__ import annotations

from typing import Any

import pytest

from dbt_hubspot_sync.checks.preflight import check_hubspot
from dbt_hubspot_sync.hubspot import HubSpotClient, RateLimiter
from dbt_hubspot_sync.sandbox import Sandbox, SandboxConfig
from tests.helpers import make_plan

BASIC = {"crm.objects.contacts.read", "crm.objects.contacts.write", "crm.schemas.contacts.read"}


@pytest.fixture
def sb() -> Any:
    with Sandbox(
        SandboxConfig(contacts=[{"email": "a@example.com", "firstname": "A", "score": "1"}])
    ) as sandbox:
        sandbox.add_token("basic", BASIC)
        sandbox.add_token("importer", BASIC | {"crm.import"})
        yield sandbox


def _scope_findings(sb: Sandbox, token: str, push: str) -> list[Any]:
    def factory() -> HubSpotClient:
        return HubSpotClient(token, sb.url, limiter=RateLimiter(100, 10_000))

    findings = check_hubspot([make_plan({"push": push})], factory)
    return [f for f in findings if f.check == "scope" and "crm.import" in f.detail]


def test_push_import_without_crm_import_is_a_problem(sb: Sandbox) -> None:
    [finding] = _scope_findings(sb, "basic", "import")
    assert not finding.ok and "crm.import" in finding.detail and "push: import" in finding.detail


def test_push_auto_without_crm_import_is_a_note(sb: Sandbox) -> None:
    [finding] = _scope_findings(sb, "basic", "auto")
    assert finding.ok and "batch calls" in finding.detail


def test_the_scope_is_proven_by_reading_the_accounts_imports(sb: Sandbox) -> None:
    [finding] = _scope_findings(sb, "importer", "import")
    assert finding.ok
    assert any(e["path"].startswith("/crm/v3/imports?limit=1") for e in sb.requests_log())


def test_push_batch_needs_no_crm_import(sb: Sandbox) -> None:
    assert _scope_findings(sb, "basic", "batch") == []
