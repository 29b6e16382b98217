"""Fault injection on the whole sync ("Bad input never loses data", PRODUCT.md).

The example project is built once per adapter with real dbt; each test runs the standalone runner against its
own sandbox with faults (5xx, 423, resets, slow answers past the client timeout, 429s, the daily limit, an
unknown property, a crash, an invalid email HubSpot rejects) and checks the contract: every row read has exactly
one counted outcome, every row not updated is logged with a reason, nothing is created, and a later clean run
converges to the HubSpot state of a clean run on a fresh sandbox.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dbt_hubspot_sync.cli import main
from dbt_hubspot_sync.dbt_bridge import open_session
from dbt_hubspot_sync.engine import RunResult
from dbt_hubspot_sync.errors import ConfigError
from dbt_hubspot_sync.hubspot_client import HubSpotClient, UpdateOutcome
from dbt_hubspot_sync.rate_limit import RateLimiter
from dbt_hubspot_sync.runner import SyncOptions, ensure_log_tables, run_sync
from dbt_hubspot_sync.sandbox import Sandbox, SandboxConfig
from dbt_hubspot_sync.sandbox.faults import FaultInjector

from .conftest import EXAMPLE, Example, exposure_yaml, make_example

pytestmark = pytest.mark.dbt

EXPOSURE = "hubspot_customers"
CONTACTS_CSV = str(EXAMPLE / "sandbox" / "contacts.csv")
ADAPTERS = ["duckdb", "postgres"]
# Reason codes of a request that kept failing in transit (the record is retried by the next run).
TRANSIENT_CODES = {"HTTP_5XX", "HTTP_423", "TIMEOUT", "CONNECTION_ERROR"}
OUTCOMES = ("invalid", "duplicate", "unchanged", "updated", "not_found", "failed")
RUN_COLUMNS = (
    "status",
    "error",
    "finished_at",
    "rows_read",
    *(f"rows_{o}" for o in OUTCOMES),
    "requests",
    "retries",
    "rate_limited",
)
CLIENT_TIMEOUT = 0.5
BOOKKEEPING = {"lastmodifieddate", "createdate"}


# -- the built example project (once per adapter per session: the `built` fixture in conftest.py) ----------------
@dataclasses.dataclass
class Built:
    example: Example
    reference: dict[str, dict[str, str]]  # contacts after a clean run on a fresh sandbox
    reference_result: RunResult
    reference_reads: int  # batch/read requests of that clean run


def _build(adapter: str, tmp: Path, mp: pytest.MonkeyPatch) -> Built:
    ex = make_example(adapter, tmp, mp)
    with pytest.MonkeyPatch.context() as m:
        # The model's post-hook pushes the automatic exposure during `dbt run`. Without a token it cannot:
        # it warns and sends nothing. (`--vars {hubspot_sync: {workflow: manual}}` would not silence it: the
        # exposure's own `workflow: automatic` wins over project defaults.)
        m.delenv("HUBSPOT_ACCESS_TOKEN", raising=False)
        m.delenv("HUBSPOT_BASE_URL", raising=False)
        ex.dbt_ok("run")
    ensure_tables(ex)
    assert ex.query("select count(*) from {schema}.hubspot_sync_runs") == [(0,)], "the build pushed a sync"
    with Sandbox(sandbox_config()) as sb:
        [result] = sync(ex, sb)
        assert result.status == "completed" and result.counters.rows_updated > 0, result
        reads = _calls(sb, "batch/read")
        reference = contact_values(sb)
    return Built(ex, reference, result, reads)


def ensure_tables(ex: Example) -> None:
    with open_session(ex.project_dir, ex.project_dir, ex.target) as session:
        ensure_log_tables(session.warehouse, [session.project.target_schema])


# -- helpers ---------------------------------------------------------------------------------------------------
def sandbox_config(**kw: Any) -> SandboxConfig:
    return SandboxConfig(contacts_csv=CONTACTS_CSV, **kw)


def client_factory(sb: Sandbox, cls: type[HubSpotClient] = HubSpotClient, **kw: Any) -> Callable[[], Any]:
    """Small timeouts and backoffs, and a limiter of its own (not the process-wide one of the token)."""
    opts: dict[str, Any] = dict(
        timeout=CLIENT_TIMEOUT,
        max_retries=3,
        backoff_base=0.01,
        backoff_max=0.05,
        locked_delay=0.05,
    )
    opts.update(kw)
    return lambda: cls(sb.app.cfg.token, sb.url, limiter=RateLimiter(100, 10_000), **opts)


def sync(
    ex: Example, sb: Sandbox, select: str = EXPOSURE, factory: Callable[[], Any] | None = None
) -> list[RunResult]:
    options = SyncOptions(
        project_dir=str(ex.project_dir), profiles_dir=str(ex.project_dir), target=ex.target, select=[select]
    )
    return run_sync(options, client_factory=factory or client_factory(sb))


def set_faults(sb: Sandbox, spec: str, seed: int = 0) -> None:
    """Change the running sandbox's fault injection (the test harness plays HubSpot having a bad minute)."""
    sb.app.faults = FaultInjector(spec, seed)


