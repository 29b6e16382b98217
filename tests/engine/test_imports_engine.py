"""The import path of a run (engine/imports.py) against the sandbox, on a DuckDB log: update-only imports (an
unknown email never becomes a contact), one outcome per row from HubSpot's error pages, files split at the
account's row limit, a FAILED import resent next run, the daily limits (auto falls back to batch calls, import
stops), rows an import cannot apply sent by batch calls in the same run, list membership, a run stopped while
HubSpot processes its import, whose next run lands it instead of importing twice, the record ids of imported
contacts remembered (a later change is an update by id), and an import run on an append-only warehouse (Spark's
layout, behind the pipeline's guard)."""

from __future__ import annotations

import math
import threading
from collections import Counter
from dataclasses import fields
from typing import Any

import duckdb
import pytest

from dbt_hubspot_sync.engine import SyncRun
from dbt_hubspot_sync.engine import imports as engine_imports
from dbt_hubspot_sync.hubspot import HubSpotClient, RateLimiter
from dbt_hubspot_sync.sandbox import Sandbox, SandboxConfig
from dbt_hubspot_sync.sandbox.imports import imports_of
from dbt_hubspot_sync.tables.log_target import Guarded
from dbt_hubspot_sync.tables.run_log import RUN_COLUMNS, Counters, RunLog
from dbt_hubspot_sync.tables.state import STATE_COLUMNS, SyncState
from tests.helpers import SCHEMA, DuckTarget, create_log_tables, fetch_dicts, make_plan

KNOWN = [f"k{i}@example.com" for i in range(6)]
IMPORT_PATH = "/crm/v3/imports"
UPDATE_PATH = "/crm/v3/objects/contacts/batch/update"
READ_PATH = "/crm/v3/objects/contacts/batch/read"
STATE_DDL = (
    ", ".join(f"{name} varchar" for name in ["exposure_name", *(n for n, _ in STATE_COLUMNS), "run_id"])
    + ", synced_at timestamp"
)


def _extra_tables(conn: duckdb.DuckDBPyConnection) -> None:
    if conn.execute(
        "select count(*) from information_schema.tables where table_name = 'hubspot_sync_runs'"
        " and table_type = 'BASE TABLE'"
    ).fetchone()[0]:
        conn.execute(f"alter table {SCHEMA}.hubspot_sync_runs add column if not exists import_ids varchar")
    conn.execute(f"create table if not exists {SCHEMA}.hubspot_sync_state ({STATE_DDL})")
    conn.execute(
        f"create table if not exists {SCHEMA}.hubspot_sync_imports (exposure_name varchar, run_id varchar,"
        " import_name varchar, import_id varchar, phase varchar, file_path varchar, file_rows bigint,"
        " detail varchar, logged_at timestamp)"
    )


def _append_only_tables(conn: duckdb.DuckDBPyConnection) -> None:
    """Spark's layout of the tables a run writes (macros/log_tables_ddl.sql's spark variant, as DuckDB reads it):
    run events and state versions behind views of the latest."""
    types = {f.name: "bigint" for f in fields(Counters)}
    types.update(started_at="timestamp", finished_at="timestamp")
    columns = ", ".join(f"{c} {types.get(c, 'varchar')}" for c in RUN_COLUMNS)
    latest = "select *, row_number() over (partition by {key} order by {order}) as n from {s}.{table}"
    run_order = "case status when 'waiting' then 0 when 'running' then 1 else 2 end desc, event_at desc"
    for ddl in (
        f"create table {{s}}.hubspot_sync_run_events ({columns}, import_ids varchar, event_at timestamp)",
        "create view {s}.hubspot_sync_runs as select * exclude (n) from ("
        + latest.format(key="run_id", order=run_order, s="{s}", table="hubspot_sync_run_events")
        + ") where n = 1",
        f"create table {{s}}.hubspot_sync_state_versions ({STATE_DDL})",
        "create view {s}.hubspot_sync_state as select * exclude (n) from ("
        + latest.format(
            key="exposure_name, email_clean",
            order="synced_at desc, case when properties_hash is null then 0 else 1 end desc",
            s="{s}",
            table="hubspot_sync_state_versions",
        )
        + ") where n = 1 and properties_hash is not null",
    ):
        conn.execute(ddl.format(s=SCHEMA))


