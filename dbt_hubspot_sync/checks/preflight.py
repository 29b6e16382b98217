"""`dbt-hubspot-sync check`: config, token, scopes, lists, properties and notifications, without reading or
sending a row. Every problem found is one `Finding` that explains itself; `check` exits with their number."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from dbt_hubspot_sync.checks.canary import canary_problem
from dbt_hubspot_sync.checks.lists import list_problem
from dbt_hubspot_sync.config.plan import SyncPlan, build_plan, resolve_model, select_exposures
from dbt_hubspot_sync.config.sync_config import META_KEY
from dbt_hubspot_sync.dbt_bridge import DbtSession
from dbt_hubspot_sync.engine.notify import WebhookConfigError, webhook_url
from dbt_hubspot_sync.errors import ConfigError
from dbt_hubspot_sync.hubspot import AuthError, HubSpotClient, HubSpotError

# What a sync needs, and the empty call that proves each without changing anything (HubSpot checks a call's
# scopes before it reads the body).
SCOPE_PROBES = [
    (
        "crm.objects.contacts.read",
        "POST",
        lambda paths: paths.batch_read(),
        {"idProperty": "email", "properties": ["email"], "inputs": []},
    ),
    ("crm.objects.contacts.write", "POST", lambda paths: paths.batch_update(), {"inputs": []}),
]


@dataclass(frozen=True)
class Finding:
    exposure: str  # "" for what every exposure shares (token, scopes)
    check: str
    ok: bool
    detail: str


def property_problems(plan: SyncPlan, hubspot_properties: Sequence[dict[str, Any]]) -> list[str]:
    """What HubSpot would reject for every row: unknown or read-only properties."""
    known = {p.get("name"): p for p in hubspot_properties}
    problems = []
    for column, name in zip(plan.columns, plan.properties):
        prop = known.get(name)
        if prop is None:
            problems.append(
                f"column '{column}' → property '{name}' does not exist in HubSpot (PROPERTY_DOESNT_EXIST)"
            )
        elif (prop.get("modificationMetadata") or {}).get("readOnlyValue"):
            problems.append(f"column '{column}' → property '{name}' is read-only in HubSpot")
    return problems


def enumerations(plan: SyncPlan, hubspot_properties: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """{property: (option values, takes several)} for the plan's enumeration properties."""
    known = {p.get("name"): p for p in hubspot_properties}
    out: dict[str, Any] = {}
    for name in plan.properties:
        prop = known.get(name) or {}
        if prop.get("type") == "enumeration":
            options = frozenset(
                str(o["value"]) for o in prop.get("options") or [] if isinstance(o, dict) and "value" in o
            )
            out[name] = (options, prop.get("fieldType") == "checkbox")
    return out


def preflight_properties(plans: Sequence[SyncPlan], client: HubSpotClient) -> list[SyncPlan]:
    """Compare each plan's properties with GET /crm/v3/properties/contacts before any row is read: an unknown or
    read-only property is a config error naming it (every row would fail); enumerations' options are attached
    to the plan so that a value outside them fails that row alone, locally, with INVALID_OPTION."""
    if not plans:
        return []
    properties = client.get_properties()
    checked = []
    for plan in plans:
        problems = property_problems(plan, properties)
        if problems:
            raise ConfigError(plan.exposure, f"{META_KEY}.properties", "; ".join(problems))
        checked.append(replace(plan, enumerations=enumerations(plan, properties)))
    return checked


def _scope_problem(exc: AuthError, scope: str) -> str:
    named = ", ".join(exc.missing_scopes) or scope
    return (
        f"the token lacks scope {scope} (HubSpot requires one of: {named}); add it to the private app or "
        "service key and use its new token"
    )


