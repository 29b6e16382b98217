"""The list rule, in one place for `check` (preflight.py) and every push (pipeline.py): a sync adds contacts only
to a static list, MANUAL or SNAPSHOT; HubSpot refuses to add records to a DYNAMIC one (docs/hubspot_api.md §6)."""

from __future__ import annotations

from dbt_hubspot_sync.hubspot import HubSpotClient, HubSpotError

STATIC_KINDS = ("MANUAL", "SNAPSHOT")


def list_problem(client: HubSpotClient, list_id: str) -> tuple[str | None, str | None]:
    """(the list's processingType, why a sync cannot add to it or None). Other HubSpot errors are raised."""
    try:
        kind = client.get_list(list_id).get("processingType")
    except HubSpotError as exc:
        if exc.status == 404:
            return None, f"HubSpot has no list {list_id}"
        raise
    if kind not in STATIC_KINDS:
        return kind, f"list {list_id} is {kind}; records can only be added to MANUAL or SNAPSHOT lists"
    return kind, None
