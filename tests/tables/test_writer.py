"""The writer queue (writer.py): one pusher per exposure at a time, on a real DuckDB file with one connection per
pusher; waiting, refusing with the holder named, a killed holder taken over, and mutual exclusion under a race."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import duckdb
import pytest

from dbt_hubspot_sync.tables.run_log import RunLog, RunRow
from dbt_hubspot_sync.tables.writer import WriterBusyError, WriterLease

from ..helpers import SCHEMA, DuckTarget, create_log_tables

WRITERS_DDL = (
    "create table if not exists {schema}.hubspot_sync_writers"
    " (exposure_name varchar, run_id varchar, phase varchar, ticket bigint, created_at timestamp)"
)
EXPOSURE = "newsletter"


class Locked(DuckTarget):
    """One DuckDB connection per pusher (as separate processes would have), safe across threads."""

    def __init__(self, conn: duckdb.DuckDBPyConnection) -> None:
        super().__init__(conn)
        self._lock = threading.Lock()

    def execute(self, sql, params=None):
        with self._lock:
            return super().execute(sql, params)


@pytest.fixture
def db(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect(str(tmp_path / "w.duckdb"))
    create_log_tables(conn)
    conn.execute(WRITERS_DDL.format(schema=SCHEMA))
    yield conn
    conn.close()


def pusher(db: duckdb.DuckDBPyConnection, *, runner: str | None = None) -> tuple[Locked, str]:
    """A run of EXPOSURE announced (`waiting`) on a connection of its own."""
    target = Locked(db.cursor())
    run = RunRow(str(uuid.uuid4()), None, EXPOSURE, '"db"."main"."audience"', "cli")
    if runner is not None:
        run.runner = runner
    RunLog(target, SCHEMA).insert_run(run)
    return target, run.run_id


def finish(target: Locked, run_id: str) -> None:
    target.execute("update main.hubspot_sync_runs set status = 'completed' where run_id = ?", [run_id])


def lease(target: Locked, run_id: str, **kw) -> WriterLease:
    return WriterLease(target, SCHEMA, EXPOSURE, run_id, **kw)


def test_a_lone_pusher_takes_the_lease_at_once(db) -> None:
    target, run_id = pusher(db)
    slept: list[float] = []
    lease(target, run_id, sleep=slept.append).acquire(0)
    assert slept == []
    assert db.execute("select phase, ticket from main.hubspot_sync_writers order by phase").fetchall() == [
        ("choosing", None),
        ("ticket", 1),
    ]


def test_the_second_pusher_waits_until_the_first_run_ends(db) -> None:
    first, first_id = pusher(db)
    lease(first, first_id).acquire(0)
    second, second_id = pusher(db)
    waits: list[str] = []

    def sleep(_seconds: float) -> None:  # the first run ends while the second waits
        finish(first, first_id)

    lease(second, second_id, sleep=sleep).acquire(60, on_wait=lambda h: waits.append(h.run_id))
    assert waits == [first_id]  # told once who it waited for


def test_after_the_bound_it_refuses_naming_the_running_run(db) -> None:
    first, first_id = pusher(db)
    first.execute("update main.hubspot_sync_runs set status = 'running' where run_id = ?", [first_id])
    lease(first, first_id).acquire(0)
    second, second_id = pusher(db)
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    with pytest.raises(WriterBusyError) as caught:
        lease(second, second_id, sleep=sleep, clock=lambda: now[0]).acquire(5)
    message = str(caught.value)
    assert first_id in message and "running" in message and socket.gethostname() in message
    assert "since 20" in message and "writer_wait_seconds" in message
    assert 5 <= now[0] < 7  # waited the bound, not much longer
    # The refused run left no ticket behind: it blocks nobody.
    assert db.execute(
        "select count(*) from main.hubspot_sync_writers where run_id = ?", [second_id]
    ).fetchall() == [(0,)]


def test_a_ticket_left_by_a_killed_process_is_taken_over(db) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    killed, killed_id = pusher(db, runner=f"{socket.gethostname()}:{dead.stdout.strip()}")
    lease(killed, killed_id).acquire(0)
    killed.execute("update main.hubspot_sync_runs set status = 'running' where run_id = ?", [killed_id])
    second, second_id = pusher(db)
    lease(second, second_id, sleep=lambda s: pytest.fail("waited for a dead process")).acquire(60)
    [(status, error)] = db.execute(
        "select status, error from main.hubspot_sync_runs where run_id = ?", [killed_id]
    ).fetchall()
    assert status == "failed" and error.startswith("stale")


def test_a_refused_pusher_does_not_block_the_next_one(db) -> None:
    first, first_id = pusher(db)
    lease(first, first_id).acquire(0)
    second, second_id = pusher(db)
    with pytest.raises(WriterBusyError):
        lease(second, second_id, sleep=lambda s: None, clock=iter([0.0, 0.0, 99.0, 99.0]).__next__).acquire(1)
    finish(first, first_id)
    third, third_id = pusher(db)
    lease(third, third_id, sleep=lambda s: pytest.fail("blocked by a refused run")).acquire(0)


def test_racing_pushers_send_one_at_a_time(db) -> None:
    """Eight pushers start together, each on its own connection: their critical sections never overlap, and
    every one of them gets its turn."""
    inside: list[str] = []
    overlaps: list[tuple[str, ...]] = []
    done: list[str] = []
    guard = threading.Lock()
    start = threading.Barrier(8)
    errors: list[BaseException] = []

    def push() -> None:
        try:
            target, run_id = pusher(db)
            start.wait()
            lease(target, run_id, sleep=lambda s: time.sleep(0.005)).acquire(60)
            with guard:
                inside.append(run_id)
                if len(inside) > 1:
                    overlaps.append(tuple(inside))
            time.sleep(0.02)  # "sending"
            with guard:
                inside.remove(run_id)
                done.append(run_id)
            finish(target, run_id)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=push) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert overlaps == []
    assert len(done) == 8


def test_a_pusher_still_choosing_its_ticket_is_waited_for(db) -> None:
    """Between reading the tickets and writing its own, a pusher may end up ahead: the others wait for it."""
    choosing, choosing_id = pusher(db)
    choosing.execute(
        "insert into main.hubspot_sync_writers values (?, ?, 'choosing', null, now()::timestamp)",
        [EXPOSURE, choosing_id],
    )
    other, other_id = pusher(db)
    waited: list[float] = []

    def sleep(seconds: float) -> None:
        waited.append(seconds)
        finish(choosing, choosing_id)

    lease(other, other_id, sleep=sleep).acquire(60)
    assert len(waited) == 1
