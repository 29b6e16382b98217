"""Plans from a parsed project: every configuration error surfaces here, before a row is read.

The project is built from the plain dataclasses `dbt_bridge` hands out, so no dbt run is needed.
"""

from __future__ import annotations

from typing import Any

import pytest

from dbt_hubspot_sync.config.plan import build_plan, resolve_model, select_exposures, sync_exposures
from dbt_hubspot_sync.dbt_bridge import Exposure, Model, Project
from dbt_hubspot_sync.errors import ConfigError

CONTACTS = Model("model.p.contacts", "contacts", "model", "table", '"db"."main"."contacts"')
EPHEMERAL = Model("model.p.staging", "staging", "model", "ephemeral", None)
SEED = Model("seed.p.people", "people", "seed", "seed", '"db"."main"."people"')
COLUMNS = ["Email", "Amperity ID", "first_name", "Lifetime Value"]


def project(
    meta: dict[str, Any] | None = None,
    depends_on: tuple[str, ...] = (CONTACTS.unique_id,),
    hubspot_vars: dict[str, Any] | None = None,
    extra: dict[str, Exposure] | None = None,
) -> Project:
    exposures = {"hs": Exposure("hs", {"hubspot_sync": meta} if meta is not None else {}, depends_on)}
    exposures.update(extra or {})
    return Project(
        name="p",
        adapter_type="duckdb",
        target_schema="main",
        target_database="db",
        exposures=exposures,
        models={m.unique_id: m for m in (CONTACTS, EPHEMERAL, SEED)},
        hubspot_vars=hubspot_vars or {},
    )


def plan_error(proj: Project, columns: list[str] = COLUMNS, exposure: str = "hs") -> ConfigError:
    with pytest.raises(ConfigError) as info:
        build_plan(proj, exposure, columns)
    return info.value


# -- properties ----------------------------------------------------------------------------------------
def test_default_properties_are_every_column_but_the_email() -> None:
    plan = build_plan(project({"email_column": "Email"}), "hs", COLUMNS)
    assert plan.email_column == "Email"
    assert plan.columns == ("Amperity ID", "first_name", "Lifetime Value")
    assert plan.properties == ("amperity_id", "first_name", "lifetime_value")
    assert plan.relation == CONTACTS.relation
    assert plan.model == CONTACTS
    assert plan.exposure == "hs"
    assert plan.log_schema == "main"


def test_property_list_derives_names_by_the_rule() -> None:
    plan = build_plan(
        project({"email_column": "Email", "properties": ["Amperity ID", "first_name"]}), "hs", COLUMNS
    )
    assert plan.columns == ("Amperity ID", "first_name")
    assert plan.properties == ("amperity_id", "first_name")


def test_property_mapping_keeps_the_given_names_and_order() -> None:
    meta = {"email_column": "Email", "properties": {"first_name": "firstname", "Lifetime Value": "ltv"}}
    plan = build_plan(project(meta), "hs", COLUMNS)
    assert plan.columns == ("first_name", "Lifetime Value")
    assert plan.properties == ("firstname", "ltv")


def test_columns_match_case_insensitively_and_keep_the_warehouse_spelling() -> None:
    # Snowflake-style upper-case columns, lower-case config.
    cols = ["EMAIL", "FIRST_NAME", "AMPERITY ID"]
    plan = build_plan(
        project({"email_column": "email", "properties": ["first_name", "amperity id"]}), "hs", cols
    )
    assert plan.email_column == "EMAIL"
    assert plan.columns == ("FIRST_NAME", "AMPERITY ID")
    assert plan.properties == ("first_name", "amperity_id")


def test_default_properties_from_upper_case_columns_are_lower_case() -> None:
    plan = build_plan(project({"email_column": "email"}), "hs", ["EMAIL", "FIRSTNAME"])
    assert plan.columns == ("FIRSTNAME",)
    assert plan.properties == ("firstname",)


def test_vars_log_schema_is_used_for_the_log() -> None:
    plan = build_plan(project({"email_column": "Email"}, hubspot_vars={"log_schema": "audit"}), "hs", COLUMNS)
    assert plan.log_schema == "audit"


@pytest.mark.parametrize("value", ["", None])
def test_empty_vars_log_schema_falls_back_to_the_target_schema(value: Any) -> None:
    plan = build_plan(project({"email_column": "Email"}, hubspot_vars={"log_schema": value}), "hs", COLUMNS)
    assert plan.log_schema == "main"


def test_vars_log_schema_that_is_not_a_name_is_a_config_error() -> None:
    err = plan_error(project({"email_column": "Email"}, hubspot_vars={"log_schema": 42}))
    assert err.key == "vars.hubspot_sync.log_schema"
    assert "42" in err.problem


def test_vars_defaults_reach_the_plan_config() -> None:
    plan = build_plan(project({"email_column": "Email"}, hubspot_vars={"log_records": "all"}), "hs", COLUMNS)
    assert plan.config.log_records == "all"


def test_a_seed_can_feed_a_sync() -> None:
    plan = build_plan(project({"email_column": "Email"}, depends_on=(SEED.unique_id,)), "hs", COLUMNS)
    assert plan.relation == SEED.relation


# -- errors --------------------------------------------------------------------------------------------
def test_missing_email_column_names_the_column_and_the_relation() -> None:
    err = plan_error(project({"email_column": "mail"}))
    assert err.exposure == "hs"
    assert err.key == "hubspot_sync.email_column"
    assert "'mail'" in str(err)
    assert CONTACTS.relation in str(err)


