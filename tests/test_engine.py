"""SyncRun: every row read ends in exactly one counted, logged outcome.

The log is a real in-memory DuckDB database with the tables of macros/log_tables.sql. HubSpot is a small
scripted fake with the client's surface (`stats`, `read_ids_by_email`, `update`, `add_to_list`): the engine
is what is under test here; the real client has its own tests against the sandbox.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import duckdb
import pytest

from dbt_hubspot_sync.dbt_bridge import Exposure, Model, Project
from dbt_hubspot_sync.engine import RunResult, SyncRun, run_result_ok
from dbt_hubspot_sync.hubspot_client import (
    ClientStats,
    DailyLimitError,
    HubSpotError,
    ListOutcome,
    PropertyError,
    RecordFailure,
    UpdateOutcome,
)
from dbt_hubspot_sync.plan import SyncPlan, build_plan
from dbt_hubspot_sync.run_log import RunLog, RunRow, utcnow
from tests.test_run_log import SCHEMA, DuckTarget, create_log_tables, fetch_dicts

RELATION = '"db"."main"."contacts"'
OUTCOME_COLUMNS = (
    "rows_invalid",
    "rows_duplicate",
    "rows_unchanged",
    "rows_updated",
    "rows_not_found",
    "rows_failed",
)

Inputs = Sequence[tuple[str, dict[str, str]]]


class FakeHubSpot:
    """The client's surface with scripted answers; emails keyed lower-case, as the real client documents."""

    def __init__(self, contacts: dict[str, str] | None = None) -> None:
        self.stats = ClientStats()
        self.contacts = {k.lower(): v for k, v in (contacts or {}).items()}
        self.reads: list[list[str]] = []
        self.updates: list[list[tuple[str, dict[str, str]]]] = []
        self.list_adds: list[tuple[str, list[str]]] = []
        self.read_error: Exception | None = None
        # Called with the inputs of each update; returns the outcome or raises. Default: all updated.
        self.on_update: Callable[[Inputs], UpdateOutcome] | None = None
        self.list_missing: set[str] = set()
        self.list_already: set[str] = set()

    def read_ids_by_email(self, emails: Sequence[str]) -> dict[str, str]:
        self.reads.append(list(emails))
        self.stats.add(requests=math.ceil(len(emails) / 100))
        if self.read_error is not None:
            raise self.read_error
        keys = (e.strip().lower() for e in emails)
        return {k: self.contacts[k] for k in keys if k in self.contacts}

    def update(self, inputs: Inputs) -> UpdateOutcome:
        self.updates.append(list(inputs))
        self.stats.add(requests=math.ceil(len(inputs) / 100))
        if self.on_update is not None:
            return self.on_update(inputs)
        return UpdateOutcome(updated={rid for rid, _ in inputs})

    def add_to_list(self, list_id: str, record_ids: Sequence[str]) -> ListOutcome:
        self.list_adds.append((list_id, list(record_ids)))
        self.stats.add(requests=1)
        ids = set(record_ids)
        missing, already = ids & self.list_missing, ids & self.list_already
        return ListOutcome(added=ids - missing - already, missing=missing, already=already)

    @property
    def sent_ids(self) -> list[str]:
        return [rid for batch in self.updates for rid, _ in batch]


def make_plan(meta: dict[str, Any] | None = None) -> SyncPlan:
    """A plan over columns (email, firstname, score): rows are (raw, clean, rank, firstname, score)."""
    model = Model("model.p.contacts", "contacts", "model", "table", RELATION)
    meta = {"email_column": "email", **(meta or {})}
    project = Project(
        "p",
        "duckdb",
        SCHEMA,
        "db",
        {"hs": Exposure("hs", {"hubspot_sync": meta}, (model.unique_id,))},
        {model.unique_id: model},
    )
    return build_plan(project, "hs", ["email", "firstname", "score"])


def row(
    email: str | None, first: Any = "Ann", score: Any = 1, *, raw: Any = "same", rank: int | None = 1
) -> tuple[Any, ...]:
    # The shape of the sync_rows_query macro: raw, clean, rank, state record id, state hash, values...
    return (email if raw == "same" else raw, email, rank, None, None, first, score)


