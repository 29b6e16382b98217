"""`config.meta.hubspot_sync` parsing: defaults from vars, deep merge, and errors that say where and what."""

from __future__ import annotations

from typing import Any

import pytest

from dbt_hubspot_sync.config.sync_config import (
    DEFAULT_GATE,
    DEFAULT_WORKFLOW,
    SyncConfig,
    deep_merge,
    log_schema_for,
    parse_sync_config,
)
from dbt_hubspot_sync.errors import ConfigError

EXPOSURE = "hubspot_newsletter"


def config_error(meta: Any, defaults: dict[str, Any] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_sync_config(EXPOSURE, meta, defaults)
    return info.value


# -- defaults and merging -------------------------------------------------------------------------------
def test_minimal_config_takes_the_documented_defaults() -> None:
    cfg = parse_sync_config(EXPOSURE, {"email_column": "email"}, None)
    assert cfg == SyncConfig(email_column="email")
    assert (cfg.properties, cfg.list_id, cfg.workflow, cfg.log_records, cfg.null_as_empty, cfg.gate) == (
        None,
        None,
        "manual",
        "rejected",
        False,
        "tests",
    )


def test_exposure_wins_over_vars_defaults() -> None:
    defaults = {"log_records": "all", "workflow": "automatic", "email_column": "mail"}
    cfg = parse_sync_config(EXPOSURE, {"email_column": "email", "workflow": "manual"}, defaults)
    assert cfg.email_column == "email"  # exposure wins
    assert cfg.workflow == "manual"  # exposure wins
    assert cfg.log_records == "all"  # default fills what the exposure leaves out


def test_vars_defaults_can_supply_a_required_key() -> None:
    cfg = parse_sync_config(EXPOSURE, {}, {"email_column": "email"})
    assert cfg.email_column == "email"


def test_nested_mappings_merge_key_by_key() -> None:
    defaults = {"properties": {"first_name": "firstname", "last_name": "lastname"}}
    meta = {"email_column": "email", "properties": {"last_name": "surname", "city": "city"}}
    cfg = parse_sync_config(EXPOSURE, meta, defaults)
    assert cfg.properties == {"first_name": "firstname", "last_name": "surname", "city": "city"}


def test_a_list_replaces_a_mapping_and_lists_are_not_concatenated() -> None:
    cfg = parse_sync_config(EXPOSURE, {"email_column": "e", "properties": ["a"]}, {"properties": ["b", "c"]})
    assert cfg.properties == ["a"]
    cfg = parse_sync_config(EXPOSURE, {"email_column": "e", "properties": ["a"]}, {"properties": {"b": "b"}})
    assert cfg.properties == ["a"]


def test_deep_merge_does_not_mutate_its_inputs() -> None:
    base = {"a": {"x": 1}, "b": 1}
    override = {"a": {"y": 2}}
    assert deep_merge(base, override) == {"a": {"x": 1, "y": 2}, "b": 1}
    assert base == {"a": {"x": 1}, "b": 1}
    assert override == {"a": {"y": 2}}


def test_log_schema_in_vars_is_a_project_setting_not_a_sync_key() -> None:
    cfg = parse_sync_config(
        EXPOSURE, {"email_column": "email"}, {"log_schema": "audit", "log_records": "all"}
    )
    assert cfg.log_records == "all"
    assert not hasattr(cfg, "log_schema")
    # In an exposure it is not a sync key either: unknown there.
    err = config_error({"email_column": "email", "log_schema": "audit"})
    assert err.key == "hubspot_sync.log_schema"


def test_workflow_and_gate_defaults_live_in_the_named_constants() -> None:
    # SyncConfig's field defaults are the constants (the macros' copies are pinned to them in tests/macros/).
    assert (DEFAULT_WORKFLOW, DEFAULT_GATE) == ("manual", "tests")
    assert SyncConfig.model_fields["workflow"].default == DEFAULT_WORKFLOW
    assert SyncConfig.model_fields["gate"].default == DEFAULT_GATE


# -- log schema -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("hubspot_vars", "expected"),
    [
        (None, "analytics"),
        ({}, "analytics"),
        ({"log_records": "all"}, "analytics"),
        ({"log_schema": "audit"}, "audit"),
        ({"log_schema": ""}, "analytics"),  # empty = unset
        ({"log_schema": None}, "analytics"),  # `log_schema:` with no value in YAML
        ([], "analytics"),  # not a mapping: as the macro, no vars (dbt_bridge reports it as a config error)
    ],
)
def test_log_schema_is_the_vars_setting_else_the_target_schema(hubspot_vars: Any, expected: str) -> None:
    assert log_schema_for(hubspot_vars, "analytics") == expected


