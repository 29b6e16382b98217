"""The product's rules that a single-point bug could break while every other test still passed: which row of a
duplicate email wins, that a value changed between two runs is resent (once, alone), and that the tests' own
invariant check (helpers.assert_invariant) fails on what it must. End to end: real dbt on DuckDB and
PostgreSQL, `dbt-hubspot-sync sync` through the CLI's `main()`, HubSpot's state read from the sandbox.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dbt_hubspot_sync.doors.cli import main
from dbt_hubspot_sync.sandbox import Sandbox, SandboxConfig

from .helpers import (
    ADAPTERS,
    EXPOSURE,
    UPDATE,
    Example,
    assert_invariant,
    contact_values,
    dbt_without_push,
    exposure_yaml,
    logged_requests,
    make_example,
    run_row,
)


@pytest.fixture(params=ADAPTERS)
def example(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Example:
    """A fresh copy of the example project (seeded, models not built) for this test alone."""
    return make_example(request.param, tmp_path, monkeypatch)


def use_sandbox(sb: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", sb.app.cfg.token)
    monkeypatch.setenv("HUBSPOT_BASE_URL", sb.url)


def sync_cli(ex: Example, capsys: pytest.CaptureFixture[str], exposure: str) -> str:
    """`dbt-hubspot-sync sync --select <exposure>`; it must exit 0. The run's id (the newest run)."""
    code = main(["sync", "--select", exposure, *ex.cli_args()])
    captured = capsys.readouterr()
    assert code == 0, captured.out + captured.err
    [(run_id,)] = ex.query(
        f"select run_id from {{schema}}.hubspot_sync_runs where exposure_name = '{exposure}'"
        " order by started_at desc limit 1"
    )
    return str(run_id)


# -- which row of a duplicate email wins ------------------------------------------------------------------------
# README "What happens to each row" and macros/sync_rows_query.sql: rows whose cleaned emails are equal are one
# contact; the first ordered by the raw email, then the property columns (in send order), is sent; the rest are
# `duplicate` (DUPLICATE_EMAIL), logged with their raw email. In every pair the winner comes second in the
# model, and the loser would win under a flipped order (descending), under properties before the email, or
# under lastname before firstname.
DUPLICATES_SQL = """\
select * from (values
    ('mailto:ann@example.com', 'Aaron', 'Zimmer'),
    ('ann@example.com',        'Zed',   'Abbott'),
    ('bea@example.com',        'Bea',   'Alpha'),
    ('bea@example.com',        'Abe',   'Zulu'),
    ('cat@example.com',        'Cx',    'Xu'),
    ('Cat@Example.com ',       'Cy',    'Young'),
    ('dan@example.com',        'Dan',   'Solo')
) as t("Email", firstname, lastname)
"""
DUPLICATES_YAML = exposure_yaml(
    "hubspot_duplicates", "rules_duplicates", email_column="Email", properties=["firstname", "lastname"]
)
DUPLICATE_CONTACTS = [
    {"email": f"{name}@example.com", "firstname": "old", "lastname": "old"}
    for name in ("ann", "bea", "cat", "dan")
]


def test_the_documented_row_of_a_duplicate_email_wins_and_the_other_is_logged_with_its_raw_email(
    example: Example, monkeypatch, capsys
):
    ex = example
    models = ex.project_dir / "models"
    (models / "rules_duplicates.sql").write_text(DUPLICATES_SQL, encoding="utf-8")
    (models / "rules_duplicates.yml").write_text(DUPLICATES_YAML, encoding="utf-8")
    dbt_without_push(ex, "run", "--select", "rules_duplicates")
    # 'Cat@Example.com ' and 'cat@example.com' differ only in case (and a blank): text compares by code point on
    # every warehouse, the capital first (tests/macros/test_duplicate_order_macro.py pins it on each adapter).
    cat_wins, cat_loses = (("Cy", "Young"), "cat@example.com")
    with Sandbox(SandboxConfig(contacts=DUPLICATE_CONTACTS)) as sb:
        use_sandbox(sb, monkeypatch)
        run_id = sync_cli(ex, capsys, "hubspot_duplicates")
        [run] = assert_invariant(ex)
        assert (run["status"], run["rows_read"], run["rows_duplicate"], run["rows_updated"]) == (
            "completed",
            7,
            3,
            4,
        ), run
        log = ex.query(
            "select email_raw, email_clean, outcome, reason_code from {schema}.hubspot_sync_record_log"
            f" where run_id = '{run_id}' order by email_raw"
        )
        assert log == sorted(
            [
                ("mailto:ann@example.com", "ann@example.com", "duplicate", "DUPLICATE_EMAIL"),
                ("bea@example.com", "bea@example.com", "duplicate", "DUPLICATE_EMAIL"),
                (cat_loses, "cat@example.com", "duplicate", "DUPLICATE_EMAIL"),
            ]
        )
        held = {p["email"]: (p["firstname"], p["lastname"]) for p in (c["properties"] for c in sb.contacts())}
        assert held == {
            "ann@example.com": ("Zed", "Abbott"),  # the raw email decides: 'ann@…' before 'mailto:ann@…'
            "bea@example.com": ("Abe", "Zulu"),  # same raw email: firstname decides, before lastname
            "cat@example.com": cat_wins,
            "dan@example.com": ("Dan", "Solo"),
        }
        # One contact, one input: HubSpot saw each record id once, in one update request.
        assert [r["inputs"] for r in logged_requests(sb, UPDATE)] == [4]
        assert sb.stats()["contacts_created"] == 0


