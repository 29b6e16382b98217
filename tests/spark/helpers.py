"""Plain helpers of the Spark test group: the example project on Spark, the runner, and the product's rules checked
on Spark's log tables (read through the views the documented names are there). Fixtures live in conftest.py."""

from __future__ import annotations

import csv
import dataclasses
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dbt_hubspot_sync.checks.canary import reference_clean_email
from dbt_hubspot_sync.doors.runner import SyncOptions, run_sync
from dbt_hubspot_sync.engine import RunResult
from dbt_hubspot_sync.engine.validation import validate_email
from dbt_hubspot_sync.hubspot import HubSpotClient, RateLimiter
from dbt_hubspot_sync.sandbox import Sandbox

from .warehouse import spark_query

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = REPO_ROOT / "example_project"
CONTACTS_CSV = str(EXAMPLE / "sandbox" / "contacts.csv")
EXPOSURE = "hubspot_customers"  # the example's automatic exposure of hubspot_contacts (612 rows)
OUTCOMES = ("invalid", "duplicate", "unchanged", "updated", "not_found", "failed")
REJECTED = ("invalid", "duplicate", "not_found", "failed")
UPDATE = "POST /crm/v3/objects/contacts/batch/update"
READ = "POST /crm/v3/objects/contacts/batch/read"


@dataclasses.dataclass
class SparkExample:
    """The example project built on Spark (`schema`), with the log tables in `log_schema`."""

    project_dir: Path
    schema: str
    log_schema: str | None = None
    log_schemas: list[str] = dataclasses.field(default_factory=list)  # to drop at the end

    def with_log_schema(self, log_schema: str) -> SparkExample:
        self.log_schemas.append(log_schema)
        return dataclasses.replace(self, log_schema=log_schema)

    @property
    def vars_yaml(self) -> str:
        return f"{{hubspot_sync: {{log_records: rejected, log_schema: {self.log_schema or self.schema}}}}}"

    def cli_args(self, *, with_vars: bool = True) -> list[str]:
        args = ["--project-dir", str(self.project_dir), "--profiles-dir", str(self.project_dir)]
        args += ["--target", "spark"]
        return [*args, "--vars", self.vars_yaml] if with_vars else args

    def dbt(self, *args: str) -> Any:
        from dbt.cli.main import dbtRunner

        return dbtRunner().invoke([*args, *self.cli_args()])

    def dbt_ok(self, *args: str) -> Any:
        result = self.dbt(*args)
        if not result.success:
            pytest.fail(f"dbt {' '.join(args)} failed on spark: {result.exception or result.result}")
        return result

    def query(self, sql: str) -> list[tuple]:
        return spark_query(
            sql.replace("{schema}", self.schema).replace("{log}", self.log_schema or self.schema)
        )


# -- the runner ------------------------------------------------------------------------------------------------
def client_factory(sb: Sandbox) -> Callable[[], HubSpotClient]:
    return lambda: HubSpotClient(
        sb.app.cfg.token,
        sb.url,
        limiter=RateLimiter(100, 10_000),
        timeout=2.0,
        max_retries=3,
        backoff_base=0.01,
        backoff_max=0.05,
        locked_delay=0.05,
    )


def sync(ex: SparkExample, sb: Sandbox, select: str = EXPOSURE) -> RunResult:
    options = SyncOptions(
        project_dir=str(ex.project_dir),
        profiles_dir=str(ex.project_dir),
        target="spark",
        vars_yaml=ex.vars_yaml,
        select=[select],
    )
    [result] = run_sync(options, client_factory=client_factory(sb))
    return result


def calls(sb: Sandbox, key: str) -> int:
    return sum(sb.stats()["requests"].get(key, {}).values())


# -- the log tables --------------------------------------------------------------------------------------------
RUN_COLUMNS = (
    "run_id",
    "exposure_name",
    "trigger",
    "status",
    "error",
    "finished_at",
    "rows_read",
    *(f"rows_{o}" for o in OUTCOMES),
    "requests",
    "invocation_id",
)


