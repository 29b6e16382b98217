"""Reading HubSpot's bodies: every field optional, results matched by id, never by position.

HubSpot documents its error fields as optional and real bodies carry fewer fields than its specs require
(docs/hubspot_api.md §2), so nothing here assumes a key exists. The helpers pull out the value errors of a 400 (from
`errors[]` and from the JSON array embedded in `message`), the most specific code, the missing scopes of a 403, the
rate-limit policy of a 429 and a `Retry-After`; `decide` says what an answer means to the request loop;
`_record_update_results` turns a 200/207 of batch/update into
per-record outcomes, and `_named_offenders` finds which records a whole-batch 400 names. Pure functions: no I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dbt_hubspot_sync.hubspot.results import RecordFailure, UpdateOutcome

# Codes that concern a property rather than a value: every row carrying the property would fail.
PROPERTY_CODES = frozenset({"PROPERTY_DOESNT_EXIST", "READ_ONLY_VALUE"})
# A portal's own write-validation rules, enforced from the 2026-09 API version (docs/hubspot_api.md §9): they
# concern a record's values (a property required when another has some value), so they fail records, not the run.
RULE_CODES = frozenset({"MISSING_CONDITIONAL_REQUIRED_PROPERTY", "MISSING_REQUIRED_PROPERTY"})
_RULE_BASIS = re.compile(r"based on \[([^\]]*)\]")


@dataclass
class Reply:
    status: int
    body: Any
    headers: Any
    text: str

    @classmethod
    def of(cls, resp: Any) -> Reply:
        """A `requests.Response`, read once. HubSpot's JSON is UTF-8 (RFC 8259): decoding it here skips requests'
        charset sniffing; a body that is not JSON is None (its text is kept for messages)."""
        text = resp.content.decode("utf-8", "replace")
        try:
            body = json.loads(text) if text else None
        except ValueError:
            body = None
        return cls(resp.status_code, body, resp.headers, text)


@dataclass(frozen=True)
class _ValueError:
    """One entry of a 400: HubSpot's code, the property it names (if any) and its message."""

    code: str | None
    name: str | None
    message: str


def as_dict(body: Any) -> dict[str, Any]:
    return body if isinstance(body, dict) else {}


def str_list(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value if v is not None]
    if isinstance(value, (str, int)):
        return [str(value)]
    return []


def _parse_value_errors(body: Any) -> list[_ValueError]:
    """Collect (code, property, message) from `errors[]` and from the JSON array embedded in the message
    ("Property values were not valid: [{...,"error":"INVALID_EMAIL","name":"email"}]")."""
    b = as_dict(body)
    found: list[_ValueError] = []
    for item in b.get("errors") or []:
        if not isinstance(item, dict):
            continue
        ctx = as_dict(item.get("context"))
        names = str_list(ctx.get("propertyName"))
        found.append(
            _ValueError(
                code=item.get("code") if isinstance(item.get("code"), str) else None,
                name=names[0] if names else None,
                message=str(item.get("message") or ""),
            )
        )
    message = b.get("message")
    if isinstance(message, str):
        start = message.find("[")
        if start != -1 and message.rstrip().endswith("]"):
            try:
                embedded = json.loads(message[start : message.rstrip().rfind("]") + 1])
            except ValueError:
                embedded = None
            if isinstance(embedded, list):
                for item in embedded:
                    if isinstance(item, dict):
                        found.append(
                            _ValueError(
                                code=item.get("error") if isinstance(item.get("error"), str) else None,
                                name=item.get("name") if isinstance(item.get("name"), str) else None,
                                message=str(item.get("message") or item.get("localizedErrorMessage") or ""),
                            )
                        )
    return found


def primary_code(body: Any, status: int) -> str:
    """The most specific code a failure body carries: errors[].code / embedded "error", else category."""
    for ve in _parse_value_errors(body):
        if ve.code:
            return ve.code
    b = as_dict(body)
    for key in ("category", "errorType"):
        if isinstance(b.get(key), str) and b[key]:
            return b[key]
    return f"HTTP_{status}"


def body_message(body: Any, text: str) -> str:
    msg = as_dict(body).get("message")
    if isinstance(msg, str) and msg:
        return msg
    return text[:300]


def _missing_scopes(body: Any) -> list[str]:
    scopes: list[str] = []
    b = as_dict(body)
    contexts = [as_dict(b.get("context"))] + [
        as_dict(e.get("context")) for e in b.get("errors") or [] if isinstance(e, dict)
    ]
    for ctx in contexts:
        for key in ("requiredGranularScopes", "missingScopes"):
            for scope in str_list(ctx.get(key)):
                if scope not in scopes:
                    scopes.append(scope)
    return scopes


def _rate_policy(body: Any) -> str:
    """policyName first, then category/errorType, then message (docs/hubspot_api.md §5.2)."""
    b = as_dict(body)
    policy = b.get("policyName")
    if isinstance(policy, str) and policy:
        return policy.upper()
    message = str(b.get("message") or "").lower()
    if "daily" in message:
        return "DAILY"
    if "secondly limit" in message and "ten_secondly" not in message:
        return "SECONDLY"
    return "TEN_SECONDLY_ROLLING"


def _retry_after(headers: Any) -> float | None:
    value = headers.get("Retry-After") if headers is not None else None
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP-date: rare enough to fall back to the interval


@dataclass(frozen=True)
class Decision:
    """What one HTTP answer means to the request loop (`decide`): `return` it to the caller, `wait` out a 429 of
    `code` (its policy) and resend, `retry` a transient failure (`code`, `detail`), or raise: `daily_limit` (429
    DAILY) or `auth` (401/403, with the missing `scopes`)."""

    action: str  # return | wait | retry | daily_limit | auth
    code: str | None = None
    detail: str = ""
    scopes: tuple[str, ...] = ()


