"""The sandbox's data: contacts (with an email index) and their property definitions; lists are `lists.py`'s
part of the same `Store`, the property definitions themselves `property_defs.py`.

Every public method takes the store's lock, so HTTP handler threads can call it concurrently. Write methods
are atomic: they validate the whole batch first and change nothing when they raise `HubSpotError`.
"""

from __future__ import annotations

import csv
import json
import random
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from . import bodies
from .bodies import HubSpotError, error, validation_error
from .lists import ListsMixin
from .payloads import ReadRequest, WriteInput
from .property_defs import default_properties, make_property
from .rules import PropertyProblem, check_value, problems_message

__all__ = ["ALWAYS", "DEFAULT_READ", "Store", "default_properties", "load_contacts_csv"]

# Properties every result carries, besides the requested ones (as in HubSpot's captured responses).
ALWAYS = ("hs_object_id", "lastmodifieddate")
DEFAULT_READ = ("createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname")


def load_contacts_csv(path: str | Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8-sig") as fh:
        return [dict(row) for row in csv.DictReader(fh)]


class Store(ListsMixin):
    """One portal's contacts, contact properties and (`ListsMixin`) lists."""

    def __init__(
        self,
        rows: Iterable[dict[str, Any]] | None = None,
        order_seed: int = 0,
        number_properties: Iterable[str] = (),
    ) -> None:
        self._lock = threading.Lock()
        self._order_rng = random.Random(order_seed)  # result ordering only; faults have their own RNG
        self._initial = [dict(r) for r in rows or []]
        self._numbers = tuple(number_properties)
        self.reset()

    # -- setup -----------------------------------------------------------------------------------------
    def reset(self) -> None:
        """Back to the initial contacts, default properties and no lists."""
        with self._lock:
            self.props = default_properties()
            for name in self._numbers:  # custom number properties: a non-number value is a whole-batch 400
                self.props[name] = make_property(
                    name, name, type_="number", field_type="number", hubspot_defined=False
                )
            self.contacts: dict[str, dict[str, Any]] = {}
            self.by_email: dict[str, str] = {}
            self.lists: dict[str, dict[str, Any]] = {}
            self.members: dict[str, dict[str, None]] = {}
            self.next_list_id = 1
            self._next_id: int | None = None
            self._frags: dict[str, dict[tuple[str, ...], bytes]] = {}  # rid -> properties wanted -> JSON
            self.updated = 0
            self.created = 0
            self._load(self._initial)

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
            props = {
                k: v for k, v in props.items() if v != "" and k not in ("createdate", "lastmodifieddate")
            }
            self._insert(rid, props, stamp)

    def _insert(self, rid: str, props: dict[str, str], stamp: str) -> dict[str, Any]:
        props = dict(props)
        props["hs_object_id"] = rid
        props["createdate"] = stamp
        props["lastmodifieddate"] = stamp
        contact = {"id": rid, "properties": props, "createdAt": stamp, "updatedAt": stamp}
        self.contacts[rid] = contact
        if props.get("email"):
            self.by_email[props["email"].lower()] = rid
        return contact

    # -- what users do in HubSpot's UI between syncs (admin only) ------------------------------------------
    def delete(self, rid: str) -> None:
        """The contact is gone: its id and email resolve to nothing."""
        with self._lock:
            contact = self.contacts.pop(rid)
            self.by_email.pop(contact["properties"].get("email", "").lower(), None)
            self._frags.pop(rid, None)

    def merge(self, merged_id: str, primary_id: str) -> None:
        """`merged_id` is merged into `primary_id`: the old id no longer exists and its email now finds the
        primary (HubSpot keeps it as one of the primary's emails)."""
        with self._lock:
            if primary_id not in self.contacts:
                raise KeyError(primary_id)
            contact = self.contacts.pop(merged_id)
            self._frags.pop(merged_id, None)
            email = contact["properties"].get("email", "").lower()
            if email:
                self.by_email[email] = primary_id

    # -- reads -----------------------------------------------------------------------------------------
    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {**c, "properties": dict(c["properties"]), "archived": False}
                for c in sorted(self.contacts.values(), key=lambda c: _id_key(c["id"]))
            ]

    def property_list(self) -> list[dict[str, Any]]:
        with self._lock:
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
        with self._lock:
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
                        _public(contact, wanted), separators=(",", ":")
                    ).encode()
                results.append(frag)
        return self._shuffled(results), missing

    def get_one(self, key: str, id_property: str | None, wanted: list[str]) -> dict[str, Any]:
        with self._lock:
            self._check_id_property(id_property)
            contact = self._lookup(key, id_property)
            if contact is None:
                raise HubSpotError(404, error("OBJECT_NOT_FOUND", "resource not found"))
            return _public(contact, wanted or list(DEFAULT_READ))

    # -- writes ----------------------------------------------------------------------------------------
    def _validate(self, inputs: list[WriteInput]) -> None:
        problems: list[PropertyProblem] = []
        for inp in inputs:
            for name, value in inp.properties.items():
                problem = check_value(self.props.get(name), name, value)
                if problem:
                    problems.append(problem)
        if problems:
            raise validation_error(problems_message(problems), errors=[p.error_detail() for p in problems])

    def _check_batch(self, inputs: list[WriteInput]) -> None:
        if len(inputs) > 100:
            raise validation_error(bodies.MAX_INPUTS_MESSAGE)
        seen: dict[tuple[str | None, str], str] = {}
        dupes: list[str] = []
        for inp in inputs:
            if inp.id is None:
                continue
            kind = "email" if inp.id_property == "email" else None
            key = (kind, inp.id.strip().lower() if kind else inp.id)
            if key in seen and inp.id not in dupes:
                dupes.append(inp.id)
            seen[key] = inp.id
        if dupes:
            raise validation_error(
                f"Duplicate IDs found in batch input: [{', '.join(dupes)}]. IDs must be unique",
                context={"ids": dupes},
            )
        for inp in inputs:
            self._check_id_property(inp.id_property or None)
        self._validate(inputs)

    def _check_email_conflicts(self, targets: list[tuple[dict[str, Any] | None, WriteInput]]) -> None:
        """Emails are unique per contact: a write giving one to a second contact is a 409 CONFLICT."""
        claimed: dict[str, str | None] = {}
        for contact, inp in targets:
            new = inp.properties.get("email", "").strip().lower()
            own = contact["id"] if contact else None
            if not new:
                continue
            holder = self.by_email.get(new)
            if (holder is not None and holder != own) or (new in claimed and claimed[new] != own):
                existing = holder or claimed[new] or ""
                raise HubSpotError(409, error("CONFLICT", f"Contact already exists. Existing ID: {existing}"))
            claimed[new] = own

    def _apply(self, contact: dict[str, Any], props: dict[str, str], stamp: str) -> None:
        current = contact["properties"]
        old_email = current.get("email", "").lower()
        for name, value in props.items():
            if value == "":
                current.pop(name, None)
            else:
                current[name] = value
        new_email = current.get("email", "").lower()
        if new_email != old_email:
            if old_email and self.by_email.get(old_email) == contact["id"]:
                del self.by_email[old_email]
            if new_email:
                self.by_email[new_email] = contact["id"]
        current["lastmodifieddate"] = stamp
        contact["updatedAt"] = stamp
        self._frags.pop(contact["id"], None)

    def _new_id(self) -> str:
        # Created contacts get ids above every existing numeric id.
        if self._next_id is None:
            self._next_id = max((int(i) for i in self.contacts if i.isdigit()), default=0) + 1
        rid = str(self._next_id)
        self._next_id += 1
        return rid

    def batch_update(self, inputs: list[WriteInput]) -> tuple[list[dict[str, Any]], list[str]]:
        """(results, ids not found). Update by record id, or by email with a per-input idProperty."""
        with self._lock:
            self._check_batch(inputs)
            targets = [(self._lookup(inp.id or "", inp.id_property or None), inp) for inp in inputs]
            found = [(c, i) for c, i in targets if c is not None]
            self._check_email_conflicts(found)
            stamp = bodies.now_iso()
            results = []
            for contact, inp in found:
                self._apply(contact, inp.properties, stamp)
                self.updated += 1
                results.append(_written(contact, inp))
            # Non-numeric record ids come back as "" in context.ids, as captured from HubSpot.
            missing = [
                i.id if (i.id_property == "email" or (i.id or "").isdigit()) else ""
                for c, i in targets
                if c is None
            ]
        return self._shuffled(results), missing

    def batch_upsert(self, inputs: list[WriteInput]) -> tuple[list[dict[str, Any]], list[str]]:
        """Update or create by email (idProperty email); by record id it only updates."""
        with self._lock:
            self._check_batch(inputs)
            for inp in inputs:
                if inp.id_property == "email":
                    problem = check_value(self.props["email"], "email", inp.id or "")
                    if problem or not (inp.id or "").strip():
                        problem = problem or PropertyProblem(
                            "INVALID_EMAIL", "email", "Email address  is invalid"
                        )
                        raise validation_error(problems_message([problem]), errors=[problem.error_detail()])
            targets = [(self._lookup(inp.id or "", inp.id_property or None), inp) for inp in inputs]
            creating = [
                (None, WriteInput(None, {"email": inp.id or "", **inp.properties}))
                for c, inp in targets
                if c is None and inp.id_property == "email"
            ]
            self._check_email_conflicts([(c, i) for c, i in targets if c is not None] + creating)
            stamp = bodies.now_iso()
            results, missing = [], []
            for contact, inp in targets:
                if contact is not None:
                    self._apply(contact, inp.properties, stamp)
                    self.updated += 1
                    results.append({**_written(contact, inp), "new": False})
                elif inp.id_property == "email":
                    props = {k: v for k, v in inp.properties.items() if v != ""}
                    props.setdefault("email", inp.id or "")
                    contact = self._insert(self._new_id(), props, stamp)
                    self.created += 1
                    results.append({**_written(contact, inp), "new": True})
                else:
                    missing.append(inp.id or "")
        return self._shuffled(results), missing

    def batch_create(self, inputs: list[WriteInput]) -> list[dict[str, Any]]:
        with self._lock:
            self._check_batch(inputs)
            self._check_email_conflicts([(None, inp) for inp in inputs])
            stamp = bodies.now_iso()
            results = []
            for inp in inputs:
                props = {k: v for k, v in inp.properties.items() if v != ""}
                contact = self._insert(self._new_id(), props, stamp)
                self.created += 1
                results.append(_written(contact, inp))
        return self._shuffled(results)

    def patch_one(self, key: str, id_property: str | None, props: dict[str, str]) -> dict[str, Any]:
        inp = WriteInput(key, props, id_property)
        with self._lock:
            self._check_id_property(id_property)
            self._validate([inp])
            contact = self._lookup(key, id_property)
            if contact is None:
                raise HubSpotError(404, error("OBJECT_NOT_FOUND", "resource not found"))
            self._check_email_conflicts([(contact, inp)])
            self._apply(contact, props, bodies.now_iso())
            self.updated += 1
            return _written(contact, inp)

    # -- helpers ---------------------------------------------------------------------------------------
    def _shuffled(self, results: list[Any]) -> list[Any]:
        """HubSpot does not promise input order; never return it, so clients must match by id.
        A rotation by a varying non-zero offset: never the input order, and cheap (this is the hot path)."""
        n = len(results)
        if n < 2:
            return results
        k = 1 + self._order_rng.randrange(n - 1)
        return results[k:] + results[:k]


def _id_key(rid: str) -> tuple[int, str]:
    return (int(rid), "") if rid.isdigit() else (1 << 62, rid)


def _public(contact: dict[str, Any], wanted: Iterable[str]) -> dict[str, Any]:
    props = contact["properties"]
    out = {name: props[name] for name in wanted if name in props}
    for name in ALWAYS:
        out[name] = props[name]
    return {
        "id": contact["id"],
        "properties": out,
        "createdAt": contact["createdAt"],
        "updatedAt": contact["updatedAt"],
        "archived": False,
    }


def _written(contact: dict[str, Any], inp: WriteInput) -> dict[str, Any]:
    """A write result: the written properties (cleared ones omitted) plus the ALWAYS ones."""
    result = _public(contact, inp.properties)
    if inp.trace_id is not None:
        result["objectWriteTraceId"] = inp.trace_id
    return result
