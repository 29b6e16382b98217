"""A parsed dbt project as plain data: the exposures, the nodes they read, the tests, vars.hubspot_sync."""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dbt_hubspot_sync.config.sync_config import META_KEY, SyncConfig, parse_sync_config
from dbt_hubspot_sync.errors import ConfigError


@dataclass(frozen=True)
class Model:
    unique_id: str
    name: str
    resource_type: str  # model | seed | snapshot | source
    materialized: str | None
    relation: str | None  # rendered, quoted as the adapter does; None for ephemeral


@dataclass(frozen=True)
class Exposure:
    name: str
    meta: dict[str, Any]
    depends_on: tuple[str, ...]


@dataclass
class Project:
    """A parsed dbt project: what plans are built from."""

    name: str
    adapter_type: str
    target_schema: str
    target_database: str | None
    exposures: dict[str, Exposure]
    models: dict[str, Model]
    hubspot_vars: dict[str, Any] = field(default_factory=dict)
    invocation_id: str | None = None
    target_path: str | None = None  # where dbt writes run_results.json
    parents: dict[str, tuple[str, ...]] = field(default_factory=dict)  # node → the nodes it reads
    tests: dict[str, tuple[str, ...]] = field(default_factory=dict)  # test → the node(s) it tests
    _configs: dict[str, SyncConfig] = field(default_factory=dict, repr=False, compare=False)

    def sync_config(self, exposure: str) -> SyncConfig:
        """The exposure's one resolved configuration (vars defaults < template < exposure), parsed once: every
        door, check and report reads it here. A config error names the exposure and the key."""
        if exposure not in self._configs:
            meta = self.exposures[exposure].meta.get(META_KEY)
            self._configs[exposure] = parse_sync_config(exposure, meta, self.hubspot_vars)
        return self._configs[exposure]


def _hubspot_vars(config: Any) -> dict[str, Any]:
    """vars.hubspot_sync as dbt's own `var('hubspot_sync')` resolves it for the project's nodes: --vars, else
    project-scoped, else global; the first defined replaces the others whole (dbt does not merge a var's value),
    so the macros (`_hubspot_vars`) and Python see one block."""
    all_vars = config.vars.to_dict() if hasattr(config.vars, "to_dict") else dict(config.vars)
    for layer in (
        (config.cli_vars or {}).get(META_KEY),
        (all_vars.get(config.project_name) or {}).get(META_KEY),
        all_vars.get(META_KEY),
    ):
        if layer is None:
            continue
        if not isinstance(layer, dict):
            raise ConfigError(None, f"vars.{META_KEY}", f"expected a mapping, got {type(layer).__name__}")
        return dict(layer)
    return {}


def _tested_nodes(node: Any) -> tuple[str, ...]:
    """The node(s) a test is about: a generic test's attached node (a relationships test also reads the node it
    points `to`), else what it reads (a singular test)."""
    attached = getattr(node, "attached_node", None)
    return (attached,) if attached else tuple(node.depends_on.nodes)


def project_from_manifest(manifest: Any, config: Any, adapter: Any) -> Project:
    models: dict[str, Model] = {}
    parents: dict[str, tuple[str, ...]] = {}
    tests: dict[str, tuple[str, ...]] = {}
    for node in manifest.nodes.values():
        if str(node.resource_type) == "test":
            tests[node.unique_id] = _tested_nodes(node)
        else:  # a seed depends on macros only
            parents[node.unique_id] = tuple(getattr(node.depends_on, "nodes", ()))
    for unit_test in getattr(manifest, "unit_tests", {}).values():  # run before their model, may skip it
        tests[unit_test.unique_id] = tuple(unit_test.depends_on.nodes)
    for node in itertools.chain(manifest.nodes.values(), manifest.sources.values()):
        rtype = str(node.resource_type)
        if rtype not in ("model", "seed", "snapshot", "source"):
            continue
        materialized = getattr(node.config, "materialized", None)
        relation = None
        if materialized != "ephemeral":
            relation = str(adapter.Relation.create_from(config, node))
        models[node.unique_id] = Model(node.unique_id, node.name, rtype, materialized, relation)
    exposures = {
        e.name: Exposure(e.name, dict(e.config.meta or e.meta or {}), tuple(e.depends_on.nodes))
        for e in manifest.exposures.values()
        if e.package_name == config.project_name
    }
    creds = config.credentials
    return Project(
        name=config.project_name,
        adapter_type=adapter.type(),
        target_schema=creds.schema,
        target_database=getattr(creds, "database", None),
        exposures=exposures,
        models=models,
        hubspot_vars=_hubspot_vars(config),
        target_path=str(Path(config.project_root) / config.target_path),
        parents=parents,
        tests=tests,
    )


def read_run_results(target_path: str | os.PathLike | None) -> tuple[str | None, dict[str, str]]:
    """(invocation id, {unique_id: status}) of the last dbt command's run_results.json; (None, {}) if absent."""
    import json

    path = Path(target_path or "target") / "run_results.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None, {}
    statuses = {r["unique_id"]: str(r["status"]) for r in data.get("results", []) if "unique_id" in r}
    return data.get("metadata", {}).get("invocation_id"), statuses
