"""From a parsed project to sync plans: every config error surfaces here, before a row is read."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from dbt_hubspot_sync.config.properties import hubspot_property_name
from dbt_hubspot_sync.config.sync_config import META_KEY, SyncConfig, log_schema_for
from dbt_hubspot_sync.dbt_bridge import Model, Project
from dbt_hubspot_sync.errors import ConfigError


@dataclass(frozen=True)
class SyncPlan:
    exposure: str
    model: Model
    relation: str
    config: SyncConfig
    email_column: str  # as the warehouse spells it
    columns: tuple[str, ...]  # source columns of the properties, in send order
    properties: tuple[str, ...]  # HubSpot property names, same order
    log_schema: str
    # Filled by the property preflight: for each enumeration property sent, its option values and whether it
    # takes several (checkbox: "a;b"). Values outside them fail locally (INVALID_OPTION), not a whole batch.
    enumerations: Mapping[str, tuple[frozenset[str], bool]] = field(
        default_factory=dict, compare=False, hash=False
    )


def sync_exposures(project: Project) -> list[str]:
    """Names of the exposures that are syncs (have config.meta.hubspot_sync), sorted."""
    return sorted(name for name, e in project.exposures.items() if META_KEY in e.meta)


def resolve_model(project: Project, exposure: str) -> Model:
    exp = project.exposures[exposure]
    if len(exp.depends_on) != 1:
        found = ", ".join(exp.depends_on) or "none"
        raise ConfigError(
            exposure, "depends_on", f"expected exactly one model (ref('...')) to read from, found {found}"
        )
    model = project.models.get(exp.depends_on[0])
    if model is None:
        raise ConfigError(
            exposure, "depends_on", f"'{exp.depends_on[0]}' is not a model, seed or source of the project"
        )
    if model.materialized == "ephemeral" or model.relation is None:
        raise ConfigError(
            exposure,
            "depends_on",
            f"model '{model.name}' is ephemeral; a sync reads a table or view, so materialize it",
        )
    return model


def _match_column(exposure: str, key: str, wanted: str, columns: Sequence[str], relation: str) -> str:
    if wanted in columns:
        return wanted
    folded = [c for c in columns if c.lower() == wanted.lower()]
    if len(folded) == 1:
        return folded[0]
    raise ConfigError(
        exposure, key, f"column '{wanted}' does not exist in {relation}; columns: {', '.join(columns)}"
    )


def build_plan(project: Project, exposure: str, columns: Sequence[str]) -> SyncPlan:
    """Validate one exposure against the columns its relation really has."""
    config = project.sync_config(exposure)
    model = resolve_model(project, exposure)
    relation = model.relation or ""
    if not columns:
        raise ConfigError(
            exposure,
            "depends_on",
            f"relation {relation} of model '{model.name}' does not exist in the warehouse: build it "
            "first (dbt run)",
        )
    email = _match_column(exposure, f"{META_KEY}.email_column", config.email_column, columns, relation)

    if config.properties is None:
        pairs = [(c, hubspot_property_name(c)) for c in columns if c != email]
    elif isinstance(config.properties, list):
        pairs = [(c, hubspot_property_name(c)) for c in config.properties]
    else:
        pairs = list(config.properties.items())
    resolved: list[tuple[str, str]] = []
    for col, prop in pairs:
        col = _match_column(exposure, f"{META_KEY}.properties", col, columns, relation)
        if prop != hubspot_property_name(prop) or not prop:
            raise ConfigError(
                exposure,
                f"{META_KEY}.properties.{col}",
                f"'{prop}' is not a HubSpot property name (lowercase a-z, 0-9 and _ only)",
            )
        resolved.append((col, prop))
    seen: dict[str, str] = {}
    for col, prop in resolved:
        if prop in seen:
            raise ConfigError(
                exposure,
                f"{META_KEY}.properties",
                f"columns '{seen[prop]}' and '{col}' both become HubSpot property '{prop}'",
            )
        seen[prop] = col
    if not resolved:
        raise ConfigError(exposure, f"{META_KEY}.properties", "expected at least one property column to send")
    log_schema = log_schema_for(project.hubspot_vars, project.target_schema)
    return SyncPlan(
        exposure=exposure,
        model=model,
        relation=relation,
        config=config,
        email_column=email,
        columns=tuple(c for c, _ in resolved),
        properties=tuple(p for _, p in resolved),
        log_schema=log_schema,
    )


def select_exposures(project: Project, select: Sequence[str] | None) -> list[str]:
    """The syncs named by --select (all syncs when empty); an unknown name is a usage error."""
    syncs = sync_exposures(project)
    if not select:
        return syncs
    unknown = [s for s in select if s not in syncs]
    if unknown:
        available = ", ".join(syncs) or "none"
        raise ConfigError(
            unknown[0], None, f"no exposure with config.meta.{META_KEY} has this name; syncs: {available}"
        )
    return [s for s in syncs if s in select]
