"""Change detection in the warehouse, pinned end to end (real dbt, DuckDB and PostgreSQL, the sandbox): the SQL
fingerprint may never make a changed row look unchanged, and a change leaves the warehouse once. Each change
below is shipped (and, where HubSpot lacks it, sent) by exactly one run; the run after ships nothing and logs
nothing; every run keeps the invariant and hubspot_sync_rejected matches it (assert_invariant)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dbt_hubspot_sync.sandbox import Sandbox

from .helpers import (
    ADAPTERS,
    Example,
    assert_invariant,
    dbt_without_push,
    ensure_tables,
    execute,
    exposure_yaml,
    make_example,
    record_log,
    sandbox_config,
    sync,
)

pytestmark = pytest.mark.dbt

MODEL = "typed_contacts"
NAME = "hubspot_typed"
# A model of the example's customers with a column whose type a var flips (int, or the string of its digits).
MODEL_SQL = """
select
    email,
    first_name,
    last_name,
    {% if var('score_as_text', false) %}cast(length(amperity_id) * 10 as {{ dbt.type_string() }})
    {% else %}length(amperity_id) * 10{% endif %} as score
from {{ ref('customer360') }}
"""


@pytest.fixture(scope="module", params=ADAPTERS)
def ex(request, tmp_path_factory) -> Iterator[Example]:
    with pytest.MonkeyPatch.context() as mp:
        example = make_example(request.param, tmp_path_factory.mktemp(f"changes_{request.param}"), mp)
        (example.project_dir / "models" / f"{MODEL}.sql").write_text(MODEL_SQL, encoding="utf-8")
        expose(example, ["first_name"])
        dbt_without_push(example, "run")
        ensure_tables(example)
        yield example


# Columns → HubSpot properties the sandbox knows (score as a string property).
PROPERTY = {"first_name": "firstname", "last_name": "lastname", "score": "company"}


def expose(ex: Example, columns: list[str]) -> None:
    path = ex.project_dir / "models" / f"{NAME}.yml"
    mapping = {c: PROPERTY[c] for c in columns}
    path.write_text(exposure_yaml(NAME, MODEL, email_column="email", properties=mapping), encoding="utf-8")


def twice(ex: Example, sb: Sandbox) -> tuple:
    """Two syncs: the one after a change, and the one after that (nothing changed)."""
    [first] = sync(ex, sb, NAME)
    [second] = sync(ex, sb, NAME)
    assert first.status == second.status == "completed", (first.error, second.error)
    assert second.rows_shipped == 0 and second.counters.rows_updated == 0
    assert record_log(ex, second.run_id) == []
    return first, second


@pytest.fixture
def sb(ex: Example) -> Iterator[Sandbox]:
    expose(ex, ["first_name"])
    with Sandbox(sandbox_config()) as sandbox:
        [clean] = sync(ex, sandbox, NAME)  # a fresh sandbox: the state's record ids are stale, so a full push
        assert clean.status == "completed"
        [again] = sync(ex, sandbox, NAME)
        assert again.rows_shipped == 0, "an unchanged re-sync shipped rows"
        yield sandbox
    assert_invariant(ex)


def test_a_value_changed_by_one_character_is_sent_once(ex: Example, sb: Sandbox) -> None:
    execute(ex, "update {schema}.customers set first_name = 'Tin' where amperity_id = 'amp-00002'")
    try:
        first, _ = twice(ex, sb)
        assert (first.rows_shipped, first.counters.rows_updated) == (1, 1)
    finally:
        execute(ex, "update {schema}.customers set first_name = 'Tim' where amperity_id = 'amp-00002'")
        sync(ex, sb, NAME)


def test_a_null_that_becomes_empty_and_back_is_sent_each_time(ex: Example, sb: Sandbox) -> None:
    try:
        for value in ("null", "''", "null"):
            execute(ex, f"update {{schema}}.customers set first_name = {value} where amperity_id = 'amp-00002'")
            first, _ = twice(ex, sb)
            # NULL leaves the property out, '' clears it: different requests, each shipped once.
            assert first.rows_shipped == 1, value
            assert first.counters.rows_updated + first.counters.rows_unchanged >= 1
    finally:
        execute(ex, "update {schema}.customers set first_name = 'Tim' where amperity_id = 'amp-00002'")
        sync(ex, sb, NAME)


def test_a_column_added_to_the_mapping_ships_every_row_once(ex: Example, sb: Sandbox) -> None:
    expose(ex, ["first_name", "last_name"])
    first, _ = twice(ex, sb)
    # The mapping shapes every sent row's request: each is looked at once (invalid, duplicate and not-found
    # rows stay rejected in the warehouse).
    c = first.counters
    assert first.rows_shipped == c.rows_updated + c.rows_unchanged and c.rows_updated > 0


def test_a_type_change_to_the_same_digits_ships_every_row_once(ex: Example, sb: Sandbox) -> None:
    expose(ex, ["first_name", "score"])
    twice(ex, sb)
    try:
        dbt_without_push(ex, "run", "--select", MODEL, "--vars", "{score_as_text: true}")
        first, _ = twice(ex, sb)
        # The column's type is part of the fingerprint: every sent row is looked at once; HubSpot already has
        # the same strings, so nothing is updated.
        c = first.counters
        assert first.rows_shipped == c.rows_unchanged > 0 and c.rows_updated == 0
    finally:
        dbt_without_push(ex, "run", "--select", MODEL)


def test_an_email_changed_to_one_a_duplicate_had_is_handled_once(ex: Example, sb: Sandbox) -> None:
    [(other,)] = ex.query("select email from {schema}.customers where amperity_id = 'amp-00003'")
    [(mine,)] = ex.query("select email from {schema}.customers where amperity_id = 'amp-00002'")
    execute(ex, f"update {{schema}}.customers set email = '{other}' where amperity_id = 'amp-00002'")
    try:
        first, _ = twice(ex, sb)
        logged = record_log(ex, first.run_id)
        assert [(o, code) for _, o, code, _ in logged] == [("duplicate", "DUPLICATE_EMAIL")]
        assert first.rows_shipped <= 2
    finally:
        execute(ex, f"update {{schema}}.customers set email = '{mine}' where amperity_id = 'amp-00002'")
        sync(ex, sb, NAME)
