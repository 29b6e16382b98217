"""The exceptions a HubSpot call raises: `HubSpotError` (a `SyncError`, the package's one root: errors.py) and a
subclass per thing a caller acts on.

`AuthError` (401/403, with the missing scopes) and its `MissingTokenError` (no token configured), `DailyLimitError`
(429 DAILY: stop for today), `PropertyError` (a 400 about a property: every row would fail), `InterruptedRunError`
(Ctrl-C before the call was sent) and `RetriesExhaustedError` (a transient failure outlived its retries). Every
message is built already scrubbed of the access token (see `auth`), so `str()` and `repr()` are safe to log.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from dbt_hubspot_sync.errors import SyncError, UsageKind

if TYPE_CHECKING:
    from dbt_hubspot_sync.hubspot.results import UpdateOutcome

__all__ = [
    "HubSpotError",
    "AuthError",
    "MissingTokenError",
    "DailyLimitError",
    "PropertyError",
    "RetriesExhaustedError",
    "InterruptedRunError",
]


class HubSpotError(SyncError):
    """A HubSpot call failed. `call` is e.g. "POST /crm/v3/objects/contacts/batch/update"; `status` the HTTP
    status (None for transport failures); `category` HubSpot's category; `code` HubSpot's or our code.
    `outcome_so_far` is set when raised from `update`: what was already done before the error."""

    def __init__(
        self,
        message: str,
        *,
        call: str,
        status: int | None = None,
        category: str | None = None,
        code: str | None = None,
        outcome_so_far: UpdateOutcome | None = None,
    ) -> None:
        super().__init__(message)
        self.call = call
        self.status = status
        self.category = category
        self.code = code
        self.outcome_so_far = outcome_so_far


class AuthError(UsageKind, HubSpotError):
    """401/403: the token is invalid, expired or lacks scopes (`missing_scopes`)."""

    def __init__(self, message: str, *, missing_scopes: Sequence[str] = (), **kw: Any) -> None:
        super().__init__(message, **kw)
        self.missing_scopes = list(missing_scopes)


class MissingTokenError(AuthError):
    """HUBSPOT_ACCESS_TOKEN is not set (a configuration problem, found before any call)."""


class DailyLimitError(HubSpotError):
    """429 with policyName DAILY: nothing more can be sent today; the run ends cleanly."""


class PropertyError(HubSpotError):
    """A 400 about a property (unknown or read-only): it would fail every row, so the run must stop."""

    def __init__(self, message: str, *, property_name: str | None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.property_name = property_name


class InterruptedRunError(HubSpotError):
    """The run was interrupted (Ctrl-C) before this call was sent: nothing of it reached HubSpot."""


class RetriesExhaustedError(HubSpotError):
    """Retries ran out on a transient failure (5xx, 423, timeout, connection error, repeated 429)."""
