"""The request loop every HubSpot call goes through: session, pacing, retries, the run's retry budget, workers.

`Transport.request` sends one call on a pooled `requests.Session` (Bearer auth from `auth`), holding a slot of
the token's shared `RateLimiter` (`rate_limit`) while it is in flight. Transient failures (5xx, 423, timeouts,
connection errors) are retried with bounded exponential backoff and equal jitter; a 429 pauses every request of
the token (Retry-After, else the window) and ends the run at once when its policy is DAILY; 401/403 raise
`AuthError`. Retries and 429 waits together are capped per request and per run (the retry budget), so a HubSpot
having a bad hour fails the remaining records quickly instead of being retried for hours. `_map_concurrently` runs
chunks of a call on the client's one worker pool. `HubSpotClient` (`client`) builds the HubSpot calls on this.

Search requests hold a slot of the token's second limiter instead (HubSpot limits search to 5 per second per
account, exempt from the ten-secondly window, with no rate headers): its SECONDLY 429 pauses searches only. The
transport knows its API version (`paths`, from `hubspot/paths.py`); `with_version` gives a view of the same
transport (session, limiters, counters, retry budget, workers, Ctrl-C) that calls another version.
"""

from __future__ import annotations

import copy
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any, TypeVar

import requests
from requests.adapters import HTTPAdapter

from dbt_hubspot_sync import __version__
from dbt_hubspot_sync.errors import SettingError
from dbt_hubspot_sync.hubspot.auth import DEFAULT_BASE_URL, BearerAuth, checked_base_url, scrub
from dbt_hubspot_sync.hubspot.errors import (
    AuthError,
    DailyLimitError,
    HubSpotError,
    InterruptedRunError,
    MissingTokenError,
    RetriesExhaustedError,
)
from dbt_hubspot_sync.hubspot.paths import ApiVersion, Paths, resolve_version
from dbt_hubspot_sync.hubspot.rate_limit import RateLimiter
from dbt_hubspot_sync.hubspot.responses import (
    Decision,
    Reply,
    _retry_after,
    as_dict,
    body_message,
    decide,
    primary_code,
)
from dbt_hubspot_sync.hubspot.results import ClientStats
from dbt_hubspot_sync.hubspot.workers import Shared as _Shared

__all__ = ["Transport", "MAX_RATE_LIMIT_PAUSE", "chunks"]

log = logging.getLogger(__name__)

MAX_RATE_LIMIT_PAUSE = 600.0  # seconds: a longer Retry-After on a 429 is not waited out in one go

_T = TypeVar("_T", bound="Transport")