# -- a value changed between two runs is resent -------------------------------------------------------------------
def rename_customer(seed: Path, amperity_id: str, first_name: str) -> None:
    """Set one customer's first_name in the seed CSV (only that line is rewritten)."""
    lines = seed.read_text(encoding="utf-8").splitlines(keepends=True)
    header = next(csv.reader([lines[0]]))
    [index] = [i for i, line in enumerate(lines) if line.startswith(f"{amperity_id},")]
    fields = next(csv.reader([lines[index]]))
    fields[header.index("first_name")] = first_name
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(fields)
    lines[index] = out.getvalue()
    seed.write_text("".join(lines), encoding="utf-8")


def test_a_value_changed_between_two_runs_is_resent_alone(example: Example, hubspot_env: Sandbox, capsys):
    ex, sb = example, hubspot_env
    dbt_without_push(ex, "run")
    first_id = sync_cli(ex, capsys, EXPOSURE)
    first = run_row(ex, first_id)
    assert first["status"] == "completed" and first["rows_updated"] > 1, first
    after_first = contact_values(sb)

    # A contact the first run updated (hubspot_sync_state: sent successfully), found by its Amperity ID.
    state = ex.query(
        f"select record_id from {{schema}}.hubspot_sync_state where exposure_name = '{EXPOSURE}'"
        " order by email_clean limit 1"
    )
    [(record_id,)] = state
    amperity_id = after_first[str(record_id)]["amperity_id"]
    new_name = f"Renamed-{uuid.uuid4().hex[:6]}"
    assert after_first[str(record_id)]["firstname"] != new_name
    rename_customer(ex.project_dir / "seeds" / "customers.csv", amperity_id, new_name)
    dbt_without_push(ex, "seed", "--select", "customers")
    dbt_without_push(ex, "run")
    [(in_model,)] = ex.query(
        f"""select "firstname" from {{schema}}.hubspot_contacts where "Amperity ID" = '{amperity_id}'"""
    )
    assert in_model == new_name  # the model really changed

    since = len(sb.requests_log())
    second_id = sync_cli(ex, capsys, EXPOSURE)
    second = run_row(ex, second_id)
    assert second["status"] == "completed", second
    assert second["rows_updated"] == 1
    assert second["rows_unchanged"] == first["rows_unchanged"] + first["rows_updated"] - 1
    assert [r["inputs"] for r in logged_requests(sb, UPDATE, since)] == [1]  # one request, one contact
    now = contact_values(sb)
    assert now[str(record_id)]["firstname"] == new_name
    expected = {cid: dict(props) for cid, props in after_first.items()}
    expected[str(record_id)]["firstname"] = new_name
    assert now == expected  # nothing else changed
    assert sb.stats()["contacts_created"] == 0
    assert len(assert_invariant(ex)) == 2


# -- the invariant check itself ---------------------------------------------------------------------------------
COUNTS = ("rows_read", "rows_invalid", "rows_duplicate", "rows_unchanged", "rows_updated", "rows_not_found",
          "rows_failed")  # fmt: skip
GOOD = {"rows_read": 6, "rows_invalid": 1, "rows_duplicate": 1, "rows_unchanged": 1, "rows_updated": 1,
        "rows_not_found": 1, "rows_failed": 1}  # fmt: skip
GOOD_LOG = ["invalid", "duplicate", "not_found", "failed"]


def fake_log(
    tmp_path: Path,
    runs: list[dict],
    log: list[tuple[str, str, str | None]],
    rejected: list[tuple[str, str]] | None = None,
) -> Example:
    """A DuckDB file holding the log tables with the given runs, record-log rows (run_id, outcome, reason_code)
    and records rejected now ((exposure, outcome); by default those of a run with GOOD counts): just what
    assert_invariant reads."""
    import duckdb

    path = tmp_path / "log.duckdb"
    conn = duckdb.connect(str(path))
    conn.execute(
        "create table hubspot_sync_runs (run_id text, exposure_name text, status text, error text,"
        " started_at timestamp, finished_at timestamp, requests bigint, retries bigint, rate_limited bigint, "
        + ", ".join(f"{c} bigint" for c in COUNTS)
        + ")"
    )
    conn.execute("create table hubspot_sync_record_log (run_id text, outcome text, reason_code text)")
    for i, run in enumerate(runs):
        row = {"run_id": f"r{i}", "exposure_name": "x", "status": "completed", "error": None, **GOOD, **run}
        conn.execute(
            "insert into hubspot_sync_runs values (?, ?, ?, ?, now(), now(), 0, 0, 0, "
            + ", ".join("?" for _ in COUNTS)
            + ")",
            [row["run_id"], row["exposure_name"], row["status"], row["error"], *(row[c] for c in COUNTS)],
        )
    if log:
        conn.executemany("insert into hubspot_sync_record_log values (?, ?, ?)", log)
    conn.execute("create table hubspot_sync_rejected (exposure_name text, outcome text)")
    rejected = [("x", o) for o in GOOD_LOG] if rejected is None else rejected
    if rejected:
        conn.executemany("insert into hubspot_sync_rejected values (?, ?)", rejected)
    conn.close()
    return Example("duckdb", tmp_path, "dev", "main", {"DBT_DUCKDB_PATH": str(path)})