def execute(ex: Example, sql: str) -> None:
    conn = ex.connect()
    try:
        conn.cursor().execute(sql.replace("{schema}", ex.schema))
        if ex.adapter == "duckdb":
            conn.commit()
    finally:
        conn.close()


def run_row(ex: Example, run_id: str) -> dict[str, Any]:
    rows = ex.query(
        f"select {', '.join(RUN_COLUMNS)} from {{schema}}.hubspot_sync_runs where run_id = '{run_id}'"
    )
    assert len(rows) == 1, rows
    return dict(zip(RUN_COLUMNS, rows[0]))


def record_log(ex: Example, run_id: str) -> list[tuple]:
    """(email_clean, outcome, reason_code, http_status) of a run's logged records."""
    return ex.query(
        "select email_clean, outcome, reason_code, http_status from {schema}.hubspot_sync_record_log"
        f" where run_id = '{run_id}'"
    )


def model_rows(ex: Example) -> int:
    return ex.query("select count(*) from {schema}.hubspot_contacts")[0][0]


def assert_accounted(ex: Example, result: RunResult) -> dict[str, Any]:
    """The warehouse log holds what the run returned; every row read has one outcome; every row not updated
    (log_records: rejected) has exactly one record-log row with a reason code."""
    row = run_row(ex, result.run_id)
    assert row["status"] == result.status and row["finished_at"] is not None
    assert row["rows_read"] == model_rows(ex)
    assert row["rows_read"] == sum(row[f"rows_{o}"] for o in OUTCOMES), row
    for o in OUTCOMES:
        assert row[f"rows_{o}"] == getattr(result.counters, f"rows_{o}"), o
    log = record_log(ex, result.run_id)
    logged = Counter(o for _, o, _, _ in log)
    assert logged == Counter({o: row[f"rows_{o}"] for o in ("invalid", "duplicate", "not_found", "failed")})
    assert all(code for _, _, code, _ in log), "a logged record without a reason code"
    return row


def failed_codes(ex: Example, run_id: str) -> Counter[str]:
    return Counter(code for _, o, code, _ in record_log(ex, run_id) if o == "failed")


def contact_values(sb: Sandbox) -> dict[str, dict[str, str]]:
    """Contacts' properties minus HubSpot's own bookkeeping (lastmodifieddate moves on every update; a fresh
    sandbox stamps createdate when it loads its contacts)."""
    return {
        c["id"]: {k: v for k, v in c["properties"].items() if k not in BOOKKEEPING} for c in sb.contacts()
    }


def assert_progress_is_correct(
    sb: Sandbox, before: dict[str, dict[str, str]], b: Built, updated: int | None
) -> None:
    """Nothing created; every contact that changed holds the clean run's values; `updated` of them changed."""
    now = contact_values(sb)
    assert sb.stats()["contacts_created"] == 0
    assert now.keys() == before.keys()
    changed = [cid for cid in now if now[cid] != before[cid]]
    assert all(now[cid] == b.reference[cid] for cid in changed)
    if updated is not None:
        assert len(changed) == updated


def assert_converges(ex: Example, sb: Sandbox, b: Built) -> None:
    """A run with HubSpot healthy again completes and reaches the clean run's state."""
    [again] = sync(ex, sb)
    row = assert_accounted(ex, again)
    assert row["status"] == "completed" and row["rows_failed"] == 0, row
    assert contact_values(sb) == b.reference
    assert sb.stats()["contacts_created"] == 0