@pytest.mark.parametrize("value", [123, ["audit"], {"name": "audit"}, True])
def test_log_schema_that_is_not_a_schema_name_is_a_config_error(value: Any) -> None:
    with pytest.raises(ConfigError) as info:
        log_schema_for({"log_schema": value}, "analytics")
    assert info.value.key == "vars.hubspot_sync.log_schema"
    assert repr(value) in info.value.problem


@pytest.mark.parametrize("value", [123, "123"])
def test_list_id_int_becomes_text(value: Any) -> None:
    assert parse_sync_config(EXPOSURE, {"email_column": "e", "list_id": value}, None).list_id == "123"


def test_config_is_frozen() -> None:
    cfg = parse_sync_config(EXPOSURE, {"email_column": "email"}, None)
    with pytest.raises(Exception):  # noqa: B017 - pydantic's frozen error type is an implementation detail
        cfg.email_column = "other"  # type: ignore[misc]


# -- errors: each names the exposure, the key and what was expected ----------------------------------------
@pytest.mark.parametrize(
    ("meta", "key", "expected_words"),
    [
        (
            {"email_column": "email", "propertes": ["a"]},
            "hubspot_sync.propertes",
            ["unknown key", "properties"],
        ),
        ({"properties": ["a"]}, "hubspot_sync.email_column", ["required"]),
        ({}, "hubspot_sync.email_column", ["required"]),
        ({"email_column": 5}, "hubspot_sync.email_column", ["string", "5"]),
        ({"email_column": ""}, "hubspot_sync.email_column", ["at least 1 character"]),
        (
            {"email_column": "e", "workflow": "auto"},
            "hubspot_sync.workflow",
            ["'manual'", "'automatic'", "auto"],
        ),
        ({"email_column": "e", "log_records": "none"}, "hubspot_sync.log_records", ["'rejected'", "'all'"]),
        ({"email_column": "e", "list_id": True}, "hubspot_sync.list_id", ["string", "True"]),
        ({"email_column": "e", "list_id": 1.5}, "hubspot_sync.list_id", ["string", "1.5"]),
        ({"email_column": "e", "properties": ["a", 2]}, "hubspot_sync.properties.1", ["string", "2"]),
        ({"email_column": "e", "null_as_empty": "maybe"}, "hubspot_sync.null_as_empty", ["boolean"]),
        (
            {"email_column": "e", "on_push_error": "ignore"},
            "hubspot_sync.on_push_error",
            ["'warn'", "'fail'"],
        ),
        ({"email_column": "e", "gate": "always"}, "hubspot_sync.gate", ["'none'", "'tests'", "'strict'"]),
    ],
)
def test_config_errors_name_exposure_key_and_expectation(
    meta: dict[str, Any], key: str, expected_words: list[str]
) -> None:
    err = config_error(meta)
    assert err.exposure == EXPOSURE
    assert err.key == key
    text = str(err)
    assert f"exposure '{EXPOSURE}'" in text
    assert f"key '{key}'" in text
    for word in expected_words:
        assert word in text, f"{word!r} missing from: {text}"


def test_unknown_key_lists_every_allowed_key() -> None:
    text = str(config_error({"email_column": "e", "list": "1"}))
    for allowed in SyncConfig.model_fields:
        assert allowed in text


@pytest.mark.parametrize("meta", ["email", None, ["email"]])
def test_block_that_is_not_a_mapping(meta: Any) -> None:
    err = config_error(meta)
    assert err.exposure == EXPOSURE
    assert err.key == "config.meta.hubspot_sync"
    assert "expected a mapping" in str(err)


def test_vars_block_that_is_not_a_mapping() -> None:
    err = config_error({"email_column": "e"}, ["email"])  # type: ignore[arg-type]
    assert err.key == "vars.hubspot_sync"
    assert "expected a mapping, got list" in str(err)


def test_wrong_type_of_properties_names_it() -> None:
    err = config_error({"email_column": "e", "properties": 5})
    assert err.key == "hubspot_sync.properties"
    assert "5" in str(err)


@pytest.mark.parametrize("value", [5, {"first_name": 1}])
def test_wrong_type_of_properties_says_list_or_mapping(value: Any) -> None:
    text = str(config_error({"email_column": "e", "properties": value}))
    assert "list" in text and "mapping" in text, text


