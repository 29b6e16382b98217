"""The one module that imports dbt internals.

Everything else sees plain data (`Exposure`, `Model`) and a `Warehouse` that runs SQL on the active
profile/target through dbt's own adapter, so any warehouse dbt supports works. dbt's internals move between
minor versions; keeping them here means one file to fix when they do.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import META_KEY, deep_merge
from .errors import ConfigError, SyncError, WarehouseError

PACKAGE = "dbt_hubspot_sync"


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


def dbt_args(
    project_dir: str | os.PathLike | None,
    profiles_dir: str | os.PathLike | None,
    target: str | None,
    vars_yaml: str | None,
) -> list[str]:
    """The common dbt CLI arguments, in dbt's own spelling."""
    args: list[str] = []
    if project_dir:
        args += ["--project-dir", str(project_dir)]
    if profiles_dir:
        args += ["--profiles-dir", str(profiles_dir)]
    elif project_dir and (Path(project_dir) / "profiles.yml").exists():
        args += ["--profiles-dir", str(project_dir)]
    if target:
        args += ["--target", target]
    if vars_yaml:
        args += ["--vars", vars_yaml]
    return args


def _hubspot_vars(config: Any) -> dict[str, Any]:
    """vars.hubspot_sync: global, then project-scoped, then --vars, deep-merged."""
    all_vars = config.vars.to_dict() if hasattr(config.vars, "to_dict") else dict(config.vars)
    merged: dict[str, Any] = {}
    for layer in (
        all_vars.get(META_KEY),
        (all_vars.get(config.project_name) or {}).get(META_KEY),
        (config.cli_vars or {}).get(META_KEY),
    ):
        if layer is None:
            continue
        if not isinstance(layer, dict):
            raise ConfigError(None, f"vars.{META_KEY}", f"expected a mapping, got {type(layer).__name__}")
        merged = deep_merge(merged, layer)
    return merged


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


class Warehouse:
    """SQL on the target's connection, through dbt's adapter (plain DB-API underneath)."""

    def __init__(self, adapter: Any, project: Project) -> None:
        self._adapter = adapter
        self.project = project
        self.type = adapter.type()
        # DB-API placeholder style of the driver behind the adapter.
        self.placeholder = "?" if self.type in ("duckdb", "sqlite", "databricks", "spark") else "%s"
        # Drivers known to bind a Python list as a SQL array (run_log.insert_rows writes column arrays).
        self.array_params = self.type in ("duckdb", "postgres")

    def quote(self, identifier: str) -> str:
        return self._adapter.quote(identifier)

    @contextmanager
    def guard(self, what: str) -> Iterator[None]:
        """dbt's database errors (unreachable host, missing grant, ...) as a WarehouseError saying what was being
        done, on which target: raised before any HubSpot call, they mean nothing was sent."""
        try:
            yield
        except SyncError:
            raise
        except Exception as exc:  # dbt's wrappers and raw driver errors (a DuckDB file that cannot be opened)
            where = ".".join(p for p in (self.project.target_database, self.project.target_schema) if p)
            detail = " ".join(str(exc).split())
            raise WarehouseError(
                f"warehouse ({self.type}, {where}): {what} failed: {type(exc).__name__}: {detail}"
            ) from None

    def relation(self, schema: str, identifier: str) -> str:
        rel = self._adapter.Relation.create(
            database=self.project.target_database, schema=schema, identifier=identifier
        )
        return str(rel)

    def render(self, macro: str, **kwargs: Any) -> Any:
        """Call one of this package's macros (dispatched per adapter) and return what it returns."""
        return self._adapter.execute_macro(macro, project=PACKAGE, kwargs=kwargs)

    def columns(self, relation: str, model: Model) -> list[str]:
        """Column names of a built relation, as the warehouse reports them."""
        parts = [p.strip('"`') for p in relation.split(".")]
        rel = self._adapter.Relation.create(
            database=parts[-3] if len(parts) >= 3 else None,
            schema=parts[-2] if len(parts) >= 2 else None,
            identifier=parts[-1],
        )
        with self.guard(f"reading the columns of {relation}"):
            return [c.name for c in self._adapter.get_columns_in_relation(rel)]

    def _handle(self) -> Any:
        return self._adapter.connections.get_thread_connection().handle

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple]:
        cur = self._handle().cursor()
        cur.execute(sql, params) if params is not None else cur.execute(sql)
        try:
            rows = cur.fetchall()
        except Exception:  # statements without a result set
            rows = []
        self.commit()
        return rows

    def commit(self) -> None:
        conn = self._adapter.connections.get_thread_connection()
        if conn.transaction_open:
            # A macro's statement() opened dbt's transaction (BEGIN): close it the way dbt does.
            self._adapter.connections.commit()
        elif self.type != "duckdb" and hasattr(conn.handle, "commit"):
            # DB-API drivers open transactions implicitly; DuckDB autocommits outside BEGIN.
            conn.handle.commit()

    def stream(self, sql: str, chunk_size: int) -> Iterator[tuple[list[str], list[tuple]]]:
        """Yield (column names, rows) chunks; only one chunk is ever held in memory."""
        handle = self._handle()
        if self.type == "duckdb":
            # A cursor of its own (a duplicate DuckDB connection), so log writes on the main one don't reset it.
            cur = handle.cursor().cursor()
        elif self.type == "postgres":
            # Server-side cursor, held over commits (log writes commit while we read).
            cur = handle.cursor(name="dbt_hubspot_sync_read", withhold=True)
            cur.itersize = chunk_size
        else:
            cur = handle.cursor()
        try:
            cur.execute(sql)
            names: list[str] | None = None
            while True:
                rows = cur.fetchmany(chunk_size)
                if names is None:
                    names = [d[0] for d in cur.description] if cur.description else []
                if not rows:
                    return
                yield names, rows  # DB-API rows: sequences, indexed by position only
        finally:
            cur.close()
            if self.type == "postgres":
                handle.commit()


