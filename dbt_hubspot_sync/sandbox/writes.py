"""The sandbox's contact writes (batch update, upsert, create, a single PATCH): `WritesMixin`, part of
`store.Store`, working on the store's state under the store's lock.

Every write validates the whole batch first and changes nothing when it raises `ErrorAnswer` (HubSpot's
whole-batch 400s: over 100 inputs, duplicate ids, unknown or read-only property, bad enumeration value, invalid
email; 409 for an email another contact has). With `enforce_rules` (the 2026-09 API version) the portal's
conditionally required properties are enforced too: HubSpot's 400 VALIDATION_ERROR with an `errors[]` entry
`MISSING_CONDITIONAL_REQUIRED_PROPERTY` naming the property, not the input (docs/hubspot_api.md §9).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from dbt_hubspot_sync.sandbox import bodies
from dbt_hubspot_sync.sandbox.bodies import ErrorAnswer, error, validation_error
from dbt_hubspot_sync.sandbox.payloads import WriteInput
from dbt_hubspot_sync.sandbox.rules import PropertyProblem, check_value, problems_message
from dbt_hubspot_sync.sandbox.views import public

RULES_MESSAGE = "The property values provided are invalid"


class WritesMixin:
    # The store's state this part reads and writes (set by Store.reset / Store.__init__).
    contacts: dict[str, dict[str, Any]]
    by_email: dict[str, str]
    props: dict[str, dict[str, Any]]
    required_when: Mapping[str, tuple[str, str]]
    updated: int
    created: int
    _next_id: int | None
    _frags: dict[str, dict[tuple[str, ...], bytes]]
    _order_rng: random.Random
    lock: Any

    # Provided by Store.
    def _lookup(self, key: str, id_property: str | None) -> dict[str, Any] | None: ...
    def _check_id_property(self, id_property: str | None) -> None: ...
    def insert(self, rid: str, props: dict[str, str], stamp: str) -> dict[str, Any]: ...
    def _changed(self, contact: dict[str, Any]) -> None: ...
    def _shuffled(self, results: list[Any]) -> list[Any]: ...

    # -- checks ----------------------------------------------------------------------------------------------
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

    def _check_rules(self, targets: list[tuple[dict[str, Any] | None, WriteInput]]) -> None:
        """The portal's conditionally required properties (2026-09): a write that sets the controlling property
        to its value must leave the required property with a value (sent in the write, or already stored).
        [INF] the rule looks at what the write sets; HubSpot's example names the property and the controlling
        property, not the input, so one violation fails the whole batch."""
        details: list[dict[str, Any]] = []
        for contact, inp in targets:
            stored = contact["properties"] if contact is not None else {}
            for required, (controlling, value) in self.required_when.items():
                if inp.properties.get(controlling) != value:
                    continue
                after = inp.properties[required] if required in inp.properties else stored.get(required, "")
                if not str(after or "").strip():
                    details.append(
                        {
                            "message": f"{required} is required because of a conditional property rule "
                            f"based on [{controlling}]",
                            "code": "MISSING_CONDITIONAL_REQUIRED_PROPERTY",
                            "context": {"propertyName": [required]},
                        }
                    )
        if details:
            raise validation_error(RULES_MESSAGE, errors=details)

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
                raise ErrorAnswer(409, error("CONFLICT", f"Contact already exists. Existing ID: {existing}"))
            claimed[new] = own

    # -- applying ---------------------------------------------------------------------------------------------
    def apply(self, contact: dict[str, Any], props: dict[str, str], stamp: str) -> None:
        current = contact["properties"]
        old_email = current.get("email", "").lower()
        for name, value in props.items():
            if value == "":
                current.pop(name, None)
            else:
                current[name] = value
        new_email = current.get("email", "").lower()
        if new_email != old_email:
            # [INF] an API write replaces the primary email: the old one is not kept as an additional email
            # (the admin's change-email keeps it, as a form submission does).
            if old_email and self.by_email.get(old_email) == contact["id"]:
                del self.by_email[old_email]
            if new_email:
                self.by_email[new_email] = contact["id"]
        current["lastmodifieddate"] = stamp
        contact["updatedAt"] = stamp
        self._frags.pop(contact["id"], None)
        self._changed(contact)

    def new_id(self) -> str:
        # Created contacts get ids above every existing numeric id.
        if self._next_id is None:
            self._next_id = max((int(i) for i in self.contacts if i.isdigit()), default=0) + 1
        rid = str(self._next_id)
        self._next_id += 1
        return rid

    # -- the endpoints' writes --------------------------------------------------------------------------------
    def batch_update(
        self, inputs: list[WriteInput], *, enforce_rules: bool = False
    ) -> tuple[list[dict[str, Any]], list[str]]:
        """(results, ids not found). Update by record id, or by email with a per-input idProperty."""
        with self.lock:
            self._check_batch(inputs)
            targets = [(self._lookup(inp.id or "", inp.id_property or None), inp) for inp in inputs]
            found = [(c, i) for c, i in targets if c is not None]
            if enforce_rules:
                self._check_rules(found)
            self._check_email_conflicts(found)
            stamp = bodies.now_iso()
            results = []
            for contact, inp in found:
                self.apply(contact, inp.properties, stamp)
                self.updated += 1
                results.append(_written(contact, inp))
            # Non-numeric record ids come back as "" in context.ids, as captured from HubSpot.
            missing = [
                i.id if (i.id_property == "email" or (i.id or "").isdigit()) else ""
                for c, i in targets
                if c is None
            ]
        return self._shuffled(results), missing

    def batch_upsert(
        self, inputs: list[WriteInput], *, enforce_rules: bool = False
    ) -> tuple[list[dict[str, Any]], list[str]]:
        """Update or create by email (idProperty email); by record id it only updates."""
        with self.lock:
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
            updating = [(c, i) for c, i in targets if c is not None]
            if enforce_rules:
                self._check_rules(updating + creating)
            self._check_email_conflicts(updating + creating)
            stamp = bodies.now_iso()
            results, missing = [], []
            for contact, inp in targets:
                if contact is not None:
                    self.apply(contact, inp.properties, stamp)
                    self.updated += 1
                    results.append({**_written(contact, inp), "new": False})
                elif inp.id_property == "email":
                    props = {k: v for k, v in inp.properties.items() if v != ""}
                    props.setdefault("email", inp.id or "")
                    contact = self.insert(self.new_id(), props, stamp)
                    self.created += 1
                    results.append({**_written(contact, inp), "new": True})
                else:
                    missing.append(inp.id or "")
        return self._shuffled(results), missing

    def batch_create(self, inputs: list[WriteInput], *, enforce_rules: bool = False) -> list[dict[str, Any]]:
        with self.lock:
            self._check_batch(inputs)
            if enforce_rules:
                self._check_rules([(None, inp) for inp in inputs])
            self._check_email_conflicts([(None, inp) for inp in inputs])
            stamp = bodies.now_iso()
            results = []
            for inp in inputs:
                props = {k: v for k, v in inp.properties.items() if v != ""}
                contact = self.insert(self.new_id(), props, stamp)
                self.created += 1
                results.append(_written(contact, inp))
        return self._shuffled(results)

    def patch_one(
        self, key: str, id_property: str | None, props: dict[str, str], *, enforce_rules: bool = False
    ) -> dict[str, Any]:
        inp = WriteInput(key, props, id_property)
        with self.lock:
            self._check_id_property(id_property)
            self._validate([inp])
            contact = self._lookup(key, id_property)
            if contact is None:
                raise ErrorAnswer(404, error("OBJECT_NOT_FOUND", "resource not found"))
            if enforce_rules:
                self._check_rules([(contact, inp)])
            self._check_email_conflicts([(contact, inp)])
            self.apply(contact, props, bodies.now_iso())
            self.updated += 1
            return _written(contact, inp)


def _written(contact: dict[str, Any], inp: WriteInput) -> dict[str, Any]:
    """A write result: the written properties (cleared ones omitted) plus the ALWAYS ones."""
    result = public(contact, inp.properties)
    if inp.trace_id is not None:
        result["objectWriteTraceId"] = inp.trace_id
    return result
