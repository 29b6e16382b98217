"""Change detection on Spark, end to end (real dbt-spark over Thrift, the sandbox): the changes the SQL fingerprint
must never take for unchanged, each shipped (and, where HubSpot lacks it, sent) by exactly one run, the run after
it shipping and logging nothing; the invariant after every run. (DuckDB and PostgreSQL:
tests/integration/test_change_detection.py.) The model takes each change from a var, since Spark's parquet tables
have no UPDATE."""

from __future__ import annotations

import json
from typing import Any

import yaml
from dbt.cli.main import dbtRunner

from .helpers import SparkExample, assert_invariant, sync

MODEL = "spark_typed_contacts"
NAME = "hubspot_spark_typed"
MODEL_SQL = """
{{ config(materialized='view') }}
select
    case when amperity_id = 'amp-00002' then {{ var('email_2', 'email') }} else email end as email,
    case when amperity_id = 'amp-00002' then {{ var('first_name_2', 'first_name') }} else first_name end
        as first_name,
    last_name,
    {% if var('score_as_text', false) %}cast(length(amperity_id) * 10 as string)
    {% else %}length(amperity_id) * 10{% endif %} as score
from {{ ref('customer360') }}
"""
PROPERTY = {"first_name": "firstname", "last_name": "lastname", "score": "company"}


def expose(ex: SparkExample, columns: list[str]) -> None:
    exposure = {
        "name": NAME,
        "type": "application",
        "owner": {"name": "Growth", "email": "growth@example.com"},
        "depends_on": [f"ref('{MODEL}')"],
        "config": {"meta": {"hubspot_sync": {
            "email_column": "email", "workflow": "manual", "properties": {c: PROPERTY[c] for c in columns},
        }}},
    }
    (ex.project_dir / "models" / f"{NAME}.yml").write_text(
        yaml.safe_dump({"version": 2, "exposures": [exposure]}, sort_keys=False), encoding="utf-8"
    )


def build(ex: SparkExample, **model_vars: Any) -> None:
    """Rebuild the model with the change `model_vars` name (SQL text), the log schema's vars kept."""
    hubspot = {"log_records": "rejected", "log_schema": ex.log_schema or ex.schema}
    args = ["run", "--select", MODEL, *ex.cli_args(with_vars=False)]
    result = dbtRunner().invoke([*args, "--vars", json.dumps({"hubspot_sync": hubspot, **model_vars})])
    assert result.success, result.exception or result.result


def twice(ex: SparkExample, sb) -> Any:
    """The sync after a change, and the one after it (nothing changed): returns the first."""
    first, second = sync(ex, sb, NAME), sync(ex, sb, NAME)
    assert first.status == second.status == "completed", (first.error, second.error)
    assert second.rows_shipped == 0 and second.counters.rows_updated == 0
    assert ex.query(f"select count(*) from {{log}}.hubspot_sync_record_log where run_id = '{second.run_id}'") == [
        (0,)
    ]
    return first


def test_each_change_is_shipped_once_and_never_taken_for_unchanged(ex: SparkExample, sandbox) -> None:
    models = ex.project_dir / "models"
    (models / f"{MODEL}.sql").write_text(MODEL_SQL, encoding="utf-8")
    try:
        expose(ex, ["first_name"])
        build(ex)
        twice(ex, sandbox)  # the first push, then nothing to do

        # A value changed by one character.
        build(ex, first_name_2="'Tin'")
        first = twice(ex, sandbox)
        assert (first.rows_shipped, first.counters.rows_updated) == (1, 1)

        # NULL, then '', then NULL again: different requests (NULL leaves the property out, '' clears it).
        for value in ("null", "''", "null"):
            build(ex, first_name_2=value)
            assert twice(ex, sandbox).rows_shipped == 1, value
        build(ex)
        twice(ex, sandbox)

        # A column added to the mapping: every sent row is looked at once.
        expose(ex, ["first_name", "last_name", "score"])
        first = twice(ex, sandbox)
        c = first.counters
        assert first.rows_shipped == c.rows_updated + c.rows_unchanged and c.rows_updated > 0

        # A type change to the same digits: every sent row once, nothing to update.
        build(ex, score_as_text=True)
        first = twice(ex, sandbox)
        assert first.rows_shipped == first.counters.rows_unchanged > 0 and first.counters.rows_updated == 0

        # An email changed to one a duplicate had.
        [(other,)] = ex.query("select email from {schema}.customer360 where amperity_id = 'amp-00003'")
        build(ex, score_as_text=True, email_2=f"'{other}'")
        first = twice(ex, sandbox)
        logged = ex.query(
            "select outcome, reason_code from {log}.hubspot_sync_record_log"
            f" where run_id = '{first.run_id}'"
        )
        assert logged == [("duplicate", "DUPLICATE_EMAIL")] and first.rows_shipped <= 2
        assert_invariant(ex)
    finally:
        for f in (models / f"{MODEL}.sql", models / f"{NAME}.yml"):
            f.unlink(missing_ok=True)
