"""The sandbox's data: one portal's contacts (with an email index), their property definitions and what search
sees of them; writes are `writes.py`'s part of the same `Store`, lists `lists.py`'s, the property definitions
themselves `property_defs.py`, the search index and evaluation `search.py`.

Every public method takes the store's lock, so HTTP handler threads can call it concurrently. Write methods
are atomic: they validate the whole batch first and change nothing when they raise `ErrorAnswer`.
"""

from __future__ import annotations

import csv
import json
import random
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from dbt_hubspot_sync.sandbox import bodies
from dbt_hubspot_sync.sandbox.bodies import ErrorAnswer, error, validation_error
from dbt_hubspot_sync.sandbox.lists import ListsMixin
from dbt_hubspot_sync.sandbox.payloads import ReadRequest
from dbt_hubspot_sync.sandbox.property_defs import default_properties, make_property
from dbt_hubspot_sync.sandbox.search import SearchIndex, SearchRequest, run_search, stamp_of
from dbt_hubspot_sync.sandbox.views import ALWAYS, DEFAULT_READ, id_key, public
from dbt_hubspot_sync.sandbox.writes import WritesMixin

__all__ = ["ALWAYS", "DEFAULT_READ", "Store", "default_properties", "load_contacts_csv"]

ADDITIONAL_EMAILS = "hs_additional_emails"  # a contact's secondary emails, `;`-separated