def runs(ex: SparkExample) -> list[dict[str, Any]]:
    rows = ex.query(f"select {', '.join(RUN_COLUMNS)} from {{log}}.hubspot_sync_runs order by started_at")
    return [dict(zip(RUN_COLUMNS, r)) for r in rows]


def assert_invariant(ex: SparkExample) -> list[dict[str, Any]]:
    """On every run of hubspot_sync_runs: one row per run, rows_read = the sum of the outcomes, a finished run has
    finished_at, the record log holds at most one row per record not updated, with a reason code, and
    hubspot_sync_rejected what each exposure's latest complete run found rejected."""
    all_runs = runs(ex)
    assert all_runs, "no run in hubspot_sync_runs"
    assert len({r["run_id"] for r in all_runs}) == len(all_runs), "a run appears twice in the view"
    logged: dict[str, Counter[str]] = {}
    for run_id, outcome, code in ex.query(
        "select run_id, outcome, reason_code from {log}.hubspot_sync_record_log"
    ):
        logged.setdefault(run_id, Counter())[outcome] += 1
        assert code, f"run {run_id}: a logged {outcome} record without a reason code"
    for run in all_runs:
        counts = {o: run[f"rows_{o}"] for o in OUTCOMES}
        assert run["rows_read"] == sum(counts.values()), run
        if run["status"] in ("waiting", "running") or (run["error"] or "").startswith(
            ("stale", "warehouse_lost")
        ):
            continue
        assert run["finished_at"] is not None, run
        # A rejected record is logged when its outcome or reason first appears or changes: at most once a run.
        got = logged.get(run["run_id"], Counter())
        assert all(got[o] <= (counts[o] if o in REJECTED else 0) for o in got), (got, run)
    # What is rejected now (hubspot_sync_rejected) is what the latest complete run of each exposure found.
    latest = {r["exposure_name"]: r for r in all_runs if r["status"] in ("completed", "completed_with_errors")}
    now: dict[str, Counter[str]] = {}
    for exposure, outcome, n in ex.query(
        "select exposure_name, outcome, count(*) from {log}.hubspot_sync_rejected group by exposure_name, outcome"
    ):
        now.setdefault(exposure, Counter())[outcome] = n
    for exposure, run in latest.items():
        want = Counter({o: run[f"rows_{o}"] for o in REJECTED if run[f"rows_{o}"]})
        assert now.get(exposure, Counter()) == want, (exposure, now.get(exposure), run)
    return all_runs


def pending(ex: SparkExample) -> int:
    return ex.query("select count(*) from {log}.hubspot_sync_pending")[0][0]


# -- what every row of the example must become -----------------------------------------------------------------
@dataclasses.dataclass
class Expected:
    invalid_raw: Counter[str | None]  # the raw emails (exactly as the model holds them) of invalid rows
    duplicate_clean: Counter[str]  # cleaned emails of rows another row sends
    updated: set[str]  # cleaned emails of contacts HubSpot has
    not_found: set[str]
    amperity_ids: dict[str, str]  # cleaned email → the Amperity ID its row sends


def expected_outcomes(ex: SparkExample) -> Expected:
    """Each row's outcome worked out in Python from the model's rows: the reference cleanup, the email rules,
    the first row per cleaned email sent, HubSpot's contacts in the sandbox's CSV."""
    rows = ex.query("select `Email`, `Amperity ID` from {schema}.hubspot_contacts")
    with open(CONTACTS_CSV, encoding="utf-8", newline="") as f:
        known = {r["email"].lower() for r in csv.DictReader(f)}
    invalid: Counter[str | None] = Counter()
    by_clean: dict[str, list[str]] = {}
    for raw, amperity in rows:
        clean = reference_clean_email(raw)
        if not validate_email(clean).ok:
            invalid[raw] += 1
        else:
            by_clean.setdefault(str(clean), []).append(str(amperity))
    duplicates = Counter({c: len(ids) - 1 for c, ids in by_clean.items() if len(ids) > 1})
    sent = set(by_clean)
    return Expected(
        invalid,
        duplicates,
        {c for c in sent if c.lower() in known},
        {c for c in sent if c.lower() not in known},
        {c: ids[0] for c, ids in by_clean.items() if len(ids) == 1},
    )