class DbtSession:
    """A parsed project plus an open adapter connection. Use `open_session()`."""

    def __init__(self, project: Project, warehouse: Warehouse) -> None:
        self.project = project
        self.warehouse = warehouse


def _quiet_dbt_args() -> list[str]:
    return ["--quiet", "--no-write-json", "--no-partial-parse", "--no-send-anonymous-usage-stats"]


@contextmanager
def open_session(
    project_dir: str | os.PathLike | None = None,
    profiles_dir: str | os.PathLike | None = None,
    target: str | None = None,
    vars_yaml: str | None = None,
) -> Iterator[DbtSession]:
    """Parse the project with dbt itself and open one connection to its target."""
    from dbt.adapters.factory import get_adapter, register_adapter, reset_adapters
    from dbt.cli.main import dbtRunner
    from dbt.config.runtime import RuntimeConfig
    from dbt.context.providers import generate_runtime_macro_context
    from dbt.flags import get_flags
    from dbt.mp_context import get_mp_context

    args = ["parse", *_quiet_dbt_args(), *dbt_args(project_dir, profiles_dir, target, vars_yaml)]
    res = dbtRunner().invoke(args)
    if not res.success or res.result is None:
        detail = f": {res.exception}" if res.exception else ""
        raise SyncError(f"dbt could not parse the project (dbt {' '.join(args)}){detail}")
    manifest = res.result
    config = RuntimeConfig.from_args(get_flags())
    register_adapter(config, get_mp_context())
    adapter = get_adapter(config)
    adapter.set_macro_resolver(manifest)
    adapter.set_macro_context_generator(generate_runtime_macro_context)
    project = project_from_manifest(manifest, config, adapter)
    try:
        with adapter.connection_named("dbt_hubspot_sync"):
            yield DbtSession(project, Warehouse(adapter, project))
    finally:
        adapter.cleanup_connections()
        reset_adapters()


def invocation_id() -> str | None:
    """dbt's invocation id of the current process (inside a dbt run), if any."""
    try:
        from dbt_common.invocation import get_invocation_id

        return get_invocation_id()
    except Exception:  # dbt absent or not initialised: standalone
        return None


def fire_warning(message: str) -> None:
    """Print a warning through dbt's own logger (shown in `dbt run` output and logs/dbt.log)."""
    try:
        from dbt_common.events.base_types import EventLevel
        from dbt_common.events.functions import fire_event
        from dbt_common.events.types import Note

        fire_event(Note(msg=message), level=EventLevel.WARN)
    except Exception:  # outside dbt: fall back to stderr
        import sys

        print(f"warning: {message}", file=sys.stderr)


@dataclass
class DbtInvocation:
    success: bool
    invocation_id: str | None
    exception: BaseException | None


def invoke_dbt(
    argv: Sequence[str],
    *,
    on_node_finished: Any,
    on_nodes_done: Any,
) -> DbtInvocation:
    """Run a dbt command in-process. `on_node_finished(unique_id, status, invocation_id)` is called from dbt's
    thread right after a node finished (a model's work committed), with dbt's status (success, error, skipped;
    a test's pass, warn, fail, error, skipped); it must only hand the work off. `on_nodes_done()` is called
    in dbt's main thread once every node ran, before dbt closes its connections, and may block until the
    hand-offs are done (a worker may be using a connection of dbt's adapter)."""
    from dbt.adapters.factory import FACTORY
    from dbt.cli.main import dbtRunner

    seen: dict[str, str | None] = {"invocation_id": None}

    wrapped: list[Any] = []

    def hold_cleanup() -> None:
        # dbt offers no event between "nodes done" and "connections closed": wrap the adapter's cleanup
        # for this invocation only (restored below).
        for adapter in list(FACTORY.adapters.values()):
            if adapter in wrapped:
                continue
            original = adapter.cleanup_connections

            def cleanup(original: Any = original) -> None:
                on_nodes_done()
                original()

            adapter.cleanup_connections = cleanup
            wrapped.append(adapter)

    def callback(msg: Any) -> None:
        name = msg.info.name
        if name == "ConcurrencyLine":  # main thread, adapter registered, nodes about to run
            hold_cleanup()
        elif name == "NodeFinished":
            info = msg.data.node_info
            seen["invocation_id"] = msg.info.invocation_id
            on_node_finished(info.unique_id, str(info.node_status), msg.info.invocation_id)

    try:
        res = dbtRunner(callbacks=[callback]).invoke(list(argv))
    finally:
        for adapter in wrapped:
            del adapter.cleanup_connections  # the instance attribute: back to the class's method
        on_nodes_done()
    return DbtInvocation(bool(res.success), seen["invocation_id"], res.exception)


@contextmanager
def adapter_connection(adapter_type: str, project: Project, name: str) -> Iterator[Warehouse]:
    """A connection of its own (per thread, as dbt's) on the adapter of the dbt command running in-process."""
    from dbt.adapters.factory import FACTORY

    adapter = FACTORY.adapters[adapter_type]
    with adapter.connection_named(name):
        yield Warehouse(adapter, project)
