"""The pipeline's own steps, on DuckDB with a scripted HubSpot: the warehouse failing mid-run (disk full on the log
write), with and without a fresh connection to record the end; a push refused because another run holds the
exposure."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import duckdb
import pytest

from dbt_hubspot_sync.pipeline import Pipeline
from dbt_hubspot_sync.tables.run_log import RunLog, RunRow

from .helpers import SCHEMA, DuckTarget, FakeHubSpot, Receiver, create_log_tables, fetch_dicts, make_plan, row

EXTRA_DDL = (
    "create table if not exists main.hubspot_sync_state (exposure_name varchar, email_clean varchar,"
    " record_id varchar, properties_hash varchar, run_id varchar, synced_at timestamp, row_fingerprint varchar)",
    "create table if not exists main.hubspot_sync_checks (exposure_name varchar, kind varchar,"
    " checked_until timestamp, run_id varchar, recorded_at timestamp)",
    "create table if not exists main.hubspot_sync_imports (exposure_name varchar, run_id varchar,"
    " import_name varchar, import_id varchar, phase varchar, file_path varchar, file_rows bigint,"
    " detail varchar, logged_at timestamp)",
    "create table if not exists main.hubspot_sync_writers"
    " (exposure_name varchar, run_id varchar, phase varchar, ticket bigint, created_at timestamp)",
)


class Target(DuckTarget):
    """The pipeline's log target; `fail_on` makes matching statements fail as a full disk would."""

    def __init__(self, conn: duckdb.DuckDBPyConnection) -> None:
        super().__init__(conn)
        self.fail_on: str | None = None

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple]:
        if self.fail_on and self.fail_on in sql:
            raise OSError(28, "No space left on device")
        return super().execute(sql, params)

    def create_log_tables(self, schema: str) -> None:
        create_log_tables(self.conn, schema)
        for ddl in EXTRA_DDL:
            self.conn.execute(ddl)


@pytest.fixture
def conn() -> Iterator[duckdb.DuckDBPyConnection]:
    c = duckdb.connect()
    yield c
    c.close()


def contacts(n: int) -> dict[str, str]:
    return {f"c{i}@example.com": str(100 + i) for i in range(n)}


def pipeline(target: Target, client: FakeHubSpot, *, reconnect: Any = None) -> Pipeline:
    return Pipeline(target, client, trigger="cli", reconnect=reconnect, describe="warehouse (duckdb, main)")


def runs(conn: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    return fetch_dicts(conn, "select * from main.hubspot_sync_runs")


def test_disk_full_on_the_record_log_write_fails_the_run_through_a_fresh_connection(conn) -> None:
    target, client = Target(conn), FakeHubSpot(contacts(5))

    @contextmanager
    def fresh() -> Iterator[DuckTarget]:
        yield DuckTarget(conn)  # the same database through a connection that works

    pipe = pipeline(target, client, reconnect=fresh)
    [plan] = pipe.prepare([make_plan()], preflight=False)
    push = pipe.begin(pipe.announce(plan))
    target.fail_on = "hubspot_sync_record_log"  # from now on the log write hits a full disk
    push.feed([row(f"c{i}@example.com") for i in range(5)] + [row("nobody@example.com")])
    result = push.finish()

    assert result.status == "failed"
    assert result.error.startswith("warehouse_lost: warehouse (duckdb, main): insert on hubspot_sync_record_log")
    assert "No space left on device" in result.error
    assert client.sent_ids, "the updates were sent before the log write broke"
    c = result.counters
    assert (c.rows_read, c.rows_updated, c.rows_not_found) == (6, 5, 1)
    assert c.rows_read == c.outcomes()
    [logged] = runs(conn)
    assert (logged["status"], logged["error"], logged["rows_updated"]) == ("failed", result.error, 5)
    assert logged["finished_at"] is not None
    assert pipe.lost is not None  # later runs of this pipeline are not started


def test_without_a_fresh_connection_the_row_is_left_for_the_next_run_to_mark_stale(conn) -> None:
    target, client = Target(conn), FakeHubSpot(contacts(3))

    @contextmanager
    def still_down() -> Iterator[DuckTarget]:
        raise OSError("connection refused")
        yield  # pragma: no cover

    pipe = pipeline(target, client, reconnect=still_down)
    [plan] = pipe.prepare([make_plan()], preflight=False)
    run = pipe.announce(plan)
    push = pipe.begin(run)
    target.fail_on = "hubspot_sync_"  # every write of the log tables fails
    push.feed([row(f"c{i}@example.com") for i in range(3)])
    result = push.finish()
    assert result.status == "failed" and "the next run marks it stale" in result.error
    [logged] = runs(conn)
    assert logged["status"] == "running"  # not updated: the stale-run rule ends it
    # The next run on this host sees the process alive (this test's), so only age would end it: simulate a
    # killed process by naming another pid that does not exist.
    conn.execute("update main.hubspot_sync_runs set runner = 'elsewhere:1' , started_at = '2000-01-01'")
    assert RunLog(DuckTarget(conn), SCHEMA).fail_stale_runs(plan.exposure) == 1


def test_a_push_refused_while_another_run_holds_the_exposure(conn) -> None:
    target, client = Target(conn), FakeHubSpot(contacts(3))
    pipe = pipeline(target, client)
    [plan] = pipe.prepare([make_plan({"writer_wait_seconds": 0})], preflight=False)
    holder = RunRow("holder-run", None, plan.exposure, plan.relation, "post_hook", status="running")
    RunLog(target, SCHEMA).insert_run(holder)
    target.execute(
        "insert into main.hubspot_sync_writers values (?, 'holder-run', 'ticket', 1, now()::timestamp)",
        [plan.exposure],
    )
    push = pipe.begin(pipe.announce(plan))
    push.feed([row("c0@example.com")])
    result = push.finish()
    assert result.status == "failed" and result.error.startswith("writer_busy: exposure 'hs'")
    assert "holder-run" in result.error
    assert client.reads == [] and client.updates == []  # nothing was sent
    assert result.counters.rows_read == 0
    mine = [r for r in runs(conn) if r["run_id"] != "holder-run"]
    assert [(r["status"], r["error"]) for r in mine] == [("failed", result.error)]


@pytest.mark.parametrize("reconnects", [True, False], ids=["fresh connection", "still down"])
def test_a_run_ended_by_the_warehouse_going_away_is_notified_like_any_end(
    conn, reconnects: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver = Receiver()
    monkeypatch.setenv("TEST_HUBSPOT_SYNC_WEBHOOK", receiver.url)
    target, client = Target(conn), FakeHubSpot(contacts(3))

    @contextmanager
    def fresh() -> Iterator[DuckTarget]:
        if not reconnects:
            raise OSError("connection refused")
        yield DuckTarget(conn)

    try:
        pipe = pipeline(target, client, reconnect=fresh)
        [plan] = pipe.prepare([make_plan({"notify": {"webhook_env": "TEST_HUBSPOT_SYNC_WEBHOOK"}})], preflight=False)
        push = pipe.begin(pipe.announce(plan))
        target.fail_on = "hubspot_sync_record_log"
        push.feed([row(f"c{i}@example.com") for i in range(3)] + [row("nobody@example.com")])
        result = push.finish()
    finally:
        receiver.close()
    assert result.status == "failed" and result.error.startswith("warehouse_lost:")
    [body] = receiver.bodies  # one notification, as a gated-out or a failed run gets
    assert (body["status"], body["run_id"], body["error"]) == ("failed", result.run_id, result.error)
    assert body["rows_read"] == 4 and body["rows_updated"] == 3
