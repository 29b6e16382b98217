"""List mirroring (list_mirror.py) through `SyncRun`, on a real DuckDB log and a scripted HubSpot that keeps one
static list: what the sync added is recorded (also with list_mode: add); with list_mode: mirror the members the
sync added that left the audience are removed (mirror_all: every member not in it), rows known only from the
state or only by email stay, a dry run names who would go and removes nobody, a failed run removes nobody, a
HubSpot error while mirroring is reported; and the config rules of list_mode and mirror_all."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import duckdb
import pytest

from dbt_hubspot_sync.config.properties import properties_hash
from dbt_hubspot_sync.config.sync_config import parse_sync_config
from dbt_hubspot_sync.engine.list_mirror import ListMembers
from dbt_hubspot_sync.errors import ConfigError
from dbt_hubspot_sync.hubspot import DailyLimitError, HubSpotError, ListOutcome
from tests.helpers import SCHEMA, DuckTarget, FakeHubSpot, Harness, create_log_tables, row

LIST = "7"
MIRROR = {"list_id": LIST, "list_mode": "mirror"}
EMAILS = [f"c{i}@example.com" for i in range(10)]  # contacts 100 … 109


class ListHubSpot(FakeHubSpot):
    """FakeHubSpot with one static list it keeps (add, remove, paged GET), and each contact's email readable
    by id (read_by_id)."""

    def __init__(self, contacts: dict[str, str]) -> None:
        super().__init__(contacts)
        self.members: set[str] = set()
        self.removes: list[list[str]] = []
        self.member_reads = 0
        self.remove_error: Exception | None = None
        for email, rid in self.contacts.items():
            self.values[rid] = {"email": email}

    def add_to_list(self, list_id: str, record_ids: Sequence[str]) -> ListOutcome:
        assert list_id == LIST
        self.list_adds.append((list_id, list(record_ids)))
        self.stats.add(requests=1)
        ids = set(record_ids)
        already = ids & self.members
        self.members |= ids
        return ListOutcome(added=ids - already, already=already)

    def remove_from_list(self, list_id: str, record_ids: Sequence[str]) -> ListOutcome:
        assert list_id == LIST and len(record_ids) <= 100
        self.stats.add(requests=1)
        if self.remove_error is not None and self.removes:  # the second call breaks
            raise self.remove_error
        self.removes.append(list(record_ids))
        ids = set(record_ids)
        removed = ids & self.members
        self.members -= removed
        return ListOutcome(removed=removed, not_members=ids - removed)

    def iter_list_members(self, list_id: str) -> Iterator[str]:
        assert list_id == LIST
        self.member_reads += 1
        self.stats.add(requests=1)
        yield from sorted(self.members)

    @property
    def removed_ids(self) -> set[str]:
        return {rid for call in self.removes for rid in call}


@pytest.fixture
def h() -> Iterator[Harness]:
    conn = duckdb.connect(":memory:")
    create_log_tables(conn)
    yield Harness(conn, ListHubSpot({e: str(100 + i) for i, e in enumerate(EMAILS)}))
    conn.close()


def members_table(h: Harness) -> ListMembers:
    return ListMembers(DuckTarget(h.conn), SCHEMA)


def owned(h: Harness) -> set[str]:
    return members_table(h).owned("hs", LIST)


def known(email: str, rid: str | None, first: str = "Ann", score: int = 1) -> tuple[Any, ...]:
    """A row the state knows as sent with these values (unchanged: not sent again): rid None = imported."""
    digest = properties_hash({"firstname": first, "score": str(score)})
    return (email, email, 1, rid, digest, first, score)


def ids(*numbers: int) -> set[str]:
    return {str(n) for n in numbers}


# -- what the sync added --------------------------------------------------------------------------------------
def test_list_mode_add_records_what_the_sync_added_but_never_removes(h: Harness) -> None:
    h.client.members = ids(102)  # put there by hand
    first = h.sync([row(e) for e in EMAILS[:4]], {"list_id": LIST})
    assert first.status == "completed" and first.counters.list_added == 4  # added + already members
    assert owned(h) == ids(100, 101, 103)  # 102 was a member before: not the sync's
    second = h.sync([row(EMAILS[0])], {"list_id": LIST})
    assert second.status == "completed" and second.counters.list_removed == 0
    assert h.client.removes == [] and h.client.members == ids(100, 101, 102, 103)


def test_a_dry_run_records_no_add(h: Harness) -> None:
    h.sync([row(e) for e in EMAILS[:3]], {"list_id": LIST}, dry_run=True)
    assert h.client.list_adds == [] and owned(h) == set()


# -- mirror ---------------------------------------------------------------------------------------------------
def test_contacts_that_left_the_audience_are_removed_and_counted(h: Harness) -> None:
    h.client.members = ids(109)  # added by hand: not the sync's, it stays
    h.sync([row(e) for e in EMAILS[:5]], MIRROR)
    assert h.client.members == ids(100, 101, 102, 103, 104, 109)
    # c3's email is invalid now, c4's row is gone, c0 is unchanged by the state, c1 HubSpot already has.
    h.client.values["101"].update(firstname="Ann", score="1")
    rows = [known(EMAILS[0], "100"), row(EMAILS[1]), row(EMAILS[2]), row("c3@example")]
    result = h.sync(rows, MIRROR)
    assert result.status == "completed", result
    assert result.counters.list_removed == 2 and h.run_row(result.run_id)["list_removed"] == 2
    assert h.client.members == ids(100, 101, 102, 109)
    assert h.client.removed_ids == ids(103, 104)
    assert owned(h) == ids(100, 101, 102)
    assert members_table(h).events(result.run_id) == [("removed", "103"), ("removed", "104")]
    # The removal's request is the run's: a read, an update, a list add of c2 and one remove.
    assert result.counters.requests == 4


def test_removals_go_in_chunks_of_100() -> None:
    emails = [f"p{i}@example.com" for i in range(250)]
    conn = duckdb.connect(":memory:")
    create_log_tables(conn)
    h = Harness(conn, ListHubSpot({e: str(1000 + i) for i, e in enumerate(emails)}))
    h.sync([row(e) for e in emails], MIRROR)
    result = h.sync([row(emails[0])], MIRROR)
    assert result.counters.list_removed == 249
    assert [len(c) for c in h.client.removes] == [100, 100, 49]
    assert h.client.members == {"1000"}
    conn.close()


def test_a_row_known_only_by_email_keeps_its_contact(h: Harness) -> None:
    """An unchanged row whose record id the state does not hold (an imported contact): the member about to be
    removed is read by id, and its email (or an additional email) is the row's: it stays."""
    h.sync([row(e) for e in EMAILS[:4]], MIRROR)
    h.client.values["103"]["hs_additional_emails"] = "old@example.com;c3.alias@example.com"
    rows = [row(EMAILS[0]), known(EMAILS[1], None), known("c3.alias@example.com", None)]
    result = h.sync(rows, MIRROR)
    assert result.status == "completed", result
    assert h.client.removed_ids == ids(102)
    assert h.client.id_reads[-1] == ["101", "102", "103"]  # only the members about to go are read
    assert h.client.members == ids(100, 101, 103)


