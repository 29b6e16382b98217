"""HubSpot rejecting part of a batch: a whole-batch 400 naming the record (INVALID_EMAIL) or naming none (a bad
number value: bisected), a grouped 207 on batch/update for contacts deleted since the lookup, and the list call
failing after the updates went through. The offenders alone are failed (or not_found) with HubSpot's reason and
status, the rest is resent and updated, with no user action. On the `built` project (DuckDB), with probe models
of its own where the example's data cannot provoke the case.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from dbt_hubspot_sync.hubspot import HubSpotClient, UpdateOutcome
from dbt_hubspot_sync.sandbox import Sandbox, SandboxConfig

from .helpers import (
    UPDATE,
    assert_accounted,
    assert_invariant,
    client_factory,
    contact_values,
    exposure_yaml,
    record_log,
    run_row,
    sandbox_config,
    set_faults,
    sync,
)

pytestmark = pytest.mark.dbt


# -- 7. an invalid email HubSpot rejects -----------------------------------------------------------------------------
PROBE_SQL = """\
select
    'c' || lpad(cast(i as varchar), 3, '0') || '@example.com' as "Email",
    case when i = 37 then 'c037@example.invalid'
         else 'c' || lpad(cast(i as varchar), 3, '0') || '@example.com' end as "Work Email",
    'Name' || cast(i as varchar) as firstname
from range(100) as t(i)
"""
PROBE_YAML = """\
version: 2
exposures:
  - name: hubspot_work_email
    type: application
    owner: {name: Growth, email: growth@example.com}
    depends_on: [ref('invalid_email_probe')]
    config:
      meta:
        hubspot_sync:
          email_column: Email
          properties: {"Work Email": email, firstname: firstname}
          workflow: manual
"""


def test_invalid_email_rejected_by_hubspot_is_isolated_and_the_other_99_are_updated(built):
    """Validation covers the email column; a column mapped to HubSpot's `email` property reaches HubSpot as it
    is. HubSpot then refuses the whole batch (400 INVALID_EMAIL): the product must fail that record alone and
    resend the other 99. (sandbox/rules.py and validation.py agree on the whole email corpus, and the email
    column is only ever sent to batch/read, so the email column itself offers no way past validation.)"""
    b = built("duckdb")
    ex = b.example
    models = ex.project_dir / "models"
    (models / "invalid_email_probe.sql").write_text(PROBE_SQL, encoding="utf-8")
    (models / "invalid_email_probe.yml").write_text(PROBE_YAML, encoding="utf-8")
    contacts = [{"email": f"c{i:03d}@example.com", "firstname": "old"} for i in range(100)]
    try:
        ex.dbt_ok("run", "--select", "invalid_email_probe")
        with Sandbox(SandboxConfig(contacts=contacts)) as sb:
            [result] = sync(ex, sb, select="hubspot_work_email")
            assert_invariant(ex)
            row = run_row(ex, result.run_id)
            assert row["status"] == "completed_with_errors", row
            assert row["rows_read"] == 100
            assert (row["rows_updated"], row["rows_failed"]) == (99, 1)
            assert record_log(ex, result.run_id) == [("c037@example.com", "failed", "INVALID_EMAIL", 400)]
            after = {c["properties"]["email"]: c["properties"]["firstname"] for c in sb.contacts()}
            assert after == {c["email"]: ("old" if i == 37 else f"Name{i}") for i, c in enumerate(contacts)}
            assert sb.stats()["contacts_created"] == 0
            update = sb.stats()["requests"][UPDATE]
            assert update == {"400": 1, "200": 1}  # the rejected batch, then the 99 resent once
    finally:
        for name in ("invalid_email_probe.sql", "invalid_email_probe.yml"):
            (models / name).unlink()


# -- 10. a whole-batch 400 naming no record ------------------------------------------------------------------------
SCORE_SQL = """\
select
    'c' || lpad(cast(i as varchar), 3, '0') || '@example.com' as "Email",
    case when i in (13, 71) then '12 points' else cast(i * 10 as varchar) end as score