def load_contacts_csv(path: str | Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8-sig") as fh:
        return [dict(row) for row in csv.DictReader(fh)]


class Store(WritesMixin, ListsMixin):
    """One portal's contacts, contact properties, (`ListsMixin`) lists and (`SearchIndex`) search view."""

    def __init__(
        self,
        rows: Iterable[dict[str, Any]] | None = None,
        order_seed: int = 0,
        number_properties: Iterable[str] = (),
        required_when: Mapping[str, tuple[str, str]] | None = None,
        search_lag_ms: int = 0,
    ) -> None:
        self.lock = threading.Lock()
        self._order_rng = random.Random(order_seed)  # result ordering only; faults have their own RNG
        self._initial = [dict(r) for r in rows or []]
        self._numbers = tuple(number_properties)
        self.required_when = dict(required_when or {})
        self._search_lag_ms = search_lag_ms
        self.reset()

    # -- setup -----------------------------------------------------------------------------------------
    def reset(self) -> None:
        """Back to the initial contacts, default properties and no lists."""
        with self.lock:
            self.props = default_properties()
            for name in self._numbers:  # custom number properties: a non-number value is a whole-batch 400
                self.props[name] = make_property(
                    name, name, type_="number", field_type="number", hubspot_defined=False
                )
            self.contacts: dict[str, dict[str, Any]] = {}
            self.by_email: dict[str, str] = {}
            self.lists: dict[str, dict[str, Any]] = {}
            self.members: dict[str, dict[str, str]] = {}  # list id -> record id -> membershipTimestamp
            self.next_list_id = 1
            self._next_id: int | None = None
            self._frags: dict[str, dict[tuple[str, ...], bytes]] = {}  # rid -> properties wanted -> JSON
            self.index = SearchIndex(self._search_lag_ms)
            self.updated = 0
            self.created = 0
            self._extensions: dict[str, Any] = {}
            self._load(self._initial)
            self.index.load(self.contacts.values())

    def extension(self, name: str, factory: Any) -> Any:
        """Per-portal state of a feature with its own endpoints (e.g. imports): made by `factory()` on first use,
        dropped by `reset`. Use it under your own lock; the store's lock guards only the store's own state."""
        with self.lock:
            if name not in self._extensions:
                self._extensions[name] = factory()
            return self._extensions[name]

    def _load(self, rows: list[dict[str, Any]]) -> None:
        if rows and not any("email" in r for r in rows):
            raise ValueError("contacts need an 'email' column")
        for row in rows:
            for col in row:
                name = str(col).strip()
                if name and name not in self.props:
                    self.props[name] = make_property(name, name, hubspot_defined=False)
        explicit = {str(r["hs_object_id"]).strip() for r in rows if str(r.get("hs_object_id") or "").strip()}
        next_id = 1
        stamp = bodies.now_iso()
        for row in rows:
            props = {str(k).strip(): "" if v is None else str(v) for k, v in row.items() if str(k).strip()}
            rid = props.pop("hs_object_id", "").strip()
            if not rid:
                while str(next_id) in explicit or str(next_id) in self.contacts:
                    next_id += 1
                rid = str(next_id)
                next_id += 1
            if rid in self.contacts:
                raise ValueError(f"duplicate hs_object_id {rid!r} in contacts")
            email = props.get("email", "").strip()
            if not email:
                raise ValueError(f"contact {rid} has no email")
            if email.lower() in self.by_email:
                raise ValueError(f"duplicate email {email!r} in contacts")
            # A row may say when its contact was created (ISO 8601 or epoch ms), to seed a history for search.
            created = stamp_of(props.get("createdate", ""))
            props = {
                k: v for k, v in props.items() if v != "" and k not in ("createdate", "lastmodifieddate")
            }
            contact = self.insert(rid, props, stamp, created=created)
            for extra in _split_emails(contact["properties"].get(ADDITIONAL_EMAILS, "")):
                self.by_email.setdefault(extra.lower(), rid)

    def insert(
        self, rid: str, props: dict[str, str], stamp: str, created: str | None = None
    ) -> dict[str, Any]:
        props = dict(props)
        props["hs_object_id"] = rid
        props["createdate"] = created or stamp
        props["lastmodifieddate"] = stamp
        contact = {"id": rid, "properties": props, "createdAt": created or stamp, "updatedAt": stamp}
        self.contacts[rid] = contact
        if props.get("email"):
            self.by_email[props["email"].lower()] = rid
        self._changed(contact)
        return contact

    def _changed(self, contact: dict[str, Any], gone: bool = False) -> None:
        """Every change of a contact goes to the search index (which shows it after the indexing lag)."""
        self.index.changed(contact, gone=gone)

    # -- what users do in HubSpot's UI between syncs (admin only) ------------------------------------------
    def delete(self, rid: str) -> None:
        """The contact is gone: its id and email resolve to nothing."""
        with self.lock:
            contact = self.contacts.pop(rid)
            for email in [
                contact["properties"].get("email", ""),
                *_split_emails(contact["properties"].get(ADDITIONAL_EMAILS, "")),
            ]:
                if self.by_email.get(email.lower()) == rid:
                    del self.by_email[email.lower()]
            self._frags.pop(rid, None)
            self._changed(contact, gone=True)

    def merge(self, merged_id: str, primary_id: str) -> None:
        """`merged_id` is merged into `primary_id`: the old id no longer exists and its email now finds the
        primary, which keeps it as one of its additional emails (`hs_additional_emails`)."""
        with self.lock:
            if primary_id not in self.contacts:
                raise KeyError(primary_id)
            contact = self.contacts.pop(merged_id)
            self._frags.pop(merged_id, None)
            self._changed(contact, gone=True)
            email = contact["properties"].get("email", "")
            if email:
                self.by_email[email.lower()] = primary_id
                self._add_additional(self.contacts[primary_id], email)

    def create_contact(self, props: Mapping[str, str], createdate: str | None = None) -> dict[str, Any]:
        """A contact created in HubSpot (a form, the UI, another integration): createdate now, or as given."""
        props = {str(k): str(v) for k, v in props.items() if v not in (None, "")}
        email = props.get("email", "").strip()
        created = stamp_of(createdate) if createdate else None
        if createdate and created is None:
            raise validation_error(f"createdate {createdate!r} is neither ISO 8601 nor epoch milliseconds")
        with self.lock:
            if not email:
                raise validation_error("a contact needs an email")
            if email.lower() in self.by_email:
                existing = self.by_email[email.lower()]
                raise ErrorAnswer(409, error("CONFLICT", f"Contact already exists. Existing ID: {existing}"))
            for name in props:
                if name not in self.props:
                    self.props[name] = make_property(name, name, hubspot_defined=False)
            contact = self.insert(self.new_id(), props, bodies.now_iso(), created=created)
            self.created += 1
            return public(contact, sorted(contact["properties"]))

    def change_email(self, rid: str, new_email: str, keep_old: bool = True) -> dict[str, Any]:
        """The contact's primary email becomes `new_email`. With `keep_old` (what a form submission with a new
        address does in HubSpot) the old one becomes an additional email and still finds the contact."""
        new_email = new_email.strip()
        with self.lock:
            contact = self.contacts.get(rid)
            if contact is None:
                raise KeyError(rid)
            holder = self.by_email.get(new_email.lower())
            if not new_email or (holder is not None and holder != rid):
                raise ErrorAnswer(409, error("CONFLICT", f"Contact already exists. Existing ID: {holder}"))
            props = contact["properties"]
            old = props.get("email", "")
            if old.lower() == new_email.lower():
                return public(contact, sorted(props))
            extras = [
                e for e in _split_emails(props.get(ADDITIONAL_EMAILS, "")) if e.lower() != new_email.lower()
            ]
            if keep_old and old:
                extras.append(old)
            elif old and self.by_email.get(old.lower()) == rid:
                del self.by_email[old.lower()]
            props["email"] = new_email
            self.by_email[new_email.lower()] = rid
            _set_additional(props, extras)
            stamp = bodies.now_iso()
            props["lastmodifieddate"] = contact["updatedAt"] = stamp
            self._frags.pop(rid, None)
            self._changed(contact)
            return public(contact, sorted(props))

    def _add_additional(self, contact: dict[str, Any], email: str) -> None:
        props = contact["properties"]
        extras = _split_emails(props.get(ADDITIONAL_EMAILS, ""))
        if (
            email.lower() not in {e.lower() for e in extras}
            and email.lower() != props.get("email", "").lower()
        ):
            _set_additional(props, [*extras, email])
            self._frags.pop(contact["id"], None)
            self._changed(contact)

    # -- reads -----------------------------------------------------------------------------------------
    def snapshot(self) -> list[dict[str, Any]]:
        with self.lock:
            return [
                {**c, "properties": dict(c["properties"]), "archived": False}
                for c in sorted(self.contacts.values(), key=lambda c: id_key(c["id"]))
            ]

    def property_list(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.props.values())

    def _lookup(self, key: str, id_property: str | None) -> dict[str, Any] | None:
        if id_property == "email":
            rid = self.by_email.get(key.strip().lower())
            return self.contacts.get(rid) if rid else None
        return self.contacts.get(key)

    def _check_id_property(self, id_property: str | None) -> None:
        if id_property in (None, "", "hs_object_id", "email"):
            return
        if id_property not in self.props:
            raise validation_error(f'Property "{id_property}" does not exist')
        raise validation_error(f"Unable to perform update/upsert by non-unique 0-1 property {id_property}")

    def batch_read(self, req: ReadRequest) -> tuple[list[bytes], list[str]]:
        """(results as JSON-encoded SimplePublicObjects, missing ids as given, in input order, once each).

        Results come pre-encoded from a per-contact cache: batch/read is the hot path of every sync and
        encoding 100 result objects per request would dominate the sandbox's cost."""
        if req.with_history and len(req.ids) > 50:
            raise validation_error(bodies.MAX_HISTORY_INPUTS_MESSAGE)
        if len(req.ids) > 100:
            raise validation_error(bodies.MAX_INPUTS_MESSAGE)
        id_property = req.id_property or None
        wanted = tuple(w for w in (req.properties or DEFAULT_READ) if w not in ALWAYS)
        with self.lock:
            self._check_id_property(id_property)
            contacts, by_email, frags = self.contacts, self.by_email, self._frags
            results, missing, seen = [], [], set()
            for key in req.ids:
                rid = by_email.get(key.strip().lower()) if id_property == "email" else key
                contact = contacts.get(rid) if rid is not None else None
                if contact is None:
                    if key not in missing:
                        missing.append(key)
                    continue
                if rid in seen:
                    continue
                seen.add(rid)
                cached = frags.setdefault(rid, {})
                frag = cached.get(wanted)
                if frag is None:
                    frag = cached[wanted] = json.dumps(
                        public(contact, wanted), separators=(",", ":")
                    ).encode()
                results.append(frag)
        return self._shuffled(results), missing

    def get_one(self, key: str, id_property: str | None, wanted: list[str]) -> dict[str, Any]:
        with self.lock:
            self._check_id_property(id_property)
            contact = self._lookup(key, id_property)
            if contact is None:
                raise ErrorAnswer(404, error("OBJECT_NOT_FOUND", "resource not found"))
            return public(contact, wanted or list(DEFAULT_READ))

    def search(self, req: SearchRequest) -> dict[str, Any]:
        """POST .../contacts/search over what the index shows now (writes appear after the indexing lag)."""
        with self.lock:
            return run_search(self.index.view(self.contacts), self.props, req)

    # -- helpers ---------------------------------------------------------------------------------------
    def _shuffled(self, results: list[Any]) -> list[Any]:
        """HubSpot does not promise input order; never return it, so clients must match by id.
        A rotation by a varying non-zero offset: never the input order, and cheap (this is the hot path)."""
        n = len(results)
        if n < 2:
            return results
        k = 1 + self._order_rng.randrange(n - 1)
        return results[k:] + results[:k]


def _split_emails(value: str) -> list[str]:
    return [e.strip() for e in (value or "").split(";") if e.strip()]


def _set_additional(props: dict[str, str], extras: list[str]) -> None:
    unique = list(dict.fromkeys(extras))
    if unique:
        props[ADDITIONAL_EMAILS] = ";".join(unique)
    else:
        props.pop(ADDITIONAL_EMAILS, None)