@dataclass
class Harness:
    conn: duckdb.DuckDBPyConnection
    client: FakeHubSpot
    runs: list[SyncRun] = field(default_factory=list)

    def new_run(
        self,
        meta: dict[str, Any] | None = None,
        *,
        dry_run: bool = False,
        push_size: int = 1000,
        client: Any = "default",
        **kw: Any,
    ) -> SyncRun:
        run = SyncRun(
            make_plan(meta),
            RunLog(DuckTarget(self.conn), SCHEMA),
            self.client if client == "default" else client,
            trigger="cli",
            dry_run=dry_run,
            push_size=push_size,
            **kw,
        )
        self.runs.append(run)
        return run

    def sync(self, rows: Sequence[Sequence[Any]], meta: dict[str, Any] | None = None, **kw: Any) -> RunResult:
        run = self.new_run(meta, **kw)
        run.announce()
        run.start()
        run.feed(rows)
        return self.finish(run)

    def finish(self, run: SyncRun, error: str | None = None) -> RunResult:
        result = run.finish(error)
        self.check(run, result)
        return result

    def run_row(self, run_id: str) -> dict[str, Any]:
        [r] = fetch_dicts(self.conn, "select * from main.hubspot_sync_runs where run_id = ?", [run_id])
        return r

    def records(self, run_id: str) -> list[dict[str, Any]]:
        return fetch_dicts(
            self.conn,
            "select * from main.hubspot_sync_record_log where run_id = ? "
            "order by email_clean nulls first, outcome",
            [run_id],
        )

    def by_email(self, run_id: str) -> dict[str | None, tuple[str, str | None]]:
        return {r["email_clean"]: (r["outcome"], r["reason_code"]) for r in self.records(run_id)}

    def check(self, run: SyncRun, result: RunResult) -> None:
        """What must hold after every run, whatever happened: checked on the database, not the object."""
        db = self.run_row(result.run_id)
        assert db["rows_read"] == sum(db[c] for c in OUTCOME_COLUMNS), f"invariant broken in the log: {db}"
        for name, value in vars(result.counters).items():
            assert db[name] == value, name
        assert db["status"] == result.status
        assert db["error"] == result.error
        assert db["finished_at"] is not None
        records = self.records(result.run_id)
        logged = {
            c: sum(1 for r in records if r["outcome"] == c.removeprefix("rows_")) for c in OUTCOME_COLUMNS
        }
        # One record row per row not updated (per row with log_records: all), with the counted outcome.
        for col in ("rows_invalid", "rows_duplicate", "rows_not_found", "rows_failed"):
            assert logged[col] == db[col], col
        if run.plan.config.log_records == "all":
            assert len(records) == db["rows_read"]
            assert logged["rows_updated"] == db["rows_updated"]
            assert logged["rows_unchanged"] == db["rows_unchanged"]
        else:
            assert len(records) == db["rows_read"] - db["rows_updated"] - db["rows_unchanged"]


@pytest.fixture
def h() -> Iterator[Harness]:
    conn = duckdb.connect(":memory:")
    create_log_tables(conn)
    contacts = {f"c{i}@example.com": str(100 + i) for i in range(10)}
    yield Harness(conn, FakeHubSpot(contacts))
    conn.close()


# -- outcomes -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("clean", "reason"),
    [
        (None, "NULL_EMAIL"),
        ("", "NULL_EMAIL"),
        ("not an email", "INVALID_SYNTAX"),
        ('"a b"@example.com', "QUOTED_LOCAL_PART"),
        ("jane@example.notatld", "UNKNOWN_TLD"),
    ],
)
def test_invalid_emails_are_logged_with_their_reason_and_not_sent(
    h: Harness, clean: str | None, reason: str
) -> None:
    result = h.sync([row(clean, raw=f"raw:{clean}"), row("c1@example.com")])
    [rec] = [r for r in h.records(result.run_id) if r["outcome"] == "invalid"]
    assert (rec["email_raw"], rec["email_clean"], rec["reason_code"]) == (f"raw:{clean}", clean, reason)
    assert rec["detail"] and rec["http_status"] is None and rec["exposure_name"] == "hs"
    assert result.counters.rows_invalid == 1 and result.counters.rows_updated == 1
    assert result.status == "completed"
    assert h.client.reads == [["c1@example.com"]]
    assert h.client.sent_ids == ["101"]


