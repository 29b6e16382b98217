"""One exception root: every error the package raises on purpose is a `SyncError`, and its kind (errors.py) alone
decides the CLI's exit code."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import dbt_hubspot_sync
from dbt_hubspot_sync.checks.canary import CanaryError
from dbt_hubspot_sync.dbt_bridge.spark import SparkSqlError
from dbt_hubspot_sync.doors.cli import main
from dbt_hubspot_sync.engine.notify import WebhookConfigError
from dbt_hubspot_sync.errors import (
    EXIT_RUN_FAILED,
    EXIT_USAGE,
    ConfigError,
    SettingError,
    SyncError,
    UsageError,
    WarehouseError,
    WarehouseLostError,
)
from dbt_hubspot_sync.hubspot import AuthError, DailyLimitError, HubSpotError, MissingTokenError
from dbt_hubspot_sync.hubspot.imports import ImportRefused
from dbt_hubspot_sync.tables.writer import WriterBusyError

# The sandbox is a server of its own: ErrorAnswer is the HTTP answer its handlers raise, never seen by a user.
OUTSIDE_THE_ROOT = {"dbt_hubspot_sync.sandbox.bodies.ErrorAnswer"}


def _exception_classes() -> list[type[BaseException]]:
    found = []
    for info in pkgutil.walk_packages(dbt_hubspot_sync.__path__, "dbt_hubspot_sync."):
        if info.name.endswith("duckdb_plugin"):
            continue  # imports dbt-duckdb's plugin base; its classes are checked by name below
        module = importlib.import_module(info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, BaseException) and cls.__module__ == module.__name__:
                found.append(cls)
    return found


def test_every_exception_class_of_the_package_is_a_sync_error() -> None:
    classes = _exception_classes()
    assert len(classes) >= 10, classes  # the walk found the package's errors
    strays = [
        f"{c.__module__}.{c.__qualname__}"
        for c in classes
        if not issubclass(c, SyncError) and f"{c.__module__}.{c.__qualname__}" not in OUTSIDE_THE_ROOT
    ]
    assert strays == []


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (ConfigError("x", "hubspot_sync.email_column", "is required"), EXIT_USAGE),
        (UsageError("--pending and --dry-run cannot be combined"), EXIT_USAGE),
        (SettingError("HUBSPOT_API_VERSION must be one of ..."), EXIT_USAGE),
        (WebhookConfigError("environment variable X is not set"), EXIT_USAGE),
        (WarehouseError("warehouse (duckdb): connect failed"), EXIT_USAGE),
        (CanaryError("the cleanup differs"), EXIT_USAGE),
        (MissingTokenError("no token", call="init"), EXIT_USAGE),
        (AuthError("401", call="GET /crm/v3/properties/contacts", status=401), EXIT_USAGE),
        (WarehouseLostError("warehouse_lost: ..."), EXIT_RUN_FAILED),
        (SparkSqlError("[UNSUPPORTED_FEATURE] ..."), EXIT_RUN_FAILED),
        (HubSpotError("502", call="POST /crm/v3/objects/contacts/batch/read", status=502), EXIT_RUN_FAILED),
        (DailyLimitError("429 DAILY", call="POST /crm/v3/objects/contacts/batch/update", status=429), EXIT_RUN_FAILED),
        (ImportRefused("no crm.import", call="POST /crm/v3/imports"), EXIT_RUN_FAILED),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else str(v),
)
def test_the_cli_exit_code_follows_the_errors_kind(monkeypatch, capsys, error: SyncError, code: int) -> None:
    def raising(args):
        raise error

    monkeypatch.setattr("dbt_hubspot_sync.doors.cli.cmd_runs", raising)
    assert main(["runs"]) == code
    err = capsys.readouterr().err
    assert str(error) in err and "Traceback" not in err


def test_writer_busy_is_a_failed_run() -> None:
    assert issubclass(WriterBusyError, SyncError) and WriterBusyError.exit_code == EXIT_RUN_FAILED
