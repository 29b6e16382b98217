"""The one module that talks HTTP to HubSpot (or the sandbox).

Update-only at batch speed (PRODUCT.md "HubSpot calls"): emails are resolved to record ids with
`batch/read` (idProperty=email), then contacts are updated by id with `batch/update`; `batch/upsert` and
`batch/create` are never called. Responses are parsed strictly by id, never by position, and every error field
is treated as optional (HUBSPOT_NOTES.md §1.2). A whole-batch 400 is recovered from automatically: records it
names are failed and the rest resent; when it names none, the batch is bisected until offenders are single.

The access token is only ever placed in the Authorization header: it is never logged, and every message this
module builds is scrubbed of it.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import requests
from requests.adapters import HTTPAdapter

from . import __version__
from .rate_limit import RateLimiter

__all__ = [
    "HubSpotClient",
    "UpdateOutcome",
    "RecordFailure",
    "ListOutcome",
    "ClientStats",
    "StatsSnapshot",
    "HubSpotError",
    "AuthError",
    "MissingTokenError",
    "DailyLimitError",
    "PropertyError",
    "RetriesExhaustedError",
    "InterruptedRunError",
    "DEFAULT_BASE_URL",
    "BATCH_SIZE",
]

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.hubapi.com"
BATCH_SIZE = 100  # HubSpot: "Object API batch endpoints are limited to 100 inputs per request."
LIST_CHUNK = 100  # no documented cap for memberships/add; stay small (HUBSPOT_NOTES.md §3)
MAX_RATE_LIMIT_PAUSE = 600.0  # seconds: a longer Retry-After on a 429 is not waited out in one go
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})

READ_PATH = "/crm/v3/objects/contacts/batch/read"
UPDATE_PATH = "/crm/v3/objects/contacts/batch/update"
PROPERTIES_PATH = "/crm/v3/properties/contacts"

# Codes that concern a property rather than a value: every row carrying the property would fail.
PROPERTY_CODES = frozenset({"PROPERTY_DOESNT_EXIST", "READ_ONLY_VALUE"})


# ----------------------------------------------------------------------------------------------------
# Results and errors
# ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RecordFailure:
    """Why one record was not updated. `code` is HubSpot's (INVALID_EMAIL, INVALID_OPTION, ...) or ours for
    transport failures (HTTP_5XX, HTTP_423, TIMEOUT, CONNECTION_ERROR, RATE_LIMITED)."""

    code: str
    detail: str
    http_status: int | None = None


@dataclass
class UpdateOutcome:
    """Per record id: updated, not found (HubSpot has no such record) or failed (with the reason)."""

    updated: set[str] = field(default_factory=set)
    not_found: set[str] = field(default_factory=set)
    failed: dict[str, RecordFailure] = field(default_factory=dict)

    def merge(self, other: UpdateOutcome) -> None:
        self.updated |= other.updated
        self.not_found |= other.not_found
        self.failed.update(other.failed)

    def fail_all(self, ids: Iterable[str], failure: RecordFailure) -> None:
        for rid in ids:
            self.failed[rid] = failure


@dataclass
class ListOutcome:
    """`added`: now members; `missing`: HubSpot has no such record; `already`: ignored (already members)."""

    added: set[str] = field(default_factory=set)
    missing: set[str] = field(default_factory=set)
    already: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class StatsSnapshot:
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0

    def __sub__(self, other: StatsSnapshot) -> StatsSnapshot:
        return StatsSnapshot(
            self.requests - other.requests,
            self.retries - other.retries,
            self.rate_limited - other.rate_limited,
        )


class ClientStats:
    """Thread-safe counters: HTTP requests sent, retries (5xx/423/timeouts/connection), 429s received."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests = 0
        self._retries = 0
        self._rate_limited = 0

    def add(self, *, requests: int = 0, retries: int = 0, rate_limited: int = 0) -> None:
        with self._lock:
            self._requests += requests
            self._retries += retries
            self._rate_limited += rate_limited

    @property
    def requests(self) -> int:
        return self._requests

    @property
    def retries(self) -> int:
        return self._retries

    @property
    def rate_limited(self) -> int:
        return self._rate_limited

    def snapshot(self) -> StatsSnapshot:
        with self._lock:
            return StatsSnapshot(self._requests, self._retries, self._rate_limited)

    def __repr__(self) -> str:
        s = self.snapshot()
        return f"ClientStats(requests={s.requests}, retries={s.retries}, rate_limited={s.rate_limited})"


