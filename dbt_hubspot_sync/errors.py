"""Errors users see: one root, `SyncError`, and a kind per thing the user does about an error. Each message names
what was wrong and what was expected; none ever holds the token.

The kind (a mixin) decides the CLI's exit code (cli.main maps by type, `exit_code`):
- `UsageKind` (exit 2): fix the command line, the YAML or the environment; nothing was sent.
- `RunKind` (exit 1): a run started and ended `failed`; the next run converges.
HubSpot's errors (hubspot/errors.py) are `SyncError`s too: `HubSpotError` and its subclasses.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_RUN_FAILED = 1  # a run ended completed_with_errors or failed
EXIT_USAGE = 2  # bad usage or configuration: nothing ran


class SyncError(Exception):
    """Base of every error this package raises on purpose. `exit_code`: what the CLI exits with for it."""

    exit_code: int = EXIT_RUN_FAILED


class UsageKind:
    """Mixin: the fix is in the command line, the YAML or the environment; nothing was sent (exit 2)."""

    exit_code = EXIT_USAGE


class RunKind:
    """Mixin: a run started and ended `failed`, keeping what was done; the next run converges (exit 1)."""

    exit_code = EXIT_RUN_FAILED


class UsageError(UsageKind, SyncError):
    """The command line asks for something that cannot be done (contradicting flags, a missing dbt command)."""


class SettingError(UsageKind, SyncError, ValueError):
    """An environment variable or option holds a value the product refuses (HUBSPOT_BASE_URL over plain http,
    an unknown HUBSPOT_API_VERSION, a webhook URL that is not https). Also a ValueError: it is a bad value."""


class DriverError(SyncError):
    """A statement failed inside a warehouse driver of our own (the Spark cursor, dbt_bridge/spark.py), where a
    DB-API driver would raise its own error: `Warehouse.guard` and log_target.Guarded name the step around it."""


class ConfigError(UsageKind, SyncError):
    """A sync's configuration is wrong: raised before any row is read or sent (exit code 2)."""

    def __init__(self, exposure: str | None, key: str | None, problem: str) -> None:
        self.exposure, self.key, self.problem = exposure, key, problem
        where = []
        if exposure:
            where.append(f"exposure '{exposure}'")
        if key:
            where.append(f"key '{key}'")
        super().__init__(f"{', '.join(where)}: {problem}" if where else problem)


class WarehouseError(UsageKind, SyncError):
    """The warehouse could not be reached or refused a statement before any run started (exit code 2)."""


class WarehouseLostError(RunKind, WarehouseError):
    """The warehouse went away during a run (connection terminated, server restarted, disk full): the run ends
    `failed` naming the step, and the next run converges (exit code 1)."""