def test_lower_ranked_rows_of_an_email_are_duplicates(h: Harness) -> None:
    result = h.sync(
        [
            row("c1@example.com", "First", rank=1),
            row("c1@example.com", "Second", raw="C1@example.com", rank=2),
        ]
    )
    assert h.client.updates == [[("101", {"firstname": "First", "score": "1"})]]
    [rec] = h.records(result.run_id)
    assert (rec["email_raw"], rec["outcome"], rec["reason_code"]) == (
        "C1@example.com",
        "duplicate",
        "DUPLICATE_EMAIL",
    )
    assert (result.counters.rows_updated, result.counters.rows_duplicate) == (1, 1)


def test_unknown_email_is_not_found_and_never_sent(h: Harness) -> None:
    result = h.sync([row("nobody@example.com"), row("c2@example.com")])
    assert h.by_email(result.run_id) == {"nobody@example.com": ("not_found", "OBJECT_NOT_FOUND")}
    assert h.client.sent_ids == ["102"]
    assert (result.counters.rows_not_found, result.counters.rows_updated) == (1, 1)
    assert result.status == "completed" and result.ok


def test_updated_rows_are_counted_not_logged_by_default(h: Harness) -> None:
    result = h.sync([row(f"c{i}@example.com", f"n{i}", i) for i in range(3)])
    assert h.client.updates == [[(str(100 + i), {"firstname": f"n{i}", "score": str(i)}) for i in range(3)]]
    assert result.counters.rows_updated == 3 and result.counters.rows_read == 3
    assert h.records(result.run_id) == []
    assert result.status == "completed" and result.error is None


def test_failed_records_keep_hubspots_code_and_status(h: Harness) -> None:
    def answer(inputs: Inputs) -> UpdateOutcome:
        return UpdateOutcome(
            updated={"100"},
            not_found={"101"},
            failed={"102": RecordFailure("INVALID_OPTION", "bad option 'x'", 400)},
        )

    h.client.on_update = answer
    result = h.sync([row(f"c{i}@example.com") for i in range(4)])
    recs = {r["email_clean"]: r for r in h.records(result.run_id)}
    assert set(recs) == {"c1@example.com", "c2@example.com", "c3@example.com"}
    assert (recs["c1@example.com"]["outcome"], recs["c1@example.com"]["reason_code"]) == (
        "not_found",
        "OBJECT_NOT_FOUND",
    )
    failed = recs["c2@example.com"]
    assert (failed["outcome"], failed["reason_code"], failed["detail"], failed["http_status"]) == (
        "failed",
        "INVALID_OPTION",
        "bad option 'x'",
        400,
    )
    # HubSpot said nothing about 103: not silently counted as updated.
    assert (recs["c3@example.com"]["outcome"], recs["c3@example.com"]["reason_code"]) == (
        "failed",
        "NOT_SENT",
    )
    assert (result.counters.rows_updated, result.counters.rows_not_found, result.counters.rows_failed) == (
        1,
        1,
        2,
    )
    assert result.status == "completed_with_errors"
    assert not result.ok and not run_result_ok([result])


def test_all_null_properties_are_unchanged_and_not_sent(h: Harness) -> None:
    result = h.sync([row("c1@example.com", None, None), row("c2@example.com", None, 5)])
    assert h.client.updates == [[("102", {"score": "5"})]]  # a NULL property is left out, not cleared
    assert (result.counters.rows_unchanged, result.counters.rows_updated) == (1, 1)
    assert h.records(result.run_id) == []


def test_null_as_empty_clears_properties(h: Harness) -> None:
    result = h.sync(
        [row("c1@example.com", None, None), row("c2@example.com", None, 5)], {"null_as_empty": True}
    )
    assert h.client.updates == [
        [("101", {"firstname": "", "score": ""}), ("102", {"firstname": "", "score": "5"})]
    ]
    assert result.counters.rows_updated == 2 and result.counters.rows_unchanged == 0


