"""How a contact is shown: the properties every result carries, the default ones, a `SimplePublicObject`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

# Properties every result carries, besides the requested ones (as in HubSpot's captured responses).
ALWAYS = ("hs_object_id", "lastmodifieddate")
# What a read or a search returns when no properties are asked for (HubSpot's search guide lists these for
# contacts: createdate, email, firstname, hs_object_id, lastmodifieddate, lastname).
DEFAULT_READ = ("createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname")


def public(contact: dict[str, Any], wanted: Iterable[str]) -> dict[str, Any]:
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


def id_key(rid: str) -> tuple[int, str]:
    """Record ids in numeric order (non-numeric ones last)."""
    return (int(rid), "") if rid.isdigit() else (1 << 62, rid)