def test_without_rows_known_only_by_email_no_member_is_read(h: Harness) -> None:
    h.sync([row(e) for e in EMAILS[:3]], MIRROR)
    h.sync([row(EMAILS[0])], MIRROR)
    assert h.client.id_reads == [] and h.client.removed_ids == ids(101, 102)


def test_mirror_all_removes_every_member_not_in_the_audience(h: Harness) -> None:
    h.client.members = ids(108, 109)
    h.sync([row(e) for e in EMAILS[:3]], {**MIRROR, "mirror_all": True})
    assert h.client.members == ids(100, 101, 102)
    assert h.client.member_reads == 1
    result = h.sync([known(EMAILS[0], "100")], {**MIRROR, "mirror_all": True})
    assert result.counters.list_removed == 2 and h.client.members == ids(100)


def test_not_mirror_all_reads_no_membership(h: Harness) -> None:
    h.sync([row(e) for e in EMAILS[:3]], MIRROR)
    h.sync([row(EMAILS[0])], MIRROR)
    assert h.client.member_reads == 0


def test_a_dry_run_names_who_would_be_removed_and_removes_nobody(h: Harness) -> None:
    h.sync([row(e) for e in EMAILS[:5]], MIRROR)
    result = h.sync([row(EMAILS[0]), known(EMAILS[1], "101")], MIRROR, dry_run=True)
    assert result.status == "completed" and result.dry_run
    assert h.client.removes == [] and h.client.members == ids(100, 101, 102, 103, 104)
    assert result.counters.list_removed == 3 and h.run_row(result.run_id)["list_removed"] == 3
    assert result.error.startswith("dry run")
    assert (
        f"list {LIST}: would remove 3 contacts that left the audience (record ids 102, 103, 104;"
        in result.error
    )
    assert members_table(h).events(result.run_id) == [("would_remove", r) for r in ("102", "103", "104")]
    assert owned(h) == ids(100, 101, 102, 103, 104)  # nothing changed hands