def decide(status: int, body: Any, text: str) -> Decision:
    """The request loop's one rule for an answer (hubspot/transport.py acts on it): pure, no state, no I/O."""
    if status == 429:
        policy = _rate_policy(body)
        if policy == "DAILY":
            return Decision("daily_limit", "DAILY", body_message(body, text))
        return Decision("wait", policy)
    if status == 423 or status >= 500:
        code = "HTTP_423" if status == 423 else "HTTP_5XX"
        return Decision("retry", code, f"HTTP {status}: {body_message(body, text)}")
    if status in (401, 403):
        scopes = tuple(_missing_scopes(body))
        code = "MISSING_SCOPES" if scopes else "INVALID_AUTHENTICATION"
        return Decision("auth", code, body_message(body, text), scopes)
    return Decision("return")


def _record_update_results(ids: list[str], resp: Reply, outcome: UpdateOutcome) -> None:
    """Record the per-id results of a batch/update 200/207 `resp` for the `ids` sent, by id and trace id."""
    body = as_dict(resp.body)
    sent = set(ids)
    accounted: set[str] = set()
    for result in body.get("results") or []:
        rid = str(as_dict(result).get("id") or "")
        if rid in sent:
            outcome.updated.add(rid)
            accounted.add(rid)
    categories: set[str] = set()
    for err in body.get("errors") or []:
        if not isinstance(err, dict):
            continue
        category = str(err.get("category") or "")
        categories.add(category)
        ctx = as_dict(err.get("context"))
        named = [i for i in str_list(ctx.get("ids")) + str_list(ctx.get("objectWriteTraceId")) if i in sent]
        for rid in named:
            if rid in accounted:
                continue
            accounted.add(rid)
            if category == "OBJECT_NOT_FOUND":
                outcome.not_found.add(rid)
            else:
                detail = next((ve.message for ve in _parse_value_errors(err) if ve.message), "")
                code = primary_code(err, resp.status)
                outcome.failed[rid] = RecordFailure(code, detail or body_message(err, ""), resp.status)
    unaccounted = [rid for rid in ids if rid not in accounted]
    if not unaccounted:
        return
    # Neither in results nor named by an error (e.g. a merged-away id, or ids echoed as ""). When the only
    # error was "not found", that is what happened to them; otherwise we cannot tell, so report it.
    if categories == {"OBJECT_NOT_FOUND"}:
        outcome.not_found.update(unaccounted)
    else:
        detail = f"record id absent from HubSpot's {resp.status} response" + (
            f" (errors: {', '.join(sorted(c for c in categories if c))})" if categories else ""
        )
        outcome.fail_all(unaccounted, RecordFailure("NOT_IN_RESPONSE", detail, resp.status))


def _named_offenders(
    batch: list[tuple[str, dict[str, str]]], body: Any, errors: list[_ValueError]
) -> dict[str, RecordFailure]:
    """Records a 400 identifies: duplicate ids (context.ids), inputs named by their objectWriteTraceId or id in
    an error's context (the record id is sent as the trace id), or a property value quoted in its message."""
    b = as_dict(body)
    named: dict[str, RecordFailure] = {}
    message = body_message(body, "")
    ids = set(str_list(as_dict(b.get("context")).get("ids")))
    if ids and "duplicate" in message.lower():
        for rid, _ in batch:
            if rid in ids:
                named[rid] = RecordFailure("DUPLICATE_ID", message, 400)
    sent = {rid for rid, _ in batch}
    for item in [b, *(e for e in b.get("errors") or [] if isinstance(e, dict))]:
        ctx = as_dict(item.get("context"))
        traced = str_list(ctx.get("objectWriteTraceId")) + ([] if item is b else str_list(ctx.get("ids")))
        for rid in traced:
            if rid in sent and rid not in named:
                code = item.get("code") if isinstance(item.get("code"), str) else None
                named[rid] = RecordFailure(
                    code or primary_code(body, 400), str(item.get("message") or message), 400
                )
    for ve in errors:
        if not ve.code or not ve.message:
            continue
        patterns: list[Callable[[str], str]] = []
        if ve.code == "INVALID_EMAIL":
            patterns.append(lambda v: f"Email address {v} is invalid")
        if ve.code == "INVALID_OPTION":
            patterns.append(lambda v: f"{v} was not one of the allowed options")
        if not patterns:
            continue
        prop = ve.name or ("email" if ve.code == "INVALID_EMAIL" else None)
        for rid, props in batch:
            if rid in named:
                continue
            values = [props.get(prop)] if prop else list(props.values())
            for value in values:
                if value and any(p(value).lower() in ve.message.lower() for p in patterns):
                    named[rid] = RecordFailure(ve.code, ve.message, 400)
                    break
    return named


def _rule_suspects(
    batch: list[tuple[str, dict[str, str]]], errors: list[_ValueError]
) -> dict[str, _ValueError]:
    """Records that could have broken a portal rule a 400 reports (RULE_CODES), each with the error it may have
    caused. HubSpot names the required property (context.propertyName) and, in the message, the properties the
    rule is based on ("... required because of a conditional property rule based on [country]"), not the
    record: a suspect leaves the required property without a value and, when the basis is known, sends one of
    its properties."""
    suspects: dict[str, _ValueError] = {}
    for ve in errors:
        if ve.code not in RULE_CODES or not ve.name:
            continue
        basis_match = _RULE_BASIS.search(ve.message)
        basis = [p.strip() for p in basis_match.group(1).split(",") if p.strip()] if basis_match else []
        for rid, props in batch:
            if rid in suspects or str(props.get(ve.name) or "").strip():
                continue
            if not basis or any(p in props for p in basis):
                suspects[rid] = ve
    return suspects
