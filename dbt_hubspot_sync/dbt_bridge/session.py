"""Running dbt in-process: parsing a project, opening its target's connection, invoking a dbt command."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dbt_hubspot_sync.dbt_bridge.project import Project, project_from_manifest
from dbt_hubspot_sync.dbt_bridge.warehouse import Warehouse
from dbt_hubspot_sync.errors import UsageError


def dbt_args(
    project_dir: str | os.PathLike | None,
    profiles_dir: str | os.PathLike | None,
    target: str | None,
    vars_yaml: str | None,
    profile: str | None = None,
) -> list[str]:
    """The common dbt CLI arguments, in dbt's own spelling."""
    args: list[str] = []
    if project_dir:
        args += ["--project-dir", str(project_dir)]
    if profiles_dir:
        args += ["--profiles-dir", str(profiles_dir)]
    elif project_dir and (Path(project_dir) / "profiles.yml").exists():
        args += ["--profiles-dir", str(project_dir)]
    if profile:
        args += ["--profile", profile]
    if target:
        args += ["--target", target]
    if vars_yaml:
        args += ["--vars", vars_yaml]
    return args


@dataclass(frozen=True)
class DbtArgs:
    """What a dbt command line selects, resolved as dbt resolves it: its flags (short ones too), then the
    DBT_* environment variables, then dbt's defaults. `given` names the settings the user set (flag or env)."""

    command: str
    project_dir: str | None
    profiles_dir: str | None
    profile: str | None
    target: str | None
    vars: dict[str, Any]
    given: frozenset[str]  # of: project_dir, profiles_dir, profile, target, vars

    @property
    def vars_yaml(self) -> str | None:
        import json

        return json.dumps(self.vars) if self.vars else None


def dbt_flags_given(argv: Sequence[str]) -> dict[str, Any]:
    """The settings a dbt command line spells out itself ({"target": "pg", "vars": "{a: 1}", ...}, raw, not
    validated): what a wrapper option may not contradict."""
    import click
    from dbt.cli.main import cli

    try:
        ctx = cli.make_context("dbt", list(argv), resilient_parsing=True)
        _name, cmd, rest = cli.resolve_command(ctx, list(argv))
        if cmd is None:
            return {}
        opts, _args, _order = cmd.make_parser(ctx).parse_args(list(rest))
    except click.ClickException:
        return {}  # resolve_dbt_argv reports it with dbt's words
    return dict(opts)


def resolve_dbt_argv(argv: Sequence[str]) -> DbtArgs:
    """Parse a dbt command line with dbt's own parser (SyncError naming dbt's complaint when it is not one)."""
    import click
    from click.core import ParameterSource
    from dbt.cli.flags import Flags
    from dbt.cli.main import cli

    try:
        ctx = cli.make_context("dbt", list(argv))
        name, cmd, rest = cli.resolve_command(ctx, list(argv))
        if cmd is None or name is None:
            raise UsageError(f"not a dbt command: {' '.join(argv)}")
        sub = cmd.make_context(name, list(rest), parent=ctx)
        flags = Flags(sub)
    except click.exceptions.Exit:
        raise UsageError(f"not a dbt command to run: dbt {' '.join(argv)}") from None
    except click.ClickException as exc:
        raise UsageError(f"dbt {' '.join(argv)}: {exc.format_message()}") from None
    given = frozenset(
        key
        for key in ("project_dir", "profiles_dir", "profile", "target", "vars")
        if sub.get_parameter_source(key) in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)
    )

    def text(value: Any) -> str | None:
        return None if value is None else str(value)

    return DbtArgs(
        command=name,
        project_dir=text(getattr(flags, "PROJECT_DIR", None)),
        profiles_dir=text(getattr(flags, "PROFILES_DIR", None)),
        profile=text(getattr(flags, "PROFILE", None)),
        target=text(getattr(flags, "TARGET", None)),
        vars=dict(getattr(flags, "VARS", None) or {}),
        given=given,
    )


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
    profile: str | None = None,
) -> Iterator[DbtSession]:
    """Parse the project with dbt itself and open one connection to its target."""
    from dbt.adapters.factory import get_adapter, register_adapter, reset_adapters
    from dbt.cli.main import dbtRunner
    from dbt.config.runtime import RuntimeConfig
    from dbt.context.providers import generate_runtime_macro_context
    from dbt.flags import get_flags
    from dbt.mp_context import get_mp_context

    args = ["parse", *_quiet_dbt_args(), *dbt_args(project_dir, profiles_dir, target, vars_yaml, profile)]
    res = dbtRunner().invoke(args)
    if not res.success or res.result is None:
        detail = f": {res.exception}" if res.exception else ""
        raise UsageError(f"dbt could not parse the project (dbt {' '.join(args)}){detail}")
    manifest = res.result
    config = RuntimeConfig.from_args(get_flags())
    register_adapter(config, get_mp_context())
    adapter = get_adapter(config)
    adapter.set_macro_resolver(manifest)
    adapter.set_macro_context_generator(generate_runtime_macro_context)
    project = project_from_manifest(manifest, config, adapter)
    try:
        with adapter.connection_named("dbt_hubspot_sync"):
            warehouse = Warehouse(adapter, project)
            # This session is the only user of the connection's database (no dbt command runs in it): what the
            # product's queries hold in DuckDB is bounded while it lasts (dbt_bridge/duckdb_memory.py).
            with warehouse.bounded_memory():
                yield DbtSession(project, warehouse)
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

    adapter = FACTORY.adapters.get(adapter_type)
    if adapter is None:  # the project was parsed for another target than the one dbt runs
        running = ", ".join(FACTORY.adapters) or "none"
        raise UsageError(f"dbt runs adapter(s) {running}, the sync was planned for {adapter_type}")
    with adapter.connection_named(name):
        yield Warehouse(adapter, project)