def check_plans(session: DbtSession, select: Sequence[str]) -> tuple[list[SyncPlan], list[Finding]]:
    """Every selected exposure's config against its relation's columns; unlike a sync, all problems, not the
    first. An unknown --select name is still a usage error (raised)."""
    project, wh = session.project, session.warehouse
    plans, findings = [], [Finding("", "cleanup", False, p) for p in [canary_problem(wh)] if p]
    for name in select_exposures(project, select):
        try:
            model = resolve_model(project, name)
            plan = build_plan(project, name, wh.columns(model.relation or "", model))
        except ConfigError as exc:
            findings.append(Finding(name, "config", False, str(exc)))
            continue
        plans.append(plan)
        findings.append(
            Finding(
                name,
                "config",
                True,
                f"{plan.relation}: {len(plan.properties)} properties, email in '{plan.email_column}'",
            )
        )
        notify = plan.config.notify
        if notify is not None:
            try:
                webhook_url(notify)
                findings.append(
                    Finding(name, "notify", True, f"webhook from {notify.webhook_env}, when {notify.when}")
                )
            except WebhookConfigError as exc:
                findings.append(Finding(name, "notify", False, str(exc)))
    return plans, findings


def check_hubspot(plans: Sequence[SyncPlan], client_factory: Callable[[], HubSpotClient]) -> list[Finding]:
    """Token, scopes, properties and lists: read calls and empty batches only."""
    try:
        client = client_factory()
    except (AuthError, ValueError) as exc:  # no token; a refused HUBSPOT_BASE_URL
        return [Finding("", "token", False, f"{exc}; HubSpot checks skipped")]
    # Every call on the API version(s) the syncs use (api_version), so `check` never calls a retired path.
    versions = list(dict.fromkeys(p.config.api_version for p in plans)) or [None]
    with client:
        client = client.with_version(versions[0])
        try:
            properties = client.get_properties()
        except HubSpotError as exc:
            return [Finding("", "token", False, f"{exc}; HubSpot checks skipped")]
        findings = [
            Finding("", "token", True, f"accepted by {client.base_url} (contact properties readable)")
        ]
        for scope, method, path_of, body in SCOPE_PROBES:
            try:
                for version in versions:
                    client.probe(method, path_of(client.with_version(version).paths), body)
                findings.append(Finding("", "scope", True, scope))
            except AuthError as exc:
                findings.append(Finding("", "scope", False, _scope_problem(exc, scope)))
        findings += _import_scope(plans, client)
        for plan in plans:
            problems = property_problems(plan, properties)
            findings += [Finding(plan.exposure, "properties", False, p) for p in problems]
            if not problems:
                findings.append(Finding(plan.exposure, "properties", True, ", ".join(plan.properties)))
            if plan.config.list_id:
                findings.append(_check_list(plan, client))
        return findings


def _import_scope(plans: Sequence[SyncPlan], client: HubSpotClient) -> list[Finding]:
    """crm.import, for syncs that may import (push: import, or auto): a read of the account's imports proves it.
    Without it `push: import` cannot run (a problem); `auto` sends every run by batch calls (a note)."""
    importing = sorted({p.config.push for p in plans if p.config.push != "batch"})
    if not importing:
        return []
    try:
        client.probe("GET", client.paths.imports() + "?limit=1", None)
        return [Finding("", "scope", True, "crm.import (HubSpot's imports API, push: import | auto)")]
    except AuthError as exc:
        problem = _scope_problem(exc, "crm.import")
        if "import" in importing:
            return [Finding("", "scope", False, f"{problem} (push: import)")]
        return [Finding("", "scope", True, f"{problem}; meanwhile push: auto sends every run by batch calls")]


def _check_list(plan: SyncPlan, client: HubSpotClient) -> Finding:
    """The list exists, is MANUAL or SNAPSHOT, and the token may add to it (crm.lists.read + write)."""
    list_id = plan.config.list_id or ""
    try:
        kind, problem = list_problem(client, list_id)
    except AuthError as exc:
        return Finding(plan.exposure, "list", False, _scope_problem(exc, "crm.lists.read"))
    except HubSpotError as exc:
        return Finding(plan.exposure, "list", False, f"list_id: {exc}")
    if problem is not None:
        return Finding(plan.exposure, "list", False, f"list_id: {problem}")
    try:
        versioned = client.with_version(plan.config.api_version)
        versioned.probe("PUT", versioned.paths.memberships_add(list_id), [])
    except AuthError as exc:
        return Finding(plan.exposure, "list", False, _scope_problem(exc, "crm.lists.write"))
    return Finding(plan.exposure, "list", True, f"list {list_id} ({kind}) accepts records")
