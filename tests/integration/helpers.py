"""Plain helpers of the integration tests: the example project on a warehouse, the sandbox, the runner, and the
checks of the product's rules the tests share (`assert_invariant` above all). Fixtures live in conftest.py.

Test modules import from here (or conftest.py), never from one another.
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import time
import uuid
from collections import Counter
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from dbt_hubspot_sync.dbt_bridge import open_session
from dbt_hubspot_sync.doors.runner import SyncOptions, ensure_log_tables, run_sync
from dbt_hubspot_sync.engine import RunResult
from dbt_hubspot_sync.hubspot import HubSpotClient, RateLimiter, UpdateOutcome
from dbt_hubspot_sync.sandbox import Sandbox, SandboxConfig
from dbt_hubspot_sync.sandbox.faults import FaultInjector

# The webhook receiver is the unit tests' (tests/helpers.py), re-exported for the tests here.
from tests.helpers import SECRET_PATH, Receiver  # noqa: F401
from tests.warehouses import PG_SKIP_REASON, pg_connect, pg_settings

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = REPO_ROOT / "example_project"
CONTACTS_CSV = str(EXAMPLE / "sandbox" / "contacts.csv")
ADAPTERS = ["duckdb", "postgres"]
EXPOSURE = "hubspot_customers"  # the example's automatic exposure of hubspot_contacts (612 rows)

OUTCOMES = ("invalid", "duplicate", "unchanged", "updated", "not_found", "failed")
# What log_records: rejected (the default) logs: every record not updated.
REJECTED = ("invalid", "duplicate", "not_found", "failed")
STATUSES = {"waiting", "running", "completed", "completed_with_errors", "failed"}
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
# Reason codes of a request that kept failing in transit (the record is retried by the next run).
TRANSIENT_CODES = {"HTTP_5XX", "HTTP_423", "TIMEOUT", "CONNECTION_ERROR"}
CLIENT_TIMEOUT = 0.5
BOOKKEEPING = {"lastmodifieddate", "createdate"}
READ = "POST /crm/v3/objects/contacts/batch/read"
UPDATE = "POST /crm/v3/objects/contacts/batch/update"
PREFLIGHT = "GET /crm/v3/properties/{objectType}"


# -- the example project on a warehouse ------------------------------------------------------------------------
@dataclasses.dataclass
class Example:
    """A built copy of example_project on one adapter."""

    adapter: str
    project_dir: Path
    target: str
    schema: str
    env: dict[str, str]

    def dbt(self, *args: str) -> Any:
        from dbt.cli.main import dbtRunner

        result = dbtRunner().invoke([*args, *self.cli_args()])
        return result

    def dbt_ok(self, *args: str) -> Any:
        result = self.dbt(*args)
        if not result.success:
            pytest.fail(f"dbt {' '.join(args)} failed on {self.adapter}: {result.exception or result.result}")
        return result

    def connect(self) -> Any:
        if self.adapter == "duckdb":
            import duckdb

            return duckdb.connect(self.env["DBT_DUCKDB_PATH"])
        return pg_connect(autocommit=True)

    def query(self, sql: str) -> list[tuple]:
        conn = self.connect()
        try:
            cur = conn.cursor()
            cur.execute(sql.replace("{schema}", self.schema))
            return cur.fetchall()
        finally:
            conn.close()

    def cli_args(self) -> list[str]:
        return [
            "--project-dir",
            str(self.project_dir),
            "--profiles-dir",
            str(self.project_dir),
            "--target",
            self.target,
        ]


def make_example(adapter: str, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> Example:
    """A fresh copy of example_project in `tmp`, dependencies installed and seeded (models not built)."""
    if adapter == "postgres" and pg_settings() is None:
        pytest.skip(PG_SKIP_REASON)
    project = tmp / "example_project"
    shutil.copytree(
        EXAMPLE, project, ignore=shutil.ignore_patterns("target", "dbt_packages", "logs", "*.duckdb*")
    )
    (project / "packages.yml").write_text(f"packages:\n  - local: {REPO_ROOT}\n", encoding="utf-8")
    env: dict[str, str] = {}
    if adapter == "duckdb":
        env["DBT_DUCKDB_PATH"] = str(tmp / "warehouse.duckdb")
        target, schema = "dev", "main"
    else:
        schema = f"c360_{uuid.uuid4().hex[:8]}"
        env["DBT_HUBSPOT_SYNC_PG_SCHEMA"] = schema
        target = "pg"
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    ex = Example(adapter, project, target, schema, env)
    ex.dbt_ok("deps")
    ex.dbt_ok("seed")
    return ex


def dbt_without_push(ex: Example, *args: str) -> Any:
    """`dbt <args>` that succeeds, with no HubSpot token: the model's post-hook cannot push the automatic
    exposure (it warns and sends nothing). (`--vars {hubspot_sync: {workflow: manual}}` would not silence it:
    the exposure's own `workflow: automatic` wins over project defaults.)"""
    with pytest.MonkeyPatch.context() as m:
        m.delenv("HUBSPOT_ACCESS_TOKEN", raising=False)
        m.delenv("HUBSPOT_BASE_URL", raising=False)
        release_duckdb()
        result = ex.dbt_ok(*args)
        release_duckdb()
        return result


def execute(ex: Example, sql: str) -> None:
    conn = ex.connect()
    try:
        conn.cursor().execute(sql.replace("{schema}", ex.schema))
        if ex.adapter == "duckdb":
            conn.commit()
    finally:
        conn.close()


@contextlib.contextmanager
def first_names_restored(ex: Example) -> Iterator[None]:
    """The seed's first names as they were once the block ends: a test changing the model's data leaves the
    shared built example (and the clean run's HubSpot state other tests compare with) as it found it."""
    execute(ex, "create table {schema}.first_names_backup as select amperity_id, first_name from {schema}.customers")
    try:
        yield
    finally:
        execute(
            ex,
            "update {schema}.customers set first_name = b.first_name from {schema}.first_names_backup b"
            " where customers.amperity_id = b.amperity_id",
        )
        execute(ex, "drop table {schema}.first_names_backup")


def release_duckdb() -> None:
    """dbt-duckdb keeps the database open in this process after an in-process dbt call; a child process (or a
    plain duckdb connection with another configuration) needs its write lock (DuckDB allows one writer)."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager as manager

    with manager._LOCK:
        if manager._ENV is not None:
            manager._ENV.close()
            manager._ENV = None


def ensure_tables(ex: Example) -> None:
    with open_session(ex.project_dir, ex.project_dir, ex.target) as session:
        ensure_log_tables(session.warehouse, [session.project.target_schema])


def exposure_yaml(name: str, model: str, **hubspot_sync: Any) -> str:
    """A models/*.yml declaring one sync exposure of `model` (YAML quoting done by the YAML library)."""
    exposure = {
        "name": name,
        "type": "application",
        "owner": {"name": "Growth", "email": "growth@example.com"},
        "depends_on": [f"ref('{model}')"],
        "config": {"meta": {"hubspot_sync": hubspot_sync}},
    }
    return yaml.safe_dump({"version": 2, "exposures": [exposure]}, sort_keys=False, allow_unicode=True)


def model_rows(ex: Example, model: str = "hubspot_contacts") -> int:
    return ex.query(f"select count(*) from {{schema}}.{model}")[0][0]


# -- the example built once, with a clean run's HubSpot state (the `built` fixture) ----------------------------
@dataclasses.dataclass
class Built:
    example: Example
    reference: dict[str, dict[str, str]]  # contacts after a clean run on a fresh sandbox
    reference_result: RunResult
    reference_reads: int  # batch/read requests of that clean run


def build_example(adapter: str, tmp: Path, mp: pytest.MonkeyPatch) -> Built:
    ex = make_example(adapter, tmp, mp)
    dbt_without_push(ex, "run")
    ensure_tables(ex)
    assert ex.query("select count(*) from {schema}.hubspot_sync_runs") == [(0,)], "the build pushed a sync"
    with Sandbox(sandbox_config()) as sb:
        [result] = sync(ex, sb)
        assert result.status == "completed" and result.counters.rows_updated > 0, result
        reads = calls(sb, "batch/read")
        reference = contact_values(sb)
    return Built(ex, reference, result, reads)


# -- the sandbox and the runner --------------------------------------------------------------------------------
def sandbox_config(**kw: Any) -> SandboxConfig:
    return SandboxConfig(contacts_csv=CONTACTS_CSV, **kw)


def create_list(sandbox: Sandbox, kind: str) -> str:
    """A contact list of `kind` (MANUAL, SNAPSHOT or DYNAMIC), made with HubSpot's own call; its id."""
    import requests

    r = requests.post(
        f"{sandbox.url}/crm/v3/lists",
        headers={"Authorization": "Bearer sandbox-token"},
        json={
            "name": f"audience-{kind}-{uuid.uuid4().hex[:8]}",
            "objectTypeId": "0-1",
            "processingType": kind,
        },
        timeout=5,
    )
    r.raise_for_status()
    return str(r.json()["list"]["listId"])


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
    opts.setdefault("limiter", RateLimiter(100, 10_000))
    return lambda: cls(sb.app.cfg.token, sb.url, **opts)


def sync(
    ex: Example, sb: Sandbox, select: str = EXPOSURE, factory: Callable[[], Any] | None = None
) -> list[RunResult]:
    """The standalone runner (what `dbt-hubspot-sync sync --select <select>` runs), with a test client."""
    options = SyncOptions(
        project_dir=str(ex.project_dir), profiles_dir=str(ex.project_dir), target=ex.target, select=[select]
    )
    return run_sync(options, client_factory=factory or client_factory(sb))


def set_faults(sb: Sandbox, spec: str, seed: int = 0) -> None:
    """Change the running sandbox's fault injection (the test harness plays HubSpot having a bad minute)."""
    sb.app.faults = FaultInjector(spec, seed)


def contact_values(sb: Sandbox) -> dict[str, dict[str, str]]:
    """Contacts' properties minus HubSpot's own bookkeeping (lastmodifieddate moves on every update; a fresh
    sandbox stamps createdate when it loads its contacts)."""
    return {
        c["id"]: {k: v for k, v in c["properties"].items() if k not in BOOKKEEPING} for c in sb.contacts()
    }


def calls(sb: Sandbox, endpoint: str) -> int:
    """Requests the sandbox answered on POST /crm/v3/objects/contacts/<endpoint> (e.g. "batch/update")."""
    key = f"POST /crm/v3/objects/contacts/{endpoint}"
    return sum(sb.stats()["requests"].get(key, {}).values())


def logged_requests(sb: Sandbox, key: str, since: int = 0) -> list[dict[str, Any]]:
    """The sandbox's request-log entries of `key` ("METHOD template") from entry number `since` on."""
    return [r for r in sb.requests_log()[since:] if f"{r['method']} {r['template']}" == key]


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


# -- the warehouse log -----------------------------------------------------------------------------------------
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


def failed_codes(ex: Example, run_id: str) -> Counter[str]:
    return Counter(code for _, o, code, _ in record_log(ex, run_id) if o == "failed")


def _unfinished(run: dict[str, Any]) -> bool:
    """A run its process never finished: still open, or marked failed as stale by a later run. Its counters are
    what it had written before it stopped; its record log may hold part of what it classified."""
    error = run["error"] or ""
    # warehouse_lost: the warehouse went away mid-run; what it had not written yet was never recorded.
    return run["status"] in ("waiting", "running") or error.startswith(("stale", "warehouse_lost"))


def assert_invariant(ex: Example, *, log_all: Collection[str] = ()) -> list[dict[str, Any]]:
    """The product's rules on every row of hubspot_sync_runs, checked by the tests themselves (not by trusting
    the engine's own `Counters.holds()`):

    - rows_read = rows_invalid + rows_duplicate + rows_unchanged + rows_updated + rows_not_found + rows_failed;
    - the status is one of the lifecycle's, and a finished run has finished_at;
    - the record log holds, per outcome, at most the rows that must be logged (a record is logged when its
      outcome or reason first appears or changes): with log_records: rejected (the default) invalid, duplicate,
      not_found and failed records, and in a dry run (a diff, README "Steady state") would-updates too; for the
      exposures in `log_all` (log_records: all) every outcome; each not-updated record with a reason code;
    - hubspot_sync_rejected holds, per exposure, one row per record its latest complete run found rejected
      (assert_rejected_now);
    - a run that synced read rows (rows_read > 0), unless it was held back before reading: by the test gate
      (`tests_failed: ...`) or by another pusher of the exposure (`writer_busy: ...`);
    - every record-log row belongs to a run of the table.

    Runs their process never finished (left `running`, or since marked failed as stale, or cut off from the
    warehouse: `warehouse_lost`) are held to the counter invariant only: they had not written everything, and
    their record log may be partial. Returns the runs
    (dicts of RUN_COLUMNS plus run_id and exposure_name), oldest first; there must be at least one.
    """
    cols = ("run_id", "exposure_name", *RUN_COLUMNS)
    runs = [
        dict(zip(cols, r))
        for r in ex.query(f"select {', '.join(cols)} from {{schema}}.hubspot_sync_runs order by started_at")
    ]
    assert runs, "no run in hubspot_sync_runs: nothing to check"
    logged: dict[str, Counter[str]] = {}
    for run_id, outcome, code in ex.query(
        "select run_id, outcome, reason_code from {schema}.hubspot_sync_record_log"
    ):
        logged.setdefault(run_id, Counter())[outcome] += 1
        if outcome != "updated":
            assert code, f"run {run_id}: a logged {outcome} record without a reason code"
    assert set(logged) <= {r["run_id"] for r in runs}, "record-log rows of a run not in hubspot_sync_runs"
    for run in runs:
        where = f"run {run['run_id']} ({run['exposure_name']}, {run['status']}, {run['error']!r})"
        counts = {o: run[f"rows_{o}"] for o in OUTCOMES}
        assert all(n is not None and n >= 0 for n in counts.values()), f"{where}: {counts}"
        assert run["rows_read"] == sum(counts.values()), f"{where}: rows_read {run['rows_read']} != {counts}"
        assert run["status"] in STATUSES, where
        if _unfinished(run):
            continue
        assert run["finished_at"] is not None, where
        must_log = OUTCOMES if run["exposure_name"] in log_all else REJECTED
        if (run["error"] or "").startswith("dry run") and must_log is REJECTED:
            must_log = (*REJECTED, "updated")  # a dry run logs its would-updates with their diff
        # A record is logged when its outcome or reason first appears or changes (an updated one each time it is
        # updated): at most one row per counted record, none for an outcome not logged.
        got = logged.get(run["run_id"], Counter())
        assert all(got[o] <= (counts[o] if o in must_log else 0) for o in got), (
            f"{where}: record log vs counts: {got} vs {counts}"
        )
        if "updated" in must_log:  # each update (or would-update) is an event of its own: always logged
            assert got["updated"] == counts["updated"], f"{where}: record log vs counts: {got} vs {counts}"
        # Held back before reading: by the test gate, or another pusher kept the exposure (writer_busy).
        if not (run["error"] or "").startswith(("tests_failed", "writer_busy", "guard_")):
            assert run["rows_read"] > 0, f"{where}: a sync that read no row"
    assert_rejected_now(ex, runs, log_all)
    return runs


def assert_rejected_now(ex: Example, runs: list[dict[str, Any]], log_all: Collection[str] = ()) -> None:
    """hubspot_sync_rejected holds, per exposure, exactly what the exposure's latest run that read the model
    through found rejected (a row per record and outcome; unchanged ones too with log_records: all)."""
    latest: dict[str, dict[str, Any]] = {}
    for run in runs:  # oldest first
        error = run["error"] or ""
        if run["status"] in ("completed", "completed_with_errors") and not error.startswith("dry run"):
            latest[run["exposure_name"]] = run
        elif not _unfinished(run) and run["rows_read"] and not error.startswith("dry run"):
            latest.pop(run["exposure_name"], None)  # a failed run's view of the records may be partial
    now: dict[str, Counter[str]] = {}
    for exposure, outcome, n in ex.query(
        "select exposure_name, outcome, count(*) from {schema}.hubspot_sync_rejected group by 1, 2"
    ):
        now.setdefault(exposure, Counter())[outcome] = n
    for exposure, run in latest.items():
        tracked = (*REJECTED, "unchanged") if exposure in log_all else REJECTED
        expected = Counter({o: run[f"rows_{o}"] for o in tracked if run[f"rows_{o}"]})
        assert now.get(exposure, Counter()) == expected, (
            f"hubspot_sync_rejected of {exposure} vs its latest run {run['run_id']}: {now.get(exposure)} != {expected}"
        )


def assert_accounted(ex: Example, result: RunResult) -> dict[str, Any]:
    """The warehouse log holds what the run returned; every row of the model read has one outcome; every row
    not updated (log_records: rejected) has exactly one record-log row with a reason code; and the invariant
    holds on every run of the table."""
    assert_invariant(ex)
    row = run_row(ex, result.run_id)
    assert row["status"] == result.status and row["finished_at"] is not None
    assert row["rows_read"] == model_rows(ex)
    for o in OUTCOMES:
        assert row[f"rows_{o}"] == getattr(result.counters, f"rows_{o}"), o
    return row


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


# -- HubSpot breaking at a chosen moment -----------------------------------------------------------------------
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

    def read_by_email(self, emails: Any, properties: Any = ()) -> Any:
        if not getattr(self, "_faulty", False):
            self._faulty = True
            set_faults(self.sandbox, self.spec, self.seed)
        return super().read_by_email(emails, properties)


def faults_from_read(sb: Sandbox, spec: str, seed: int = 0) -> type[HubSpotClient]:
    return type("FaultyReads", (FaultsFromRead,), {"sandbox": sb, "spec": spec, "seed": seed})


# -- a child sync process ----------------------------------------------------------------------------------


def wait_for_first_update(sb: Sandbox, proc: Any, timeout: float = 60.0) -> None:
    """Until HubSpot has applied one update request of the child process `proc` (so its run is mid-way)."""
    deadline = time.monotonic() + timeout
    while sb.stats()["requests"].get(UPDATE, {}).get("200", 0) < 1:
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the sync ended before its first update (exit {proc.returncode}):\n{out}\n{err}")
        assert time.monotonic() < deadline, "no update request within the timeout"
        time.sleep(0.01)
