"""List mirroring end to end, with real dbt on DuckDB and PostgreSQL and the sandbox: with
`list_mode: mirror` the contacts whose rows left the model, or whose emails became invalid, are removed from the
static list (PUT memberships/remove, at most 100 ids a call) and counted in the runs row's `list_removed`; a
member added by hand stays (also one the model has, which the sync found already a member) unless
`mirror_all: true`, which removes every member not in the audience (read with the paged GET memberships); a dry
run removes nobody and says who would go; a failed run removes nobody, and the next one does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests

from dbt_hubspot_sync.doors.runner import SyncOptions, run_sync
from dbt_hubspot_sync.engine import RunResult
from dbt_hubspot_sync.hubspot import DailyLimitError, HubSpotClient
from dbt_hubspot_sync.sandbox import Sandbox

from .helpers import (
    ADAPTERS,
    Example,
    assert_invariant,
    client_factory,
    create_list,
    dbt_without_push,
    execute,
    exposure_yaml,
    logged_requests,
    make_example,
    sandbox_config,
)

pytestmark = pytest.mark.dbt

EXPOSURE = "hubspot_mirror"
REMOVE = "PUT /crm/v3/lists/{listId}/memberships/remove"
MEMBERS_GET = "GET /crm/v3/lists/{listId}/memberships"


def write_exposure(ex: Example, list_id: str, **extra: Any) -> None:
    # log_records: all: the record log names the contact each updated row reached (the test picks rows by it).
    (Path(ex.project_dir) / "models" / "mirror_exposure.yml").write_text(
        exposure_yaml(
            EXPOSURE,
            "hubspot_contacts",
            email_column="Email",
            list_id=list_id,
            list_mode="mirror",
            log_records="all",
            **extra,
        ),
        encoding="utf-8",
    )


def push(ex: Example, sb: Sandbox, *, dry_run: bool = False, factory: Any = None) -> RunResult:
    options = SyncOptions(
        project_dir=str(ex.project_dir),
        profiles_dir=str(ex.project_dir),
        target=ex.target,
        select=[EXPOSURE],
        dry_run=dry_run,
    )
    [result] = run_sync(options, client_factory=factory or client_factory(sb))
    return result


class DailyLimitAtUpdate(HubSpotClient):
    """HubSpot's daily limit reached at the run's first update: the run ends `failed` (daily_limit)."""

    def update(self, inputs: Any) -> Any:
        raise DailyLimitError("HubSpot's daily limit was reached", call="POST batch/update", status=429)


def add_by_hand(sb: Sandbox, list_id: str, ids: list[str]) -> None:
    """What a HubSpot user does in the UI: put contacts in the list (HubSpot's own call)."""
    r = requests.put(
        f"{sb.url}/crm/v3/lists/{list_id}/memberships/add",
        headers={"Authorization": "Bearer sandbox-token"},
        json=ids,
        timeout=5,
    )
    r.raise_for_status()


def sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class Rows:
    """The model's rows by the contact they reached in one run (its record log: log_records all)."""

    def __init__(self, ex: Example, run_id: str) -> None:
        logged = ex.query(
            "select email_raw, email_clean, outcome, detail from {schema}.hubspot_sync_record_log"
            f" where run_id = '{run_id}'"
        )
        self.raw_by_clean: dict[str, list[str]] = {}
        self.contact_clean: dict[str, str] = {}
        shared: set[str] = set()  # contacts another email of the model reached too
        for raw, clean, outcome, detail in logged:
            self.raw_by_clean.setdefault(clean, []).append(raw)
            if outcome == "updated" and (detail or "").startswith("contact "):
                self.contact_clean[detail.split()[1]] = clean
            elif outcome == "duplicate" and "HubSpot contact " in (detail or ""):
                shared.add(detail.split("HubSpot contact ")[1].split()[0])
        self.single = sorted((c for c in self.contact_clean if c not in shared), key=int)

    def raws(self, contacts: list[str]) -> str:
        """SQL `(...)` of every raw email of the model that reaches these contacts."""
        raws = [r for c in contacts for r in self.raw_by_clean[self.contact_clean[c]]]
        return "(" + ", ".join(sql_text(r) for r in raws) + ")"


def runs_row(ex: Example, run_id: str) -> tuple:
    [row] = ex.query(
        f"select status, list_added, list_removed, error from {{schema}}.hubspot_sync_runs where run_id = '{run_id}'"
    )
    return row


def events(ex: Example, run_id: str) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for event, rid in ex.query(
        f"select event, record_id from {{schema}}.hubspot_sync_list_members where run_id = '{run_id}'"
    ):
        out.setdefault(event, set()).add(rid)
    return out


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_the_list_follows_the_audience(adapter: str, tmp_path, monkeypatch) -> None:
    ex = make_example(adapter, tmp_path, monkeypatch)
    dbt_without_push(ex, "run")
    with Sandbox(sandbox_config()) as sb:
        lid = create_list(sb, "MANUAL")
        write_exposure(ex, lid)
        by_email = {c["properties"]["email"]: c["id"] for c in sb.contacts()}
        # Two members put there by hand: one the model reaches (the sync finds it already a member, so it is
        # not the sync's to remove) and one the model does not have.
        hand_in_model = by_email["edsger.dijkstra3@hooli.design"]
        add_by_hand(sb, lid, [hand_in_model])

        first = push(ex, sb)
        assert first.status == "completed" and first.counters.rows_updated > 100, first
        rows = Rows(ex, first.run_id)
        updated = set(rows.contact_clean)
        assert hand_in_model in updated
        hand_only = next(cid for cid in sorted(by_email.values(), key=int) if cid not in updated)
        add_by_hand(sb, lid, [hand_only])
        assert set(sb.list_members(lid)) == updated | {hand_only}
        assert runs_row(ex, first.run_id)[1:3] == (len(updated), 0)
        assert events(ex, first.run_id) == {"added": updated - {hand_in_model}}

        # Four contacts' rows leave the model, two contacts' emails turn invalid; the hand-added contact's
        # rows leave too.
        pool = [c for c in rows.single if c != hand_in_model]
        gone, broken, later = pool[:4], pool[4:6], pool[6:9]
        execute(ex, f"delete from {{schema}}.customers where email in {rows.raws([*gone, hand_in_model])}")
        execute(
            ex,
            f"update {{schema}}.customers set email = 'no-longer-an-email' where email in {rows.raws(broken)}",
        )
        second = push(ex, sb)
        assert second.status == "completed", second
        leaving = set(gone) | set(broken)
        assert second.counters.list_removed == len(leaving) == 6
        assert runs_row(ex, second.run_id)[:3] == ("completed", 0, 6)
        assert set(sb.list_members(lid)) == (updated - leaving) | {hand_only}
        removals = logged_requests(sb, REMOVE)
        assert len(removals) == 1 and removals[0]["inputs"] == 6
        assert not logged_requests(sb, MEMBERS_GET)  # only the sync's own adds are considered
        assert events(ex, second.run_id) == {"removed": leaving}

        # A dry run: nobody leaves the list; the runs row counts and names who would.
        execute(ex, f"delete from {{schema}}.customers where email in {rows.raws(later)}")
        members = set(sb.list_members(lid))
        dry = push(ex, sb, dry_run=True)
        assert dry.status == "completed" and set(sb.list_members(lid)) == members
        assert len(logged_requests(sb, REMOVE)) == 1
        status, _added, removed, error = runs_row(ex, dry.run_id)
        assert (status, removed) == ("completed", 3)
        ids = ", ".join(sorted(later, key=int))
        assert f"list {lid}: would remove 3 contacts that left the audience (record ids {ids};" in error
        assert events(ex, dry.run_id) == {"would_remove": set(later)}

        # A failed run (HubSpot's daily limit at the first update) removes nobody ...
        stay = pool[9]
        execute(
            ex,
            f"update {{schema}}.customers set first_name = 'Renamed' where email in {rows.raws([stay])}",
        )
        failed = push(ex, sb, factory=client_factory(sb, DailyLimitAtUpdate))
        assert failed.status == "failed" and failed.error.startswith("daily_limit"), failed
        assert failed.counters.list_removed == 0 and set(sb.list_members(lid)) == members
        assert len(logged_requests(sb, REMOVE)) == 1

        # ... the next one does.
        third = push(ex, sb)
        assert third.status == "completed" and third.counters.list_removed == 3, third
        assert set(sb.list_members(lid)) == members - set(later)
        assert hand_only in members and hand_in_model in members

        # mirror_all: every member not in the audience goes, the hand-added ones too (read page by page).
        write_exposure(ex, lid, mirror_all=True)
        fourth = push(ex, sb)
        assert fourth.status == "completed" and fourth.counters.list_removed == 2, fourth
        assert set(sb.list_members(lid)) == members - set(later) - {hand_only, hand_in_model}
        assert logged_requests(sb, MEMBERS_GET)
        assert events(ex, fourth.run_id) == {"removed": {hand_only, hand_in_model}}
        assert sb.stats()["contacts_created"] == 0
    assert_invariant(ex, log_all=[EXPOSURE])