def good_log(run_id: str = "r0") -> list[tuple[str, str, str | None]]:
    return [(run_id, outcome, "CODE") for outcome in GOOD_LOG]


LOG_VS_COUNTS = "record log vs counts"
REJECTED_NOW = "hubspot_sync_rejected of x vs its latest run"
# case → (runs, record log) and what the failure must say (so each fails for its own reason).
BROKEN: dict[str, tuple[Callable[[], tuple[Any, ...]], str]] = {
    "no_run_at_all": (lambda: ([], []), "nothing to check"),
    "counts_do_not_add_up": (lambda: ([{"rows_read": 7}], good_log()), "rows_read 7 !="),
    "an_outcome_counted_twice": (lambda: ([{"rows_read": 7, "rows_failed": 2}], good_log()), REJECTED_NOW),
    # Logged by an earlier run is fine; missing from what is rejected now is not.
    "a_rejected_record_not_rejected_now": (
        lambda: ([{}], good_log()[:-1], [("x", o) for o in GOOD_LOG[:-1]]),
        REJECTED_NOW,
    ),
    "a_record_rejected_now_that_the_run_updated": (
        lambda: ([{}], good_log(), [("x", o) for o in [*GOOD_LOG, "failed"]]),
        REJECTED_NOW,
    ),
    "a_record_logged_twice": (lambda: ([{}], [*good_log(), ("r0", "failed", "CODE")]), LOG_VS_COUNTS),
    "an_updated_record_logged_under_rejected": (
        lambda: ([{}], [*good_log(), ("r0", "updated", None)]),
        LOG_VS_COUNTS,
    ),
    "a_logged_record_without_a_reason": (
        lambda: ([{}], [*good_log()[:-1], ("r0", "failed", None)]),
        "without a reason code",
    ),
    "a_log_row_of_no_run": (
        lambda: ([{}], [*good_log(), ("nope", "failed", "CODE")]),
        "not in hubspot_sync_runs",
    ),
    "a_finished_sync_that_read_nothing": (lambda: ([{c: 0 for c in COUNTS}], []), "read no row"),
    "a_status_outside_the_lifecycle": (lambda: ([{"status": "exploded"}], good_log()), "exploded"),
    "a_dry_run_whose_would_update_is_not_logged": (
        lambda: ([{"error": "dry run: nothing was written to HubSpot"}], good_log()),
        LOG_VS_COUNTS,
    ),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_assert_invariant_fails_on_a_broken_log(tmp_path: Path, case: str):
    make, message = BROKEN[case]
    ex = fake_log(tmp_path, *make())
    with pytest.raises(AssertionError, match=message):
        assert_invariant(ex)


def test_assert_invariant_passes_a_sound_log_and_knows_the_exceptions(tmp_path: Path):
    runs = [
        {},  # a completed run, everything logged
        {
            "status": "failed",
            "error": "tests_failed: x (fail)",
            **{c: 0 for c in COUNTS},
        },  # gated: read nothing
        {"status": "failed", "error": "stale: its process was killed", **{c: 0 for c in COUNTS}},
        {"status": "running", **{c: 0 for c in COUNTS}},  # still open: its log may be partial
        {"exposure_name": "all_logged"},  # log_records: all
        {"error": "dry run: nothing was written to HubSpot"},  # logs each would-update (its diff) too
        {"status": "failed", "error": "writer_busy: another run pushes x", **{c: 0 for c in COUNTS}},
    ]
    log = [
        *good_log("r0"),
        ("r2", "invalid", "NULL_EMAIL"),  # flushed before the kill
        ("r3", "duplicate", "DUPLICATE_EMAIL"),
        *good_log("r4"),
        ("r4", "updated", None),
        ("r4", "unchanged", "UNCHANGED"),
        *good_log("r5"),
        ("r5", "updated", None),
    ]
    rejected = [("x", o) for o in GOOD_LOG] + [("all_logged", o) for o in [*GOOD_LOG, "unchanged"]]
    ex = fake_log(tmp_path, runs, log, rejected)
    assert len(assert_invariant(ex, log_all={"all_logged"})) == 7
    # The same log read as log_records: rejected has rows too many.
    with pytest.raises(AssertionError, match=LOG_VS_COUNTS):
        assert_invariant(ex)
    # A later run that logged nothing new (its records were logged by r0) is sound too.
    (tmp_path / "later").mkdir()
    ex = fake_log(tmp_path / "later", [{}, {}], good_log("r0"))
    assert len(assert_invariant(ex)) == 2
