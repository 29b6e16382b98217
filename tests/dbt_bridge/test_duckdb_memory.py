"""The standalone session bounds what DuckDB holds in its process, and gives the instance back as it was.

Real dbt sessions (dbt's parse, dbt-duckdb's connection) on DuckDB files; no HubSpot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pytest

from dbt_hubspot_sync.dbt_bridge import duckdb_memory, open_session
from dbt_hubspot_sync.dbt_bridge.duckdb_memory import MIB, bound_bytes, parse_size

# The rows query's shape where memory goes: a window over the whole relation (macros/sync_rows_query.sql).
WINDOW_SQL = (
    "select email, row_number() over (partition by email order by email, payload) as rank, payload"
    " from main.people"
)


def make_project(tmp: Path, rows: int = 0, settings: dict[str, str] | None = None, **output: Any) -> Path:
    """A dbt project on a DuckDB file holding `main.people` (`rows` rows); the profile as given."""
    project = tmp / "project"
    project.mkdir()
    db = tmp / "warehouse.duckdb"
    conn = duckdb.connect(str(db))
    conn.execute(
        "create table main.people as select 'p' || (i % 1000) || '@example.com' as email,"
        " repeat('x', 200) || i as payload from range(?) t(i)",
        [rows],
    )
    conn.close()
    (project / "dbt_project.yml").write_text(
        "name: memory_bound\nversion: '1.0.0'\nconfig-version: 2\nprofile: memory_bound\n", encoding="utf-8"
    )
    out: dict[str, Any] = {"type": "duckdb", "path": str(db), "threads": 1, **output}
    if settings:
        out["settings"] = settings
    profile = {"memory_bound": {"target": "dev", "outputs": {"dev": out}}}
    (project / "profiles.yml").write_text(json.dumps(profile), encoding="utf-8")
    return project


def setting(wh: Any, name: str) -> str:
    return str(wh.execute(f"select current_setting('{name}')")[0][0])


def default_limit() -> int:
    conn = duckdb.connect()
    try:
        value = parse_size(conn.execute("select current_setting('memory_limit')").fetchone()[0])
    finally:
        conn.close()
    assert value is not None
    return value


def test_parse_size_reads_duckdb_spellings() -> None:
    assert parse_size("244.1 MiB") == int(244.1 * MIB)
    assert parse_size("18.8 GiB") == int(18.8 * 1024**3)
    assert parse_size("134217728B") == 134217728
    assert parse_size("256MB") == 256_000_000
    assert parse_size("unlimited") is None
    assert bound_bytes(2) == 192 * MIB and bound_bytes(16) == 768 * MIB


def test_session_bounds_duckdb_memory_and_restores_the_default(tmp_path: Path) -> None:
    """Under DuckDB's default limit (the profile sets none) the session runs under the product's bound; an
    instance that outlives the session (keep_open) has its default back afterwards."""
    if default_limit() <= bound_bytes(4):
        pytest.skip("this machine's default DuckDB limit is already under the product's bound")
    project = make_project(tmp_path, keep_open=True)
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    with open_session(project, project) as session:
        wh = session.warehouse
        threads = int(setting(wh, "threads"))
        inside = parse_size(setting(wh, "memory_limit"))
        assert inside == bound_bytes(threads)
        env = DuckDBConnectionManager._ENV  # the instance dbt-duckdb keeps open past the session
    after = env.conn.execute("select current_setting('memory_limit')").fetchone()[0]
    assert parse_size(after) == default_limit()


def test_session_keeps_a_lower_limit_of_the_profile(tmp_path: Path) -> None:
    project = make_project(tmp_path, settings={"memory_limit": "100MB"})
    with open_session(project, project) as session:
        assert parse_size(setting(session.warehouse, "memory_limit")) == parse_size("95.3 MiB")


def test_session_without_a_temp_directory_is_not_bounded(tmp_path: Path) -> None:
    """DuckDB cannot spill without a temp directory: a lower limit would fail queries, so none is set."""
    if default_limit() <= bound_bytes(4):
        pytest.skip("this machine's default DuckDB limit is already under the product's bound")
    project = make_project(tmp_path, config_options={"temp_directory": ""})
    with open_session(project, project) as session:
        assert parse_size(setting(session.warehouse, "memory_limit")) == default_limit()


def test_read_that_runs_out_of_memory_under_the_bound_runs_again_under_the_users_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bound too small for the window (forced here): the read still returns every row, once, and the
    session's limit is the one it had before the product lowered it."""
    monkeypatch.setattr(duckdb_memory, "FLOOR_BYTES", 4 * MIB)
    monkeypatch.setattr(duckdb_memory, "PER_THREAD_BYTES", 1 * MIB)
    project = make_project(tmp_path, rows=200_000)
    with open_session(project, project) as session:
        wh = session.warehouse
        assert parse_size(setting(wh, "memory_limit")) == 4 * MIB  # the forced bound is in effect
        with pytest.raises(Exception, match="Out of Memory"):
            wh.execute(WINDOW_SQL)  # what the plain read would meet under it
        rows = [r for _names, chunk in wh.stream(WINDOW_SQL, 10_000) for r in chunk]
        assert len(rows) == 200_000
        assert sorted(r[2] for r in rows if r[1] == 1)[:1] == ["x" * 200 + "0"]
        assert len({r[0] for r in rows if r[1] == 1}) == 1000  # one winner per email
        assert parse_size(setting(wh, "memory_limit")) > 4 * MIB  # the user's limit again