def _calls(sb: Sandbox, endpoint: str) -> int:
    key = f"POST /crm/v3/objects/contacts/{endpoint}"
    return sum(sb.stats()["requests"].get(key, {}).values())


PREFLIGHT = "GET /crm/v3/properties/{objectType}"


def run_requests(sb: Sandbox) -> int:
    """Requests the runs sent: all the sandbox saw but the property preflight (made before any run starts)."""
    stats = sb.stats()
    return stats["requests_total"] - sum(stats["requests"].get(PREFLIGHT, {}).values())


def wait_for_sandbox(sb: Sandbox, requests: int, timeout: float = 10.0) -> None:
    """Slow requests the client gave up on still finish server-side: wait until the sandbox logged them all."""
    deadline = time.monotonic() + timeout
    while run_requests(sb) < requests:
        assert time.monotonic() < deadline, f"sandbox saw {run_requests(sb)} of {requests}"
        time.sleep(0.05)


class FaultsFromUpdate(HubSpotClient):
    """HubSpot breaks between the lookups and the updates: faults start with the first batch/update."""

    sandbox: Sandbox
    spec: str

    def update(self, inputs: Any) -> UpdateOutcome:
        set_faults(self.sandbox, self.spec)
        return super().update(inputs)


def faults_from_update(sb: Sandbox, spec: str) -> type[HubSpotClient]:
    return type("Faulty", (FaultsFromUpdate,), {"sandbox": sb, "spec": spec})


class FaultsFromRead(HubSpotClient):
    """HubSpot breaks once the run starts (after the property preflight): faults start with the first lookup."""

    sandbox: Sandbox
    spec: str
    seed: int = 0

    def read_ids_by_email(self, emails: Any) -> dict[str, str]:
        if not getattr(self, "_faulty", False):
            self._faulty = True
            set_faults(self.sandbox, self.spec, self.seed)
        return super().read_ids_by_email(emails)


def faults_from_read(sb: Sandbox, spec: str, seed: int = 0) -> type[HubSpotClient]:
    return type("FaultyReads", (FaultsFromRead,), {"sandbox": sb, "spec": spec, "seed": seed})


# -- 1. 5xx / 423 / resets -----------------------------------------------------------------------------------------
# Seed 3 retries lookups through a 500, a reset and 503s and completes; seed 11 exhausts one update request's
# retries (completed_with_errors). Which request draws which fault depends on thread timing; the checks hold
# whatever the outcome.
@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest.mark.parametrize("seed", [3, 11])
def test_seeded_5xx_423_and_resets_lose_no_row_and_next_run_converges(built, adapter: str, seed: int):
    b = built(adapter)
    ex = b.example
    with Sandbox(sandbox_config(faults="503:0.2,500:0.05,423:0.1,reset:0.1", seed=seed)) as sb:
        before = contact_values(sb)
        [result] = sync(ex, sb)
        stats = sb.stats()
        assert sum(stats["faults"].values()) > 0, "the seed injected no fault: pick another"
        row = assert_accounted(ex, result)
        # A lookup that exhausts its retries ends the run `failed`; an update that does fails its records.
        assert row["status"] in ("completed", "completed_with_errors", "failed")
        assert row["retries"] > 0
        assert row["requests"] == run_requests(sb)  # every attempt counted, resets included
        assert set(failed_codes(ex, result.run_id)) <= TRANSIENT_CODES
        if row["status"] == "failed":
            assert "gave up" in (row["error"] or "")
        assert_progress_is_correct(sb, before, b, row["rows_updated"])

        set_faults(sb, "")
        assert_converges(ex, sb, b)


