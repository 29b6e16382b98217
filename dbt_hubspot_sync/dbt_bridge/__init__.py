"""The one place that imports dbt internals.

Everything else sees plain data (`Exposure`, `Model`, `Project`) and a `Warehouse` that runs SQL on the active
profile/target through dbt's own adapter, so any warehouse dbt supports works. dbt's internals move between
minor versions; keeping them here means one folder to fix when they do:
`project.py` (the manifest as plain data), `warehouse.py` (SQL through the adapter), `session.py` (parsing,
connections, dbt's command line and in-process invocations).
"""

from dbt_hubspot_sync.dbt_bridge.project import (
    Exposure,
    Model,
    Project,
    project_from_manifest,
    read_run_results,
)
from dbt_hubspot_sync.dbt_bridge.session import (
    DbtArgs,
    DbtInvocation,
    DbtSession,
    adapter_connection,
    dbt_args,
    dbt_flags_given,
    fire_warning,
    invocation_id,
    invoke_dbt,
    open_session,
    resolve_dbt_argv,
)
from dbt_hubspot_sync.dbt_bridge.warehouse import PACKAGE, Warehouse

__all__ = [
    "PACKAGE",
    "DbtArgs",
    "DbtInvocation",
    "DbtSession",
    "Exposure",
    "Model",
    "Project",
    "Warehouse",
    "adapter_connection",
    "dbt_args",
    "dbt_flags_given",
    "fire_warning",
    "invocation_id",
    "invoke_dbt",
    "open_session",
    "project_from_manifest",
    "read_run_results",
    "resolve_dbt_argv",
]
