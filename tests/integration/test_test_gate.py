"""Test-gated pushes: under `dbt build`, an exposure's model reaches HubSpot only after its tests passed.

The example project's contact tests warn on the seed's few bad emails (a warning lets the push through, unless
`gate: strict`) and fail with `contacts_max_bad_emails: 0`. A model the exposures do not read carries a failing
test of its own, which must never block a push. Real dbt, real DuckDB and PostgreSQL, the sandbox.
"""

from __future__ import annotations

import re

from dbt_hubspot_sync.doors.cli import main

from .helpers import Example, assert_invariant, make_example

FAIL_CONTACT_TESTS = "{contacts_max_bad_emails: 0}"
FAIL_UPSTREAM_TEST = "{break_upstream: true}"
CONTACT_TESTS = ("not_null_hubspot_contacts__Email_", "unique_hubspot_contacts__Email_")
SKIPPED = "tests_failed: customer360_check (fail); dbt skipped model hubspot_contacts"


def add_tests(example: Example) -> None:
    """A model no exposure reads, with a test that always fails; a test upstream that fails when asked."""
    (example.project_dir / "models" / "unrelated.sql").write_text("select 1 as id\n", encoding="utf-8")
    tests = example.project_dir / "tests"
    tests.mkdir(exist_ok=True)
    (tests / "unrelated_always_fails.sql").write_text(
        "select * from {{ ref('unrelated') }}\n", encoding="utf-8"
    )
    (tests / "customer360_check.sql").write_text(
        "select * from {{ ref('customer360') }} where {{ var('break_upstream', false) }}\n", encoding="utf-8"
    )


def runs(example: Example) -> list[tuple]:
    return example.query(
        "select trigger, status, rows_read, rows_updated, error from {schema}.hubspot_sync_runs"
        " where exposure_name = 'hubspot_customers' order by started_at"
    )


def pending(example: Example) -> int:
    return example.query("select count(*) from {schema}.hubspot_sync_pending")[0][0]


def assert_gated_out(row: tuple, trigger: str) -> None:
    got_trigger, status, read, updated, error = row
    assert (got_trigger, status, read, updated) == (trigger, "failed", 0, 0)
    assert error.startswith("tests_failed: ")
    for name in CONTACT_TESTS:
        assert f"{name} (fail)" in error
    assert "unrelated" not in error


def assert_pushed(row: tuple, trigger: str) -> None:
    got_trigger, status, read, updated, error = row
    assert (got_trigger, status, read) == (trigger, "completed", 612), error
    assert updated > 0


def test_duckdb_build_pushes_only_after_the_contact_tests_pass(tmp_path, monkeypatch, hubspot_env, capsys):
    duck = make_example("duckdb", tmp_path, monkeypatch)
    add_tests(duck)

    # The contact tests fail: the post-hook deferred the push, on-run-end logs it gated out; HubSpot untouched.
    # (Through `run -- build`, which reports what the plugin did: exit code 1.)
    assert main(["run", *duck.cli_args(), "--", "build", "--vars", FAIL_CONTACT_TESTS]) == 1
    summary = re.findall(r"^hubspot_customers\s+(\w+)\s", capsys.readouterr().out, re.MULTILINE)
    assert summary == ["failed"]
    assert hubspot_env.stats()["requests_total"] == 0
    (row,) = runs(duck)
    assert_gated_out(row, "post_hook")
    assert pending(duck) == 0

    # A test upstream fails, dbt skips the model: nothing sent, and the log says why.
    assert not duck.dbt("build", "--vars", FAIL_UPSTREAM_TEST).success
    assert hubspot_env.stats()["requests_total"] == 0
    assert runs(duck)[1][:4] == ("post_hook", "failed", 0, 0)
    assert runs(duck)[1][4] == SKIPPED

    # They warn (tolerated bad emails) and only the unrelated test fails: pushed at the end of the build.
    assert not duck.dbt("build").success  # dbt reports the unrelated failure
    pushed = runs(duck)[2]
    assert_pushed(pushed, "post_hook")
    assert hubspot_env.stats()["contacts_updated"] == pushed[3]
    assert hubspot_env.stats()["contacts_created"] == 0
    assert pending(duck) == 0
    assert len(assert_invariant(duck)) == 3


def test_postgres_run_build_and_sync_pending_wait_for_the_contact_tests(
    tmp_path, monkeypatch, hubspot_env, capsys
):
    pg = make_example("postgres", tmp_path, monkeypatch)
    add_tests(pg)

    # `run -- build`: the pending row waits for the model's tests; they fail, nothing is sent.
    assert main(["run", *pg.cli_args(), "--", "build", "--vars", FAIL_CONTACT_TESTS]) == 1
    assert hubspot_env.stats()["requests_total"] == 0
    (row,) = runs(pg)
    assert_gated_out(row, "dbt_run")
    assert pending(pg) == 0

    # A test upstream fails, dbt skips the model: nothing sent, and the log says why.
    assert main(["run", *pg.cli_args(), "--", "build", "--vars", FAIL_UPSTREAM_TEST]) == 1
    assert hubspot_env.stats()["requests_total"] == 0
    assert runs(pg)[1] == ("dbt_run", "failed", 0, 0, SKIPPED)

    # Passing (warning) contact tests push, whatever the unrelated model's test says.
    assert main(["run", *pg.cli_args(), "--", "build"]) == 1  # dbt failed (the unrelated test)
    assert_pushed(runs(pg)[2], "dbt_run")
    requests = hubspot_env.stats()["requests_total"]

    # A plain `dbt build`, then `sync --pending`: the gate reads the build's run_results.json. The contact
    # tests warn, which `gate: strict` does not let through.
    assert not pg.dbt("build").success  # the unrelated test
    assert pending(pg) == 1
    assert main(["sync", "--pending", *pg.cli_args(), "--vars", "{hubspot_sync: {gate: strict}}"]) == 1
    trigger, status, read, updated, error = runs(pg)[3]
    assert (trigger, status, read, updated) == ("cli", "failed", 0, 0)
    assert error == "tests_failed: " + ", ".join(f"{name} (warn)" for name in CONTACT_TESTS)
    assert pending(pg) == 0

    # run_results.json replaced by a later dbt command: the statuses the package's on-run-end kept still decide.
    assert not pg.dbt("build", "--vars", FAIL_CONTACT_TESTS).success
    (pg.project_dir / "target" / "run_results.json").unlink()
    assert main(["sync", "--pending", *pg.cli_args()]) == 1
    assert_gated_out(runs(pg)[4], "cli")
    assert pending(pg) == 0
    assert hubspot_env.stats()["requests_total"] == requests
    assert len(assert_invariant(pg)) == 5
    capsys.readouterr()
