"""The post-hook's view of an exposure's configuration (macro `_sync_config`, the only merge of the layers in
Jinja) held equal to Python's (`config.resolve_layers` validated by `parse_sync_config`, what every other door
reads), for every key of the exposure reference, set in every layer: vars defaults < data template < exposure.

Rendered through real dbt (`dbt compile --inline`); the merge is pure Jinja, so one adapter suffices. The last
tests show the pin can fail: a Jinja merge that skips a layer, or merges one level only, disagrees.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from dbt_hubspot_sync.config.sync_config import SyncConfig, deep_merge, parse_sync_config

pytestmark = pytest.mark.dbt

MODEL = "cfg_contacts"
# Three complete, valid values for every key of the exposure reference (`template` aside), all different.
A: dict[str, Any] = {
    "email_column": "email_a",
    "properties": {"first_name": "firstname", "Amperity ID": "amperity_id"},
    "list_id": "111",
    "list_mode": "mirror",
    "mirror_all": False,
    "workflow": "automatic",
    "log_records": "all",
    "null_as_empty": True,
    "on_push_error": "fail",
    "notify": {"webhook_env": "HOOK_A", "when": "problems"},
    "gate": "strict",
    "writer_wait_seconds": 5,
    "not_found_recheck_hours": 1,
    "max_daily_share": 0.2,
    "max_change_share": 0.3,
    "api_version": "2026-03",
    "push": "import",
    "import_threshold_rows": 10,
    "import_limits": {"file_rows": 1000, "daily_imports": 4},
}
B: dict[str, Any] = {
    "email_column": "email_b",
    "properties": {"last_name": "lastname"},
    "list_id": "222",
    "list_mode": "mirror",
    "mirror_all": True,
    "workflow": "manual",
    "log_records": "rejected",
    "null_as_empty": False,
    "on_push_error": "warn",
    "notify": {"webhook_env": "HOOK_B", "when": "always"},
    "gate": "none",
    "writer_wait_seconds": 7,
    "not_found_recheck_hours": 0,
    "max_daily_share": 0.9,
    "max_change_share": None,
    "api_version": "2026-09",
    "push": "batch",
    "import_threshold_rows": 20,
    "import_limits": {"daily_rows": 5000},
}
C: dict[str, Any] = {
    "email_column": "email_c",
    "properties": ["company", "phone"],  # a list replaces a lower layer's mapping
    "list_id": "333",
    "list_mode": "add",
    "mirror_all": False,
    "workflow": "automatic",
    "log_records": "all",
    "null_as_empty": True,
    "on_push_error": "fail",
    "notify": {"webhook_env": "HOOK_C", "when": "problems"},
    "gate": "tests",
    "writer_wait_seconds": 9,
    "not_found_recheck_hours": 2,
    "max_daily_share": 0.5,
    "max_change_share": 0.1,
    "api_version": "v3",
    "push": "auto",
    "import_threshold_rows": 30,
    "import_limits": {"file_rows": 10},  # merges into a lower layer's import_limits
}
KEYS = [k for k in SyncConfig.model_fields if k != "template"]

# vars.hubspot_sync per case, and the exposures' own blocks (the same in every case).
VARS_CASES: dict[str, dict[str, Any]] = {
    "vars only": A,
    "template only": {"templates": {"t": B}},
    "vars and template": {**A, "templates": {"t": B}},
    "vars selects the template": {**A, "template": "t", "templates": {"t": B}},
}
EXPOSURES: dict[str, dict[str, Any]] = {
    "cfg_bare": {},
    "cfg_template": {"template": "t"},
    "cfg_template_and_own": {"template": "t", **C},
    "cfg_own": C,
    "cfg_own_partial": {"email_column": "email_c", "properties": {"company": "company"}, "notify": {"when": "always"}},
    "cfg_no_template": {"template": None, "email_column": "email_c"},
}

INLINE = """
{%- set out = {} -%}
{%- for e in graph.exposures.values() if e.name.startswith('cfg_') -%}
  {%- do out.update({e.name: dbt_hubspot_sync._sync_config(e.config.meta.hubspot_sync)}) -%}
{%- endfor -%}
{{ tojson(out) }}
"""


def _python(case: str, name: str) -> dict[str, Any] | None:
    """The keys Python resolved for the exposure as set (not defaulted), as plain values; None: a config error
    (then the post-hook's push reports it: nothing to pin)."""
    try:
        config = parse_sync_config(name, EXPOSURES[name], VARS_CASES[case])
    except Exception:
        return None
    dumped = config.model_dump()
    return {k: dumped[k] for k in config.model_fields_set}


@pytest.fixture(scope="module")
def rendered(duckdb_project) -> dict[str, dict[str, dict[str, Any]]]:
    """case -> exposure -> what `_sync_config` rendered."""
    duckdb_project.write_model(MODEL, "select 'jane@example.com' as email\n")
    duckdb_project.write_exposures("cfg_exposures", MODEL, EXPOSURES)
    out = {}
    for case, hubspot_vars in VARS_CASES.items():
        result = duckdb_project.dbt("compile", "--inline", INLINE, "--vars", json.dumps({"hubspot_sync": hubspot_vars}))
        out[case] = json.loads(result.result.results[0].node.compiled_code)
    return out


def _comparable(jinja: dict[str, Any]) -> dict[str, Any]:
    """Jinja's merge with nested blocks filled with their defaults, as pydantic dumps them."""
    config = SyncConfig.model_validate(jinja)
    dumped = config.model_dump()
    return {k: dumped[k] for k in jinja}


def _disagreements(rendered: dict[str, dict[str, dict[str, Any]]], python: Callable[[str, str], Any]) -> list[str]:
    out = []
    for case, exposures in rendered.items():
        for name, jinja in exposures.items():
            expected = python(case, name)
            if expected is None:
                continue
            if _comparable(jinja) != expected:
                out.append(f"{case} / {name}: Jinja {jinja!r}, Python {expected!r}")
    return out


def test_every_key_from_every_layer_resolves_as_in_python(rendered) -> None:
    assert not _disagreements(rendered, _python)
    # Nested blocks merge key by key across the layers; a list replaces a mapping.
    partial = rendered["vars selects the template"]["cfg_own_partial"]
    assert partial["properties"] == {**A["properties"], **B["properties"], "company": "company"}
    assert partial["notify"] == {"webhook_env": "HOOK_B", "when": "always"}
    assert rendered["vars and template"]["cfg_template_and_own"]["import_limits"] == {
        "file_rows": 10,
        "daily_imports": 4,
        "daily_rows": 5000,
    }


# (case, exposure) where every key comes from one layer: the pin above covers each key from each layer.
ONE_LAYER = {
    "vars": ("vars only", "cfg_bare", A),
    "template": ("template only", "cfg_template", B),
    "exposure": ("vars and template", "cfg_own", C),
}
NESTED = ("properties", "notify", "import_limits")


@pytest.mark.parametrize("layer", ONE_LAYER)
def test_each_layer_alone_sets_every_key(rendered, layer: str) -> None:
    case, name, values = ONE_LAYER[layer]
    assert _python(case, name) is not None, f"{case} / {name} should be a valid configuration"
    jinja = rendered[case][name]
    flat = [k for k in KEYS if k not in NESTED]
    assert {k: jinja.get(k) for k in flat} == {k: values[k] for k in flat}


def test_the_post_hooks_email_column_comes_from_the_template(rendered) -> None:
    # The silent wrong result this pin exists for: email_column set only in a template.
    assert rendered["template only"]["cfg_template"]["email_column"] == "email_b"
    assert rendered["vars only"]["cfg_bare"]["email_column"] == "email_a"


@pytest.mark.parametrize("wrong", ["no template", "one level", "template under vars"])
def test_the_pin_can_fail(rendered, wrong: str) -> None:
    def python(case: str, name: str) -> dict[str, Any] | None:
        hubspot_vars = VARS_CASES[case]
        base = {k: v for k, v in hubspot_vars.items() if k not in ("templates", "log_schema")}
        meta = EXPOSURES[name]
        tname = meta.get("template", base.get("template"))
        template = (hubspot_vars.get("templates") or {}).get(tname) or {}
        if wrong == "no template":
            merged = deep_merge(base, meta)
        elif wrong == "one level":
            merged = {**base, **template, **meta}
        else:
            merged = deep_merge(deep_merge(template, base), meta)
        try:
            config = SyncConfig.model_validate(merged)
        except Exception:
            return None
        dumped = config.model_dump()
        return {k: dumped[k] for k in merged}

    assert _disagreements(rendered, python)
