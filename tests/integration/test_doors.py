"""`dbt-hubspot-sync run -- <dbt args>` pushes the relation dbt built: the target, profile, project and vars come
from the dbt arguments (short flags and DBT_* variables included), and wrapper options that contradict them are a
usage error. On PostgreSQL, with a profile whose default target is DuckDB and with one whose default target is
another PostgreSQL schema.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from dbt_hubspot_sync.doors.cli import EXIT_OK, EXIT_USAGE, main
from dbt_hubspot_sync.sandbox import Sandbox

from .helpers import Example, assert_invariant, calls, make_example

pytestmark = pytest.mark.dbt


@pytest.fixture
def pg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Example:
    """The example seeded on PostgreSQL; the profile's default target stays `dev` (DuckDB, a file in tmp)."""
    ex = make_example("postgres", tmp_path, monkeypatch)
    monkeypatch.setenv("DBT_DUCKDB_PATH", str(tmp_path / "default_target.duckdb"))
    return ex


def wrapper(ex: Example, *dbt: str, **ours: str) -> int:
    args = ["run", "--project-dir", str(ex.project_dir), "--profiles-dir", str(ex.project_dir)]
    for key, value in ours.items():
        args += [f"--{key.replace('_', '-')}", value]
    return main([*args, "--", *dbt])


def pushed_runs(ex: Example) -> list[tuple]:
    return ex.query("select trigger, status, relation, rows_updated from {schema}.hubspot_sync_runs")


def assert_pushed_from(ex: Example, sandbox: Sandbox) -> None:
    [(trigger, status, relation, updated)] = pushed_runs(ex)
    assert (trigger, status) == ("dbt_run", "completed")
    assert f'"{ex.schema}"' in relation and "hubspot_contacts" in relation
    assert updated > 0 and calls(sandbox, "batch/update") > 0
    assert_invariant(ex)


@pytest.mark.postgres
def test_run_with_a_short_target_flag_pushes_the_target_dbt_built(
    pg: Example, hubspot_env: Sandbox, tmp_path: Path
) -> None:
    assert wrapper(pg, "run", "-t", "pg") == EXIT_OK
    assert_pushed_from(pg, hubspot_env)
    # The profile's default target (DuckDB) was never opened by the pusher.
    assert not (tmp_path / "default_target.duckdb").exists()


@pytest.mark.postgres
def test_build_with_a_long_target_flag(pg: Example, hubspot_env: Sandbox) -> None:
    assert wrapper(pg, "build", "--target", "pg") == EXIT_OK
    assert_pushed_from(pg, hubspot_env)


@pytest.mark.postgres
def test_dbt_target_from_the_environment(
    pg: Example, hubspot_env: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DBT_TARGET", "pg")
    assert wrapper(pg, "run") == EXIT_OK
    assert_pushed_from(pg, hubspot_env)


@pytest.mark.postgres
def test_wrapper_target_applies_when_the_dbt_arguments_name_none(pg: Example, hubspot_env: Sandbox) -> None:
    assert wrapper(pg, "run", target="pg") == EXIT_OK
    assert_pushed_from(pg, hubspot_env)


@pytest.mark.postgres
def test_contradicting_targets_are_a_usage_error_naming_both(
    pg: Example, hubspot_env: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    assert wrapper(pg, "run", "--target", "pg", target="dev") == EXIT_USAGE
    err = capsys.readouterr().err
    assert "--target dev" in err and "--target pg" in err
    assert hubspot_env.stats()["requests"] == {}  # nothing ran: no HubSpot call at all
    assert pg.query(
        "select count(*) from information_schema.tables where table_schema = '{schema}'"
        " and table_name = 'hubspot_contacts'"
    ) == [(0,)]  # and dbt did not build


@pytest.mark.postgres
def test_contradicting_vars_are_a_usage_error(
    pg: Example, hubspot_env: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    code = wrapper(pg, "run", "-t", "pg", "--vars", "{contacts_max_bad_emails: 1}", vars="{a: 2}")
    assert code == EXIT_USAGE
    assert "--vars" in capsys.readouterr().err


@pytest.mark.postgres
def test_default_target_another_postgres_schema_pushes_the_built_one(
    pg: Example, hubspot_env: Sandbox
) -> None:
    """profiles.yml's default target is PostgreSQL schema A, dbt builds schema B (-t): the push reads B."""
    profiles = pg.project_dir / "profiles.yml"
    doc = yaml.safe_load(profiles.read_text(encoding="utf-8"))
    profile = doc["customer360"]
    other = dict(profile["outputs"]["pg"], schema=f"{pg.schema}_default")
    profile["outputs"]["pg_default"] = other
    profile["target"] = "pg_default"
    profiles.write_text(yaml.safe_dump(doc), encoding="utf-8")
    # The default target's schema has no such model: a pusher reading it would fail, not push.
    assert wrapper(pg, "run", "-t", "pg") == EXIT_OK
    assert_pushed_from(pg, hubspot_env)
    assert pg.query(
        f"select count(*) from information_schema.tables where table_schema = '{pg.schema}_default'"
    ) == [(0,)]  # nothing was created, read or logged in the default target's schema