def test_log_records_all_logs_updated_and_unchanged_rows_too(h: Harness) -> None:
    result = h.sync(
        [row("c1@example.com"), row("c2@example.com", None, None), row("nobody@example.com")],
        {"log_records": "all"},
    )
    assert h.by_email(result.run_id) == {
        "c1@example.com": ("updated", None),
        "c2@example.com": ("unchanged", "NO_PROPERTIES"),
        "nobody@example.com": ("not_found", "OBJECT_NOT_FOUND"),
    }
    assert "101" in h.records(result.run_id)[0]["detail"]


def test_values_reach_the_client_as_hubspot_strings(h: Harness) -> None:
    values = [
        (Decimal("10.50"), "10.50"),
        (True, "true"),
        (3.0, "3"),
        (0.1, "0.1"),
        (12345678901234567890, "12345678901234567890"),
        (dt.date(2024, 1, 2), "1704153600000"),
        (dt.datetime(2024, 1, 2, 3, 4, 5), "1704164645000"),
        ("  kept as is ", "  kept as is "),
    ]
    rows = [row(f"c{i}@example.com", "x", v) for i, (v, _) in enumerate(values)]
    h.sync(rows)
    sent = {rid: props["score"] for rid, props in h.client.updates[0]}
    assert sent == {str(100 + i): text for i, (_, text) in enumerate(values)}


@pytest.mark.parametrize("bad", [float("nan"), Decimal("Infinity"), object()])
def test_value_with_no_hubspot_form_fails_that_row_only(h: Harness, bad: Any) -> None:
    result = h.sync([row("c1@example.com", "x", bad), row("c2@example.com")])
    [rec] = h.records(result.run_id)
    assert (rec["email_clean"], rec["outcome"], rec["reason_code"]) == (
        "c1@example.com",
        "failed",
        "INVALID_VALUE",
    )
    assert h.client.sent_ids == ["102"]
    assert result.status == "completed_with_errors"


def test_two_emails_of_one_contact_send_it_once(h: Harness) -> None:
    h.client.contacts["alias@example.com"] = "101"
    result = h.sync([row("c1@example.com", "A"), row("alias@example.com", "B")])
    # One input per record id, or HubSpot rejects the whole batch.
    assert h.client.updates == [[("101", {"firstname": "A", "score": "1"})]]
    [rec] = h.records(result.run_id)
    assert (rec["email_clean"], rec["outcome"], rec["reason_code"]) == (
        "alias@example.com",
        "duplicate",
        "DUPLICATE_RECORD",
    )
    assert "101" in rec["detail"] and "c1@example.com" in rec["detail"]
    assert (result.counters.rows_updated, result.counters.rows_duplicate) == (1, 1)


def test_lookup_uses_the_clients_lower_case_keys(h: Harness) -> None:
    result = h.sync([row("C1@Example.com")])
    assert result.counters.rows_updated == 1
    assert h.client.sent_ids == ["101"]


# -- stops: the rest of the run is failed, never sent, never lost --------------------------------------------
def property_error(outcome: UpdateOutcome | None = None) -> PropertyError:
    return PropertyError(
        "POST /crm/v3/objects/contacts/batch/update: HubSpot rejected property 'score' "
        '(PROPERTY_DOESNT_EXIST): Property "score" does not exist',
        property_name="score",
        call="POST /crm/v3/objects/contacts/batch/update",
        status=400,
        code="PROPERTY_DOESNT_EXIST",
        outcome_so_far=outcome,
    )


def test_property_error_fails_the_run_and_every_later_row(h: Harness) -> None:
    def reject(inputs: Inputs) -> UpdateOutcome:
        raise property_error()

    h.client.on_update = reject
    run = h.new_run(push_size=2)
    run.announce()
    run.start()
    run.feed([row("c0@example.com"), row("c1@example.com"), row("c2@example.com")])
    run.feed([row("c3@example.com"), row("bad"), row("c3@example.com", rank=2)])
    assert run.stopped
    result = h.finish(run)
    # Batches overlap: the one behind the failing one may have done its lookup, never its update.
    assert len(h.client.updates) == 1 and len(h.client.reads) <= 2
    assert result.status == "failed"
    assert "score" in (result.error or "")
    assert h.run_row(result.run_id)["error"] == result.error
    codes = h.by_email(result.run_id)
    for email in ("c0@example.com", "c1@example.com", "c2@example.com", "c3@example.com"):
        assert codes[email] == ("failed", "PROPERTY_DOESNT_EXIST"), email
    # Rows that would never have been sent keep their own outcome.
    assert codes["bad"] == ("invalid", "INVALID_SYNTAX")
    assert (result.counters.rows_failed, result.counters.rows_invalid, result.counters.rows_duplicate) == (
        4,
        1,
        1,
    )
    assert {r["http_status"] for r in h.records(result.run_id) if r["outcome"] == "failed"} == {400}


