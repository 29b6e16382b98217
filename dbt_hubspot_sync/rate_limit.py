"""Moved to `dbt_hubspot_sync.hubspot.rate_limit`.

transitional: remove once runner/cli/duckdb_plugin import dbt_hubspot_sync.hubspot
"""

from .hubspot.rate_limit import DEFAULT_INTERVAL_MS, DEFAULT_MAX, RateLimiter, defaults_from_env

__all__ = ["RateLimiter", "DEFAULT_MAX", "DEFAULT_INTERVAL_MS", "defaults_from_env"]
