"""Bad input on DuckDB: every row ends in one counted, logged outcome, values of every SQL type reach HubSpot in
HubSpot's form, and quotes or SQL metacharacters in an exposure name, a column name or a value are data, never
SQL (identifiers quoted by the adapter with their quote character escaped, values bound as parameters).
Configuration mistakes (malformed YAML, an unknown key, two columns for one property) are exit code 2 before
any HubSpot call."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest

from dbt_hubspot_sync.doors.cli import main
from dbt_hubspot_sync.sandbox import Sandbox, SandboxConfig

from .helpers import Example, assert_invariant, dbt_without_push, execute, exposure_yaml, release_duckdb

pytestmark = pytest.mark.dbt

NASTY_COLUMN = 'Note "q"; drop table main.hubspot_sync_runs; --'
NASTY_VALUE = "'); drop table main.hubspot_sync_record_log; --"
EXPOSURE = "bad_input'); drop table main.hubspot_sync_state; --"
BIG = "ü" * 10_240  # 10 KB of characters

BAD_INPUT_SQL = f"""\
select * from (values
    (1,  null,                                   null, null, null, null, null, null, null, null, null),
    (2,  '',                                     null, null, null, null, null, null, null, null, null),
    (3,  '   ',                                  null, null, null, null, null, null, null, null, null),
    (4,  'Case@Example.com',                     'a',  null, null, null, null, null, null, null, null),
    (5,  ' case@example.com ',                   'b',  null, null, null, null, null, null, null, null),
    (6,  'zero' || chr(8203) || 'width@example.com', 'z', null, null, null, null, null, null, null, null),
    (7,  'bell' || chr(7) || '@example.com',     'c',  null, null, null, null, null, null, null, null),
    (8,  repeat('x', 10240) || '@example.com',   'd',  null, null, null, null, null, null, null, null),
    (9,  'types@example.com',                    '{NASTY_VALUE.replace("'", "''")}', 42, 10.50::decimal(12, 2),
         0.1::double, date '2024-02-29', timestamp '2024-02-29 12:34:56.789',
         timestamptz '2024-02-29 12:34:56.789+02:00', true, '{BIG}'),
    (10, 'o''brien@example.com',                 'e',  -7, -0.05::decimal(12, 2), 3.0::double, null, null,
         null, false, null),
    (11, 'nulls@example.com',                    null, null, null, null, null, null, null, null, null)
) as t(id, "Email", "{NASTY_COLUMN.replace('"', '""')}", n_int, n_dec, n_dbl, d, ts, tstz, flag, big)
"""

BAD_INPUT_YAML = exposure_yaml(
    EXPOSURE,
    "bad_input",
    email_column="Email",
    log_records="all",
    properties={
        NASTY_COLUMN: "note",
        **{c: c for c in ("n_int", "n_dec", "n_dbl", "d", "ts", "tstz", "flag", "big")},
    },
)

PROPS = ["note", "n_int", "n_dec", "n_dbl", "d", "ts", "tstz", "flag", "big"]
CONTACTS = [
    {"email": e, **{p: "old" for p in PROPS}}
    for e in ("case@example.com", "zerowidth@example.com", "types@example.com", "o'brien@example.com",
              "nulls@example.com")
]  # fmt: skip


@pytest.fixture(scope="module")
def bad_input_model(built_session) -> Iterator[Example]:
    """The shared example project plus the bad_input model, built once for this module and removed after it (the
    other modules sharing the project never see it)."""
    example = built_session("duckdb").example
    sql, yml = (example.project_dir / "models" / f"bad_input.{ext}" for ext in ("sql", "yml"))
    sql.write_text(BAD_INPUT_SQL, encoding="utf-8")
    yml.write_text(BAD_INPUT_YAML, encoding="utf-8")
    try:
        dbt_without_push(example, "run", "--select", "bad_input")
        yield example
    finally:
        sql.unlink(missing_ok=True)
        yml.unlink(missing_ok=True)
        release_duckdb()
        execute(example, "drop view if exists {schema}.bad_input")


@pytest.fixture
def ex(bad_input_model: Example, built) -> Example:
    built("duckdb")  # an empty run log and sync state for each test
    return bad_input_model


@pytest.fixture
def sb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    with Sandbox(SandboxConfig(contacts=CONTACTS)) as sandbox:
        monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", sandbox.app.cfg.token)
        monkeypatch.setenv("HUBSPOT_BASE_URL", sandbox.url)
        yield sandbox


def cli(ex: Example, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    release_duckdb()
    code = main([*args, *ex.cli_args()])
    captured = capsys.readouterr()
    release_duckdb()
    return code, captured.out + captured.err


def test_every_row_has_one_logged_outcome_and_values_arrive_in_hubspots_form(
    ex: Example, sb: Sandbox, capsys
):
    code, out = cli(ex, capsys, "sync", "--select", EXPOSURE)
    assert code == 0, out
    [run] = ex.query(
        "select run_id, exposure_name, status, rows_read, rows_invalid, rows_duplicate, rows_unchanged,"
        " rows_updated, rows_not_found, rows_failed from {schema}.hubspot_sync_runs"
    )
    run_id, name, status, read, invalid, duplicate, unchanged, updated, not_found, failed = run
    assert (name, status) == (EXPOSURE, "completed")  # the name is data, stored as it is
    assert read == 11 == invalid + duplicate + unchanged + updated + not_found + failed
    assert_invariant(ex, log_all={EXPOSURE})
    log = ex.query(
        "select email_raw, email_clean, outcome, reason_code from {schema}.hubspot_sync_record_log"
        f" where run_id = '{run_id}'"
    )
    assert len(log) == 11  # log_records: all
    by_clean = {clean: (outcome, reason) for _, clean, outcome, reason in log if clean}
    reasons = Counter(reason for _, _, outcome, reason in log if outcome == "invalid")
    assert reasons["NULL_EMAIL"] == 3  # NULL, '' and blanks
    assert by_clean["types@example.com"] == ("updated", None)
    assert by_clean["o'brien@example.com"] == ("updated", None)
    assert by_clean["zerowidth@example.com"] == ("updated", None)  # the invisible character is cleaned away
    assert by_clean["nulls@example.com"] == ("unchanged", "NO_PROPERTIES")
    # Case and whitespace variants are one contact: one updated, the other a duplicate.
    assert sorted(o for _, c, o, _ in log if c == "case@example.com") == ["duplicate", "updated"]
    # The 10 KB address and the control character: rejected (or cleaned), never sent raw, always counted.
    assert any(o == "invalid" and r == "INVALID_SYNTAX" and len(raw or "") > 10_000 for raw, _, o, r in log)
    bell = [(o, r) for raw, _, o, r in log if raw and "\x07" in raw]
    assert len(bell) == 1 and bell[0][0] in ("invalid", "not_found")
    assert {raw for raw, _, _, _ in log} >= {"o'brien@example.com", " case@example.com "}

    contacts = {c["properties"]["email"]: c["properties"] for c in sb.contacts()}
    types = contacts["types@example.com"]
    assert {p: types[p] for p in PROPS} == {
        "note": NASTY_VALUE,
        "n_int": "42",
        "n_dec": "10.50",
        "n_dbl": "0.1",
        "d": "1709164800000",  # midnight UTC, epoch ms
        "ts": "1709210096789",  # naive = UTC
        "tstz": "1709202896789",  # 12:34:56.789+02:00
        "flag": "true",
        "big": BIG,
    }
    brien = contacts["o'brien@example.com"]
    assert {p: brien[p] for p in ("note", "n_int", "n_dec", "n_dbl", "flag", "d")} == {
        "note": "e",
        "n_int": "-7",
        "n_dec": "-0.05",
        "n_dbl": "3",
        "flag": "false",
        "d": "old",  # NULL leaves the property untouched
    }
    assert contacts["nulls@example.com"]["note"] == "old"
    assert sb.stats()["contacts_created"] == 0

    # No statement was injected: every log table is still there, and the state joined on the quoted name.
    code, out = cli(ex, capsys, "sync", "--select", EXPOSURE)
    assert code == 0, out
    [(unchanged_again,)] = ex.query(
        f"select rows_unchanged from {{schema}}.hubspot_sync_runs where run_id <> '{run_id}'"
    )
    assert unchanged_again == unchanged + updated  # every updated row is now known unchanged
    assert len(assert_invariant(ex, log_all={EXPOSURE})) == 2


MALFORMED_YAML = "version: 2\nexposures:\n  - name: broken\n    depends_on: [ref('bad_input')\n"
UNKNOWN_KEY_YAML = exposure_yaml("unknown_key", "bad_input", email_column="Email", emial_column="Email")
TWO_COLUMNS_YAML = exposure_yaml(
    "two_columns", "bad_input", email_column="Email", properties={"n_int": "score", "n_dec": "score"}
)


@pytest.mark.parametrize(
    ("yaml_text", "select", "expected"),
    [
        (MALFORMED_YAML, [], ["could not parse", "broken.yml"]),
        (UNKNOWN_KEY_YAML, ["unknown_key"], ["unknown_key", "emial_column", "unknown key"]),
        (TWO_COLUMNS_YAML, ["two_columns"], ["two_columns", "'n_int' and 'n_dec'", "'score'"]),
    ],
    ids=["malformed_yaml", "unknown_key", "two_columns_one_property"],
)
def test_config_mistakes_exit_2_before_any_hubspot_call(
    ex: Example, sb: Sandbox, capsys, yaml_text: str, select: list[str], expected: list[str]
):
    variant = ex.project_dir / "models" / "broken.yml"
    variant.write_text(yaml_text, encoding="utf-8")
    try:
        code, out = cli(ex, capsys, "sync", *(["--select", *select] if select else []))
    finally:
        variant.unlink()
    assert code == 2, out
    for text in expected:
        assert text in out, out
    assert sb.stats()["requests_total"] == 0
    assert ex.query("select count(*) from {schema}.hubspot_sync_runs") == [(0,)]