class HubSpotError(Exception):
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


class AuthError(HubSpotError):
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


# ----------------------------------------------------------------------------------------------------
# Response parsing (every field optional)
# ----------------------------------------------------------------------------------------------------
@dataclass
class _Response:
    status: int
    body: Any
    headers: Any
    text: str


@dataclass(frozen=True)
class _ValueError:
    """One entry of a 400: HubSpot's code, the property it names (if any) and its message."""

    code: str | None
    name: str | None
    message: str


def _as_dict(body: Any) -> dict[str, Any]:
    return body if isinstance(body, dict) else {}


def _str_list(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value if v is not None]
    if isinstance(value, (str, int)):
        return [str(value)]
    return []


def _parse_value_errors(body: Any) -> list[_ValueError]:
    """Collect (code, property, message) from `errors[]` and from the JSON array embedded in the message
    ("Property values were not valid: [{...,"error":"INVALID_EMAIL","name":"email"}]")."""
    b = _as_dict(body)
    found: list[_ValueError] = []
    for item in b.get("errors") or []:
        if not isinstance(item, dict):
            continue
        ctx = _as_dict(item.get("context"))
        names = _str_list(ctx.get("propertyName"))
        found.append(
            _ValueError(
                code=item.get("code") if isinstance(item.get("code"), str) else None,
                name=names[0] if names else None,
                message=str(item.get("message") or ""),
            )
        )
    message = b.get("message")
    if isinstance(message, str):
        start = message.find("[")
        if start != -1 and message.rstrip().endswith("]"):
            try:
                embedded = json.loads(message[start : message.rstrip().rfind("]") + 1])
            except ValueError:
                embedded = None
            if isinstance(embedded, list):
                for item in embedded:
                    if isinstance(item, dict):
                        found.append(
                            _ValueError(
                                code=item.get("error") if isinstance(item.get("error"), str) else None,
                                name=item.get("name") if isinstance(item.get("name"), str) else None,
                                message=str(item.get("message") or item.get("localizedErrorMessage") or ""),
                            )
                        )
    return found


def _primary_code(body: Any, status: int) -> str:
    """The most specific code a failure body carries: errors[].code / embedded "error", else category."""
    for ve in _parse_value_errors(body):
        if ve.code:
            return ve.code
    b = _as_dict(body)
    for key in ("category", "errorType"):
        if isinstance(b.get(key), str) and b[key]:
            return b[key]
    return f"HTTP_{status}"


def _body_message(body: Any, text: str) -> str:
    msg = _as_dict(body).get("message")
    if isinstance(msg, str) and msg:
        return msg
    return text[:300]


def _missing_scopes(body: Any) -> list[str]:
    scopes: list[str] = []
    b = _as_dict(body)
    contexts = [_as_dict(b.get("context"))] + [
        _as_dict(e.get("context")) for e in b.get("errors") or [] if isinstance(e, dict)
    ]
    for ctx in contexts:
        for key in ("requiredGranularScopes", "missingScopes"):
            for scope in _str_list(ctx.get(key)):
                if scope not in scopes:
                    scopes.append(scope)
    return scopes


def _rate_policy(body: Any) -> str:
    """policyName first, then category/errorType, then message (HUBSPOT_NOTES.md §5.2)."""
    b = _as_dict(body)
    policy = b.get("policyName")
    if isinstance(policy, str) and policy:
        return policy.upper()
    message = str(b.get("message") or "").lower()
    if "daily" in message:
        return "DAILY"
    if "secondly limit" in message and "ten_secondly" not in message:
        return "SECONDLY"
    return "TEN_SECONDLY_ROLLING"


def _retry_after(headers: Any) -> float | None:
    value = headers.get("Retry-After") if headers is not None else None
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP-date: rare enough to fall back to the interval


