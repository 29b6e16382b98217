"""Errors users see. Each names what was wrong and what was expected; none ever holds the token."""

from __future__ import annotations


class SyncError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigError(SyncError):
    """A sync's configuration is wrong: raised before any row is read or sent (exit code 2)."""

    def __init__(self, exposure: str | None, key: str | None, problem: str) -> None:
        self.exposure, self.key, self.problem = exposure, key, problem
        where = []
        if exposure:
            where.append(f"exposure '{exposure}'")
        if key:
            where.append(f"key '{key}'")
        super().__init__(f"{', '.join(where)}: {problem}" if where else problem)


class WarehouseError(SyncError):
    """The warehouse could not be reached or refused a statement before any run started (exit code 2)."""


class WarehouseLostError(WarehouseError):
    """The warehouse went away during a run (connection terminated, server restarted, disk full): the run ends
    `failed` naming the step, and the next run converges (exit code 1)."""