def test_property_error_keeps_what_was_updated_before_it(h: Harness) -> None:
    h.client.on_update = lambda inputs: (_ for _ in ()).throw(property_error(UpdateOutcome(updated={"100"})))
    result = h.sync([row("c0@example.com"), row("c1@example.com")])
    assert (result.counters.rows_updated, result.counters.rows_failed) == (1, 1)
    assert h.by_email(result.run_id) == {"c1@example.com": ("failed", "PROPERTY_DOESNT_EXIST")}
    assert result.status == "failed"


def test_daily_limit_on_update_ends_the_run_cleanly(h: Harness) -> None:
    def limit(inputs: Inputs) -> UpdateOutcome:
        raise DailyLimitError(
            "429 DAILY",
            call="POST update",
            status=429,
            code="RATE_LIMITED",
            outcome_so_far=UpdateOutcome(updated={"100"}),
        )

    h.client.on_update = limit
    run = h.new_run(push_size=2)
    run.announce()
    run.start()
    run.feed([row("c0@example.com"), row("c1@example.com"), row("c2@example.com"), row("nobody@example.com")])
    result = h.finish(run)
    assert result.status == "failed"
    assert (result.error or "").startswith("daily_limit")
    recs = {r["email_clean"]: r for r in h.records(result.run_id)}
    assert set(recs) == {"c1@example.com", "c2@example.com", "nobody@example.com"}
    assert all(
        (r["outcome"], r["reason_code"], r["http_status"]) == ("failed", "DAILY_LIMIT", 429)
        for r in recs.values()
    )
    assert (result.counters.rows_updated, result.counters.rows_failed) == (1, 3)
    assert len(h.client.reads) == 1  # the rows after the stop were never looked up


def test_daily_limit_on_read(h: Harness) -> None:
    h.client.read_error = DailyLimitError("429 DAILY", call="POST read", status=429)
    result = h.sync([row("c0@example.com"), row("c1@example.com")])
    assert result.status == "failed" and (result.error or "").startswith("daily_limit")
    assert result.counters.rows_failed == 2
    assert h.client.updates == []


def test_read_failure_fails_the_buffered_rows(h: Harness) -> None:
    h.client.read_error = HubSpotError("POST read: 503 after 5 retries", call="POST read", status=503)
    result = h.sync([row("c0@example.com"), row("c1@example.com"), row("bad")])
    assert result.status == "failed"
    assert "503" in (result.error or "")
    assert h.by_email(result.run_id) == {
        "bad": ("invalid", "INVALID_SYNTAX"),
        "c0@example.com": ("failed", "HTTP_5XX"),
        "c1@example.com": ("failed", "HTTP_5XX"),
    }
    assert {r["http_status"] for r in h.records(result.run_id) if r["outcome"] == "failed"} == {503}
    assert h.client.updates == []


def test_callers_error_fails_what_is_buffered(h: Harness) -> None:
    run = h.new_run()
    run.announce()
    run.start()
    run.feed([row("c0@example.com"), row("c1@example.com")])
    result = h.finish(run, "reading contacts failed: connection lost")
    assert result.status == "failed" and result.error == "reading contacts failed: connection lost"
    assert set(h.by_email(result.run_id).values()) == {("failed", "RUN_FAILED")}
    assert h.client.updates == []