from range(100) as t(i)
"""
SCORE_YAML = exposure_yaml("hubspot_score", "score_probe", email_column="Email", workflow="manual")


def test_400_naming_no_record_is_bisected_to_the_offenders_and_the_rest_updated(built):
    """A number property given '12 points': HubSpot's 400 INVALID_INTEGER names the property, not the input.
    The batch is bisected until the two offenders are alone; they are failed with HubSpot's code and status,
    the other 98 are updated, with a bounded number of requests."""
    b = built("duckdb")
    ex = b.example
    models = ex.project_dir / "models"
    (models / "score_probe.sql").write_text(SCORE_SQL, encoding="utf-8")
    (models / "score_probe.yml").write_text(SCORE_YAML, encoding="utf-8")
    # (-1: no contact already holds its model value, which would be `unchanged`, ALREADY_IN_HUBSPOT.)
    contacts = [{"email": f"c{i:03d}@example.com", "score": "-1"} for i in range(100)]
    try:
        ex.dbt_ok("run", "--select", "score_probe")
        with Sandbox(SandboxConfig(contacts=contacts, number_properties=("score",))) as sb:
            [result] = sync(ex, sb, select="hubspot_score")
            assert_invariant(ex)
            row = run_row(ex, result.run_id)
            assert row["status"] == "completed_with_errors", row
            assert (row["rows_read"], row["rows_updated"], row["rows_failed"]) == (100, 98, 2)
            assert sorted(record_log(ex, result.run_id)) == [
                ("c013@example.com", "failed", "INVALID_INTEGER", 400),
                ("c071@example.com", "failed", "INVALID_INTEGER", 400),
            ]
            after = {c["properties"]["email"]: c["properties"]["score"] for c in sb.contacts()}
            assert after == {
                c["email"]: ("-1" if i in (13, 71) else str(i * 10)) for i, c in enumerate(contacts)
            }
            updates = sum(sb.stats()["requests"][UPDATE].values())
            assert updates <= 2 * (2 * 7 + 1)  # about log2(n)+1 requests per offender
    finally:
        for name in ("score_probe.sql", "score_probe.yml"):
            (models / name).unlink()


# -- 11. contacts deleted between the lookup and the update: a grouped 207 on batch/update -------------------------
class DeletesBeforeUpdate(HubSpotClient):
    """Someone deletes three of the contacts in HubSpot after the run looked them up, before it updates them."""

    sandbox: Sandbox
    doomed: tuple[str, ...]

    def update(self, inputs: Any) -> UpdateOutcome:
        for rid in self.doomed:
            self.sandbox.app.store.delete(rid)
        return super().update(inputs)


def test_contacts_deleted_before_the_update_are_not_found_from_the_grouped_207(built):
    b = built("duckdb")
    ex = b.example
    with Sandbox(sandbox_config()) as sb:
        initial = contact_values(sb)
        changed = sorted(cid for cid in b.reference if b.reference[cid] != initial[cid])[:3]
        cls = type("Deletes", (DeletesBeforeUpdate,), {"sandbox": sb, "doomed": tuple(changed)})
        [result] = sync(ex, sb, factory=client_factory(sb, cls))
        row = assert_accounted(ex, result)
        ref = b.reference_result.counters
        assert row["status"] == "completed", row
        assert (row["rows_updated"], row["rows_not_found"]) == (ref.rows_updated - 3, ref.rows_not_found + 3)
        update_statuses = sb.stats()["requests"][UPDATE]
        assert update_statuses.get("207") and set(update_statuses) <= {"200", "207"}
        gone = [code for _, outcome, code, _ in record_log(ex, result.run_id) if outcome == "not_found"]
        assert Counter(gone)["OBJECT_NOT_FOUND"] == row["rows_not_found"]
        assert contact_values(sb) == {cid: v for cid, v in b.reference.items() if cid not in changed}
        assert sb.stats()["contacts_created"] == 0


# -- 8. the list call fails after the updates went through -------------------------------------------------------
LISTED_YAML = """\
version: 2
exposures:
  - name: hubspot_customers_listed
    type: application
    owner: {{name: Growth, email: growth@example.com}}
    depends_on: [ref('hubspot_contacts')]
    config:
      meta:
        hubspot_sync:
          email_column: Email
          list_id: "{list_id}"
          workflow: manual
"""


class FaultsFromListAdd(HubSpotClient):
    """HubSpot breaks right after the updates: the list memberships call is the first to fail."""

    sandbox: Sandbox
    spec: str

    def add_to_list(self, list_id: str, record_ids: Any) -> Any:
        set_faults(self.sandbox, self.spec)
        return super().add_to_list(list_id, record_ids)


def test_failed_list_add_is_retried_by_the_next_run(built):
    b = built("duckdb")
    ex = b.example
    variant = ex.project_dir / "models" / "listed_exposure.yml"
    try:
        with Sandbox(sandbox_config()) as sb:
            initial = contact_values(sb)
            list_id = sb.app.store.create_list("customers", "0-1", "MANUAL")["listId"]
            variant.write_text(LISTED_YAML.format(list_id=list_id), encoding="utf-8")
            # A clean run updates these contacts, and so puts them in the list.
            expected = {cid for cid, props in b.reference.items() if props != initial[cid]}
            assert 0 < len(expected) == b.reference_result.counters.rows_updated

            cls = type("ListDown", (FaultsFromListAdd,), {"sandbox": sb, "spec": "503:1.0"})
            [result] = sync(ex, sb, select="hubspot_customers_listed", factory=client_factory(sb, cls))
            row = run_row(ex, result.run_id)
            assert row["status"] == "failed" and "503" in row["error"], row
            assert row["rows_updated"] == len(expected)  # the updates themselves went through
            assert sb.list_members(list_id) == []

            set_faults(sb, "")
            [again] = sync(ex, sb, select="hubspot_customers_listed")
            assert again.status == "completed", again
            assert_invariant(ex)
            assert contact_values(sb) == b.reference
            assert set(sb.list_members(list_id)) == expected
    finally:
        variant.unlink(missing_ok=True)
