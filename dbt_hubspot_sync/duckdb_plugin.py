"""The dbt-duckdb plugin, at the module path profiles name (`plugins: [{module: dbt_hubspot_sync.duckdb_plugin}]`);
it lives with the other doors in doors/duckdb_plugin.py."""

from dbt_hubspot_sync.doors.duckdb_plugin import Plugin

__all__ = ["Plugin"]