# -- notify ---------------------------------------------------------------------------------------------------
def test_notify_from_vars_merges_key_by_key_with_the_exposure() -> None:
    defaults = {"notify": {"webhook_env": "OPS_WEBHOOK", "when": "always"}}
    cfg = parse_sync_config(EXPOSURE, {"email_column": "e", "notify": {"when": "problems"}}, defaults)
    assert cfg.notify is not None
    assert (cfg.notify.webhook_env, cfg.notify.when) == ("OPS_WEBHOOK", "problems")
    assert parse_sync_config(EXPOSURE, {"email_column": "e"}, None).notify is None


def test_notify_unknown_key_lists_the_notify_keys() -> None:
    err = config_error({"email_column": "e", "notify": {"webhook": "OPS_WEBHOOK"}})
    assert err.key == "hubspot_sync.notify.webhook"
    assert "unknown key; expected one of: webhook_env, when" in err.problem


def test_a_url_pasted_as_webhook_env_is_refused_without_being_echoed() -> None:
    url = "https://hooks.slack.com/services/T0/B0/secret-part"
    err = config_error({"email_column": "e", "notify": {"webhook_env": url}})
    assert err.key == "hubspot_sync.notify.webhook_env"
    assert "name of an environment variable" in err.problem
    assert "secret-part" not in str(err) and "hooks.slack.com" not in str(err)


def test_notify_when_is_problems_or_always() -> None:
    err = config_error({"email_column": "e", "notify": {"webhook_env": "X", "when": "sometimes"}})
    assert err.key == "hubspot_sync.notify.when" and "'problems' or 'always'" in err.problem


# -- data templates (vars.hubspot_sync.templates, selected with `template: NAME`) ------------------------------
TEMPLATES = {
    "crm_basics": {
        "properties": {"first_name": "firstname", "last_name": "lastname"},
        "list_id": 42,
        "null_as_empty": True,
        "notify": {"webhook_env": "CRM_WEBHOOK", "when": "always"},
    },
    "audit_all": {"log_records": "all"},
}


def with_templates(**defaults: Any) -> dict[str, Any]:
    return {"templates": TEMPLATES, **defaults}


def test_an_exposure_takes_the_keys_of_the_template_it_selects() -> None:
    cfg = parse_sync_config(EXPOSURE, {"email_column": "email", "template": "crm_basics"}, with_templates())
    assert cfg.template == "crm_basics"
    assert cfg.properties == {"first_name": "firstname", "last_name": "lastname"}
    assert (cfg.list_id, cfg.null_as_empty) == ("42", True)
    assert cfg.notify is not None and (cfg.notify.webhook_env, cfg.notify.when) == ("CRM_WEBHOOK", "always")
    # Without `template:` nothing of the templates applies, and `templates` is no sync default.
    plain = parse_sync_config(EXPOSURE, {"email_column": "email"}, with_templates())
    assert plain == SyncConfig(email_column="email")


def test_merge_order_is_vars_defaults_then_template_then_exposure_deep_merged() -> None:
    defaults = with_templates(log_records="all", null_as_empty=False, workflow="automatic", list_id="1")
    meta = {
        "email_column": "email",
        "template": "crm_basics",
        "list_id": "7",  # the exposure overrides the template
        "properties": {"last_name": "surname", "city": "city"},  # merged key by key with the template's
        "notify": {"when": "problems"},
    }
    cfg = parse_sync_config(EXPOSURE, meta, defaults)
    assert cfg.list_id == "7"  # exposure > template > vars
    assert cfg.null_as_empty is True  # template > vars
    assert (cfg.log_records, cfg.workflow) == ("all", "automatic")  # vars fill what neither sets
    assert cfg.properties == {"first_name": "firstname", "last_name": "surname", "city": "city"}
    assert cfg.notify is not None and (cfg.notify.webhook_env, cfg.notify.when) == ("CRM_WEBHOOK", "problems")


def test_a_template_can_supply_the_email_column() -> None:
    hubspot_vars = {"templates": {"std": {"email_column": "mail", "properties": ["a"]}}}
    cfg = parse_sync_config(EXPOSURE, {"template": "std"}, hubspot_vars)
    assert (cfg.email_column, cfg.properties) == ("mail", ["a"])


def test_vars_may_select_a_default_template_and_the_exposure_another() -> None:
    defaults = with_templates(template="audit_all")
    assert parse_sync_config(EXPOSURE, {"email_column": "e"}, defaults).log_records == "all"
    cfg = parse_sync_config(EXPOSURE, {"email_column": "e", "template": "crm_basics"}, defaults)
    assert (cfg.template, cfg.log_records, cfg.null_as_empty) == ("crm_basics", "rejected", True)


