"""What a run trusts of its remembered misses (rechecks.py), on DuckDB with a scripted search."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import duckdb
import pytest

from dbt_hubspot_sync.checks.rechecks import SEARCH_OVERLAP, Checks, new_contact_emails, plan_recheck
from dbt_hubspot_sync.hubspot import HubSpotError
from dbt_hubspot_sync.tables.state import NOT_FOUND, SyncState

from ..helpers import SCHEMA, DuckTarget, make_plan

DDL = (
    "create table main.hubspot_sync_state (exposure_name varchar, email_clean varchar, record_id varchar,"
    " properties_hash varchar, run_id varchar, synced_at timestamp, row_fingerprint varchar)",
    "create table main.hubspot_sync_checks (exposure_name varchar, kind varchar, checked_until timestamp,"
    " run_id varchar, recorded_at timestamp, detail varchar)",
)
NOW = datetime(2026, 12, 1, 12, 0, 0)


class Search:
    """A scripted contacts search: what it returns, or the error it raises; the windows it was asked for."""

    def __init__(self, contacts: list[dict[str, Any]] | None = None, *, complete: bool = True) -> None:
        self.contacts, self.complete = contacts or [], complete
        self.error: Exception | None = None
        self.windows: list[tuple[datetime, datetime]] = []

    def search_created(self, since: datetime, until: datetime, properties: Any) -> tuple[list[dict], bool]:
        self.windows.append((since, until))
        if self.error is not None:
            raise self.error
        return self.contacts, self.complete


@pytest.fixture
def target() -> DuckTarget:
    conn = duckdb.connect()
    for ddl in DDL:
        conn.execute(ddl)
    return DuckTarget(conn)


def remember(target: DuckTarget, *emails: str, full_at: datetime | None = NOW - timedelta(hours=1)) -> None:
    SyncState(target, SCHEMA).remember_not_found("hs", "r0", list(emails))
    if full_at is not None:
        Checks(target, SCHEMA, "hs").record("full", full_at, "r0")


def recheck(target: DuckTarget, client: Any, **kw: Any):
    return plan_recheck(
        target, make_plan(kw.pop("meta", None)), client, full_refresh=False, dry_run=False, now=NOW, **kw
    )


def remembered(target: DuckTarget) -> set[str]:
    rows = target.execute(
        "select email_clean from main.hubspot_sync_state where properties_hash = ?", [NOT_FOUND]
    )
    return {r[0] for r in rows}


def test_a_new_contact_with_a_remembered_email_is_looked_up_the_rest_trusted(target) -> None:
    remember(target, "a@example.com", "b@example.com", "c@example.com")
    search = Search([{"email": "A@example.com"}, {"email": "x@example.com", "hs_additional_emails": "c@example.com"}])
    r = recheck(target, search)
    assert r.trust and r.kind == "created" and sorted(r.forgotten) == ["a@example.com", "c@example.com"]
    assert remembered(target) == {"b@example.com"}
    since, until = search.windows[0]
    assert since == NOW - timedelta(hours=1) - SEARCH_OVERLAP and until == NOW  # the lag overlap


def test_the_window_starts_at_the_last_check(target) -> None:
    remember(target, "a@example.com")
    Checks(target, SCHEMA, "hs").record("created", NOW - timedelta(minutes=5), "r1")
    search = Search()
    recheck(target, search)
    assert search.windows == [(NOW - timedelta(minutes=5) - SEARCH_OVERLAP, NOW)]


def test_the_full_recheck_comes_due(target) -> None:
    remember(target, "a@example.com", full_at=NOW - timedelta(hours=25))
    r = recheck(target, Search())
    assert not r.trust and r.kind == "full"
    r = recheck(target, Search(), meta={"not_found_recheck_hours": 48})
    assert r.trust


def test_first_run_and_full_refresh_trust_nothing(target) -> None:
    remember(target, "a@example.com", full_at=None)
    assert not recheck(target, Search()).trust  # never fully checked
    plan = make_plan()
    assert not plan_recheck(target, plan, Search(), full_refresh=True, dry_run=False, now=NOW).trust


@pytest.mark.parametrize("failure", ["error", "capped"])
def test_a_failed_or_capped_search_trusts_nothing(target, failure: str) -> None:
    remember(target, "a@example.com")
    search = Search(complete=failure != "capped")
    if failure == "error":
        search.error = HubSpotError("429 SECONDLY, retries exhausted", call="POST /crm/v3/objects/contacts/search")
    r = recheck(target, search)
    assert not r.trust and r.kind == "full"
    assert remembered(target) == {"a@example.com"}  # nothing forgotten on a guess


def test_no_remembered_miss_costs_no_search(target) -> None:
    Checks(target, SCHEMA, "hs").record("full", NOW - timedelta(hours=1), "r0")
    search = Search()
    r = recheck(target, search)
    assert r.trust and search.windows == []


def test_a_dry_run_forgets_nothing_and_trusts_no_miss_a_new_contact_has(target) -> None:
    remember(target, "a@example.com")
    r = plan_recheck(target, make_plan(), Search([{"email": "a@example.com"}]), full_refresh=False,
                     dry_run=True, now=NOW)
    assert not r.trust and remembered(target) == {"a@example.com"}


def test_new_contact_emails_reads_primary_and_additional() -> None:
    contacts = [{"email": " A@x.com ", "hs_additional_emails": "b@x.com;C@x.com;"}, {"email": None}]
    assert new_contact_emails(contacts) == {"a@x.com", "b@x.com", "c@x.com"}
