"""`hubspot_sync_state`: per exposure and cleaned email, the HubSpot record id and the hash of the properties
last sent successfully. The rows query joins it in the warehouse, so a run skips unchanged rows (no request) and
known contacts' lookups; rows that failed keep their old hash and are resent next run; `--full-refresh`
skips the join (the state is still written)."""

from __future__ import annotations

from collections.abc import Sequence

from .run_log import SqlTarget, in_list, insert_rows, rows_per_statement, utcnow

STATE_TABLE = "hubspot_sync_state"
STATE_COLUMNS = [("email_clean", "text"), ("record_id", "text"), ("properties_hash", "text")]


class SyncState:
    def __init__(self, target: SqlTarget, schema: str) -> None:
        self.target = target
        self.table = target.relation(schema, STATE_TABLE)
        self._p = target.placeholder

    def record(self, exposure: str, run_id: str, synced: Sequence[tuple[str, str, str]]) -> None:
        """(email_clean, record_id, properties_hash) of contacts just updated."""
        self.forget(exposure, [email for email, _, _ in synced])
        insert_rows(
            self.target,
            self.table,
            STATE_COLUMNS,
            synced,
            [
                ("exposure_name", "text", exposure),
                ("run_id", "text", run_id),
                ("synced_at", "timestamp", utcnow()),
            ],
        )

    def forget(self, exposure: str, emails: Sequence[str]) -> None:
        """Drop what is known of these contacts (e.g. HubSpot no longer has them): the next run looks them up."""
        p, size = self._p, rows_per_statement(self.target)
        for i in range(0, len(emails), size):
            values, params = in_list(self.target, emails[i : i + size])
            self.target.execute(
                f"delete from {self.table} where exposure_name = {p} and email_clean in {values}",
                [exposure, *params],
            )