def test_a_failed_run_removes_nobody(h: Harness) -> None:
    h.sync([row(e) for e in EMAILS[:5]], MIRROR)
    run = h.new_run(MIRROR)
    run.announce()
    run.start()
    run.feed([row(EMAILS[0])])
    result = h.finish(run, "reading the relation failed")
    assert result.status == "failed" and result.counters.list_removed == 0
    assert h.client.removes == [] and len(h.client.members) == 5


def test_a_run_with_failed_rows_still_mirrors_keeping_their_contacts(h: Harness) -> None:
    h.sync([row(e) for e in EMAILS[:3]], MIRROR)
    # c1's row cannot be sent (its value is not a number HubSpot takes): its contact stays in the list.
    result = h.sync([row(EMAILS[0]), (EMAILS[1], EMAILS[1], 1, "101", None, "Ann", float("nan"))], MIRROR)
    assert result.status == "completed_with_errors" and result.counters.rows_failed == 1
    assert h.client.removed_ids == ids(102)


def test_a_hubspot_error_while_removing_is_reported(h: Harness) -> None:
    emails = [f"p{i}@example.com" for i in range(150)]
    for i, e in enumerate(emails):
        h.client.contacts[e] = str(1000 + i)
    h.sync([row(e) for e in emails], MIRROR)
    h.client.remove_error = HubSpotError("HubSpot answered 500", call="PUT memberships/remove", status=500)
    result = h.sync([row(emails[0])], MIRROR)
    assert result.status == "completed_with_errors"
    assert result.error.startswith(f"list_mirror_failed: list {LIST}: mirroring stopped (removed 100 of 149")
    assert result.counters.list_removed == 100
    assert len(owned(h)) == 50  # the next run removes the rest
    h.client.remove_error = None
    again = h.sync([row(emails[0])], MIRROR)
    assert again.status == "completed" and again.counters.list_removed == 49 and owned(h) == {"1000"}


def test_the_daily_limit_while_removing_fails_the_run_as_daily_limit(h: Harness) -> None:
    emails = [f"p{i}@example.com" for i in range(150)]
    for i, e in enumerate(emails):
        h.client.contacts[e] = str(1000 + i)
    h.sync([row(e) for e in emails], MIRROR)
    h.client.remove_error = DailyLimitError("daily limit", call="PUT memberships/remove", status=429)
    result = h.sync([row(emails[0])], MIRROR)
    assert result.status == "failed" and result.error.startswith("daily_limit: list 7: mirroring stopped")


# -- config ---------------------------------------------------------------------------------------------------
def test_list_mode_defaults_to_add() -> None:
    cfg = parse_sync_config("hs", {"email_column": "email", "list_id": 5}, None)
    assert (cfg.list_mode, cfg.mirror_all) == ("add", False)


def test_mirror_all_without_mirror_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as info:
        parse_sync_config("hs", {"email_column": "email", "list_id": "5", "mirror_all": True}, None)
    assert "hubspot_sync.mirror_all" in str(info.value) and "list_mode: mirror" in str(info.value)


def test_an_unknown_list_mode_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as info:
        parse_sync_config("hs", {"email_column": "email", "list_mode": "sync"}, None)
    assert "hubspot_sync.list_mode" in str(info.value)