def test_templates_do_not_leak_into_the_merge_inputs() -> None:
    hubspot_vars = with_templates()
    meta = {"email_column": "e", "template": "crm_basics", "properties": {"x": "y"}}
    parse_sync_config(EXPOSURE, meta, hubspot_vars)
    assert TEMPLATES["crm_basics"]["properties"] == {"first_name": "firstname", "last_name": "lastname"}
    assert meta["properties"] == {"x": "y"}


@pytest.mark.parametrize(
    ("hubspot_vars", "name", "key", "words"),
    [
        (
            with_templates(),
            "crm_basic",
            "hubspot_sync.template",
            ["unknown template 'crm_basic'", "audit_all, crm_basics"],
        ),
        (None, "crm_basics", "hubspot_sync.template", ["unknown template 'crm_basics'", "defines: none"]),
        ({"templates": {}}, "x", "hubspot_sync.template", ["unknown template 'x'", "defines: none"]),
        (with_templates(), 5, "hubspot_sync.template", ["name of a template", "5"]),
        (with_templates(), "", "hubspot_sync.template", ["name of a template"]),
    ],
)
def test_unknown_template_is_a_config_error_naming_it(
    hubspot_vars: Any, name: Any, key: str, words: list[str]
) -> None:
    err = config_error({"email_column": "e", "template": name}, hubspot_vars)
    assert (err.exposure, err.key) == (EXPOSURE, key)
    for word in words:
        assert word in err.problem, err.problem


@pytest.mark.parametrize(
    ("template", "key", "words"),
    [
        ({"propertes": ["a"]}, "vars.hubspot_sync.templates.bad.propertes", ["unknown key", "properties"]),
        ({"log_schema": "x"}, "vars.hubspot_sync.templates.bad.log_schema", ["unknown key"]),
        ({"templates": {}}, "vars.hubspot_sync.templates.bad.templates", ["unknown key"]),
        (
            {"template": "crm_basics"},
            "vars.hubspot_sync.templates.bad.template",
            ["cannot select another template"],
        ),
        (["email"], "vars.hubspot_sync.templates.bad", ["expected a mapping", "['email']"]),
        (None, "vars.hubspot_sync.templates.bad", ["expected a mapping"]),
    ],
)
def test_a_bad_template_is_a_config_error_naming_the_template_and_key(
    template: Any, key: str, words: list[str]
) -> None:
    err = config_error(
        {"email_column": "e", "template": "bad"}, {"templates": {**TEMPLATES, "bad": template}}
    )
    assert (err.exposure, err.key) == (EXPOSURE, key)
    assert f"key '{key}'" in str(err)
    for word in words:
        assert word in err.problem, err.problem


def test_unknown_key_in_a_template_lists_the_exposure_keys_but_not_template() -> None:
    err = config_error({"email_column": "e", "template": "bad"}, {"templates": {"bad": {"lst": "1"}}})
    listed = err.problem.split("expected one of: ")[1].split(", ")
    assert set(listed) == set(SyncConfig.model_fields) - {"template"}
    assert "properties" in listed and "notify" in listed


def test_a_wrong_value_from_a_template_is_named_at_the_template() -> None:
    hubspot_vars = {
        "templates": {"bad": {"log_records": "some", "notify": {"webhook_env": "X", "when": "often"}}}
    }
    err = config_error({"email_column": "e", "template": "bad"}, hubspot_vars)
    assert err.key in {
        "vars.hubspot_sync.templates.bad.log_records",
        "vars.hubspot_sync.templates.bad.notify.when",
    }
    # An exposure overriding the bad value fixes it; the error then names the template's other bad key.
    err = config_error({"email_column": "e", "template": "bad", "log_records": "all"}, hubspot_vars)
    assert err.key == "vars.hubspot_sync.templates.bad.notify.when" and "often" in err.problem
    # The exposure's own wrong value is named at the exposure.
    meta = {"email_column": "e", "template": "bad", "log_records": "all", "notify": {"when": "rarely"}}
    err = config_error(meta, hubspot_vars)
    assert err.key == "hubspot_sync.notify.when" and "rarely" in err.problem


def test_templates_that_are_not_a_mapping_is_a_config_error() -> None:
    err = config_error({"email_column": "e", "template": "a"}, {"templates": ["a"]})
    assert err.key == "vars.hubspot_sync.templates"
    assert "expected a mapping of template names" in err.problem