def test_unexpected_client_exception_never_loses_rows(h: Harness) -> None:
    def crash(inputs: Inputs) -> UpdateOutcome:
        raise RuntimeError("client bug")

    h.client.on_update = crash
    run = h.new_run(push_size=2)
    run.announce()
    run.start()
    run.feed([row("c0@example.com"), row("c1@example.com")])  # the engine absorbs it: the run stops
    result = h.finish(run)
    assert result.status == "failed" and "client bug" in (result.error or "")
    assert result.counters.rows_failed == 2
    assert set(h.by_email(result.run_id).values()) == {("failed", "INTERNAL_ERROR")}


# -- dry run ------------------------------------------------------------------------------------------
def test_dry_run_sends_nothing_and_says_so(h: Harness) -> None:
    result = h.sync(
        [row("c1@example.com"), row("nobody@example.com"), row("bad")],
        {"log_records": "all", "list_id": "7"},
        dry_run=True,
    )
    assert h.client.updates == [] and h.client.list_adds == []
    assert h.client.reads == [["c1@example.com", "nobody@example.com"]]  # reading tells update from not found
    assert result.dry_run and result.status == "completed"
    assert (result.error or "").startswith("dry run")
    assert h.run_row(result.run_id)["error"].startswith("dry run")
    recs = h.records(result.run_id)
    assert {r["outcome"] for r in recs} == {"invalid", "updated", "not_found"}
    assert all(r["detail"].startswith("dry run") for r in recs)
    assert "would update contact 101" in [r["detail"] for r in recs if r["outcome"] == "updated"][0]
    assert result.counters.rows_updated == 1 and result.counters.list_added == 0


def test_dry_run_without_a_client(h: Harness) -> None:
    result = h.sync([row("c1@example.com")], dry_run=True, client=None)
    assert result.counters.rows_read == 1
    assert result.dry_run


def test_a_real_run_needs_a_client(h: Harness) -> None:
    with pytest.raises(ValueError):
        h.new_run(client=None)


# -- lists, batching, request counts --------------------------------------------------------------------
def test_list_gets_only_the_updated_ids(h: Harness) -> None:
    h.client.on_update = lambda inputs: UpdateOutcome(
        updated={"100", "101", "102", "103"}, failed={"104": RecordFailure("INVALID_EMAIL", "no", 400)}
    )
    h.client.list_missing = {"103"}
    h.client.list_already = {"102"}
    result = h.sync(
        [row(f"c{i}@example.com") for i in range(5)] + [row("nobody@example.com")], {"list_id": 123}
    )
    assert h.client.list_adds == [("123", ["100", "101", "102", "103"])]
    assert (result.counters.list_added, result.counters.list_missing) == (3, 1)
    db = h.run_row(result.run_id)
    assert (db["list_added"], db["list_missing"]) == (3, 1)


def test_list_failure_fails_the_run_but_keeps_the_updates(h: Harness) -> None:
    def no_list(list_id: str, record_ids: Sequence[str]) -> ListOutcome:
        raise HubSpotError("PUT /crm/v3/lists/9/memberships/add: 404 list not found", call="PUT", status=404)

    h.client.add_to_list = no_list  # type: ignore[method-assign]
    run = h.new_run({"list_id": "9"}, push_size=2)
    run.announce()
    run.start()
    run.feed([row("c0@example.com"), row("c1@example.com"), row("c2@example.com")])
    result = h.finish(run)
    assert result.status == "failed" and "404" in (result.error or "")
    assert (result.counters.rows_updated, result.counters.rows_failed) == (2, 1)
    assert h.by_email(result.run_id) == {"c2@example.com": ("failed", "HTTP_404")}
    assert len(h.client.updates) == 1


def test_contacts_updated_before_an_error_still_join_the_list(h: Harness) -> None:
    def half(inputs: Inputs) -> UpdateOutcome:
        raise HubSpotError(
            "POST update: 503 after 5 retries",
            call="POST update",
            status=503,
            outcome_so_far=UpdateOutcome(updated={"100"}),
        )

    h.client.on_update = half
    result = h.sync([row("c0@example.com"), row("c1@example.com")], {"list_id": "9"})
    assert (result.counters.rows_updated, result.counters.rows_failed) == (1, 1)
    assert h.client.list_adds == [("9", ["100"])]