class AppendOnlyTarget(DuckTarget):
    """A DuckDB target that, like Spark's parquet tables, refuses UPDATE and DELETE."""

    append_only = True

    def execute(self, sql: str, params: Any = None) -> list[tuple]:
        verb = sql.split()[0].upper()
        if verb in ("UPDATE", "DELETE"):
            raise RuntimeError(f"[UNSUPPORTED_FEATURE.TABLE_OPERATION] does not support {verb} TABLE")
        return super().execute(sql, params)


class World:
    """A sandbox portal, a client on it and a DuckDB log with the state: runs SyncRuns of the `hs` exposure.
    `append_only`: Spark's layout, written through the pipeline's guard (log_target.Guarded)."""

    def __init__(self, tmp_path: Any, append_only: bool = False, **sandbox: Any) -> None:
        contacts = [{"email": e, "firstname": "Old", "score": "0"} for e in KNOWN]
        self.sb = Sandbox(SandboxConfig(contacts=contacts, rate_max=1000, **sandbox)).start()
        imports_of(self.sb).cfg.rows_per_second = 1e6
        self.client = HubSpotClient("sandbox-token", self.sb.url, limiter=RateLimiter(1000, 10_000))
        self.conn = duckdb.connect(":memory:")
        if append_only:
            create_log_tables(self.conn)
            self.conn.execute(f"drop table {SCHEMA}.hubspot_sync_runs")
            _append_only_tables(self.conn)
            _extra_tables(self.conn)
            self.target: Any = Guarded(AppendOnlyTarget(self.conn), "the test warehouse")
        else:
            create_log_tables(self.conn)
            _extra_tables(self.conn)
            self.target = DuckTarget(self.conn)

    def run(
        self,
        rows: list[tuple[Any, ...]],
        meta: dict[str, Any] | None = None,
        *,
        expected: int | None = None,
        cancel: threading.Event | None = None,
        state_join: bool = True,
    ) -> SyncRun:
        plan = make_plan({"push": "import", **(meta or {})})
        run = SyncRun(
            plan,
            RunLog(self.target, SCHEMA),
            self.client,
            trigger="cli",
            state=SyncState(self.target, SCHEMA),
            cancel=cancel,
        )
        run.announce()
        run.start()
        run.rows_expected = expected
        run.feed([self._joined(r) if state_join else r for r in rows])
        run.finish()
        assert run.counters.holds(), run.counters
        return run

    def _joined(self, r: tuple[Any, ...]) -> tuple[Any, ...]:
        """The row with its hubspot_sync_state columns, as the rows query joins them."""
        found = self.conn.execute(
            f"select record_id, properties_hash from {SCHEMA}.hubspot_sync_state where email_clean = ?",
            [r[1]],
        ).fetchall()
        return (*r[:3], *(found[0] if found else (None, None)), *r[5:])

    def outcomes(self, run: SyncRun) -> dict[str, tuple[str, str | None]]:
        rows = fetch_dicts(
            self.conn, f"select * from {SCHEMA}.hubspot_sync_record_log where run_id = ?", [run.run.run_id]
        )
        return {r["email_clean"]: (r["outcome"], r["reason_code"]) for r in rows}

    def runs_row(self, run: SyncRun) -> dict[str, Any]:
        [row] = fetch_dicts(
            self.conn, f"select * from {SCHEMA}.hubspot_sync_runs where run_id = ?", [run.run.run_id]
        )
        return row

    def calls(self) -> Counter[str]:
        return Counter(f"{e['method']} {e['path'].split('?')[0]}" for e in self.sb.requests_log())

    def contact(self, email: str) -> dict[str, str]:
        return next(c["properties"] for c in self.sb.contacts() if c["properties"]["email"] == email)

    def close(self) -> None:
        self.client.close()
        self.sb.stop()
        self.conn.close()


