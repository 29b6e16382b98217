"""One resolved configuration for every door: keys set only in a data template, or only in the vars defaults,
behave the same through the DuckDB post-hook of a plain `dbt build`/`dbt run` as through `dbt-hubspot-sync sync`
(email_column, properties, null_as_empty, log_records, list_id; and the post-hook's own workflow, gate and
on_push_error).

Before, the post-hook's Jinja merged the layers its own way: an `email_column` from a template read 0 rows and
logged the run `completed` while `sync` pushed all of them.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import requests
import yaml

from dbt_hubspot_sync.doors.cli import main
from dbt_hubspot_sync.sandbox import Sandbox

from .helpers import (
    ADAPTERS,
    Example,
    assert_invariant,
    contact_values,
    create_list,
    exposure_yaml,
    make_example,
    model_rows,
    release_duckdb,
    sandbox_config,
)

pytestmark = pytest.mark.dbt

EXPOSURE = "hubspot_layered"
# Every key the issue names, none of them at its default; set in one layer only.
LAYER: dict[str, Any] = {
    "email_column": "email",
    "properties": {"first_name": "firstname", "company": "company"},
    "workflow": "automatic",
    "gate": "none",
    "log_records": "all",
    "null_as_empty": True,
    "on_push_error": "fail",
}
NULL_COMPANY = "dennis.allen18@globex.co.uk"  # customer360.company is NULL for this row (seed: empty)
# A singular test on customer360 that fails: with gate: none (from the layer) the push does not wait for it.
FAILING_TEST = "select * from {{ ref('customer360') }} where amperity_id = 'amp-00001'\n"


def _example(
    tmp_path, monkeypatch, layer: str, list_id: str, *, built: bool = False, adapter: str = "duckdb"
) -> Example:
    """The example with LAYER (plus `list_id`) in one layer, and the exposure `{}` or `{template: crm}`;
    `built`: customer360 built (without a push) before the exposure is declared."""
    ex = make_example(adapter, tmp_path, monkeypatch)
    (ex.project_dir / "models" / "exposures.yml").unlink()  # the example's own syncs stay out of the way
    if built:
        ex.dbt_ok("run", "--select", "customer360")
        release_duckdb()
    project_yml = ex.project_dir / "dbt_project.yml"
    project = yaml.safe_load(project_yml.read_text(encoding="utf-8"))
    keys = {**LAYER, "list_id": list_id}
    own: dict[str, Any]
    if layer == "template":
        project["vars"]["hubspot_sync"]["templates"] = {"crm": keys}
        own = {"template": "crm"}
    else:
        project["vars"]["hubspot_sync"].update(keys)
        own = {}
    project_yml.write_text(yaml.safe_dump(project, sort_keys=False), encoding="utf-8")
    (ex.project_dir / "models" / "layered_exposures.yml").write_text(
        exposure_yaml(EXPOSURE, "customer360", **own), encoding="utf-8"
    )
    (ex.project_dir / "tests").mkdir(exist_ok=True)
    (ex.project_dir / "tests" / "c360_fails.sql").write_text(FAILING_TEST, encoding="utf-8")
    return ex


def _old_company(sb: Sandbox) -> str:
    """Give the contact of NULL_COMPANY a company, through HubSpot's own API: null_as_empty must clear it."""
    [contact] = [c for c in sb.contacts() if c["properties"]["email"] == NULL_COMPANY]
    r = requests.patch(
        f"{sb.url}/crm/v3/objects/contacts/{contact['id']}",
        headers={"Authorization": "Bearer sandbox-token"},
        json={"properties": {"company": "Old Co"}},
        timeout=5,
    )
    r.raise_for_status()
    return contact["id"]