def chunks(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


class Transport:
    """Sends calls to one HubSpot base URL with one token; the base of `HubSpotClient`.

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
        api_version: str | None = None,
        search_limiter: RateLimiter | None = None,
    ) -> None:
        # Long for its settings only: each knob with its reason beside it, no logic to split out.
        if not token:
            raise MissingTokenError("no HubSpot access token given", call="init")
        self._token = token
        try:
            self.base_url = checked_base_url(base_url)
        except SettingError as exc:
            raise SettingError(scrub(str(exc), token)) from None
        self.timeout = timeout
        self.max_retries = max(0, max_retries)
        self.concurrency = max(1, concurrency)
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        # HubSpot: "include a delay of at least 2 seconds" after a 423 (docs/hubspot_api.md §4)
        self.locked_delay = locked_delay
        self.max_rate_limit_waits = max_rate_limit_waits
        # A cap per run (this client's lifetime) on top of the cap per request: retries and 429 waits together
        # may number at most retry_budget + retry_budget_ratio x requests sent, so a HubSpot having a bad hour
        # fails the remaining records quickly (the next run resends them) instead of retrying for hours.
        self.retry_budget = retry_budget
        self.retry_budget_ratio = retry_budget_ratio
        self.limiter = limiter if limiter is not None else RateLimiter.for_token(token)
        # Search's own limit (5 per second per account, docs/hubspot_api.md §10), shared process-wide per token.
        self.search_limiter = search_limiter if search_limiter is not None else RateLimiter.for_search(token)
        # The exposure's api_version, else HUBSPOT_API_VERSION, else the default (hubspot/paths.py).
        self.api_version: ApiVersion = resolve_version(api_version)
        self.paths = Paths(self.api_version)
        self.stats = ClientStats()
        self._shared = _Shared()
        self._owner = True  # a version view (with_version) closes nothing: the transport it views does
        self._session = requests.Session()
        # Room for two callers' requests at once (the engine overlaps one batch's updates with the next's lookups).
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=2 * self.concurrency, max_retries=0)
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)
        # As session auth, not a default header: requests then skips its per-request ~/.netrc lookup.
        self._session.auth = BearerAuth(token)
        self._session.headers.update(
            {
                "Accept": "application/json",
                "Content-Type": "application/json",
                "User-Agent": f"dbt-hubspot-sync/{__version__}",
            }
        )

    @property
    def cancel(self) -> threading.Event | None:
        """Set by the runner on Ctrl-C: calls not yet sent are refused (InterruptedRunError); in-flight ones land.
        Shared by every version view of this transport."""
        return self._shared.cancel

    @cancel.setter
    def cancel(self, event: threading.Event | None) -> None:
        self._shared.cancel = event

    def with_version(self: _T, api_version: str | None) -> _T:
        """This transport calling `api_version` (None: HUBSPOT_API_VERSION, else the default): a view sharing the
        session, both limiters, the counters, the retry budget, the workers and Ctrl-C; self when unchanged.
        ValueError names a value that is not a version."""
        version = resolve_version(api_version)
        if version == self.api_version:
            return self
        view = copy.copy(self)
        view.api_version, view.paths, view._owner = version, Paths(version), False
        return view

    def close(self) -> None:
        if not self._owner:
            return
        self._shared.close()
        self._session.close()

    def redact(self, text: str) -> str:
        return scrub(text, self._token)

    def unexpected(self, call: str, resp: Reply, expected: str) -> HubSpotError:
        return HubSpotError(
            self.redact(
                f"{call}: expected {expected}, got HTTP {resp.status} "
                f"{as_dict(resp.body).get('category') or ''}: {body_message(resp.body, resp.text)}"
            ),
            call=call,
            status=resp.status,
            category=as_dict(resp.body).get("category"),
            code=primary_code(resp.body, resp.status),
        )

    def get_json(self, path: str, expected: str) -> Any:
        call = f"GET {path}"
        resp = self.request("GET", path)
        if resp.status != 200 or resp.body is None:
            raise self.unexpected(call, resp, expected)
        return resp.body

    def _spend_retry(self) -> bool:
        """Take one retry from the run's budget; False when it is spent."""
        shared = self._shared
        with shared.budget_lock:
            allowed = self.retry_budget + self.retry_budget_ratio * self.stats.requests
            if shared.retries_spent + 1 > allowed:
                return False
            shared.retries_spent += 1
            return True

    def _backoff(self, attempt: int) -> float:
        # Exponential with "equal jitter": between half and all of base * 2**attempt, capped.
        delay = min(self.backoff_max, self.backoff_base * (2**attempt))
        return delay / 2 + random.uniform(0, delay / 2)

    def request(
        self,
        method: str,
        path: str,
        payload: Any = None,
        *,
        search: bool = False,
        upload: Callable[[], tuple[Any, str]] | None = None,
    ) -> Reply:
        """Send one call, retrying transient failures; returns any non-transient response (2xx/4xx).

        `search`: the call is a search, paced by the search limiter (and not the ten-secondly one), whose 429s
        (SECONDLY) pause searches only. `upload`: the body is not JSON but what it returns, (data, Content-Type),
        made afresh for each attempt (an import's multipart file, hubspot/imports.py). Raises AuthError (401/403),
        DailyLimitError (429 DAILY), RetriesExhaustedError (retries ran out). What an answer means is
        `responses.decide`'s; this loop only acts on it.
        """
        limiter = self.search_limiter if search else self.limiter
        call = f"{method} {path}"
        data = json.dumps(payload) if payload is not None else None
        attempt = 0  # transient retries used
        rate_waits = 0
        while True:
            resp, failure = self._attempt(limiter, method, path, data, upload, search=search)
            if resp is not None:
                answer = Reply.of(resp)
                decision = decide(answer.status, answer.body, answer.text)
                if decision.action == "return":
                    return answer
                if decision.action == "daily_limit":
                    self.stats.add(rate_limited=1)
                    raise self._daily_limit(call, decision)
                if decision.action == "auth":
                    raise self._auth_error(call, answer, decision)
                if decision.action == "wait":
                    self.stats.add(rate_limited=1)
                    rate_waits += 1
                    failure = self._wait_out(call, limiter, decision.code or "", resp, rate_waits, search=search)
                    if failure is None:
                        continue  # a 429 does not consume the retry budget
                else:
                    failure = (decision.code or "HTTP_5XX", answer.status, decision.detail)
            if failure is None:  # unreachable: _attempt returns a response or a failure
                raise RuntimeError(f"{call}: no response and no failure recorded")
            self._retry_or_raise(call, failure, attempt, resp)
            attempt += 1

    def _attempt(
        self,
        limiter: RateLimiter,
        method: str,
        path: str,
        data: Any,
        upload: Callable[[], tuple[Any, str]] | None,
        *,
        search: bool,
    ) -> tuple[requests.Response | None, tuple[str, int | None, str] | None]:
        """One send under a slot of `limiter`: (response, None), or (None, (code, None, detail)) when it never
        arrived (timeout, connection error). InterruptedRunError when the run was stopped before it was sent."""
        call = f"{method} {path}"
        with limiter.slot() as slot:
            if self.cancel is not None and self.cancel.is_set():
                raise InterruptedRunError(
                    f"interrupted: {call} was not sent (the run was stopped with SIGINT)",
                    call=call,
                    code="INTERRUPTED",
                )
            try:
                headers = None
                if upload is not None:
                    data, content_type = upload()
                    headers = {"Content-Type": content_type}
                resp = self._session.request(
                    method, self.base_url + path, data=data, headers=headers, timeout=self.timeout
                )
            except requests.Timeout as exc:
                return None, ("TIMEOUT", None, f"no response within {self.timeout:g} s ({type(exc).__name__})")
            except requests.ConnectionError as exc:
                return None, ("CONNECTION_ERROR", None, f"connection failed ({type(exc).__name__})")
            finally:
                self.stats.add(requests=1)
            if not search:
                # Before the slot is released (it counts in the window); `slot` tells which of our own requests
                # HubSpot had counted when it wrote these headers.
                self.limiter.observe(resp.headers, slot=slot)
            return resp, None

    def _wait_out(
        self,
        call: str,
        limiter: RateLimiter,
        policy: str,
        resp: requests.Response,
        rate_waits: int,
        *,
        search: bool,
    ) -> tuple[str, int | None, str] | None:
        """A 429 (not DAILY): pause every request of the limiter (Retry-After, else the window) and return None to
        resend; or the failure that ends the request when the waits or the run's budget are spent."""
        if rate_waits > self.max_rate_limit_waits:
            return ("RATE_LIMITED", 429, f"still rate limited ({policy}) after {rate_waits} waits")
        if not self._spend_retry():
            return ("RATE_LIMITED", 429, f"rate limited ({policy}); {self._budget_spent()}")
        pause = _retry_after(resp.headers)
        if pause is not None:
            pause = min(pause, MAX_RATE_LIMIT_PAUSE)
        else:
            pause = 1.0 if policy == "SECONDLY" else limiter.interval_s
        what = "searches" if search else "requests"
        log.warning("%s: 429 %s, pausing all %s %.1f s", call, policy, what, pause)
        limiter.block_for(pause)
        return None

    def _retry_or_raise(
        self,
        call: str,
        failure: tuple[str, int | None, str],
        attempt: int,
        resp: requests.Response | None,
    ) -> None:
        """Sleep before retry `attempt + 1` of a transient failure, or raise RetriesExhaustedError when the
        request's retries, the run's budget or the 429 waits are spent."""
        code, status, detail = failure
        detail = self.redact(detail)  # bodies are echoed into messages and logs
        if code == "RATE_LIMITED" or attempt >= self.max_retries or not self._spend_retry():
            if code != "RATE_LIMITED" and attempt < self.max_retries:
                detail = f"{detail}; {self._budget_spent()}"
            raise RetriesExhaustedError(
                self.redact(f"{call}: gave up after {attempt} retries: {detail}"),
                call=call,
                status=status,
                code=code,
            )
        delay = self._backoff(attempt)
        if status == 423:
            delay = max(delay, self.locked_delay)
        elif resp is not None and (ra := _retry_after(resp.headers)) is not None:
            delay = max(delay, min(ra, self.backoff_max))
        self.stats.add(retries=1)
        # INFO: retries are routine; the run's `retries` count reports them.
        log.info("%s: %s, retry %d/%d in %.2f s", call, detail, attempt + 1, self.max_retries, delay)
        time.sleep(delay)

    def _daily_limit(self, call: str, decision: Decision) -> DailyLimitError:
        return DailyLimitError(
            self.redact(
                f"{call}: HubSpot's daily request limit is reached (429 DAILY); "
                f"nothing more can be sent until it resets: {decision.detail}"
            ),
            call=call,
            status=429,
            category="RATE_LIMIT",
            code="DAILY",
        )

    def _auth_error(self, call: str, answer: Reply, decision: Decision) -> AuthError:
        category = as_dict(answer.body).get("category")
        hint = f"; missing scopes: {', '.join(decision.scopes)}" if decision.scopes else ""
        return AuthError(
            self.redact(
                f"{call}: HubSpot refused the access token (HTTP {answer.status} {category or ''}){hint}: "
                f"{decision.detail}"
            ),
            call=call,
            status=answer.status,
            category=category,
            code=decision.code,
            missing_scopes=list(decision.scopes),
        )

    def _budget_spent(self) -> str:
        return (
            f"this run's retry budget is spent ({self._shared.retries_spent} retries and 429 waits for "
            f"{self.stats.requests} requests)"
        )

    def _map_concurrently(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Future[Any]]:
        """Run fn over items on up to `concurrency` threads (hubspot/workers.py); stops at the first exception."""
        return self._shared.map(fn, items, self.concurrency)