@pytest.fixture
def world(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("HUBSPOT_SYNC_SPOOL_DIR", str(tmp_path / "spool"))
    monkeypatch.setattr(engine_imports, "POLL_FIRST_S", 0.02)
    monkeypatch.setattr(engine_imports, "POLL_MAX_S", 0.05)
    worlds: list[World] = []

    def make(**sandbox: Any) -> World:
        worlds.append(World(tmp_path, **sandbox))
        return worlds[-1]

    yield make
    for w in worlds:
        w.close()


def r(email: str, first: Any = "New", score: Any = 7) -> tuple[Any, ...]:
    return (email, email, 1, None, None, first, score)


def test_update_only_import_never_creates_and_counts_every_row(world: Any) -> None:
    w = world()
    rows = [r(e) for e in KNOWN[:4]] + [r("stranger@example.com"), r("other@example.org")]
    run = w.run(rows)
    c = run.counters
    assert (c.rows_read, c.rows_updated, c.rows_not_found, c.rows_failed) == (6, 4, 2, 0)
    assert run.result.status == "completed"
    assert w.outcomes(run) == {
        "stranger@example.com": ("not_found", "OBJECT_NOT_FOUND"),
        "other@example.org": ("not_found", "OBJECT_NOT_FOUND"),
    }
    assert w.contact("k0@example.com")["firstname"] == "New"
    assert w.sb.stats()["contacts_created"] == 0 and len(w.sb.contacts()) == len(KNOWN)
    assert w.calls()[f"POST {IMPORT_PATH}"] == 1 and w.calls()[f"POST {UPDATE_PATH}"] == 0
    [import_id] = w.runs_row(run)["import_ids"].split(",")
    assert any(e["path"].startswith(f"{IMPORT_PATH}/{import_id}/errors") for e in w.sb.requests_log())
    # The state holds the confirmed rows only, with the record ids read by email once the import landed (an
    # import names none: one batch read of the 4 updated, none of the misses); a rerun sends nothing.
    state = w.conn.execute(f"select email_clean, record_id, properties_hash from {SCHEMA}.hubspot_sync_state")
    rows_state = state.fetchall()
    ids = {c["properties"]["email"]: c["id"] for c in w.sb.contacts()}
    assert {e: rid for e, rid, h in rows_state if h != "not_found"} == {e: ids[e] for e in KNOWN[:4]}
    assert all(rid is None for _, rid, h in rows_state if h == "not_found")
    assert w.calls()[f"POST {READ_PATH}"] == 1
    again = w.run(rows)
    assert again.counters.rows_unchanged == 4 and again.counters.rows_updated == 0
    assert again.counters.rows_not_found == 2


def test_rejected_rows_fail_with_hubspots_error_type_and_message(world: Any) -> None:
    w = world(number_properties=("score",))
    run = w.run([r(KNOWN[0]), r(KNOWN[1], score="lots"), r("nobody@example.com")])
    assert w.outcomes(run) == {
        "k1@example.com": ("failed", "COULD_NOT_PARSE_NUMBER"),
        "nobody@example.com": ("not_found", "OBJECT_NOT_FOUND"),
    }
    detail = w.conn.execute(
        f"select detail from {SCHEMA}.hubspot_sync_record_log where email_clean = 'k1@example.com'"
    ).fetchone()[0]
    assert "score" in detail and "number" in detail
    assert run.result.status == "completed_with_errors"
    assert w.contact("k1@example.com")["firstname"] == "Old"  # HubSpot applied nothing of that row
    assert w.contact("k0@example.com")["firstname"] == "New"


def test_files_are_split_at_the_row_limit(world: Any) -> None:
    w = world()
    rows = [r(e) for e in KNOWN] + [r("x@example.com")]
    run = w.run(rows, {"import_limits": {"file_rows": 3}})
    assert w.calls()[f"POST {IMPORT_PATH}"] == 3  # 3 + 3 + 1 rows
    assert len(w.runs_row(run)["import_ids"].split(",")) == 3
    assert (run.counters.rows_updated, run.counters.rows_not_found) == (6, 1)
    assert {imports_of(w.sb).get(int(i)).rows for i in w.runs_row(run)["import_ids"].split(",")} == {3, 1}


def test_a_failed_import_fails_its_rows_and_the_next_run_resends_them(world: Any) -> None:
    w = world()
    imports_of(w.sb).cfg.fail_next = 1
    rows = [r(e) for e in KNOWN[:3]]
    first = w.run(rows)
    assert first.counters.rows_failed == 3 and first.result.status == "completed_with_errors"
    assert set(w.outcomes(first).values()) == {("failed", "IMPORT_FAILED")}
    assert w.contact("k0@example.com")["firstname"] == "Old"
    second = w.run(rows)
    assert second.counters.rows_updated == 3 and w.contact("k0@example.com")["firstname"] == "New"


def test_over_the_daily_limits_auto_falls_back_to_batch_calls(world: Any) -> None:
    w = world()
    rows = [r(e) for e in KNOWN[:3]]
    run = w.run(
        rows, {"push": "auto", "import_threshold_rows": 2, "import_limits": {"daily_imports": 0}}, expected=3
    )
    assert run.counters.rows_updated == 3 and run.result.status == "completed"
    assert w.calls()[f"POST {IMPORT_PATH}"] == 0 and w.calls()[f"POST {UPDATE_PATH}"] == 1


def test_over_the_daily_limits_push_import_stops_with_a_clear_message(world: Any) -> None:
    w = world()
    w.run([r(KNOWN[0])], {"import_limits": {"daily_rows": 3}})  # 1 row imported today
    run = w.run([r(e) for e in KNOWN[1:4]], {"import_limits": {"daily_rows": 3}})
    assert run.result.status == "failed" and run.result.error.startswith("import_limit:")
    assert "1 rows in the last 24 hours" in run.result.error
    assert set(w.outcomes(run).values()) == {("failed", "IMPORT_LIMIT")}
    assert w.calls()[f"POST {IMPORT_PATH}"] == 1


def test_auto_below_the_threshold_uses_batch_calls(world: Any) -> None:
    w = world()
    run = w.run([r(e) for e in KNOWN[:3]], {"push": "auto"})  # threshold 50,000
    assert run.counters.rows_updated == 3 and w.calls()[f"POST {IMPORT_PATH}"] == 0


def test_rows_an_import_cannot_apply_go_through_batch_calls(world: Any) -> None:
    w = world()
    meta = {"null_as_empty": True}
    run = w.run([r(KNOWN[0], first=None), r(KNOWN[1]), r(KNOWN[2])], meta)
    assert run.counters.rows_updated == 3
    assert "firstname" not in w.contact("k0@example.com")  # cleared, by batch/update
    assert w.contact("k1@example.com")["firstname"] == "New"
    assert w.calls()[f"POST {IMPORT_PATH}"] == 1 and w.calls()[f"POST {UPDATE_PATH}"] == 1
    [imported] = imports_of(w.sb).jobs.values()
    assert imported.rows == 2


def test_lifecycle_stage_changes_go_through_batch_calls(world: Any) -> None:
    w = world()
    meta = {"properties": {"firstname": "lifecyclestage", "score": "score"}}
    run = w.run([r(KNOWN[0], first="subscriber"), r(KNOWN[1], first=None)], meta)
    assert run.counters.rows_updated == 2
    assert w.contact("k0@example.com")["lifecyclestage"] == "subscriber"
    assert w.calls()[f"POST {UPDATE_PATH}"] == 1 and w.calls()[f"POST {IMPORT_PATH}"] == 1


def test_imported_contacts_join_the_list(world: Any) -> None:
    w = world()
    list_id = w.sb.app.store.create_list("audience", "0-1", "MANUAL")["listId"]
    run = w.run([r(e) for e in KNOWN[:3]] + [r("nobody@example.com")], {"list_id": list_id})
    assert sorted(w.sb.list_members(list_id)) == ["1", "2", "3"]
    assert run.counters.list_added == 3 and run.counters.rows_not_found == 1
    assert any("/memberships/add-from/" in e["path"] for e in w.sb.requests_log())


def test_a_run_stopped_while_its_import_processes_is_landed_by_the_next(world: Any) -> None:
    w = world()
    imports_of(w.sb).cfg.rows_per_second = 20  # 6 rows: ~0.3 s at HubSpot
    cancel = threading.Event()
    timer = threading.Timer(0.1, cancel.set)
    timer.start()
    rows = [r(e) for e in KNOWN]
    first = w.run(rows, cancel=cancel)
    timer.join()
    assert first.result.status == "failed"
    assert set(w.outcomes(first).values()) == {("failed", "IMPORT_PENDING")}
    assert imports_of(w.sb).wait_idle(10)
    second = w.run(rows)  # lands the first run's import: its rows are unchanged, nothing is imported again
    assert second.counters.rows_unchanged == 6 and second.counters.rows_updated == 0
    assert w.calls()[f"POST {IMPORT_PATH}"] == 1
    phases = w.conn.execute(
        f"select phase, detail from {SCHEMA}.hubspot_sync_imports order by logged_at"
    ).fetchall()
    assert [p for p, _ in phases] == ["starting", "started", "landed"] and phases[-1][1].startswith(
        "recovered"
    )


def test_without_the_crm_import_scope_auto_uses_batch_calls_and_import_stops(world: Any) -> None:
    w = world()
    w.sb.add_token("no-import", {"crm.objects.contacts.read", "crm.objects.contacts.write"})
    w.client = HubSpotClient("no-import", w.sb.url, limiter=RateLimiter(1000, 10_000))
    rows = [r(e) for e in KNOWN[:3]]
    auto = w.run(rows, {"push": "auto", "import_threshold_rows": 2}, expected=3)
    assert auto.result.status == "completed" and auto.counters.rows_updated == 3
    assert w.calls()[f"POST {UPDATE_PATH}"] == 1
    stopped = w.run([r(e, first="Newer") for e in KNOWN[:3]])
    assert stopped.result.status == "failed" and "crm.import" in stopped.result.error
    assert set(w.outcomes(stopped).values()) == {("failed", "MISSING_SCOPES")}


def test_a_canceled_import_fails_its_rows_which_the_next_run_resends(world: Any) -> None:
    w = world()
    state = imports_of(w.sb)
    state.cfg.rows_per_second = 5  # slow enough to be canceled mid-way

    def cancel_when_processing() -> None:
        while not any(j.state == "PROCESSING" for j in state.jobs.values()):
            threading.Event().wait(0.01)
        state.cancel(next(iter(state.jobs.values())))

    canceller = threading.Thread(target=cancel_when_processing)
    canceller.start()
    rows = [r(e) for e in KNOWN[:4]]
    first = w.run(rows)
    canceller.join()
    assert set(w.outcomes(first).values()) == {("failed", "IMPORT_CANCELED")}
    assert first.result.status == "completed_with_errors"
    state.cfg.rows_per_second = 1e6
    second = w.run(rows)
    assert second.counters.rows_updated == 4 and w.contact("k3@example.com")["firstname"] == "New"


def test_an_import_run_on_an_append_only_warehouse_completes_behind_the_pipelines_guard(world: Any) -> None:
    """Spark refuses UPDATE: the run asks the guarded target (as the pipeline hands it over) whether it is
    append-only, and never updates the runs row for its import ids (else the import is sent, then every row fails
    warehouse_lost)."""
    w = world(append_only=True)
    rows = [r(e) for e in KNOWN[:3]] + [r("stranger@example.com")]
    run = w.run(rows)
    assert run.result.status == "completed", run.result.error
    c = run.counters
    assert (c.rows_updated, c.rows_not_found, c.rows_failed) == (3, 1, 0)
    assert w.runs_row(run)["status"] == "completed" and w.runs_row(run)["rows_updated"] == 3
    assert w.calls()[f"POST {IMPORT_PATH}"] == 1
    written = w.target._target.statements
    assert written and not [q for q in written if q.split()[0].lower() in ("update", "delete")]
    again = w.run(rows)  # the state's versions hold what the import confirmed, with the ids read after it
    c = again.counters
    assert (c.rows_unchanged, c.rows_updated, c.rows_not_found) == (3, 0, 1)


def test_a_later_change_of_imported_contacts_is_an_update_by_id_without_a_lookup(world: Any) -> None:
    w = world()
    w.run([r(e) for e in KNOWN])
    before = w.calls()
    changed = w.run([r(e, first="Changed") for e in KNOWN], {"push": "auto"})  # below the threshold: batch
    assert changed.counters.rows_updated == len(KNOWN)
    assert w.calls() - before == Counter({f"POST {UPDATE_PATH}": math.ceil(len(KNOWN) / 100)})
    assert {w.contact(e)["firstname"] for e in KNOWN} == {"Changed"}


def test_ids_that_cannot_be_read_leave_the_import_standing(world: Any) -> None:
    w = world()
    w.sb.add_token("no-read", {"crm.import", "crm.objects.contacts.write"})
    w.client = HubSpotClient("no-read", w.sb.url, limiter=RateLimiter(1000, 10_000))
    run = w.run([r(e) for e in KNOWN[:3]])
    assert run.result.status == "completed" and run.counters.rows_updated == 3
    state = w.conn.execute(f"select record_id, properties_hash from {SCHEMA}.hubspot_sync_state").fetchall()
    assert len(state) == 3 and all(rid is None and digest for rid, digest in state)
    assert w.run([r(e) for e in KNOWN[:3]]).counters.rows_unchanged == 3
