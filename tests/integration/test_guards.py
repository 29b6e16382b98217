"""Guards end to end through `dbt-hubspot-sync sync`: a run over its share of the portal's day, or changing too
much of the known audience, is refused before it sends anything (exit 1, the runs row says why); `--force`
overrides for one run."""

from __future__ import annotations

import pytest

from dbt_hubspot_sync.doors.cli import EXIT_OK, EXIT_RUN_FAILED, main
from dbt_hubspot_sync.sandbox import Sandbox

from .helpers import (
    ADAPTERS,
    EXPOSURE,
    Built,
    assert_invariant,
    calls,
    execute,
    first_names_restored,
    sandbox_config,
)

pytestmark = pytest.mark.dbt


@pytest.fixture(params=ADAPTERS)
def b(request, built) -> Built:
    return built(request.param)


def cli(b: Built, sb: Sandbox, monkeypatch: pytest.MonkeyPatch, *extra: str) -> int:
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", sb.app.cfg.token)
    monkeypatch.setenv("HUBSPOT_BASE_URL", sb.url)
    return main(["sync", "--select", EXPOSURE, *b.example.cli_args(), *extra])


def last_run(b: Built) -> tuple:
    return b.example.query(
        "select status, error, rows_read, rows_updated from {schema}.hubspot_sync_runs"
        " order by started_at desc limit 1"
    )[0]


def test_a_run_changing_most_known_contacts_is_refused_until_forced(b: Built, monkeypatch) -> None:
    with Sandbox(sandbox_config()) as sb, first_names_restored(b.example):
        assert cli(b, sb, monkeypatch) == EXIT_OK
        known = last_run(b)[3]
        execute(b.example, "update {schema}.customers set first_name = 'Broken'")  # a broken model
        updates = calls(sb, "batch/update")
        guarded = ("--vars", "{hubspot_sync: {max_change_share: 0.5}}")
        assert cli(b, sb, monkeypatch, *guarded) == EXIT_RUN_FAILED
        status, error, read, updated = last_run(b)
        assert (status, read, updated) == ("failed", 0, 0)
        assert error.startswith(f"guard_change_share: the run would change {known:,} of the {known:,} known")
        assert calls(sb, "batch/update") == updates  # nothing sent
        assert cli(b, sb, monkeypatch, *guarded, "--force") == EXIT_OK
        assert last_run(b)[3] == known
    assert_invariant(b.example)


def test_a_run_over_its_share_of_the_day_is_refused_until_forced(built, monkeypatch) -> None:
    b = built("duckdb")
    with Sandbox(sandbox_config(daily_max=20)) as sb:
        assert cli(b, sb, monkeypatch) == EXIT_RUN_FAILED
        status, error, read, _ = last_run(b)
        assert status == "failed" and read == 0
        assert error.startswith("guard_daily_budget: the run would send up to") and "left today" in error
        assert calls(sb, "batch/read") == 0 and calls(sb, "batch/update") == 0
        assert cli(b, sb, monkeypatch, "--force") == EXIT_OK
        assert last_run(b)[0] == "completed"
    assert_invariant(b.example)


def test_the_duckdb_post_hook_is_guarded_too(tmp_path, monkeypatch) -> None:
    """The plugin estimates the run in a statement of its own before the push statement (dbt run, no sync)."""
    from .helpers import make_example

    ex = make_example("duckdb", tmp_path, monkeypatch)
    with Sandbox(sandbox_config(daily_max=20)) as sb:
        monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", sb.app.cfg.token)
        monkeypatch.setenv("HUBSPOT_BASE_URL", sb.url)
        ex.dbt_ok("run")  # on_push_error: warn (default): the model builds, the push is refused
        [(trigger, status, error, read)] = ex.query(
            "select trigger, status, error, rows_read from {schema}.hubspot_sync_runs"
        )
        assert (trigger, status, read) == ("post_hook", "failed", 0)
        assert error.startswith("guard_daily_budget:"), error
        assert calls(sb, "batch/read") == 0 and calls(sb, "batch/update") == 0
