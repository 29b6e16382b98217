"""What a row is before HubSpot is asked anything: the one home of the local rules, used by the run itself
(`SyncRun.feed`) and by the guards' estimate of a run before it sends (guards.py).

A row (as the `sync_rows_query` macro returns it: email_raw, email_clean, rank, state record id, state hash,
*values) is either settled locally, with its outcome, reason code and detail, or a `Candidate` for HubSpot.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dbt_hubspot_sync.config.plan import SyncPlan
from dbt_hubspot_sync.config.properties import properties_hash, to_hubspot_value
from dbt_hubspot_sync.engine.outcomes import Candidate, option_problem
from dbt_hubspot_sync.engine.validation import validate_email
from dbt_hubspot_sync.tables.state import NOT_FOUND

REMEMBERED_MISS = (
    "no HubSpot contact had this email at its last lookup (remembered in hubspot_sync_state; HubSpot's search"
    " for new contacts and the periodic full recheck find it once it exists)"
)

# (outcome, reason code, detail) of a row settled without HubSpot.
Settled = tuple[str, str | None, str | None]


def classify(row: Sequence[Any], plan: SyncPlan, *, trust_not_found: bool) -> Settled | Candidate:
    raw, clean, rank, known_id, known_hash = row[0], row[1], row[2], row[3], row[4]
    verdict = validate_email(clean)
    if not verdict.ok:
        return ("invalid", verdict.reason, verdict.detail)
    if rank is not None and int(rank) > 1:
        return ("duplicate", "DUPLICATE_EMAIL", "another row with the same cleaned email is sent instead")
    if known_id is None and known_hash == NOT_FOUND and trust_not_found:
        return ("not_found", "OBJECT_NOT_FOUND", REMEMBERED_MISS)
    null_as_empty = plan.config.null_as_empty
    try:
        props = {}
        for name, value in zip(plan.properties, row[5:]):
            text = to_hubspot_value(value, null_as_empty=null_as_empty)
            if text is not None:
                props[name] = text
    except (TypeError, ValueError) as exc:
        return ("failed", "INVALID_VALUE", str(exc))
    if not props:
        return ("unchanged", "NO_PROPERTIES", "every property is NULL; nothing to send")
    bad_option = option_problem(props, plan.enumerations)
    if bad_option:
        return ("failed", "INVALID_OPTION", bad_option)
    digest = properties_hash(props)
    if known_hash == digest:  # (an imported contact's record id may be unknown: NULL)
        return (
            "unchanged",
            "UNCHANGED",
            f"contact {known_id or '(imported)'} already has these values (hubspot_sync_state)",
        )
    return Candidate(raw, clean, props, digest, known_id or None)
