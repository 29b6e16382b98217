"""Contact property definitions: HubSpot's default contact properties, as GET /crm/v3/properties/contacts
returns them, and the shape custom properties (the contact CSV's columns, number properties) take."""

from __future__ import annotations

from typing import Any

LIFECYCLE_STAGES = [
    ("subscriber", "Subscriber"),
    ("lead", "Lead"),
    ("marketingqualifiedlead", "Marketing Qualified Lead"),
    ("salesqualifiedlead", "Sales Qualified Lead"),
    ("opportunity", "Opportunity"),
    ("customer", "Customer"),
    ("evangelist", "Evangelist"),
    ("other", "Other"),
]


def make_property(
    name: str,
    label: str,
    *,
    type_: str = "string",
    field_type: str = "text",
    read_only: bool = False,
    hubspot_defined: bool = True,
    options: list[tuple[str, str]] | None = None,
    order: int = -1,
) -> dict[str, Any]:
    """A `Property` as GET /crm/v3/properties/contacts returns it (all spec-required fields present)."""
    stamp = "2019-08-06T02:41:08.000Z"
    return {
        "name": name,
        "label": label,
        "type": type_,
        "fieldType": field_type,
        "description": "" if not hubspot_defined else f"The contact's {label.lower()}",
        "groupName": "contactinformation",
        "options": [
            {"label": lab, "value": val, "displayOrder": i, "hidden": False, "description": ""}
            for i, (val, lab) in enumerate(options or [])
        ],
        "displayOrder": order,
        "calculated": False,
        "externalOptions": False,
        "hasUniqueValue": False,
        "hidden": False,
        "hubspotDefined": hubspot_defined,
        "archived": False,
        "formField": not read_only,
        "dataSensitivity": "non_sensitive",
        "createdAt": stamp,
        "updatedAt": stamp,
        "modificationMetadata": {
            "archivable": not hubspot_defined,
            "readOnlyDefinition": hubspot_defined,
            "readOnlyValue": read_only,
        },
    }


def default_properties() -> dict[str, dict[str, Any]]:
    props = [
        make_property("email", "Email", order=3),
        make_property("firstname", "First Name", order=0),
        make_property("lastname", "Last Name", order=1),
        make_property("phone", "Phone Number", type_="string", field_type="phonenumber", order=4),
        make_property("company", "Company Name", order=5),
        make_property(
            "lifecyclestage",
            "Lifecycle Stage",
            type_="enumeration",
            field_type="radio",
            options=LIFECYCLE_STAGES,
            order=6,
        ),
        make_property("hs_object_id", "Record ID", type_="number", field_type="number", read_only=True),
        # Secondary emails, `;`-separated; they find the contact like its primary email does [OBS HubSpot
        # developer forum]. Set by HubSpot (merges, form submissions with a new address), not by API writes.
        make_property(
            "hs_additional_emails",
            "Additional email addresses",
            type_="string",
            field_type="text",
            read_only=True,
        ),
        make_property("createdate", "Create Date", type_="datetime", field_type="date", read_only=True),
        make_property(
            "lastmodifieddate", "Last Modified Date", type_="datetime", field_type="date", read_only=True
        ),
    ]
    return {p["name"]: p for p in props}
