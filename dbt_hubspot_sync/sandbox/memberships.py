"""List memberships beyond adding (HubSpot's Lists v3 and date versions): remove, add-and-remove, and the paged
GET of a list's members (`limit` up to 250, `after`), as the lists specs declare them. Handlers; the state is
`lists.py`'s part of the store."""

from __future__ import annotations

from typing import Any

from dbt_hubspot_sync.sandbox import payloads
from dbt_hubspot_sync.sandbox.bodies import validation_error
from dbt_hubspot_sync.sandbox.endpoints import Ctx
from dbt_hubspot_sync.sandbox.store import Store

MAX_PAGE = 250  # the spec: "The maximum `limit` is 250."
DEFAULT_PAGE = 100  # the spec's default


def remove(store: Store, ctx: Ctx) -> tuple[int, Any]:
    ids = payloads.parse_id_array(payloads.parse_json(ctx.raw))
    ctx.n_inputs = len(ids)
    return 200, store.change_members(ctx.params["listId"], [], ids)


def add_and_remove(store: Store, ctx: Ctx) -> tuple[int, Any]:
    add, drop = payloads.parse_membership_change(payloads.parse_json(ctx.raw))
    ctx.n_inputs = len(add) + len(drop)
    return 200, store.change_members(ctx.params["listId"], add, drop)


def page(store: Store, ctx: Ctx) -> tuple[int, Any]:
    raw_limit = (ctx.query.get("limit") or [str(DEFAULT_PAGE)])[0]
    try:
        limit = int(raw_limit)
    except ValueError:
        raise validation_error(f"Invalid value for 'limit': {raw_limit!r} is not a number") from None
    if not 1 <= limit <= MAX_PAGE:
        # [INF] the spec caps limit at 250; HubSpot's answer past it is not documented.
        raise validation_error(f"limit must be between 1 and {MAX_PAGE} (got {limit})")
    after = (ctx.query.get("after") or [None])[0]
    return 200, store.member_page(ctx.params["listId"], after, limit)
