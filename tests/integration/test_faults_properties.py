"""The property preflight (GET /crm/v3/properties/contacts) before a sync: a property HubSpot does not have, or
one that is read-only, is a config error naming it before any row is read or sent (exit code 2); enumeration
values outside the property's options fail those records locally while the batch goes through. On the `built`
project (DuckDB), with probe models of its own.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dbt_hubspot_sync.doors.cli import main
from dbt_hubspot_sync.errors import ConfigError
from dbt_hubspot_sync.sandbox import Sandbox, SandboxConfig

from .helpers import (
    PREFLIGHT,
    UPDATE,
    Example,
    assert_invariant,
    exposure_yaml,
    record_log,
    run_row,
    sandbox_config,
    sync,
)

pytestmark = pytest.mark.dbt


# -- 5. a property HubSpot does not have ---------------------------------------------------------------------------
UNKNOWN_PROPERTY_YAML = """\
version: 2
exposures:
  - name: hubspot_unknown_property
    type: application
    owner: {name: Growth, email: growth@example.com}
    depends_on: [ref('hubspot_contacts')]
    config:
      meta:
        hubspot_sync:
          email_column: Email
          properties: {"Amperity ID": nonexistent_prop, firstname: firstname}
          workflow: manual
"""


def test_unknown_property_is_a_config_error_naming_it_before_any_row_is_read(built):
    """The property preflight (GET /crm/v3/properties/contacts) finds it: nothing is read, sent or logged as a
    run, and the error names the exposure, the column and the property."""
    b = built("duckdb")
    ex = b.example
    variant = ex.project_dir / "models" / "unknown_property_exposure.yml"
    variant.write_text(UNKNOWN_PROPERTY_YAML, encoding="utf-8")
    try:
        with Sandbox(sandbox_config()) as sb:
            with pytest.raises(ConfigError) as info:
                sync(ex, sb, select="hubspot_unknown_property")
            message = str(info.value)
            assert "hubspot_unknown_property" in message and "nonexistent_prop" in message
            assert "Amperity ID" in message and "PROPERTY_DOESNT_EXIST" in message
            assert set(sb.stats()["requests"]) == {PREFLIGHT}
            assert ex.query("select count(*) from {schema}.hubspot_sync_runs") == [(0,)]
    finally:
        variant.unlink()


# -- 12. the property preflight ----------------------------------------------------------------------------------
STAGE_SQL = """\
select
    'c' || cast(i as varchar) || '@example.com' as "Email",
    case i when 3 then 'Lead' when 7 then 'vip' else 'customer' end as lifecyclestage,
    'n' || cast(i as varchar) as firstname
from range(10) as t(i)
"""


@pytest.fixture
def stage_probe(built) -> Iterator[Example]:
    ex = built("duckdb").example
    models = ex.project_dir / "models"
    (models / "stage_probe.sql").write_text(STAGE_SQL, encoding="utf-8")
    try:
        ex.dbt_ok("run", "--select", "stage_probe")
        yield ex
    finally:
        for name in ("stage_probe.sql", "stage_probe.yml"):
            (models / name).unlink(missing_ok=True)


def test_enumeration_values_outside_the_options_fail_locally_and_the_batch_goes_through(stage_probe: Example):
    ex = stage_probe
    (ex.project_dir / "models" / "stage_probe.yml").write_text(
        exposure_yaml(
            "hubspot_stage", "stage_probe", email_column="Email", properties=["lifecyclestage", "firstname"]
        ),
        encoding="utf-8",
    )
    contacts = [{"email": f"c{i}@example.com", "lifecyclestage": "lead"} for i in range(10)]
    with Sandbox(SandboxConfig(contacts=contacts)) as sb:
        [result] = sync(ex, sb, select="hubspot_stage")
        assert_invariant(ex)
        row = run_row(ex, result.run_id)
        assert (row["status"], row["rows_updated"], row["rows_failed"]) == ("completed_with_errors", 8, 2)
        log = sorted(record_log(ex, result.run_id))
        assert log == [
            ("c3@example.com", "failed", "INVALID_OPTION", None),
            ("c7@example.com", "failed", "INVALID_OPTION", None),
        ]
        # HubSpot never saw the bad values: one update request, answered 200, no whole-batch 400.
        assert sb.stats()["requests"][UPDATE] == {"200": 1}
        stages = {c["properties"]["email"]: c["properties"]["lifecyclestage"] for c in sb.contacts()}
        assert stages == {f"c{i}@example.com": ("lead" if i in (3, 7) else "customer") for i in range(10)}


@pytest.mark.parametrize(
    ("mapping", "named"),
    [
        ({"firstname": "createdate"}, "'createdate' is read-only"),
        ({"firstname": "loyalty_tier"}, "'loyalty_tier' does not exist in HubSpot"),
    ],
)
def test_read_only_or_unknown_property_is_a_config_error_naming_it(
    stage_probe: Example, monkeypatch, capsys, mapping, named
):
    ex = stage_probe
    (ex.project_dir / "models" / "stage_probe.yml").write_text(
        exposure_yaml("hubspot_stage", "stage_probe", email_column="Email", properties=mapping),
        encoding="utf-8",
    )
    with Sandbox(sandbox_config()) as sb:
        monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", sb.app.cfg.token)
        monkeypatch.setenv("HUBSPOT_BASE_URL", sb.url)
        code = main(["sync", "--select", "hubspot_stage", *ex.cli_args()])
        err = capsys.readouterr().err
        assert code == 2 and "hubspot_stage" in err and named in err, err
        assert set(sb.stats()["requests"]) == {PREFLIGHT}  # nothing but the preflight
        assert ex.query("select count(*) from {schema}.hubspot_sync_runs") == [(0,)]  # no run started
