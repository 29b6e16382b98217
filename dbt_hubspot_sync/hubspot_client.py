"""Moved to the `dbt_hubspot_sync.hubspot` subpackage: import from there.

transitional: remove once runner/cli/duckdb_plugin import dbt_hubspot_sync.hubspot
"""

from .hubspot import (
    BATCH_SIZE,
    DEFAULT_BASE_URL,
    PROPERTIES_PATH,
    READ_PATH,
    UPDATE_PATH,
    AuthError,
    ClientStats,
    DailyLimitError,
    HubSpotClient,
    HubSpotError,
    InterruptedRunError,
    ListOutcome,
    MissingTokenError,
    PropertyError,
    RecordFailure,
    RetriesExhaustedError,
    StatsSnapshot,
    UpdateOutcome,
)

__all__ = [
    "HubSpotClient",
    "UpdateOutcome",
    "RecordFailure",
    "ListOutcome",
    "ClientStats",
    "StatsSnapshot",
    "HubSpotError",
    "AuthError",
    "MissingTokenError",
    "DailyLimitError",
    "PropertyError",
    "RetriesExhaustedError",
    "InterruptedRunError",
    "DEFAULT_BASE_URL",
    "BATCH_SIZE",
    "READ_PATH",
    "UPDATE_PATH",
    "PROPERTIES_PATH",
]
