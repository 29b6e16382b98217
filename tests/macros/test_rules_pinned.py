"""Every rule the macros must repeat in Jinja, held equal to its one Python home, through real dbt.

The rules and their homes:
- the log schema: `config.log_schema_for` (vars.hubspot_sync.log_schema if set and non-empty, else the target
  schema); Jinja copies: the `log_schema` macro and the schema of the package's sources
  (models/hubspot_sync_sources.yml);
- the `workflow` and `gate` defaults: SyncConfig's field defaults (`config.DEFAULT_WORKFLOW`/`DEFAULT_GATE`,
  after vars.hubspot_sync, through `parse_sync_config`); Jinja copy: `_automatic_syncs_for`, which decides which
  exposures the post-hook and the on-run-end push;
- the property-name rule: `properties.hubspot_property_name`; Jinja copy: the `hubspot_property_name` macro.

(`clean_email` has no Python twin: it is pinned to the shared corpus' expectations in test_clean_email_macro.py.)

Each case renders the macros with `dbt compile --inline` under one `--vars`, on DuckDB and PostgreSQL. Each test
also shows it can fail: a deliberately different Python rule must disagree with what dbt rendered.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from dbt_hubspot_sync.config.properties import hubspot_property_name
from dbt_hubspot_sync.config.sync_config import (
    DEFAULT_GATE,
    DEFAULT_WORKFLOW,
    log_schema_for,
    parse_sync_config,
)

pytestmark = pytest.mark.dbt

MODEL = "pin_contacts"  # model.macro_test.pin_contacts in INLINE
# The exposures of the test project: name -> config.meta.hubspot_sync (workflow/gate set or left to defaults).
EXPOSURES: dict[str, dict[str, Any]] = {
    "pin_bare": {"email_column": "email"},
    "pin_automatic": {"email_column": "email", "workflow": "automatic"},
    "pin_automatic_strict": {"email_column": "email", "workflow": "automatic", "gate": "strict"},
    "pin_manual_ungated": {"email_column": "email", "workflow": "manual", "gate": "none"},
}
# vars.hubspot_sync per case (None: no --vars at all).
VARS_CASES: dict[str, dict[str, Any] | None] = {
    "unset": None,
    "log_schema set": {"log_schema": "audit", "log_records": "all"},
    "log_schema empty": {"log_schema": ""},
    "log_schema null": {"log_schema": None},
    "workflow and gate from vars": {"workflow": "automatic", "gate": "none"},
}
PROPERTY_NAMES = [
    "Amperity ID",
    "Email",
    "first_name",
    "é",
    "a-b",
    "  x ",
    "ÀB",
    "Straße",  # str.lower keeps ß (casefold would make it "ss")
    "\u212a",  # KELVIN SIGN: str.lower makes it an ASCII "k"
    "İD",  # str.lower makes İ two characters: "i" and a combining dot
    "123",
    "2nd_Email",
    "LTV (EUR)",
    "a.b-c/d",
    "Ünïcode-Col",
    "$%&*!@#",
    "tab\there",
    "",
]

# One render per vars case: everything Jinja decides from the vars, as JSON.
INLINE = """
{%- set syncs = {} -%}
{%- for s in dbt_hubspot_sync._automatic_syncs_for('model.macro_test.pin_contacts') -%}
  {%- do syncs.update({s.name: s.gate}) -%}
{%- endfor -%}
{%- set names = {} -%}
{%- for n in var('pin_property_names') -%}
  {%- do names.update({n: dbt_hubspot_sync.hubspot_property_name(n)}) -%}
{%- endfor -%}
{{ tojson({
    'target_schema': target.schema,
    'log_schema': dbt_hubspot_sync.log_schema(),
    'source_schemas': graph.sources.values() | selectattr('source_name', 'equalto', 'dbt_hubspot_sync')
                      | map(attribute='schema') | unique | list,
    'automatic_syncs': syncs,
    'property_names': names,
}) }}
"""


@pytest.fixture(scope="module")
def rendered(dbt_project) -> dict[str, dict[str, Any]]:
    """vars case -> what the macros rendered under it."""
    dbt_project.write_model(MODEL, "select 'jane@example.com' as email, 'Jane' as first_name\n")
    dbt_project.write_exposures("pin_exposures", MODEL, EXPOSURES)
    out = {}
    for case, hubspot_vars in VARS_CASES.items():
        cli_vars: dict[str, Any] = {"pin_property_names": PROPERTY_NAMES}
        if hubspot_vars is not None:
            cli_vars["hubspot_sync"] = hubspot_vars
        result = dbt_project.dbt("compile", "--inline", INLINE, "--vars", json.dumps(cli_vars))
        out[case] = json.loads(result.result.results[0].node.compiled_code)
    return out


def _disagreements(
    rendered: Mapping[str, dict[str, Any]], key: str, expected: Callable[[str], Any]
) -> list[str]:
    """The vars cases where what Jinja rendered under `key` is not what Python expects."""
    return [
        f"{case}: Jinja {got[key]!r}, Python {expected(case)!r}"
        for case, got in rendered.items()
        if got[key] != expected(case)
    ]


# -- log schema ---------------------------------------------------------------------------------------------
def _log_schema_python(rendered: Mapping[str, dict[str, Any]], rule: Callable[..., str] = log_schema_for):
    return lambda case: rule(VARS_CASES[case], rendered[case]["target_schema"])


def test_log_schema_macro_follows_log_schema_for(rendered) -> None:
    assert not _disagreements(rendered, "log_schema", _log_schema_python(rendered))
    assert rendered["log_schema set"]["log_schema"] == "audit"
    assert rendered["log_schema empty"]["log_schema"] == rendered["unset"]["target_schema"]


def test_package_sources_live_in_the_log_schema(rendered) -> None:
    # models/hubspot_sync_sources.yml repeats the rule in its own Jinja (a YAML property cannot call the macro).
    python = _log_schema_python(rendered)
    assert not _disagreements(rendered, "source_schemas", lambda case: [python(case)])


def test_log_schema_pin_can_fail(rendered) -> None:
    # Rules that differ from log_schema_for in one branch each: the cases tell them apart from what dbt rendered.
    def ignores_vars(hubspot_vars: Any, target_schema: str) -> str:
        return target_schema

    def keeps_empty(hubspot_vars: Any, target_schema: str) -> str:
        return (hubspot_vars or {}).get("log_schema", target_schema)

    for wrong in (ignores_vars, keeps_empty):
        assert _disagreements(rendered, "log_schema", _log_schema_python(rendered, wrong)), wrong.__name__


# -- workflow and gate defaults ---------------------------------------------------------------------------
def _automatic_syncs_python(defaults: Mapping[str, Any] | None = None) -> Callable[[str], dict[str, str]]:
    """{exposure: gate} of the automatic syncs, as parse_sync_config resolves them; `defaults` stands in for
    different SyncConfig defaults (a layer under vars.hubspot_sync)."""

    def expected(case: str) -> dict[str, str]:
        hubspot_vars = {**(defaults or {}), **(VARS_CASES[case] or {})}
        configs = {name: parse_sync_config(name, meta, hubspot_vars) for name, meta in EXPOSURES.items()}
        return {name: c.gate for name, c in configs.items() if c.workflow == "automatic"}

    return expected


def test_automatic_syncs_follow_the_python_workflow_and_gate_defaults(rendered) -> None:
    assert not _disagreements(rendered, "automatic_syncs", _automatic_syncs_python())
    # The exposure that sets neither key takes both defaults, and the cases exercise it.
    assert (DEFAULT_WORKFLOW, DEFAULT_GATE) == ("manual", "tests")
    assert rendered["unset"]["automatic_syncs"] == {
        "pin_automatic": "tests",
        "pin_automatic_strict": "strict",
    }
    assert rendered["workflow and gate from vars"]["automatic_syncs"]["pin_bare"] == "none"


@pytest.mark.parametrize("different", [{"workflow": "automatic"}, {"gate": "strict"}, {"gate": "none"}])
def test_workflow_and_gate_pin_can_fail(rendered, different: dict[str, str]) -> None:
    assert _disagreements(rendered, "automatic_syncs", _automatic_syncs_python(different))


# -- property names ---------------------------------------------------------------------------------------
ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _names_python(rule: Callable[[str], str] = hubspot_property_name) -> Callable[[str], dict[str, str]]:
    return lambda case: {n: rule(n) for n in PROPERTY_NAMES}


def test_property_name_macro_matches_python(rendered) -> None:
    assert not _disagreements(rendered, "property_names", _names_python())
    names = rendered["unset"]["property_names"]
    assert (names["Amperity ID"], names["Email"], names["  x "], names["\u212a"]) == (
        "amperity_id",
        "email",
        "__x_",
        "k",
    )


@pytest.mark.parametrize(
    "wrong",
    [
        lambda n: re.sub("[^a-z0-9_]", "_", n),  # no lower-casing
        lambda n: re.sub("[^a-z0-9_]", "_", n.casefold()),  # casefold, not lower
        lambda n: re.sub("[^a-z0-9_]", "_", n.translate(ASCII_LOWER)),  # lower-cases ASCII only
        lambda n: hubspot_property_name(n.strip()),  # trims
        lambda n: re.sub("[^a-z0-9_]+", "_", n.lower()),  # collapses runs
        lambda n: re.sub("[^a-z0-9_]", "", n.lower()),  # drops instead of replacing
    ],
    ids=["no-lower", "casefold", "ascii-lower", "strip", "collapse", "drop"],
)
def test_property_name_pin_can_fail(rendered, wrong: Callable[[str], str]) -> None:
    assert _disagreements(rendered, "property_names", _names_python(wrong))
