"""Updating contacts by record id (`batch/update`), with recovery from HubSpot's whole-batch 400s: `UpdateCalls`.

One bad record fails a whole batch with 400 (docs/hubspot_api.md §3). The records a 400 names (duplicate ids,
inputs named by trace id, a quoted invalid email or option) are failed with HubSpot's message and the rest
resent; a 400 about a property (unknown, read-only) stops the run (`PropertyError`), since every record sending it
would fail. A portal-rule rejection of the 2026-09 version (`MISSING_CONDITIONAL_REQUIRED_PROPERTY`, §9) names
the property, not the record: the records that could have broken the rule are set apart, the rest resent, and
the suspects bisected; a 400 naming nothing is bisected until offenders are single.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from dbt_hubspot_sync.hubspot.errors import HubSpotError, PropertyError, RetriesExhaustedError
from dbt_hubspot_sync.hubspot.responses import (
    PROPERTY_CODES,
    Reply,
    _named_offenders,
    _parse_value_errors,
    _record_update_results,
    _rule_suspects,
    _ValueError,
    as_dict,
    body_message,
    primary_code,
)
from dbt_hubspot_sync.hubspot.results import RecordFailure, UpdateOutcome
from dbt_hubspot_sync.hubspot.transport import Transport, chunks

__all__ = ["UpdateCalls", "BATCH_SIZE"]

log = logging.getLogger(__name__)

BATCH_SIZE = 100  # HubSpot: "Object API batch endpoints are limited to 100 inputs per request."
# Failures of the transport, not of the records: a batch that met one proves nothing about its records.
TRANSPORT_CODES = frozenset({"HTTP_5XX", "HTTP_423", "TIMEOUT", "CONNECTION_ERROR", "RATE_LIMITED"})

Batch = list[tuple[str, dict[str, str]]]


class UpdateCalls(Transport):
    def update(self, inputs: Sequence[tuple[str, dict[str, str]]]) -> UpdateOutcome:
        """Update existing contacts by record id, 100 a request, chunks in parallel under the limiter.

        Records are never lost: each input ends updated, not_found or failed (with HubSpot's reason). Raises
        PropertyError / DailyLimitError / AuthError / HubSpotError (unexpected status) with `outcome_so_far`.
        """
        outcome = UpdateOutcome()
        futures = self._map_concurrently(self._update_chunk, chunks(list(inputs), BATCH_SIZE))
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

    def _property_error(
        self, call: str, ve: _ValueError, status: int, category: object, fallback: str
    ) -> None:
        raise PropertyError(
            self.redact(
                f"{call}: HubSpot rejected property {ve.name!r} ({ve.code}): {ve.message or fallback}. "
                "Every record sending it would fail: fix the exposure's properties"
            ),
            call=call,
            status=status,
            category=category if isinstance(category, str) else None,
            code=ve.code,
            property_name=ve.name,
        )

    def _send_update(self, batch: Batch, outcome: UpdateOutcome) -> Reply | None:
        """Send one batch; record its per-id results. Returns the 400 response to recover from, else None."""
        path = self.paths.batch_update()
        call = f"POST {path}"
        payload = {
            # objectWriteTraceId = record id: lets HubSpot answer per-input errors matched by id.
            "inputs": [{"id": rid, "objectWriteTraceId": rid, "properties": props} for rid, props in batch]
        }
        try:
            resp = self.request("POST", path, payload)
        except RetriesExhaustedError as exc:
            # The run continues; these records are failed with the transport reason (retried next run).
            outcome.fail_all(
                (rid for rid, _ in batch), RecordFailure(exc.code or "HTTP_5XX", str(exc), exc.status)
            )
            return None
        if resp.status == 400:
            return resp
        # 2026-09 answers a partial success as a 200 carrying errors (its spec has no 207): parsed alike.
        if resp.status not in (200, 207) or not isinstance(resp.body, dict):
            raise self.unexpected(call, resp, "200 or 207 (or a 400 naming bad records)")
        _record_update_results([rid for rid, _ in batch], resp, outcome)
        for err in resp.body.get("errors") or []:
            for ve in _parse_value_errors(err):
                if ve.code in PROPERTY_CODES:
                    # Per-input errors about a property: every later record would fail the same way.
                    self._property_error(call, ve, resp.status, as_dict(err).get("category"), "")
        return None

    def _update_recover(self, batch: Batch, outcome: UpdateOutcome) -> None:
        """Send `batch`; on a whole-batch 400 isolate the offenders and resend the rest."""
        if not batch:
            return
        resp = self._send_update(batch, outcome)
        if resp is not None:
            self._isolate(batch, resp, outcome)

    def _isolate(self, batch: Batch, resp: Reply, outcome: UpdateOutcome) -> None:
        """`batch` was rejected with 400 `resp`: fail the named offenders, set rule suspects apart, or bisect."""
        call = f"POST {self.paths.batch_update()}"
        body = resp.body
        errors = _parse_value_errors(body)
        message = body_message(body, resp.text)
        for ve in errors:
            if ve.code in PROPERTY_CODES:
                self._property_error(call, ve, 400, as_dict(body).get("category"), message)

        named = _named_offenders(batch, body, errors)
        if named:
            rest = [item for item in batch if item[0] not in named]
            outcome.failed.update(named)
            log.info("%s: 400 named %d record(s); resending %d", call, len(named), len(rest))
            self._update_recover(rest, outcome)
            return

        suspects = _rule_suspects(batch, errors)
        if len(batch) == 1:
            rid = batch[0][0]
            own = suspects.get(rid)
            if own is not None:
                outcome.failed[rid] = RecordFailure(
                    own.code or "VALIDATION_ERROR", own.message or message, 400
                )
            else:
                detail = next((ve.message for ve in errors if ve.message), message)
                outcome.failed[rid] = RecordFailure(primary_code(body, 400), detail, 400)
            return

        if suspects and len(suspects) < len(batch):
            # A portal rule names the property, not the record: resend the records that cannot have broken it;
            # if they go through, the offenders are among the suspects, which are isolated next.
            innocent = [item for item in batch if item[0] not in suspects]
            suspected = [item for item in batch if item[0] in suspects]
            log.info("%s: 400 portal rule; resending %d record(s) that cannot break it", call, len(innocent))
            innocent_resp = self._send_update(innocent, outcome)
            if innocent_resp is not None:
                self._isolate(innocent, innocent_resp, outcome)
                self._update_recover(suspected, outcome)
            elif any(outcome.failed.get(rid, _OK).code in TRANSPORT_CODES for rid, _ in innocent):
                self._update_recover(suspected, outcome)  # the resend proved nothing: try the suspects afresh
            else:
                self._isolate(suspected, resp, outcome)
            return

        # Nothing named: bisect. If the left half goes through cleanly, the right half must hold the offender,
        # so it is split straight away instead of being sent whole (about log2(n)+1 requests per bad record).
        mid = len(batch) // 2
        left, right = batch[:mid], batch[mid:]
        left_resp = self._send_update(left, outcome)
        if left_resp is not None:
            self._isolate(left, left_resp, outcome)
            self._update_recover(right, outcome)
        elif len(right) == 1 or any(outcome.failed.get(rid, _OK).code in TRANSPORT_CODES for rid, _ in left):
            self._update_recover(right, outcome)
        else:
            self._isolate(right, resp, outcome)


_OK = RecordFailure("", "")