def test_no_list_call_without_list_id_or_updates(h: Harness) -> None:
    h.sync([row("c1@example.com")])
    h.sync([row("nobody@example.com")], {"list_id": "5"})
    assert h.client.list_adds == []


def test_rows_are_pushed_in_push_size_batches(h: Harness) -> None:
    run = h.new_run(push_size=3)
    run.announce()
    run.start()
    run.feed([row(f"c{i}@example.com") for i in range(5)])
    assert [len(b) for b in h.client.updates] == [3]  # pushed when the buffer filled, not at the chunk's end
    run.feed([row(f"c{i}@example.com") for i in range(5, 7)])
    result = h.finish(run)
    assert [len(b) for b in h.client.updates] == [3, 3, 1]
    assert [len(b) for b in h.client.reads] == [3, 3, 1]
    assert result.counters.rows_updated == 7
    assert result.counters.requests == 6  # this fake: one read and one update request per push


def test_requests_count_only_this_runs_calls(h: Harness) -> None:
    h.client.stats.add(requests=40, retries=3, rate_limited=2)  # another exposure of the same process
    run = h.new_run()
    run.announce()
    run.start()
    h.client.stats.add(retries=1, rate_limited=1)
    run.feed([row("c1@example.com")])
    result = h.finish(run)
    assert (result.counters.requests, result.counters.retries, result.counters.rate_limited) == (2, 1, 1)


def test_progress_callback_sees_the_run(h: Harness) -> None:
    seen: list[int] = []
    run = h.new_run(on_progress=lambda r: seen.append(r.counters.rows_read))
    run.announce()
    run.start()
    run.feed([row("c1@example.com"), row("c2@example.com")])
    h.finish(run)
    assert seen and seen[-1] == 2


# -- the runs row ---------------------------------------------------------------------------------------
def test_status_lifecycle_in_the_runs_table(h: Harness) -> None:
    run = h.new_run()
    run.announce()
    db = h.run_row(run.run.run_id)
    # started_at holds the queue time while waiting (so a killed process's waiting row can be found stale)
    assert db["status"] == "waiting" and db["started_at"] is not None
    assert (db["exposure_name"], db["relation"], db["trigger"]) == ("hs", RELATION, "cli")
    run.start()
    db = h.run_row(run.run.run_id)
    assert db["status"] == "running" and db["started_at"] is not None and db["finished_at"] is None
    run.feed([row("c1@example.com"), row("nobody@example.com")])
    assert h.run_row(run.run.run_id)["status"] == "running"
    result = h.finish(run)
    db = h.run_row(run.run.run_id)
    assert db["status"] == "completed" == result.status
    assert db["finished_at"] >= db["started_at"]
    assert (db["rows_read"], db["rows_updated"], db["rows_not_found"]) == (2, 1, 1)


def test_empty_model_completes_with_zero_rows(h: Harness) -> None:
    result = h.sync([])
    assert result.status == "completed"
    assert h.run_row(result.run_id)["rows_read"] == 0
    assert h.client.reads == [] and h.client.updates == []


def test_announce_marks_stale_runs_of_the_exposure_failed(h: Harness) -> None:
    log = RunLog(DuckTarget(h.conn), SCHEMA)
    log.insert_run(
        RunRow(
            "killed",
            None,
            "hs",
            RELATION,
            "cli",
            status="running",
            started_at=utcnow() - dt.timedelta(hours=7),
        )
    )
    log.insert_run(
        RunRow(
            "alive",
            None,
            "hs",
            RELATION,
            "cli",
            status="running",
            started_at=utcnow() - dt.timedelta(minutes=5),
        )
    )
    run = h.new_run()
    run.announce()
    assert h.run_row("killed")["status"] == "failed"
    assert "stale" in h.run_row("killed")["error"]
    assert h.run_row("alive")["status"] == "running"
    assert h.run_row(run.run.run_id)["status"] == "waiting"


def test_each_run_has_its_own_id_and_invocation(h: Harness) -> None:
    a = h.new_run(invocation_id="inv-1")
    b = h.new_run(invocation_id="inv-1")
    a.announce()
    b.announce()
    assert a.run.run_id != b.run.run_id
    assert h.run_row(a.run.run_id)["invocation_id"] == "inv-1"


