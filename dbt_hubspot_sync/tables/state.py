"""`hubspot_sync_state`: per exposure and cleaned email, the HubSpot record id and the hash of the properties
last sent successfully. The rows query joins it in the warehouse, so a run skips unchanged rows (no request) and
known contacts' lookups; rows that failed keep their old hash and are resent next run; `--full-refresh`
skips the join (the state is still written).

Append-only targets (Spark, Databricks: no UPDATE or DELETE) write versions instead: each `record` adds a
version per contact to `hubspot_sync_state_versions`, each `forget` a version with a NULL hash and record id, and
`hubspot_sync_state` is the view of each contact's latest version, a forgotten one left out
(macros/log_tables_ddl.sql). Readers (the rows query) read `hubspot_sync_state` either way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from dbt_hubspot_sync.tables.run_log import (
    SqlTarget,
    append_only,
    in_list,
    insert_rows,
    rows_per_statement,
    utcnow,
)

STATE_TABLE = "hubspot_sync_state"
STATE_VERSIONS_TABLE = "hubspot_sync_state_versions"  # append-only targets: the rows behind the view
# The properties_hash of a remembered miss (record_id NULL): no HubSpot contact had the email when it was last
# looked up. Such rows are not looked up again until HubSpot's search reports a new contact with the email
# (rechecks.py) or the periodic full recheck comes due. (A forgotten version has both NULL.)
NOT_FOUND = "not_found"
STATE_COLUMNS = [
    ("email_clean", "text"),
    ("record_id", "text"),
    ("properties_hash", "text"),
    ("row_fingerprint", "text"),
]
# (email_clean, record_id, properties_hash[, row_fingerprint]): the fingerprint is the warehouse's own of the row
# sent (macros/_internal/_changed_rows_query.sql), so the next run's SQL finds the row unchanged by itself.
Synced = Sequence[Any]


class SyncState:
    def __init__(self, target: SqlTarget, schema: str) -> None:
        self.target = target
        self.table = target.relation(schema, STATE_TABLE)  # what readers read (a view on append-only targets)
        self.append_only = append_only(target)
        self.versions = target.relation(schema, STATE_VERSIONS_TABLE) if self.append_only else None
        self._p = target.placeholder
        # Told each email's new state, (record_id, properties_hash, row_fingerprint) or None once forgotten: the
        # run's forecast of the next run (engine/forecast.py).
        self.watch: Callable[[str, tuple[Any, Any, Any] | None], None] | None = None

    # -- what a run writes -------------------------------------------------------------------------------
    def record(self, exposure: str, run_id: str, synced: Sequence[Synced], *, watched: bool = True) -> None:
        """(email_clean, record_id, properties_hash[, row_fingerprint]) of contacts just updated (`watched`
        False: the watcher was told already)."""
        rows = [(*row, None)[:4] for row in synced]
        if self.versions is None:
            self._delete(exposure, [row[0] for row in rows])
        self._insert(exposure, run_id, rows)
        if self.watch is not None and watched:
            for row in rows:
                self.watch(row[0], (row[1], row[2], row[3]))

    def forget(self, exposure: str, emails: Sequence[str]) -> None:
        """Drop what is known of these contacts (e.g. HubSpot no longer has them): the next run looks them up."""
        if self.versions is not None:
            self._insert(exposure, None, [(email, None, None, None) for email in emails])
        else:
            self._delete(exposure, emails)
        if self.watch is not None:
            for email in emails:
                self.watch(email, None)

    def remember_not_found(
        self, exposure: str, run_id: str, emails: Sequence[str], fingerprints: Sequence[str | None] = ()
    ) -> None:
        """No HubSpot contact has these emails (a batch read said so)."""
        if emails:
            prints = list(fingerprints) or [None] * len(emails)
            self.record(exposure, run_id, [(e, None, NOT_FOUND, f) for e, f in zip(emails, prints)])

    def forget_not_found(self, exposure: str, emails: Sequence[str]) -> list[str]:
        """Of `emails` (lower-case), those remembered not found are forgotten, so this run looks them up again;
        returns them."""
        p, size, remembered = self._p, rows_per_statement(self.target), []
        for i in range(0, len(emails), size):
            values, params = in_list(self.target, emails[i : i + size])
            remembered += [
                r[0]
                for r in self.target.execute(
                    f"select email_clean from {self.table} where exposure_name = {p}"
                    f" and properties_hash = {p} and lower(email_clean) in {values}",
                    [exposure, NOT_FOUND, *params],
                )
            ]
        self.forget(exposure, remembered)
        return remembered

    def count_not_found(self, exposure: str) -> int:
        rows = self.target.execute(
            f"select count(*) from {self.table} where exposure_name = {self._p} and properties_hash = {self._p}",
            [exposure, NOT_FOUND],
        )
        return int(rows[0][0]) if rows else 0

    # -- internals ---------------------------------------------------------------------------------------
    def _delete(self, exposure: str, emails: Sequence[str]) -> None:
        p, size = self._p, rows_per_statement(self.target)
        for i in range(0, len(emails), size):
            values, params = in_list(self.target, emails[i : i + size])
            self.target.execute(
                f"delete from {self.table} where exposure_name = {p} and email_clean in {values}",
                [exposure, *params],
            )

    def _insert(self, exposure: str, run_id: str | None, rows: Sequence[Synced]) -> None:
        """Rows of the state table (or, append-only, new versions: a NULL hash and record id forget the contact)."""
        insert_rows(
            self.target,
            self.versions or self.table,
            STATE_COLUMNS,
            rows,
            [
                ("exposure_name", "text", exposure),
                ("run_id", "text", run_id),
                ("synced_at", "timestamp", utcnow()),
            ],
        )
