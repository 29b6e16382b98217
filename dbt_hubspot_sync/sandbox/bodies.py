"""HubSpot-shaped response bodies: the standard `Error`, 207 items, rate-limit bodies, timestamps."""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timezone
from typing import Any

NOT_FOUND_MESSAGE = (
    "Could not get some CONTACT objects, they may be deleted or not exist. Check that ids are valid."
)
AUTH_MESSAGE = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more "
    "details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)
SCOPES_MESSAGE = (
    "This app hasn't been granted all required scopes to make this call. Read more about required scopes "
    "here: https://developers.hubspot.com/scopes."
)
MAX_INPUTS_MESSAGE = (
    "The maximum number of inputs supported in a batch request is 100. "
    "Please reduce the number of items and try again"
)
MAX_HISTORY_INPUTS_MESSAGE = (
    "The maximum number of inputs supported in a batch request for property histories is 50. "
    "Please reduce the number of items and try again"
)


def correlation_id() -> str:
    return str(uuid.uuid4())


def now_iso() -> str:
    """UTC timestamp with milliseconds, as HubSpot writes them: 2025-11-04T20:29:54.816Z."""
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}Z"


def iso_from_epoch_ms(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def error(category: str | None, message: str, **extra: Any) -> dict[str, Any]:
    """HubSpot's standard `Error` body. The spec requires category, correlationId and message."""
    body: dict[str, Any] = {"status": "error", "message": message, "correlationId": correlation_id()}
    body.update(extra)
    if category is not None:
        body["category"] = category
    return body


def standard_error(category: str, message: str, context: dict[str, list[str]]) -> dict[str, Any]:
    """One item of a 207's `errors[]`. The spec's `StandardError` requires errors and links as well
    (real HubSpot omits them); they are included, empty, so responses validate against the spec."""
    return {
        "status": "error",
        "category": category,
        "message": message,
        "context": context,
        "errors": [],
        "links": {},
    }


def rate_limited(policy: str) -> dict[str, Any]:
    """HubSpot's 429 body: the documented DAILY one; TEN_SECONDLY_ROLLING modelled on it; SECONDLY (search) as
    captured (HGData/mk-node-hubspot PR #84, with its `groupName`)."""
    message = {
        "DAILY": "You have reached your daily limit.",
        "SECONDLY": "You have reached your secondly limit.",
    }.get(policy, "You have reached your ten_secondly_rolling limit.")
    # category RATE_LIMITS: HubSpot's 2020 changelog, and the spec's Error schema requires a category.
    body: dict[str, Any] = {
        "status": "error",
        "message": message,
        "errorType": "RATE_LIMIT",
        "correlationId": correlation_id(),
        "policyName": policy,
        "requestId": correlation_id(),
        "category": "RATE_LIMITS",
    }
    if policy == "SECONDLY":
        body["groupName"] = "publicapi:private-app-secondly:1"
    return body


def missing_scopes(required: list[str]) -> dict[str, Any]:
    return error(
        "MISSING_SCOPES",
        SCOPES_MESSAGE,
        errors=[
            {
                "message": "One or more of the following scopes are required.",
                "context": {"requiredGranularScopes": required},
            }
        ],
        links={"scopes": "https://developers.hubspot.com/scopes"},
    )


class ErrorAnswer(Exception):
    """The sandbox's answer to a whole-request failure, raised inside a handler: the HTTP status and HubSpot's JSON
    body to answer with (the client side's error is hubspot/errors.HubSpotError)."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(f"{status} {body.get('category')}: {body.get('message')}")
        self.status = status
        self.body = body


def validation_error(message: str, **extra: Any) -> ErrorAnswer:
    return ErrorAnswer(400, error("VALIDATION_ERROR", message, **extra))


def bad_json(message: str) -> ErrorAnswer:
    # HubSpot's own text ("Invalid input JSON on line L, column C: ...") carries no category; the spec's
    # Error schema requires one, so VALIDATION_ERROR is added.
    return validation_error(message)
