"""The HubSpot calls the product makes, on top of the transport: `HubSpotClient`.

Update-only at batch speed (PRODUCT.md "HubSpot calls"): emails are resolved to record ids with
`batch/read` (idProperty=email), then contacts are updated by id with `batch/update`; `batch/upsert` and
`batch/create` are never called (docs/hubspot_api.md §1). Responses are parsed strictly by id, never by position,
and every error field is treated as optional (docs/hubspot_api.md §2). A whole-batch 400 is recovered from
automatically (§3): records it names are failed and the rest resent; when it names none, the batch is bisected
until offenders are single. Also here: adding records to a static list (§6), reading a list and the contact
properties (§8), and the scope probes `check` uses (§7).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from .auth import _settings_from_env
from .errors import HubSpotError, PropertyError, RetriesExhaustedError
from .responses import (
    PROPERTY_CODES,
    _as_dict,
    _body_message,
    _named_offenders,
    _parse_value_errors,
    _primary_code,
    _record_update_results,
    _Response,
    _str_list,
)
from .results import ListOutcome, RecordFailure, UpdateOutcome
from .transport import Transport

__all__ = ["HubSpotClient", "BATCH_SIZE", "LIST_CHUNK", "READ_PATH", "UPDATE_PATH", "PROPERTIES_PATH"]

log = logging.getLogger(__name__)

BATCH_SIZE = 100  # HubSpot: "Object API batch endpoints are limited to 100 inputs per request."
LIST_CHUNK = 100  # no documented cap for memberships/add; stay small (docs/hubspot_api.md §6)

READ_PATH = "/crm/v3/objects/contacts/batch/read"
UPDATE_PATH = "/crm/v3/objects/contacts/batch/update"
PROPERTIES_PATH = "/crm/v3/properties/contacts"


def _chunks(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


class HubSpotClient(Transport):
    """Small typed client for the handful of HubSpot calls the product makes.

    All requests of all threads go through one `RateLimiter` per token (shared process-wide by default) and
    one `requests.Session` whose connection pool is sized to `concurrency`.
    """

    @classmethod
    def from_env(cls, **kw: Any) -> HubSpotClient:
        """Token from HUBSPOT_ACCESS_TOKEN (required), base URL from HUBSPOT_BASE_URL (optional)."""
        token, base_url = _settings_from_env()
        kw.setdefault("base_url", base_url)
        return cls(token, **kw)

    def __repr__(self) -> str:
        return f"HubSpotClient(base_url={self.base_url!r}, concurrency={self.concurrency})"

    def __enter__(self) -> HubSpotClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- helpers ---------------------------------------------------------------------------------------
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

    # -- public calls ----------------------------------------------------------------------------------
    def read_ids_by_email(self, emails: Sequence[str]) -> dict[str, str]:
        """lower(email) -> record id for the emails HubSpot knows; misses are simply absent.

        Raises HubSpotError when a chunk cannot be read (retries exhausted, unexpected status)."""
        return {email: rid for email, (rid, _props) in self.read_by_email(emails).items()}

    def read_by_email(
        self, emails: Sequence[str], properties: Sequence[str] = ()
    ) -> dict[str, tuple[str, dict[str, str | None]]]:
        """lower(email) -> (record id, {property: HubSpot's current value}) for the emails HubSpot knows, with
        `properties` read in the same requests (a read costs the same with or without them)."""
        unique = list(dict.fromkeys(e.strip().lower() for e in emails if e and e.strip()))
        wanted = list(dict.fromkeys(["email", *properties]))
        found: dict[str, tuple[str, dict[str, str | None]]] = {}
        chunks = _chunks(unique, BATCH_SIZE)
        for fut in self._map_concurrently(lambda chunk: self._read_chunk(chunk, wanted), chunks):
            if fut.cancelled():
                continue
            found.update(fut.result())
        return found

    def read_by_id(self, ids: Sequence[str], properties: Sequence[str]) -> dict[str, dict[str, str | None]]:
        """record id -> {property: current value} for the ids HubSpot knows (a dry run's old values)."""
        unique = list(dict.fromkeys(str(i) for i in ids if i))
        found: dict[str, dict[str, str | None]] = {}
        chunks = _chunks(unique, BATCH_SIZE)
        for fut in self._map_concurrently(
            lambda chunk: self._read_ids_chunk(chunk, list(properties)), chunks
        ):
            if fut.cancelled():
                continue
            found.update(fut.result())
        return found

    def _read_ids_chunk(self, ids: Sequence[str], properties: list[str]) -> dict[str, dict[str, str | None]]:
        call = f"POST {READ_PATH}"
        payload = {"properties": properties, "propertiesWithHistory": [], "inputs": [{"id": i} for i in ids]}
        resp = self._request("POST", READ_PATH, payload)
        if resp.status not in (200, 207) or not isinstance(resp.body, dict):
            raise self._unexpected(call, resp, "200 or 207 with results")
        wanted = set(ids)
        return {
            str(r["id"]): _as_dict(r.get("properties"))
            for r in resp.body.get("results") or []
            if isinstance(r, dict) and str(r.get("id")) in wanted
        }

    def _read_chunk(
        self, emails: Sequence[str], properties: Sequence[str] = ("email",)
    ) -> dict[str, tuple[str, dict[str, str | None]]]:
        call = f"POST {READ_PATH}"
        payload = {
            "idProperty": "email",
            "properties": list(properties),
            "propertiesWithHistory": [],
            "inputs": [{"id": e} for e in emails],
        }
        resp = self._request("POST", READ_PATH, payload)
        if resp.status not in (200, 207) or not isinstance(resp.body, dict):
            raise self._unexpected(call, resp, "200 or 207 with results")
        wanted = set(emails)
        found: dict[str, tuple[str, dict[str, str | None]]] = {}
        # Results under another email: a merged contact found by a former email.
        others: dict[str, dict[str, str | None]] = {}
        for result in resp.body.get("results") or []:
            if not isinstance(result, dict) or result.get("id") in (None, ""):
                continue
            props = _as_dict(result.get("properties"))
            email = str(props.get("email") or "").strip().lower()
            # By id and email only, never by position.
            if email in wanted:
                found[email] = (str(result["id"]), props)
            else:
                others[str(result["id"])] = props
        for rid, _props in found.values():
            others.pop(rid, None)
        named_missing = {
            i.strip().lower()
            for err in resp.body.get("errors") or []
            for i in _str_list(_as_dict(_as_dict(err).get("context")).get("ids"))
        }
        unmatched = [e for e in emails if e not in found and e not in named_missing]
        if others and len(unmatched) == 1 and len(others) == 1:
            found[unmatched[0]] = others.popitem()  # the one result left belongs to the one input left
        elif others and unmatched and len(emails) > 1:
            # Several unpaired: ask for each alone, so every answer has exactly one owner.
            for e in unmatched:
                found.update(self._read_chunk([e], properties))
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
        _record_update_results([rid for rid, _ in batch], resp, outcome)
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

        named = _named_offenders(batch, body, errors)
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