def test_missing_property_column_names_the_column_and_the_relation() -> None:
    err = plan_error(project({"email_column": "Email", "properties": ["first_name", "last_name"]}))
    assert err.key == "hubspot_sync.properties"
    assert "'last_name'" in str(err)
    assert CONTACTS.relation in str(err)
    assert "first_name" in str(err)  # the columns that do exist are listed


def test_missing_mapped_column_is_an_error() -> None:
    err = plan_error(project({"email_column": "Email", "properties": {"nope": "firstname"}}))
    assert "'nope'" in str(err)


@pytest.mark.parametrize("bad", ["First Name", "FirstName", "first-name", ""])
def test_mapping_to_a_non_hubspot_name_is_an_error(bad: str) -> None:
    err = plan_error(project({"email_column": "Email", "properties": {"first_name": bad}}))
    assert err.exposure == "hs"
    assert err.key == "hubspot_sync.properties.first_name"
    assert f"'{bad}'" in str(err)
    assert "lowercase" in str(err)


def test_two_columns_normalising_to_one_name_is_an_error() -> None:
    cols = ["email", "Amperity ID", "amperity_id"]
    err = plan_error(project({"email_column": "email"}), cols)
    assert err.key == "hubspot_sync.properties"
    assert "'Amperity ID'" in str(err) and "'amperity_id'" in str(err)


def test_two_mapped_columns_to_one_property_is_an_error() -> None:
    err = plan_error(
        project({"email_column": "Email", "properties": {"first_name": "x", "Amperity ID": "x"}})
    )
    assert "'x'" in str(err)


def test_empty_property_list_is_an_error() -> None:
    err = plan_error(project({"email_column": "Email", "properties": []}))
    assert err.key == "hubspot_sync.properties"
    assert "at least one" in str(err)


def test_relation_with_only_the_email_column_has_nothing_to_send() -> None:
    err = plan_error(project({"email_column": "Email"}), ["Email"])
    assert "at least one" in str(err)


def test_config_errors_surface_in_build_plan_before_the_model_is_resolved() -> None:
    err = plan_error(project({"email_column": "Email", "typo": 1}, depends_on=()))
    assert err.key == "hubspot_sync.typo"


def test_relation_not_built_names_relation_and_model() -> None:
    err = plan_error(project({"email_column": "Email"}), [])
    assert err.key == "depends_on"
    assert CONTACTS.relation in str(err)
    assert "'contacts'" in str(err)
    assert "dbt run" in str(err)


def test_ephemeral_model_is_an_error() -> None:
    proj = project({"email_column": "Email"}, depends_on=(EPHEMERAL.unique_id,))
    with pytest.raises(ConfigError) as info:
        resolve_model(proj, "hs")
    assert info.value.key == "depends_on"
    assert "ephemeral" in str(info.value) and "'staging'" in str(info.value)
    assert "ephemeral" in str(plan_error(proj))


def test_missing_model_is_an_error() -> None:
    proj = project({"email_column": "Email"}, depends_on=("model.p.gone",))
    err = plan_error(proj)
    assert err.exposure == "hs" and err.key == "depends_on"
    assert "model.p.gone" in str(err)


@pytest.mark.parametrize("deps", [(), (CONTACTS.unique_id, SEED.unique_id)])
def test_exactly_one_depends_on_node(deps: tuple[str, ...]) -> None:
    err = plan_error(project({"email_column": "Email"}, depends_on=deps))
    assert err.key == "depends_on"
    assert "exactly one" in str(err)
    for dep in deps:
        assert dep in str(err)


def test_resolve_model_returns_the_model() -> None:
    assert resolve_model(project({"email_column": "Email"}), "hs") == CONTACTS


# -- selection -----------------------------------------------------------------------------------------
def selection_project() -> Project:
    extra = {
        "b_sync": Exposure("b_sync", {"hubspot_sync": {"email_column": "Email"}}, (CONTACTS.unique_id,)),
        "a_sync": Exposure("a_sync", {"hubspot_sync": {"email_column": "Email"}}, (CONTACTS.unique_id,)),
        "dashboard": Exposure("dashboard", {"owner_team": "bi"}, (CONTACTS.unique_id,)),
    }
    return project({"email_column": "Email"}, extra=extra)


def test_only_exposures_with_the_meta_block_are_syncs() -> None:
    assert sync_exposures(selection_project()) == ["a_sync", "b_sync", "hs"]


def test_select_none_means_every_sync() -> None:
    assert select_exposures(selection_project(), None) == ["a_sync", "b_sync", "hs"]
    assert select_exposures(selection_project(), []) == ["a_sync", "b_sync", "hs"]


def test_select_keeps_the_named_syncs() -> None:
    assert select_exposures(selection_project(), ["hs", "a_sync"]) == ["a_sync", "hs"]


@pytest.mark.parametrize("name", ["nope", "dashboard"])
def test_select_unknown_name_is_an_error_listing_the_syncs(name: str) -> None:
    with pytest.raises(ConfigError) as info:
        select_exposures(selection_project(), ["hs", name])
    assert info.value.exposure == name
    assert f"'{name}'" in str(info.value)
    assert "a_sync, b_sync, hs" in str(info.value)