def _chunks(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


# ----------------------------------------------------------------------------------------------------
# The client
# ----------------------------------------------------------------------------------------------------
class _BearerAuth(requests.auth.AuthBase):
    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __repr__(self) -> str:
        return "_BearerAuth(<redacted>)"


class HubSpotClient:
    """Small typed client for the handful of HubSpot calls the product makes.

    All requests of all threads go through one `RateLimiter` per token (shared process-wide by default) and
    one `requests.Session` whose connection pool is sized to `concurrency`.
    """

    def __init__(
        self,
        token: str,
        base_url: str = DEFAULT_BASE_URL,
        *,
        timeout: float = 30.0,
        max_retries: int = 5,
        limiter: RateLimiter | None = None,
        concurrency: int = 8,  # per caller; the client runs 2x this in flight (HubSpot: ~19 req/s × ~0.4 s ≈ 8)
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        locked_delay: float = 2.0,
        max_rate_limit_waits: int = 10,
        retry_budget: int = 100,
        retry_budget_ratio: float = 0.1,
    ) -> None:
        if not token:
            raise MissingTokenError("no HubSpot access token given", call="init")
        self._token = token
        try:
            self.base_url = _checked_base_url(base_url)
        except ValueError as exc:
            raise ValueError(_scrub(str(exc), token)) from None
        self.timeout = timeout
        self.max_retries = max(0, max_retries)
        self.concurrency = max(1, concurrency)
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.locked_delay = locked_delay  # HubSpot: "include a delay of at least 2 seconds" after a 423
        self.max_rate_limit_waits = max_rate_limit_waits
        # A cap per run (this client's lifetime) on top of the cap per request: retries and 429 waits together
        # may number at most retry_budget + retry_budget_ratio x requests sent, so a HubSpot having a bad hour
        # fails the remaining records quickly (the next run resends them) instead of retrying for hours.
        self.retry_budget = retry_budget
        self.retry_budget_ratio = retry_budget_ratio
        self.limiter = limiter if limiter is not None else RateLimiter.for_token(token)
        self.stats = ClientStats()
        # Set by the runner on Ctrl-C: calls not yet sent are refused (InterruptedRunError); in-flight ones land.
        self.cancel: threading.Event | None = None
        self._budget_lock = threading.Lock()
        self._retries_spent = 0
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self._session = requests.Session()
        # Room for two callers' requests at once (the engine overlaps one batch's updates with the next's lookups).
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=2 * self.concurrency, max_retries=0)
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)
        # As session auth, not a default header: requests then skips its per-request ~/.netrc lookup.
        self._session.auth = _BearerAuth(token)
        self._session.headers.update(
            {
                "Accept": "application/json",
                "Content-Type": "application/json",
                "User-Agent": f"dbt-hubspot-sync/{__version__}",
            }
        )

    @classmethod
    def from_env(cls, **kw: Any) -> HubSpotClient:
        """Token from HUBSPOT_ACCESS_TOKEN (required), base URL from HUBSPOT_BASE_URL (optional)."""
        token = os.environ.get("HUBSPOT_ACCESS_TOKEN", "").strip()
        if not token:
            raise MissingTokenError(
                "HUBSPOT_ACCESS_TOKEN is not set: export a HubSpot private app or service key token in that "
                "environment variable (it is never read from a flag or YAML)",
                call="env HUBSPOT_ACCESS_TOKEN",
            )
        base_url = os.environ.get("HUBSPOT_BASE_URL", "").strip() or DEFAULT_BASE_URL
        kw.setdefault("base_url", base_url)
        return cls(token, **kw)

    def __repr__(self) -> str:
        return f"HubSpotClient(base_url={self.base_url!r}, concurrency={self.concurrency})"

    def close(self) -> None:
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)
        self._session.close()

    def __enter__(self) -> HubSpotClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- low level -----------------------------------------------------------------------------------------
    def _redact(self, text: str) -> str:
        return _scrub(text, self._token)

    def _spend_retry(self) -> bool:
        """Take one retry from the run's budget; False when it is spent."""
        with self._budget_lock:
            allowed = self.retry_budget + self.retry_budget_ratio * self.stats.requests
            if self._retries_spent + 1 > allowed:
                return False
            self._retries_spent += 1
            return True

    def _backoff(self, attempt: int) -> float:
        # Exponential with "equal jitter": between half and all of base * 2**attempt, capped.
        delay = min(self.backoff_max, self.backoff_base * (2**attempt))
        return delay / 2 + random.uniform(0, delay / 2)

    def _request(self, method: str, path: str, payload: Any = None) -> _Response:
        """Send one call, retrying transient failures; returns any non-transient response (2xx/4xx).

        Raises AuthError (401/403), DailyLimitError (429 DAILY), RetriesExhaustedError (retries ran out).
        """
        call = f"{method} {path}"
        url = self.base_url + path
        data = json.dumps(payload) if payload is not None else None
        attempt = 0  # transient retries used
        rate_waits = 0
        while True:
            # (code, status, detail) of a transient failure, when there is one
            failure: tuple[str, int | None, str] | None = None
            resp: requests.Response | None = None
            with self.limiter.slot():
                if self.cancel is not None and self.cancel.is_set():
                    raise InterruptedRunError(
                        f"interrupted: {call} was not sent (the run was stopped with SIGINT)",
                        call=call,
                        code="INTERRUPTED",
                    )
                try:
                    resp = self._session.request(method, url, data=data, timeout=self.timeout)
                except requests.Timeout as exc:
                    failure = (
                        "TIMEOUT",
                        None,
                        f"no response within {self.timeout:g} s ({type(exc).__name__})",
                    )
                except requests.ConnectionError as exc:
                    failure = ("CONNECTION_ERROR", None, f"connection failed ({type(exc).__name__})")
                finally:
                    self.stats.add(requests=1)
                if resp is not None:
                    self.limiter.observe(resp.headers)  # before the slot is released: it counts in the window
            if resp is not None:
                # HubSpot's JSON is UTF-8 (RFC 8259); decoding it ourselves skips requests' charset sniffing.
                text = resp.content.decode("utf-8", "replace")
                try:
                    body = json.loads(text) if text else None
                except ValueError:
                    body = None
                status = resp.status_code
                if status == 429:
                    self.stats.add(rate_limited=1)
                    policy = _rate_policy(body)
                    if policy == "DAILY":
                        raise DailyLimitError(
                            self._redact(
                                f"{call}: HubSpot's daily request limit is reached (429 DAILY); "
                                f"nothing more can be sent until it resets: {_body_message(body, text)}"
                            ),
                            call=call,
                            status=429,
                            category="RATE_LIMIT",
                            code="DAILY",
                        )
                    rate_waits += 1
                    if rate_waits > self.max_rate_limit_waits:
                        failure = (
                            "RATE_LIMITED",
                            429,
                            f"still rate limited ({policy}) after {rate_waits} waits",
                        )
                    elif not self._spend_retry():
                        failure = ("RATE_LIMITED", 429, f"rate limited ({policy}); {self._budget_spent()}")
                    else:
                        pause = _retry_after(resp.headers)
                        if pause is not None:
                            pause = min(pause, MAX_RATE_LIMIT_PAUSE)
                        else:
                            pause = 1.0 if policy == "SECONDLY" else self.limiter.interval_s
                        log.warning("%s: 429 %s, pausing all requests %.1f s", call, policy, pause)
                        self.limiter.block_for(pause)
                        continue  # a 429 does not consume the retry budget
                elif status == 423 or status >= 500:
                    code = "HTTP_423" if status == 423 else "HTTP_5XX"
                    failure = (code, status, f"HTTP {status}: {_body_message(body, text)}")
                elif status in (401, 403):
                    scopes = _missing_scopes(body)
                    hint = f"; missing scopes: {', '.join(scopes)}" if scopes else ""
                    raise AuthError(
                        self._redact(
                            f"{call}: HubSpot refused the access token (HTTP {status} "
                            f"{_as_dict(body).get('category') or ''}){hint}: {_body_message(body, text)}"
                        ),
                        call=call,
                        status=status,
                        category=_as_dict(body).get("category"),
                        code="MISSING_SCOPES" if scopes else "INVALID_AUTHENTICATION",
                        missing_scopes=scopes,
                    )
                else:
                    return _Response(status, body, resp.headers, text)
            if failure is None:  # unreachable: every branch above returns, raises, continues or sets it
                raise RuntimeError(f"{call}: no response and no failure recorded")
            code, status_f, detail = failure
            detail = self._redact(detail)  # bodies are echoed into messages and logs
            if code == "RATE_LIMITED" or attempt >= self.max_retries or not self._spend_retry():
                if code != "RATE_LIMITED" and attempt < self.max_retries:
                    detail = f"{detail}; {self._budget_spent()}"
                raise RetriesExhaustedError(
                    self._redact(f"{call}: gave up after {attempt} retries: {detail}"),
                    call=call,
                    status=status_f,
                    code=code,
                )
            delay = self._backoff(attempt)
            if status_f == 423:
                delay = max(delay, self.locked_delay)
            elif resp is not None and (ra := _retry_after(resp.headers)) is not None:
                delay = max(delay, min(ra, self.backoff_max))
            attempt += 1
            self.stats.add(retries=1)
            # INFO: retries are routine; the run's `retries` count reports them.
            log.info("%s: %s, retry %d/%d in %.2f s", call, detail, attempt, self.max_retries, delay)
            time.sleep(delay)

    def _budget_spent(self) -> str:
        return (
            f"this run's retry budget is spent ({self._retries_spent} retries and 429 waits for "
            f"{self.stats.requests} requests)"
        )

    def _unexpected(self, call: str, resp: _Response, expected: str) -> HubSpotError:
        return HubSpotError(
            self._redact(
                f"{call}: expected {expected}, got HTTP {resp.status} "
                f"{_as_dict(resp.body).get('category') or ''}: {_body_message(resp.body, resp.text)}"
            ),
            call=call,
            status=resp.status,
            category=_as_dict(resp.body).get("category"),
            code=_primary_code(resp.body, resp.status),
        )

    def _get_json(self, path: str, expected: str) -> Any:
        call = f"GET {path}"
        resp = self._request("GET", path)
        if resp.status != 200 or resp.body is None:
            raise self._unexpected(call, resp, expected)
        return resp.body

    def _map_concurrently(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Future[Any]]:
        """Run fn over items on up to `concurrency` threads; stops scheduling at the first exception."""
        if len(items) <= 1 or self.concurrency == 1:
            futures: list[Future[Any]] = []
            for item in items:
                fut: Future[Any] = Future()
                try:
                    fut.set_result(fn(item))
                except BaseException as exc:  # noqa: BLE001 - handed to the caller like the pool does
                    fut.set_exception(exc)
                    futures.append(fut)
                    break
                futures.append(fut)
            return futures
        pool = self._workers()
        futures = [pool.submit(fn, item) for item in items]
        done, pending = wait(futures, return_when=FIRST_EXCEPTION)
        if any(f.exception() is not None for f in done):
            for f in pending:
                f.cancel()  # in-flight chunks finish; queued ones never start
        wait(futures)
        return futures

    def _workers(self) -> ThreadPoolExecutor:
        """One pool for the client's life: threads are reused, not started per call (a million-row sync makes
        hundreds of calls). Two callers' chunks at once, as the engine overlaps two batches."""
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    max_workers=2 * self.concurrency, thread_name_prefix="hubspot"
                )
            return self._pool

    # -- public calls ----------------------------------------------------------------------------------
    def read_ids_by_email(self, emails: Sequence[str]) -> dict[str, str]:
        """lower(email) -> record id for the emails HubSpot knows; misses are simply absent.

        Raises HubSpotError when a chunk cannot be read (retries exhausted, unexpected status)."""
        unique = list(dict.fromkeys(e.strip().lower() for e in emails if e and e.strip()))
        found: dict[str, str] = {}
        for fut in self._map_concurrently(self._read_chunk, _chunks(unique, BATCH_SIZE)):
            if fut.cancelled():
                continue
            found.update(fut.result())
        return found

    def _read_chunk(self, emails: Sequence[str]) -> dict[str, str]:
        call = f"POST {READ_PATH}"
        payload = {
            "idProperty": "email",
            "properties": ["email"],
            "propertiesWithHistory": [],
            "inputs": [{"id": e} for e in emails],
        }
        resp = self._request("POST", READ_PATH, payload)
        if resp.status not in (200, 207) or not isinstance(resp.body, dict):
            raise self._unexpected(call, resp, "200 or 207 with results")
        wanted = set(emails)
        found: dict[str, str] = {}
        others: set[str] = set()  # results under another email: a merged contact found by a former email
        for result in resp.body.get("results") or []:
            if not isinstance(result, dict) or result.get("id") in (None, ""):
                continue
            props = _as_dict(result.get("properties"))
            email = str(props.get("email") or "").strip().lower()
            # By id and email only, never by position.
            if email in wanted:
                found[email] = str(result["id"])
            else:
                others.add(str(result["id"]))
        others -= set(found.values())
        named_missing = {
            i.strip().lower()
            for err in resp.body.get("errors") or []
            for i in _str_list(_as_dict(_as_dict(err).get("context")).get("ids"))
        }
        unmatched = [e for e in emails if e not in found and e not in named_missing]
        if others and len(unmatched) == 1 and len(others) == 1:
            found[unmatched[0]] = others.pop()  # the one result left belongs to the one input left
        elif others and unmatched and len(emails) > 1:
            # Several unpaired: ask for each alone, so every answer has exactly one owner.
            for e in unmatched:
                found.update(self._read_chunk([e]))
        return found

    def update(self, inputs: Sequence[tuple[str, dict[str, str]]]) -> UpdateOutcome:
        """Update existing contacts by record id, 100 a request, chunks in parallel under the limiter.

        Records are never lost: each input ends updated, not_found or failed (with HubSpot's reason). Raises
        PropertyError / DailyLimitError / AuthError / HubSpotError (unexpected status) with `outcome_so_far`.
        """
        outcome = UpdateOutcome()
        futures = self._map_concurrently(self._update_chunk, _chunks(list(inputs), BATCH_SIZE))
        first_error: BaseException | None = None
        for fut in futures:
            if fut.cancelled():
                continue
            exc = fut.exception()
            if exc is None:
                outcome.merge(fut.result())
            else:
                if isinstance(exc, HubSpotError) and exc.outcome_so_far is not None:
                    outcome.merge(exc.outcome_so_far)
                first_error = first_error or exc
        if first_error is not None:
            if isinstance(first_error, HubSpotError):
                first_error.outcome_so_far = outcome
            raise first_error
        return outcome

    def _update_chunk(self, chunk: Sequence[tuple[str, dict[str, str]]]) -> UpdateOutcome:
        outcome = UpdateOutcome()
        try:
            self._update_recover(list(chunk), outcome)
        except HubSpotError as exc:
            exc.outcome_so_far = outcome
            raise
        return outcome

    def _send_update(
        self, batch: list[tuple[str, dict[str, str]]], outcome: UpdateOutcome
    ) -> _Response | None:
        """Send one batch; record its per-id results. Returns the 400 response to recover from, else None."""
        call = f"POST {UPDATE_PATH}"
        payload = {
            # objectWriteTraceId = record id: lets HubSpot answer per-input 207 errors matched by id.
            "inputs": [{"id": rid, "objectWriteTraceId": rid, "properties": props} for rid, props in batch]
        }
        try:
            resp = self._request("POST", UPDATE_PATH, payload)
        except RetriesExhaustedError as exc:
            # The run continues; these records are failed with the transport reason (retried next run).
            outcome.fail_all(
                (rid for rid, _ in batch), RecordFailure(exc.code or "HTTP_5XX", str(exc), exc.status)
            )
            return None
        if resp.status == 400:
            return resp
        if resp.status not in (200, 207) or not isinstance(resp.body, dict):
            raise self._unexpected(call, resp, "200 or 207 (or a 400 naming bad records)")
        self._record_update_results([rid for rid, _ in batch], resp, outcome)
        for err in resp.body.get("errors") or []:
            for ve in _parse_value_errors(err):
                if ve.code in PROPERTY_CODES:
                    # Per-input 207 errors about a property: every later record would fail the same way.
                    raise PropertyError(
                        self._redact(
                            f"{call}: HubSpot rejected property {ve.name!r} ({ve.code}): {ve.message}"
                        ),
                        call=call,
                        status=resp.status,
                        category=_as_dict(err).get("category"),
                        code=ve.code,
                        property_name=ve.name,
                    )
        return None

    @staticmethod
    def _record_update_results(ids: list[str], resp: _Response, outcome: UpdateOutcome) -> None:
        body = _as_dict(resp.body)
        sent = set(ids)
        accounted: set[str] = set()
        for result in body.get("results") or []:
            rid = str(_as_dict(result).get("id") or "")
            if rid in sent:
                outcome.updated.add(rid)
                accounted.add(rid)
        categories: set[str] = set()
        for err in body.get("errors") or []:
            if not isinstance(err, dict):
                continue
            category = str(err.get("category") or "")
            categories.add(category)
            ctx = _as_dict(err.get("context"))
            named = [
                i for i in _str_list(ctx.get("ids")) + _str_list(ctx.get("objectWriteTraceId")) if i in sent
            ]
            for rid in named:
                if rid in accounted:
                    continue
                accounted.add(rid)
                if category == "OBJECT_NOT_FOUND":
                    outcome.not_found.add(rid)
                else:
                    detail = next((ve.message for ve in _parse_value_errors(err) if ve.message), "")
                    code = _primary_code(err, resp.status)
                    outcome.failed[rid] = RecordFailure(code, detail or _body_message(err, ""), resp.status)
        unaccounted = [rid for rid in ids if rid not in accounted]
        if not unaccounted:
            return
        # Neither in results nor named by an error (e.g. a merged-away id, or ids echoed as ""). When the only
        # error was "not found", that is what happened to them; otherwise we cannot tell, so report it.
        if categories == {"OBJECT_NOT_FOUND"}:
            outcome.not_found.update(unaccounted)
        else:
            detail = f"record id absent from HubSpot's {resp.status} response" + (
                f" (errors: {', '.join(sorted(c for c in categories if c))})" if categories else ""
            )
            outcome.fail_all(unaccounted, RecordFailure("NOT_IN_RESPONSE", detail, resp.status))

    def _update_recover(self, batch: list[tuple[str, dict[str, str]]], outcome: UpdateOutcome) -> None:
        """Send `batch`; on a whole-batch 400 isolate the offenders and resend the rest."""
        if not batch:
            return
        resp = self._send_update(batch, outcome)
        if resp is not None:
            self._isolate(batch, resp, outcome)

    def _isolate(
        self, batch: list[tuple[str, dict[str, str]]], resp: _Response, outcome: UpdateOutcome
    ) -> None:
        """`batch` was rejected with 400 `resp`: fail the named offenders or bisect."""
        call = f"POST {UPDATE_PATH}"
        body = resp.body
        errors = _parse_value_errors(body)
        message = _body_message(body, resp.text)
        category = _as_dict(body).get("category")

        for ve in errors:
            if ve.code in PROPERTY_CODES:
                raise PropertyError(
                    self._redact(
                        f"{call}: HubSpot rejected property {ve.name!r} ({ve.code}): "
                        f"{ve.message or message}. "
                        "Every record sending it would fail: fix the exposure's properties"
                    ),
                    call=call,
                    status=400,
                    category=category,
                    code=ve.code,
                    property_name=ve.name,
                )

        named = self._named_offenders(batch, body, errors)
        if named:
            rest = [item for item in batch if item[0] not in named]
            outcome.failed.update(named)
            log.info("%s: 400 named %d record(s); resending %d", call, len(named), len(rest))
            self._update_recover(rest, outcome)
            return

        if len(batch) == 1:
            rid = batch[0][0]
            detail = next((ve.message for ve in errors if ve.message), message)
            outcome.failed[rid] = RecordFailure(_primary_code(body, 400), detail, 400)
            return

        # Nothing named: bisect. If the left half goes through cleanly, the right half must hold the offender,
        # so it is split straight away instead of being sent whole (about log2(n)+1 requests per bad record).
        mid = len(batch) // 2
        left, right = batch[:mid], batch[mid:]
        left_resp = self._send_update(left, outcome)
        if left_resp is not None:
            self._isolate(left, left_resp, outcome)
            self._update_recover(right, outcome)
        elif len(right) == 1:
            single = self._send_update(right, outcome)
            if single is not None:
                self._isolate(right, single, outcome)
        else:
            self._isolate(right, resp, outcome)

    @staticmethod
    def _named_offenders(
        batch: list[tuple[str, dict[str, str]]], body: Any, errors: list[_ValueError]
    ) -> dict[str, RecordFailure]:
        """Records a 400 identifies: duplicate ids (context.ids) or a property value quoted in its message."""
        b = _as_dict(body)
        named: dict[str, RecordFailure] = {}
        message = _body_message(body, "")
        ids = set(_str_list(_as_dict(b.get("context")).get("ids")))
        if ids and "duplicate" in message.lower():
            for rid, _ in batch:
                if rid in ids:
                    named[rid] = RecordFailure("DUPLICATE_ID", message, 400)
        for ve in errors:
            if not ve.code or not ve.message:
                continue
            patterns: list[Callable[[str], str]] = []
            if ve.code == "INVALID_EMAIL":
                patterns.append(lambda v: f"Email address {v} is invalid")
            if ve.code == "INVALID_OPTION":
                patterns.append(lambda v: f"{v} was not one of the allowed options")
            if not patterns:
                continue
            prop = ve.name or ("email" if ve.code == "INVALID_EMAIL" else None)
            for rid, props in batch:
                if rid in named:
                    continue
                values = [props.get(prop)] if prop else list(props.values())
                for value in values:
                    if value and any(p(value).lower() in ve.message.lower() for p in patterns):
                        named[rid] = RecordFailure(ve.code, ve.message, 400)
                        break
        return named

    def add_to_list(self, list_id: str, record_ids: Sequence[str]) -> ListOutcome:
        """Add records to a MANUAL/SNAPSHOT list (PUT memberships/add), in chunks of 100."""
        path = f"/crm/v3/lists/{quote(str(list_id), safe='')}/memberships/add"
        call = f"PUT {path}"
        outcome = ListOutcome()
        unique = list(dict.fromkeys(str(r) for r in record_ids))
        for chunk in _chunks(unique, LIST_CHUNK):
            resp = self._request("PUT", path, list(chunk))
            if resp.status != 200 or not isinstance(resp.body, dict):
                raise self._unexpected(
                    call, resp, "200 with recordsIdsAdded/recordIdsMissing (a MANUAL or SNAPSHOT list)"
                )
            sent = set(chunk)
            # The spec says recordsIdsAdded, older examples recordIdsAdded: accept both.
            added = set(_str_list(resp.body.get("recordsIdsAdded"))) | set(
                _str_list(resp.body.get("recordIdsAdded"))
            )
            missing = set(_str_list(resp.body.get("recordIdsMissing")))
            outcome.added |= added & sent
            outcome.missing |= (missing & sent) - added
            outcome.already |= sent - added - missing
        return outcome

    def get_list(self, list_id: str) -> dict[str, Any]:
        """The list's definition (`processingType`, `size`, ...): GET /crm/v3/lists/{listId}."""
        path = f"/crm/v3/lists/{quote(str(list_id), safe='')}"
        body = self._get_json(path, "200 with the list")
        inner = _as_dict(body).get("list")
        return inner if isinstance(inner, dict) else _as_dict(body)

    def get_properties(self) -> list[dict[str, Any]]:
        """Every contact property (name, type, options, modificationMetadata.readOnlyValue, ...)."""
        body = self._get_json(PROPERTIES_PATH, "200 with results")
        results = _as_dict(body).get("results")
        return [r for r in results if isinstance(r, dict)] if isinstance(results, list) else []

    def probe(self, method: str, path: str, payload: Any) -> int:
        """Send a call that changes nothing (an empty batch) and return its status; AuthError (with
        `missing_scopes`) when the token may not make it. HubSpot checks a call's scopes before it reads the body,
        so this proves a write scope without writing (`check`)."""
        return self._request(method, path, payload).status

    def check_token(self) -> None:
        """Raise AuthError unless the token can read contacts' properties (a cheap, read-only probe)."""
        self.get_properties()


def _scrub(text: str, secret: str) -> str:
    """Replace the secret (in any letter case: URLs lower-case hosts) with ***."""
    if not secret or secret.lower() not in text.lower():
        return text
    return re.sub(re.escape(secret), "***", text, flags=re.IGNORECASE)


def _checked_base_url(base_url: str) -> str:
    """HTTPS only, except to a loopback host (the sandbox): the token must not cross a network in clear."""
    parts = urlsplit(base_url.strip())
    host = (parts.hostname or "").lower()
    if parts.scheme == "https" and host:
        return base_url.strip().rstrip("/")
    if parts.scheme == "http" and host in LOOPBACK_HOSTS:
        return base_url.strip().rstrip("/")
    raise ValueError(
        f"HUBSPOT_BASE_URL {parts.scheme}://{parts.hostname or ''} refused: it must be an https:// URL "
        "(plain http is only allowed to a loopback host: 127.0.0.1, ::1 or localhost)"
    )
