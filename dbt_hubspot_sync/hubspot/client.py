"""The HubSpot calls the product makes, on top of the transport: `HubSpotClient`.

Update-only at batch speed (README.md, "What happens to each row"): emails are resolved to record ids with
`batch/read` (idProperty=email), then contacts are updated by id with `batch/update`; `batch/upsert` and
`batch/create` are never called (docs/hubspot_api.md §1). Responses are parsed strictly by id, never by position,
and every error field is treated as optional (docs/hubspot_api.md §2). The calls live beside it: updates with
their 400 recovery (`update.py`, §3), static lists (`lists.py`, §6), search (`search.py`, §10); here the reads,
the contact properties (§8) and the scope probes `check` uses (§7). Every path comes from `paths.py` for the
client's API version (`api_version`, §9); `with_version` gives the same client on another version.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from dbt_hubspot_sync.hubspot.auth import settings_from_env
from dbt_hubspot_sync.hubspot.lists import LIST_CHUNK, ListCalls
from dbt_hubspot_sync.hubspot.paths import Paths
from dbt_hubspot_sync.hubspot.responses import as_dict, str_list
from dbt_hubspot_sync.hubspot.search import SearchCalls
from dbt_hubspot_sync.hubspot.transport import chunks
from dbt_hubspot_sync.hubspot.update import BATCH_SIZE, UpdateCalls

__all__ = ["HubSpotClient", "BATCH_SIZE", "LIST_CHUNK", "READ_PATH", "UPDATE_PATH", "PROPERTIES_PATH"]

log = logging.getLogger(__name__)

# The v3 paths, for callers that name a call without a client (a client's own are `client.paths.*()`).
READ_PATH = Paths("v3").batch_read()
UPDATE_PATH = Paths("v3").batch_update()
PROPERTIES_PATH = Paths("v3").properties()


class HubSpotClient(UpdateCalls, ListCalls, SearchCalls):
    """Small typed client for the handful of HubSpot calls the product makes.

    All requests of all threads go through one `RateLimiter` per token (shared process-wide by default; searches
    through a second one, HubSpot's search limit) and one `requests.Session` whose connection pool is sized to
    `concurrency`. `api_version` picks the paths (None: HUBSPOT_API_VERSION, else v3).
    """

    @classmethod
    def from_env(cls, api_version: str | None = None, **kw: Any) -> HubSpotClient:
        """Token from HUBSPOT_ACCESS_TOKEN (required), base URL from HUBSPOT_BASE_URL (optional); `api_version`
        (the exposure's) wins over HUBSPOT_API_VERSION, which wins over the default (hubspot/paths.py)."""
        token, base_url = settings_from_env()
        kw.setdefault("base_url", base_url)
        return cls(token, api_version=api_version, **kw)

    def __repr__(self) -> str:
        return (
            f"HubSpotClient(base_url={self.base_url!r}, api_version={self.api_version!r}, "
            f"concurrency={self.concurrency})"
        )

    def __enter__(self) -> HubSpotClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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
        parts = chunks(unique, BATCH_SIZE)
        for fut in self._map_concurrently(lambda chunk: self._read_chunk(chunk, wanted), parts):
            if fut.cancelled():
                continue
            found.update(fut.result())
        return found

    def read_by_id(self, ids: Sequence[str], properties: Sequence[str]) -> dict[str, dict[str, str | None]]:
        """record id -> {property: current value} for the ids HubSpot knows (a dry run's old values)."""
        unique = list(dict.fromkeys(str(i) for i in ids if i))
        found: dict[str, dict[str, str | None]] = {}
        parts = chunks(unique, BATCH_SIZE)
        for fut in self._map_concurrently(lambda chunk: self._read_ids_chunk(chunk, list(properties)), parts):
            if fut.cancelled():
                continue
            found.update(fut.result())
        return found

    def _read_ids_chunk(self, ids: Sequence[str], properties: list[str]) -> dict[str, dict[str, str | None]]:
        path = self.paths.batch_read()
        call = f"POST {path}"
        payload = {"properties": properties, "propertiesWithHistory": [], "inputs": [{"id": i} for i in ids]}
        resp = self.request("POST", path, payload)
        if resp.status not in (200, 207) or not isinstance(resp.body, dict):
            raise self.unexpected(call, resp, "200 or 207 with results")
        wanted = set(ids)
        return {
            str(r["id"]): as_dict(r.get("properties"))
            for r in resp.body.get("results") or []
            if isinstance(r, dict) and str(r.get("id")) in wanted
        }

    def _read_chunk(
        self, emails: Sequence[str], properties: Sequence[str] = ("email",)
    ) -> dict[str, tuple[str, dict[str, str | None]]]:
        path = self.paths.batch_read()
        call = f"POST {path}"
        payload = {
            "idProperty": "email",
            "properties": list(properties),
            "propertiesWithHistory": [],
            "inputs": [{"id": e} for e in emails],
        }
        resp = self.request("POST", path, payload)
        # 2026-09 answers the misses as a 200 carrying the grouped error (its spec has no 207): parsed alike.
        if resp.status not in (200, 207) or not isinstance(resp.body, dict):
            raise self.unexpected(call, resp, "200 or 207 with results")
        wanted = set(emails)
        found: dict[str, tuple[str, dict[str, str | None]]] = {}
        # Results under another email: a merged contact found by a former email.
        others: dict[str, dict[str, str | None]] = {}
        for result in resp.body.get("results") or []:
            if not isinstance(result, dict) or result.get("id") in (None, ""):
                continue
            props = as_dict(result.get("properties"))
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
            for i in str_list(as_dict(as_dict(err).get("context")).get("ids"))
        }
        unmatched = [e for e in emails if e not in found and e not in named_missing]
        if others and len(unmatched) == 1 and len(others) == 1:
            found[unmatched[0]] = others.popitem()  # the one result left belongs to the one input left
        elif others and unmatched and len(emails) > 1:
            # Several unpaired: ask for each alone, so every answer has exactly one owner.
            for e in unmatched:
                found.update(self._read_chunk([e], properties))
        return found

    def get_properties(self) -> list[dict[str, Any]]:
        """Every contact property (name, type, options, modificationMetadata.readOnlyValue, ...)."""
        body = self.get_json(self.paths.properties(), "200 with results")
        results = as_dict(body).get("results")
        return [r for r in results if isinstance(r, dict)] if isinstance(results, list) else []

    def probe(self, method: str, path: str, payload: Any) -> int:
        """Send a call that changes nothing (an empty batch) and return its status; AuthError (with
        `missing_scopes`) when the token may not make it. HubSpot checks a call's scopes before it reads the body,
        so this proves a write scope without writing (`check`)."""
        return self.request(method, path, payload).status

    def check_token(self) -> None:
        """Raise AuthError unless the token can read contacts' properties (a cheap, read-only probe)."""
        self.get_properties()