def test_hubspot_down_during_updates_fails_the_records_and_next_run_converges(built):
    b = built("duckdb")
    ex = b.example
    with Sandbox(sandbox_config()) as sb:
        before = contact_values(sb)
        [result] = sync(ex, sb, factory=client_factory(sb, faults_from_update(sb, "503:1.0")))
        row = assert_accounted(ex, result)
        assert row["status"] == "completed_with_errors"
        assert row["rows_updated"] == 0
        assert row["rows_failed"] == b.reference_result.counters.rows_updated
        assert failed_codes(ex, result.run_id) == Counter({"HTTP_5XX": row["rows_failed"]})
        assert {s for _, o, _, s in record_log(ex, result.run_id) if o == "failed"} == {503}
        update_chunks = -(-row["rows_failed"] // 100)
        assert row["retries"] == 3 * update_chunks  # max_retries per chunk, then the records are failed
        assert contact_values(sb) == before

        set_faults(sb, "")
        assert_converges(ex, sb, b)


def test_hubspot_down_during_lookups_fails_the_run_without_losing_rows(built):
    b = built("duckdb")
    ex = b.example
    with Sandbox(sandbox_config()) as sb:
        before = contact_values(sb)
        [result] = sync(ex, sb, factory=client_factory(sb, faults_from_read(sb, "503:1.0")))
        row = assert_accounted(ex, result)
        assert row["status"] == "failed"
        assert "503" in row["error"]
        ref = b.reference_result.counters
        # Every row that would have been looked up is failed, with the transport reason.
        assert row["rows_failed"] == ref.rows_updated + ref.rows_not_found
        assert failed_codes(ex, result.run_id) == Counter({"HTTP_5XX": row["rows_failed"]})
        assert (row["rows_invalid"], row["rows_duplicate"]) == (ref.rows_invalid, ref.rows_duplicate)
        assert contact_values(sb) == before


# -- 2. slow answers past the client timeout ----------------------------------------------------------------------
def test_slow_responses_past_the_timeout_lose_no_row_and_next_run_converges(built):
    b = built("duckdb")
    ex = b.example
    slow_ms = int(CLIENT_TIMEOUT * 1000) + 300
    with Sandbox(sandbox_config(faults="slow:0.3", seed=5, slow_ms=slow_ms)) as sb:
        before = contact_values(sb)
        [result] = sync(ex, sb)
        row = assert_accounted(ex, result)
        assert row["status"] in ("completed", "completed_with_errors", "failed")
        assert set(failed_codes(ex, result.run_id)) <= {"TIMEOUT"}
        wait_for_sandbox(sb, row["requests"])
        assert sb.stats()["faults"].get("slow", 0) > 0, "the seed injected no slow answer: pick another"
        assert row["retries"] > 0  # a timeout is retried
        # A timed-out update may still have been applied by HubSpot: more contacts may have changed than the
        # run counts as updated, but only ever to the right values.
        assert_progress_is_correct(sb, before, b, None)

        set_faults(sb, "")
        assert_converges(ex, sb, b)


def test_every_update_timing_out_fails_the_records_and_next_run_converges(built):
    b = built("duckdb")
    ex = b.example
    slow_ms = int(CLIENT_TIMEOUT * 1000) + 200
    with Sandbox(sandbox_config(slow_ms=slow_ms)) as sb:
        before = contact_values(sb)
        factory = client_factory(sb, faults_from_update(sb, "slow:1.0"), max_retries=1)
        [result] = sync(ex, sb, factory=factory)
        row = assert_accounted(ex, result)
        assert row["status"] == "completed_with_errors"
        assert row["rows_updated"] == 0
        assert row["rows_failed"] == b.reference_result.counters.rows_updated
        assert failed_codes(ex, result.run_id) == Counter({"TIMEOUT": row["rows_failed"]})
        wait_for_sandbox(sb, row["requests"])
        assert_progress_is_correct(sb, before, b, None)

        set_faults(sb, "")
        assert_converges(ex, sb, b)


# -- 3. 429s -------------------------------------------------------------------------------------------------------
# 5 a second: paced (no 429 seen so far); 2 per half second: the first burst of 4 draws 429s, waited out.
@pytest.mark.parametrize(("rate_max", "window_ms"), [(5, 1000), (2, 500)])
def test_small_rate_limit_is_paced_or_waited_out_without_losing_rows(built, rate_max: int, window_ms: int):
    b = built("duckdb")
    ex = b.example
    with Sandbox(sandbox_config(rate_max=rate_max, rate_window_ms=window_ms)) as sb:
        [result] = sync(ex, sb)
        row = assert_accounted(ex, result)
        stats = sb.stats()
        assert row["status"] == "completed", row
        assert row["rows_failed"] == 0
        # Either the limiter paced every request under the window, or the 429s it got were waited out.
        assert row["rate_limited"] == stats["rate_limited"]
        assert row["requests"] == run_requests(sb)
        assert row["rows_updated"] == b.reference_result.counters.rows_updated
        assert contact_values(sb) == b.reference


# -- 4. the daily limit --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("budget", ["lookups_and_one_update", "three_requests"])
def test_daily_limit_fails_the_run_keeps_what_was_done_and_exits_1(built, monkeypatch, capsys, budget: str):
    b = built("duckdb")
    ex = b.example
    ref = b.reference_result.counters
    token = (
        f"daily-{uuid.uuid4().hex}"  # a token of its own: a fresh process-wide limiter for the CLI's client
    )
    # Either every lookup and one update request (of at most 100 contacts) get through before the limit, or
    # only 3 of the lookups do.
    # (+1: the property preflight's GET before the run.)
    daily_max = b.reference_reads + 2 if budget == "lookups_and_one_update" else 4
    assert b.reference_reads > 3
    with Sandbox(sandbox_config(token=token, daily_max=daily_max)) as sb:
        monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", token)
        monkeypatch.setenv("HUBSPOT_BASE_URL", sb.url)
        before = contact_values(sb)

        code = main(["sync", "--select", EXPOSURE, *ex.cli_args()])
        out = capsys.readouterr().out
        assert code == 1, out
        assert "daily_limit" in out

        [(run_id,)] = ex.query("select run_id from {schema}.hubspot_sync_runs")
        row = run_row(ex, run_id)
        assert row["status"] == "failed"
        assert row["error"].startswith("daily_limit")
        assert row["rows_read"] == sum(row[f"rows_{o}"] for o in OUTCOMES) == model_rows(ex)
        assert (row["rows_invalid"], row["rows_duplicate"]) == (ref.rows_invalid, ref.rows_duplicate)
        assert row["rows_updated"] == sb.stats()["contacts_updated"]
        if budget == "lookups_and_one_update":
            assert 0 < row["rows_updated"] <= 100
            assert row["rows_not_found"] == ref.rows_not_found  # the lookups all completed
            assert row["rows_failed"] == ref.rows_updated - row["rows_updated"]
        else:
            assert row["rows_updated"] == 0
            assert row["rows_failed"] == ref.rows_updated + ref.rows_not_found - row["rows_not_found"]
        log = record_log(ex, run_id)
        assert {(c, s) for _, o, c, s in log if o == "failed"} == {("DAILY_LIMIT", 429)}
        assert sum(1 for _, o, _, _ in log if o == "failed") == row["rows_failed"]
        assert_progress_is_correct(sb, before, b, row["rows_updated"])

        # The next day (a fresh allowance, bigger than this sync needs), a run converges.
        sb.app.limiter.daily_max = 10_000
        sb.app.limiter.reset()
        code = main(["sync", "--select", EXPOSURE, *ex.cli_args()])
        assert code == 0, capsys.readouterr().out
        assert contact_values(sb) == b.reference


# -- 5. a property HubSpot does not have ---------------------------------------------------------------------------
UNKNOWN_PROPERTY_YAML = """\
version: 2
exposures:
  - name: hubspot_unknown_property
    type: application
    owner: {name: Growth, email: growth@example.com}
    depends_on: [ref('hubspot_contacts')]
    config:
      meta:
        hubspot_sync:
          email_column: Email
          properties: {"Amperity ID": nonexistent_prop, firstname: firstname}
          workflow: manual
"""


def test_unknown_property_is_a_config_error_naming_it_before_any_row_is_read(built):
    """The property preflight (GET /crm/v3/properties/contacts) finds it: nothing is read, sent or logged as a
    run, and the error names the exposure, the column and the property."""
    b = built("duckdb")
    ex = b.example
    variant = ex.project_dir / "models" / "unknown_property_exposure.yml"
    variant.write_text(UNKNOWN_PROPERTY_YAML, encoding="utf-8")
    try:
        with Sandbox(sandbox_config()) as sb:
            with pytest.raises(ConfigError) as info:
                sync(ex, sb, select="hubspot_unknown_property")
            message = str(info.value)
            assert "hubspot_unknown_property" in message and "nonexistent_prop" in message
            assert "Amperity ID" in message and "PROPERTY_DOESNT_EXIST" in message
            assert set(sb.stats()["requests"]) == {"GET /crm/v3/properties/{objectType}"}
            assert ex.query("select count(*) from {schema}.hubspot_sync_runs") == [(0,)]
    finally:
        variant.unlink()


# -- 6. a crash mid-run ----------------------------------------------------------------------------------------------
class CrashOnSecondChunk(HubSpotClient):
    """The process dies (Ctrl-C, SIGTERM turned SystemExit) while sending the second update request."""

    crash: type[BaseException] = KeyboardInterrupt

    def _update_chunk(self, chunk: Any) -> UpdateOutcome:
        self.chunks = getattr(self, "chunks", 0) + 1
        if self.chunks == 2:
            raise self.crash()
        return super()._update_chunk(chunk)


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest.mark.parametrize("crash", [KeyboardInterrupt, SystemExit])
def test_killed_run_is_left_running_then_marked_stale_and_next_run_converges(built, adapter, crash):
    b = built(adapter)
    ex = b.example
    with Sandbox(sandbox_config()) as sb:
        before = contact_values(sb)
        cls = type("Crash", (CrashOnSecondChunk,), {"crash": crash})
        with pytest.raises(crash):
            sync(ex, sb, factory=client_factory(sb, cls, concurrency=1))
        [(run_id, status, finished)] = ex.query(
            "select run_id, status, finished_at from {schema}.hubspot_sync_runs"
        )
        assert (status, finished) == ("running", None)
        # The first update request went through before the kill: HubSpot keeps it.
        assert sb.stats()["contacts_updated"] == 100
        assert_progress_is_correct(sb, before, b, 100)

        # Seven hours later the next run finds it stale.
        execute(
            ex,
            "update {schema}.hubspot_sync_runs set started_at = started_at - interval '7 hours'"
            f" where run_id = '{run_id}'",
        )
        assert_converges(ex, sb, b)
        row = run_row(ex, run_id)
        assert row["status"] == "failed"
        assert row["error"].startswith("stale")
        assert row["finished_at"] is not None


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
            row = run_row(ex, result.run_id)
            assert row["status"] == "completed_with_errors", row
            assert row["rows_read"] == 100
            assert (row["rows_updated"], row["rows_failed"]) == (99, 1)
            assert record_log(ex, result.run_id) == [("c037@example.com", "failed", "INVALID_EMAIL", 400)]
            after = {c["properties"]["email"]: c["properties"]["firstname"] for c in sb.contacts()}
            assert after == {c["email"]: ("old" if i == 37 else f"Name{i}") for i, c in enumerate(contacts)}
            assert sb.stats()["contacts_created"] == 0
            update = sb.stats()["requests"]["POST /crm/v3/objects/contacts/batch/update"]
            assert update == {"400": 1, "200": 1}  # the rejected batch, then the 99 resent once
    finally:
        for name in ("invalid_email_probe.sql", "invalid_email_probe.yml"):
            (models / name).unlink()


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
            assert len(expected) == b.reference_result.counters.rows_updated

            cls = type("ListDown", (FaultsFromListAdd,), {"sandbox": sb, "spec": "503:1.0"})
            [result] = sync(ex, sb, select="hubspot_customers_listed", factory=client_factory(sb, cls))
            row = run_row(ex, result.run_id)
            assert row["status"] == "failed" and "503" in row["error"], row
            assert row["rows_updated"] == len(expected)  # the updates themselves went through
            assert sb.list_members(list_id) == []

            set_faults(sb, "")
            [again] = sync(ex, sb, select="hubspot_customers_listed")
            assert again.status == "completed", again
            assert contact_values(sb) == b.reference
            assert set(sb.list_members(list_id)) == expected
    finally:
        variant.unlink(missing_ok=True)


# -- 9. the fault matrix: one kind of fault at a time, from the first lookup on ------------------------------------
# Each case: the run under faults accounts for every row, logs what gave up with its reason and HTTP status, and
# keeps its retries within the caps (per request: max_retries; per run: the client's retry budget); a next run
# with HubSpot healthy converges to the clean run's state.
MATRIX = {
    "5xx_10pct": ("500:0.03,502:0.03,503:0.02,504:0.02", {}, {"HTTP_5XX"}),
    "423_locked": ("423:0.2", {}, {"HTTP_423"}),
    "connection_reset": ("reset:0.2", {}, {"CONNECTION_ERROR"}),
    "slow_past_timeout": ("slow:0.2", {}, {"TIMEOUT"}),
    # A run budget of 2 retries (+10% of requests): HubSpot failing half the calls exhausts it quickly.
    "retry_budget": ("503:0.5", {"retry_budget": 2}, {"HTTP_5XX"}),
}


def fault_matrix_case(b: Built, spec: str, client_kw: dict[str, Any], codes: set[str], seed: int) -> None:
    ex = b.example
    slow_ms = int(CLIENT_TIMEOUT * 1000) + 200
    with Sandbox(sandbox_config(slow_ms=slow_ms)) as sb:
        before = contact_values(sb)
        factory = client_factory(sb, faults_from_read(sb, spec, seed), **client_kw)
        [result] = sync(ex, sb, factory=factory)
        row = assert_accounted(ex, result)
        wait_for_sandbox(sb, row["requests"])
        stats = sb.stats()
        assert sum(stats["faults"].values()) > 0, "no fault was injected: pick another seed"
        assert row["retries"] > 0
        # Caps: per request (max_retries=3 retries after the first attempt) and per run (the budget).
        budget = client_kw.get("retry_budget", 100)
        assert row["retries"] <= 3 * row["requests"]
        assert row["retries"] <= budget + 0.1 * row["requests"]
        log = record_log(ex, result.run_id)
        gave_up = [(code, status) for _, outcome, code, status in log if outcome == "failed"]
        assert {code for code, _ in gave_up} <= codes
        for code, status in gave_up:  # the HTTP status of what gave up, where there was a response
            assert (status is not None) == (code in {"HTTP_5XX", "HTTP_423"}), (code, status)
        if row["status"] == "failed":  # a lookup gave up: the run stops, every row it held is failed
            assert "gave up" in row["error"]
        assert_progress_is_correct(sb, before, b, None)

        set_faults(sb, "")
        assert_converges(ex, sb, b)


@pytest.mark.parametrize("case", list(MATRIX))
def test_fault_matrix(built, case: str):
    spec, client_kw, codes = MATRIX[case]
    fault_matrix_case(built("duckdb"), spec, client_kw, codes, seed=7)


def test_429_ten_secondly_bursts_are_waited_out_and_lose_nothing(built):
    """HubSpot answers 429 TEN_SECONDLY_ROLLING to a third of the calls (seeded: some in a row, as when another
    app of the portal fills the window): each is waited out (the limiter pauses every request for the window),
    no record fails, the waits stay within the cap, and HubSpot ends as after a clean run."""
    b = built("duckdb")
    ex = b.example
    with Sandbox(sandbox_config(rate_window_ms=500)) as sb:
        [result] = sync(ex, sb, factory=client_factory(sb, faults_from_read(sb, "429:0.3", seed=4)))
        row = assert_accounted(ex, result)
        assert row["status"] == "completed" and row["rows_failed"] == 0, row
        assert 0 < row["rate_limited"] == sb.stats()["rate_limited"]
        assert row["rate_limited"] <= 100 + 0.1 * row["requests"]  # the run's budget covers 429 waits too
        assert row["retries"] == 0  # a 429 is a wait, not a failed attempt
        assert contact_values(sb) == b.reference
        assert sb.stats()["contacts_created"] == 0


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
    contacts = [{"email": f"c{i:03d}@example.com", "score": "0"} for i in range(100)]
    try:
        ex.dbt_ok("run", "--select", "score_probe")
        with Sandbox(SandboxConfig(contacts=contacts, number_properties=("score",))) as sb:
            [result] = sync(ex, sb, select="hubspot_score")
            row = run_row(ex, result.run_id)
            assert row["status"] == "completed_with_errors", row
            assert (row["rows_read"], row["rows_updated"], row["rows_failed"]) == (100, 98, 2)
            assert sorted(record_log(ex, result.run_id)) == [
                ("c013@example.com", "failed", "INVALID_INTEGER", 400),
                ("c071@example.com", "failed", "INVALID_INTEGER", 400),
            ]
            after = {c["properties"]["email"]: c["properties"]["score"] for c in sb.contacts()}
            assert after == {
                c["email"]: ("0" if i in (13, 71) else str(i * 10)) for i, c in enumerate(contacts)
            }
            updates = sum(sb.stats()["requests"]["POST /crm/v3/objects/contacts/batch/update"].values())
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
        update_statuses = sb.stats()["requests"]["POST /crm/v3/objects/contacts/batch/update"]
        assert update_statuses.get("207") and set(update_statuses) <= {"200", "207"}
        gone = [code for _, outcome, code, _ in record_log(ex, result.run_id) if outcome == "not_found"]
        assert Counter(gone)["OBJECT_NOT_FOUND"] == row["rows_not_found"]
        assert contact_values(sb) == {cid: v for cid, v in b.reference.items() if cid not in changed}
        assert sb.stats()["contacts_created"] == 0


# -- 12. the property preflight ----------------------------------------------------------------------------------
STAGE_SQL = """\
select
    'c' || cast(i as varchar) || '@example.com' as "Email",
    case i when 3 then 'Lead' when 7 then 'vip' else 'customer' end as lifecyclestage,
    'n' || cast(i as varchar) as firstname
from range(10) as t(i)
"""


@pytest.fixture
def stage_probe(built) -> Iterator[Example]:
    ex = built("duckdb").example
    models = ex.project_dir / "models"
    (models / "stage_probe.sql").write_text(STAGE_SQL, encoding="utf-8")
    try:
        ex.dbt_ok("run", "--select", "stage_probe")
        yield ex
    finally:
        for name in ("stage_probe.sql", "stage_probe.yml"):
            (models / name).unlink(missing_ok=True)


def test_enumeration_values_outside_the_options_fail_locally_and_the_batch_goes_through(stage_probe: Example):
    ex = stage_probe
    (ex.project_dir / "models" / "stage_probe.yml").write_text(
        exposure_yaml(
            "hubspot_stage", "stage_probe", email_column="Email", properties=["lifecyclestage", "firstname"]
        ),
        encoding="utf-8",
    )
    contacts = [{"email": f"c{i}@example.com", "lifecyclestage": "lead"} for i in range(10)]
    with Sandbox(SandboxConfig(contacts=contacts)) as sb:
        [result] = sync(ex, sb, select="hubspot_stage")
        row = run_row(ex, result.run_id)
        assert (row["status"], row["rows_updated"], row["rows_failed"]) == ("completed_with_errors", 8, 2)
        log = sorted(record_log(ex, result.run_id))
        assert log == [
            ("c3@example.com", "failed", "INVALID_OPTION", None),
            ("c7@example.com", "failed", "INVALID_OPTION", None),
        ]
        # HubSpot never saw the bad values: one update request, answered 200, no whole-batch 400.
        assert sb.stats()["requests"]["POST /crm/v3/objects/contacts/batch/update"] == {"200": 1}
        stages = {c["properties"]["email"]: c["properties"]["lifecyclestage"] for c in sb.contacts()}
        assert stages == {f"c{i}@example.com": ("lead" if i in (3, 7) else "customer") for i in range(10)}


@pytest.mark.parametrize(
    ("mapping", "named"),
    [
        ({"firstname": "createdate"}, "'createdate' is read-only"),
        ({"firstname": "loyalty_tier"}, "'loyalty_tier' does not exist in HubSpot"),
    ],
)
def test_read_only_or_unknown_property_is_a_config_error_naming_it(
    stage_probe: Example, monkeypatch, capsys, mapping, named
):
    ex = stage_probe
    (ex.project_dir / "models" / "stage_probe.yml").write_text(
        exposure_yaml("hubspot_stage", "stage_probe", email_column="Email", properties=mapping),
        encoding="utf-8",
    )
    with Sandbox(sandbox_config()) as sb:
        monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", sb.app.cfg.token)
        monkeypatch.setenv("HUBSPOT_BASE_URL", sb.url)
        code = main(["sync", "--select", "hubspot_stage", *ex.cli_args()])
        err = capsys.readouterr().err
        assert code == 2 and "hubspot_stage" in err and named in err, err
        assert set(sb.stats()["requests"]) == {PREFLIGHT}  # nothing but the preflight
