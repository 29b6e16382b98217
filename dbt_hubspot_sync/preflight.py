"""`dbt-hubspot-sync check`: config, token, scopes, lists and properties, without reading or sending a row."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .hubspot_client import HubSpotClient, HubSpotError
from .plan import SyncPlan


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


def check(plans: Sequence[SyncPlan], client: HubSpotClient) -> list[tuple[str, str, str]]:
    """(exposure, check, result) rows; result starts with 'ok' or 'FAIL'."""
    from .runner import check_lists  # the same list rule the runs apply

    rows: list[tuple[str, str, str]] = []
    properties = client.get_properties()  # also proves the token and the read scope
    for plan in plans:
        rows.append((plan.exposure, "config", f"ok: {plan.relation}, {len(plan.properties)} properties"))
        problems = property_problems(plan, properties)
        rows.append((plan.exposure, "properties", "FAIL: " + "; ".join(problems) if problems else "ok"))
        if plan.config.list_id:
            try:
                check_lists([plan], client)
                rows.append((plan.exposure, "list", f"ok: list {plan.config.list_id} accepts records"))
            except (HubSpotError, ValueError) as exc:
                rows.append((plan.exposure, "list", f"FAIL: {exc}"))
    return rows
