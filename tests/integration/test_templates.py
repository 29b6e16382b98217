"""Data templates end to end: a template in the project's `vars.hubspot_sync.templates`,
selected by an exposure with `template: NAME` and extended by it, reaches HubSpot through `dbt-hubspot-sync sync`
on DuckDB; a template with an unknown key stops the sync before anything is sent (exit 2), naming it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
import yaml

from dbt_hubspot_sync.doors.cli import main
from dbt_hubspot_sync.sandbox import Sandbox

from .helpers import UPDATE, Example, assert_invariant, dbt_without_push, exposure_yaml, make_example

pytestmark = pytest.mark.dbt

EXPOSURE = "hubspot_template_names"
# The template maps the names; the exposure selects it and adds `company` to its mapping (deep-merged).
TEMPLATES = {
    "crm_names": {
        "properties": {"first_name": "firstname", "last_name": "lastname"},
        "log_records": "all",
    }
}


@pytest.fixture
def example(tmp_path, monkeypatch, hubspot_env: Sandbox) -> Iterator[Example]:
    ex = make_example("duckdb", tmp_path, monkeypatch)
    project_yml = ex.project_dir / "dbt_project.yml"
    project = yaml.safe_load(project_yml.read_text(encoding="utf-8"))
    project["vars"]["hubspot_sync"]["templates"] = TEMPLATES
    project_yml.write_text(yaml.safe_dump(project, sort_keys=False), encoding="utf-8")
    (ex.project_dir / "models" / "template_exposures.yml").write_text(
        exposure_yaml(
            EXPOSURE,
            "customer360",
            email_column="email",
            template="crm_names",
            properties={"company": "company"},
        ),
        encoding="utf-8",
    )
    dbt_without_push(ex, "run", "--select", "customer360")
    yield ex


def test_a_templates_mapping_reaches_hubspot(example: Example, hubspot_env: Sandbox, capsys) -> None:
    before = {c["properties"]["email"]: c["properties"] for c in hubspot_env.contacts()}
    # The sandbox starts without last names or companies.
    assert not before["shafi.hopper1@hooli.design"].get("lastname")
    assert not before["shafi.hopper1@hooli.design"].get("company")

    code = main(["sync", "--select", EXPOSURE, *example.cli_args()])
    captured = capsys.readouterr()
    assert code == 0, captured.err + captured.out

    after = {c["properties"]["email"]: c["properties"] for c in hubspot_env.contacts()}
    shafi = after["shafi.hopper1@hooli.design"]
    # last_name -> lastname from the template's mapping; company from the exposure's addition to it.
    assert (shafi["firstname"], shafi["lastname"], shafi["company"]) == ("Shafi", "Hopper", "Umbrella")
    # Only the mapped properties were sent: not phone (without the template's mapping every column is sent).
    assert shafi.get("phone") in (None, "") and before["shafi.hopper1@hooli.design"].get("phone") in (
        None,
        "",
    )

    # log_records: all came from the template too: the updated contacts are in the record log.
    [run] = assert_invariant(example, log_all=[EXPOSURE])
    assert run["rows_updated"] > 0
    outcomes = Counter(o for (o,) in example.query("select outcome from {schema}.hubspot_sync_record_log"))
    assert outcomes["updated"] == run["rows_updated"], outcomes


def test_a_template_with_an_unknown_key_stops_the_sync_naming_it(
    example: Example, hubspot_env: Sandbox, capsys
) -> None:
    bad = "{hubspot_sync: {templates: {crm_names: {propertes: [first_name]}}}}"
    code = main(["sync", "--select", EXPOSURE, "--vars", bad, *example.cli_args()])
    err = capsys.readouterr().err
    assert code == 2, err
    assert f"exposure '{EXPOSURE}'" in err and "key 'vars.hubspot_sync.templates.crm_names.propertes'" in err
    assert sum(hubspot_env.stats()["requests"].get(UPDATE, {}).values()) == 0


def test_a_templates_workflow_makes_the_post_hook_push(tmp_path, monkeypatch, hubspot_env: Sandbox) -> None:
    """`workflow: automatic` from a template: the post-hook (its Jinja reads the selected template) pushes during
    a plain `dbt run`, as Python's config says."""
    ex = make_example("duckdb", tmp_path, monkeypatch)
    project_yml = ex.project_dir / "dbt_project.yml"
    project = yaml.safe_load(project_yml.read_text(encoding="utf-8"))
    project["vars"]["hubspot_sync"]["templates"] = {"pushed": {**TEMPLATES["crm_names"], "workflow": "automatic"}}
    project_yml.write_text(yaml.safe_dump(project, sort_keys=False), encoding="utf-8")
    (ex.project_dir / "models" / "template_exposures.yml").write_text(
        exposure_yaml(EXPOSURE, "customer360", email_column="email", template="pushed"), encoding="utf-8"
    )
    ex.dbt_ok("run", "--select", "customer360")
    rows = ex.query("select exposure_name, trigger, status from {schema}.hubspot_sync_runs")
    assert (EXPOSURE, "post_hook", "completed") in rows, rows