def _outcome(ex: Example, sb: Sandbox, list_id: str) -> dict[str, Any]:
    [run] = assert_invariant(ex, log_all=[EXPOSURE])
    logged = Counter(o for (o,) in ex.query("select outcome from {schema}.hubspot_sync_record_log"))
    counts = {k: v for k, v in run.items() if k.startswith("rows_")}
    members = sorted(sb.list_members(list_id))
    return {"counts": counts, "logged": logged, "contacts": contact_values(sb), "list": members}


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest.mark.parametrize("layer", ["template", "vars"])
def test_keys_from_one_layer_behave_alike_through_the_post_hook_and_sync(
    tmp_path, monkeypatch, layer: str, adapter: str
) -> None:
    """DuckDB: the plugin pushes from the post-hook. PostgreSQL: the post-hook records the build pending (its
    Jinja decides from workflow and gate) and `sync --pending` pushes it."""
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", "sandbox-token")
    doors = {}
    for door in ("post_hook", "cli"):
        with Sandbox(sandbox_config()) as sb:
            monkeypatch.setenv("HUBSPOT_BASE_URL", sb.url)
            list_id = create_list(sb, "MANUAL")
            ex = _example(tmp_path / door, monkeypatch, layer, list_id, built=door == "cli", adapter=adapter)
            dennis = _old_company(sb)
            if door == "post_hook":
                # gate: none: pushed from the post-hook although the model's test then fails the build.
                result = ex.dbt("build", "--select", "customer360")
                release_duckdb()
                assert not result.success  # the failing test, not the push
                if adapter == "postgres":
                    assert main(["sync", "--pending", *ex.cli_args()]) == 0
                [(status, error)] = ex.query("select status, error from {schema}.hubspot_sync_runs")
                assert status == "completed", error
            else:
                assert main(["sync", "--select", EXPOSURE, *ex.cli_args()]) == 0
            out = doors[door] = _outcome(ex, sb, list_id)
            # email_column: every row of the model read; log_records: all: the updated ones logged too.
            assert out["counts"]["rows_read"] == model_rows(ex, "customer360") > 0
            assert out["counts"]["rows_updated"] > 0
            assert out["logged"]["updated"] == out["counts"]["rows_updated"]
            dennis_now = out["contacts"][dennis]
            # properties: first names and companies only (not last names); null_as_empty: NULL clears "Old Co".
            assert dennis_now["firstname"] == "Dennis" and not dennis_now.get("company")  # was "Old Co"
            assert not any(c.get("lastname") for c in out["contacts"].values())
            # list_id: the contacts the sync updated or found up to date joined the list.
            assert len(out["list"]) == out["counts"]["rows_updated"] + out["counts"]["rows_unchanged"]
    assert doors["post_hook"] == doors["cli"]


@pytest.mark.parametrize("layer", ["template", "vars"])
def test_on_push_error_from_one_layer_fails_the_model(tmp_path, monkeypatch, layer: str) -> None:
    with Sandbox(sandbox_config()) as sb:
        list_id = create_list(sb, "MANUAL")
        ex = _example(tmp_path, monkeypatch, layer, list_id)
        monkeypatch.setenv("HUBSPOT_BASE_URL", sb.url)
        monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", "not-the-sandbox-token")
        result = ex.dbt("run", "--select", "customer360")
        release_duckdb()
    # on_push_error: fail: the push's failure (401) fails the model (warn would leave it built).
    assert not result.success
    [node] = [r for r in result.result if r.node.name == "customer360"]
    assert str(node.status) == "error" and EXPOSURE in str(node.message), node.message


@pytest.mark.parametrize(
    "cli_vars",
    [None, {"hubspot_sync": {"log_records": "all"}}, {"hubspot_sync": {"templates": {"t": {"gate": "none"}}}}],
    ids=["project vars", "--vars replaces", "--vars templates"],
)
def test_python_reads_vars_hubspot_sync_as_dbts_var_does(tmp_path, monkeypatch, cli_vars) -> None:
    """dbt's `var('hubspot_sync')` (what the macros read) takes --vars over the project's block whole; Python's
    project (what `sync --vars` and `run --` read) must see the same block."""
    import json

    from dbt_hubspot_sync.dbt_bridge import open_session

    ex = make_example("duckdb", tmp_path, monkeypatch)
    project_yml = ex.project_dir / "dbt_project.yml"
    project = yaml.safe_load(project_yml.read_text(encoding="utf-8"))
    project["vars"]["hubspot_sync"]["templates"] = {"crm": LAYER}
    project_yml.write_text(yaml.safe_dump(project, sort_keys=False), encoding="utf-8")
    extra = ["--vars", json.dumps(cli_vars)] if cli_vars else []
    result = ex.dbt_ok("compile", "--inline", "{{ tojson(dbt_hubspot_sync._hubspot_vars()) }}", *extra)
    jinja = json.loads(result.result.results[0].node.compiled_code)
    release_duckdb()
    vars_yaml = json.dumps(cli_vars) if cli_vars else None
    with open_session(ex.project_dir, ex.project_dir, ex.target, vars_yaml) as session:
        assert session.project.hubspot_vars == jinja
    assert jinja == (cli_vars["hubspot_sync"] if cli_vars else project["vars"]["hubspot_sync"])