# -- Ctrl-C and enumeration options ------------------------------------------------------------------
def test_cancel_stops_sending_lands_what_was_sent_and_fails_the_run_interrupted(h: Harness) -> None:
    cancel = threading.Event()
    run = h.new_run(push_size=3, cancel=cancel)
    run.announce()
    run.start()
    run.feed([row(f"c{i}@example.com") for i in range(3)])  # one batch pushed
    cancel.set()  # Ctrl-C
    run.feed([row(f"c{i}@example.com") for i in range(3, 6)] + [row(None)])
    result = h.finish(run)
    assert result.status == "failed" and result.error.startswith("interrupted")
    c = result.counters
    assert (c.rows_read, c.rows_updated, c.rows_failed, c.rows_invalid) == (7, 3, 3, 1)
    assert h.client.sent_ids == ["100", "101", "102"]  # nothing sent after the interrupt
    failed = {e: code for e, (o, code) in h.by_email(result.run_id).items() if o == "failed"}
    assert failed == {f"c{i}@example.com": "INTERRUPTED" for i in range(3, 6)}


def test_cancel_while_a_batch_is_in_flight_stops_the_batch_behind_it(h: Harness) -> None:
    cancel = threading.Event()
    gate = threading.Event()

    def slow_update(inputs: Inputs) -> UpdateOutcome:
        cancel.set()  # Ctrl-C arrives while this update is in flight
        gate.wait(5)
        return UpdateOutcome(updated={rid for rid, _ in inputs})

    h.client.on_update = slow_update
    run = h.new_run(push_size=2, cancel=cancel)
    run.announce()
    run.start()
    threading.Timer(0.5, gate.set).start()
    run.feed([row(f"c{i}@example.com") for i in range(6)])
    result = h.finish(run)
    assert result.status == "failed" and result.error.startswith("interrupted")
    # The in-flight update finished and counts; nothing after it was sent.
    assert h.client.sent_ids == ["100", "101"]
    assert (result.counters.rows_updated, result.counters.rows_failed) == (2, 4)


@pytest.mark.parametrize(
    ("value", "multiple", "ok"),
    [("lead", False, True), ("Lead", False, False), ("lead;customer", True, True), ("lead;vip", True, False)],
)
def test_enumeration_value_outside_the_options_fails_locally(
    h: Harness, value: str, multiple: bool, ok: bool
) -> None:
    run = h.new_run()
    run.plan = dataclasses.replace(
        run.plan, enumerations={"firstname": (frozenset({"lead", "customer"}), multiple)}
    )
    run.announce()
    run.start()
    run.feed([row("c1@example.com", first=value), row("c2@example.com", first="customer")])
    result = h.finish(run)
    assert result.counters.rows_updated == (2 if ok else 1)
    if not ok:
        [rec] = [r for r in h.records(result.run_id) if r["outcome"] == "failed"]
        assert (rec["email_clean"], rec["reason_code"]) == ("c1@example.com", "INVALID_OPTION")
        assert "firstname" in rec["detail"] and "customer, lead" in rec["detail"]
        assert [rid for rid, _ in h.client.updates[0]] == ["102"]  # the bad row never reached HubSpot


def test_a_stale_cached_id_whose_lookup_hits_the_daily_limit_is_failed_not_lost(h: Harness) -> None:
    # The cached id is gone (HubSpot says not found); looking its email up again ends the run (daily limit).
    h.client.contacts = {"b@example.com": "2"}
    h.client.on_update = lambda inputs: UpdateOutcome(
        updated={rid for rid, _ in inputs if rid != "1"}, not_found={"1"} & {rid for rid, _ in inputs}
    )
    h.client.read_error = DailyLimitError("daily limit", call="POST batch/read", status=429)
    run = h.new_run()
    stale = ("a@example.com", "a@example.com", 1, "1", "old-hash", "Ann", 1)
    known = ("b@example.com", "b@example.com", 1, "2", "old-hash", "Bob", 2)
    run.start()
    run.feed([stale, known])
    result = run.finish()
    c = result.counters
    assert c.holds() and (c.rows_updated, c.rows_failed) == (1, 1)
    assert result.status == "failed" and "daily_limit" in (result.error or "")
