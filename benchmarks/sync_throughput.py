"""Whole-sync throughput: a dbt model of N synthetic customers pushed to the sandbox by `run_sync`.

Builds a throwaway dbt project on DuckDB (the package installed with `local: <repo root>`, no DuckDB plugin in
the profile), fills a table with N customers (about 70% of the rows carry an email the sandbox knows, some
messy but cleanable, some invalid, some duplicates, the rest unknown to HubSpot), builds the model `contacts`
from it and runs the standalone sync of one exposure against an in-process sandbox with HubSpot's
Professional burst with the window shortened 5x (190 requests / 2 s instead of / 10 s) and 50 ms latency.

Prints the rows, wall time, rows/s, requests (split read/update from the sandbox's own counts), requests per
updated contact (ideal 2/100 = 0.02: one read and one update per 100 contacts), the achieved request rate over
the allowed one, the 429 count (should be 0), and the ideal minimum time (requests / allowed rate) with the
wall time's ratio over it. Then syncs again with nothing changed (hubspot_sync_state: known rows are unchanged
and cost no request). Exit status 0 when every known contact was updated without a 429 and the re-run
updated nothing.

    /tmp/venv/bin/python benchmarks/sync_throughput.py [--rows 50000] [--concurrency 8] [--clean] [--no-rerun]
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

REPO_ROOT = Path(__file__).resolve().parents[1]
EXPOSURE = "hubspot_bench"
TOKEN = "sandbox-token"  # the sandbox's default token; never printed
PROPERTIES = ["firstname", "lastname", "company", "lifetime_value"]
SANDBOX_POST = "POST /crm/v3/objects/contacts/batch/"

FIRST = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", None]
LAST = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson"]
COMPANY = ["Acme", "Initech", "Globex", "Umbrella", "Hooli", None]


@dataclass
class Dataset:
    """What the model holds and what the sandbox knows, with the outcome each row should get."""

    rows: list[tuple[Any, ...]]  # (customer_id, email, firstname, lastname, company, lifetime_value)
    contacts: list[dict[str, str]]  # the sandbox's contacts: one per known email
    known: int  # rows whose email is a sandbox contact, cleanly or after cleanup (first of their email)
    duplicates: int  # further rows of a known email (rank > 1)
    unknown: int  # valid emails HubSpot does not have
    invalid: int  # emails validation rejects (NULL, blank, no @, bad TLD, quoted local part, ...)


def _known_variant(rng: random.Random, email: str, first: str | None) -> str:
    """A raw value that the cleanup macro turns back into `email`."""
    r = rng.random()
    if r < 0.70:
        return email
    if r < 0.80:
        return email.upper()
    if r < 0.88:
        return f"  {email}\t"
    if r < 0.94:
        return f"{first or 'Someone'} Example <{email}>"
    if r < 0.97:
        return f"mailto:{email}"
    return f"{email}."


def _invalid(rng: random.Random, i: int) -> str | None:
    return rng.choice(
        [
            None,
            "   ",
            f"no-at-sign-{i}.example.com",
            f"user{i}@example.c0m",
            f"two words{i}@example.com",
            f'"quoted{i}"@example.com',
            f"user{i}@@example.com",
        ]
    )


@dataclass(frozen=True)
class Mix:
    """Shares of the rows: first row of a known email, further rows of a known email, valid but unknown to
    HubSpot, invalid. Every share but `known` ends in the record log (one warehouse insert per row)."""

    known: float
    duplicate: float
    unknown: float
    invalid: float


# ~70% of the rows carry an email the sandbox knows (60% first of their email, 10% duplicates).
REALISTIC = Mix(known=0.60, duplicate=0.10, unknown=0.22, invalid=0.08)
# Every row a known, unique, clean email: nothing is logged, the API pacing alone is measured.
CLEAN = Mix(known=1.0, duplicate=0.0, unknown=0.0, invalid=0.0)


def make_dataset(n: int, seed: int = 7, mix: Mix = REALISTIC) -> Dataset:
    """N synthetic customers in the proportions of `mix` (deterministic for a seed)."""
    rng = random.Random(seed)
    rows: list[tuple[Any, ...]] = []
    contacts: list[dict[str, str]] = []
    known_idx: list[int] = []
    known = dupes = unknown = invalid = 0
    t_dup = mix.known + mix.duplicate
    t_unknown = t_dup + mix.unknown
    for i in range(n):
        first, last, company = rng.choice(FIRST), rng.choice(LAST), rng.choice(COMPANY)
        ltv = round(rng.uniform(0, 5000), 2) if rng.random() < 0.9 else None
        r = rng.random()
        if r < mix.known or (r < t_dup and not known_idx):
            email = f"c{i}@example.com"
            contacts.append({"email": email, "firstname": "Old", "lastname": "Old", "lifetime_value": "0"})
            known_idx.append(i)
            raw: str | None = _known_variant(rng, email, first) if mix.known < 1 else email
            known += 1
        elif r < t_dup:
            raw = _known_variant(rng, f"c{rng.choice(known_idx)}@example.com", first)
            dupes += 1
        elif r < t_unknown:
            raw = f"n{i}@example.org" if rng.random() < 0.8 else f"N{i}@Example.org "
            unknown += 1
        else:
            raw = _invalid(rng, i)
            invalid += 1
        rows.append((i, raw, first, last, company, ltv))
    return Dataset(rows, contacts, known, dupes, unknown, invalid)


def load_warehouse(db_path: Path, rows: list[tuple[Any, ...]]) -> None:
    """raw.customers in the DuckDB file, loaded from newline-delimited JSON (NULLs and blanks stay distinct)."""
    ndjson = db_path.with_suffix(".ndjson")
    keys = ("customer_id", "email", *PROPERTIES)
    with open(ndjson, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(dict(zip(keys, row))) + "\n")
    conn = duckdb.connect(str(db_path))
    try:
        conn.execute("create schema if not exists raw")
        conn.execute(
            "create or replace table raw.customers as select * from read_json(?, format='newline_delimited',"
            " columns={customer_id: 'BIGINT', email: 'VARCHAR', firstname: 'VARCHAR', lastname: 'VARCHAR',"
            " company: 'VARCHAR', lifetime_value: 'DOUBLE'})",
            [str(ndjson)],
        )
    finally:
        conn.close()
    ndjson.unlink()


def write_contacts_csv(path: Path, contacts: list[dict[str, str]]) -> None:
    """The sandbox's contacts as a CSV (for `dbt-hubspot-sync sandbox --contacts`)."""
    import csv

    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=["email", "firstname", "lastname", "lifetime_value"])
        w.writeheader()
        w.writerows(contacts)


def write_project(project: Path, db_path: Path, memory_limit: str | None = None) -> None:
    """dbt_project.yml, packages.yml (this repository, local), profiles.yml (DuckDB, no plugin), the model
    `contacts` over raw.customers and one exposure syncing it."""
    (project / "models").mkdir(parents=True, exist_ok=True)
    files = {
        "dbt_project.yml": (
            "name: sync_bench\nversion: '1.0.0'\nconfig-version: 2\nprofile: sync_bench\n"
            "model-paths: [models]\ntarget-path: target\n"
        ),
        "packages.yml": f"packages:\n  - local: {REPO_ROOT}\n",
        "profiles.yml": (
            "sync_bench:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n"
            f"      path: {json.dumps(str(db_path))}\n      threads: 1\n"
            # DuckDB's own cap (it spills its sorts to disk beyond it); default: 80% of RAM.
            + (f"      settings: {{memory_limit: '{memory_limit}'}}\n" if memory_limit else "")
        ),
        "models/sources.yml": "version: 2\nsources:\n  - name: raw\n    tables:\n      - name: customers\n",
        "models/contacts.sql": "{{ config(materialized='table') }}\nselect * from {{ source('raw', 'customers') }}\n",
        "models/exposures.yml": (
            "version: 2\nexposures:\n"
            f"  - name: {EXPOSURE}\n    type: application\n"
            "    owner: {name: Bench, email: bench@example.com}\n"
            "    depends_on: [ref('contacts')]\n"
            "    config:\n      meta:\n        hubspot_sync:\n          email_column: email\n"
            f"          properties: [{', '.join(PROPERTIES)}]\n"
        ),
    }
    for name, text in files.items():
        (project / name).write_text(text, encoding="utf-8")


def build_project(project: Path, *, isolated: bool = False) -> None:
    """`dbt deps` and `dbt run`: the model exists before the sync reads it. `isolated`: in a subprocess, so
    this process holds no DuckDB lock or dbt state afterwards (another process can then open the file)."""
    args = ["--project-dir", str(project), "--profiles-dir", str(project), "--quiet"]
    for cmd in ("deps", "run"):
        if isolated:
            proc = subprocess.run(
                [sys.executable, "-m", "dbt.cli.main", cmd, *args], capture_output=True, text=True
            )
            if proc.returncode != 0:
                raise SystemExit(f"dbt {cmd} failed:\n{proc.stdout}{proc.stderr}")
            continue
        from dbt.cli.main import dbtRunner

        res = dbtRunner().invoke([cmd, *args])
        if not res.success:
            raise SystemExit(f"dbt {cmd} failed: {res.exception or res.result}")


def prepare(
    workdir: Path,
    n: int,
    seed: int = 7,
    mix: Mix = REALISTIC,
    *,
    isolated: bool = False,
    memory_limit: str | None = None,
) -> tuple[Path, Dataset]:
    """A built project of N rows in `workdir`; returns its directory and the dataset."""
    data = make_dataset(n, seed, mix)
    project, db_path = workdir / "project", workdir / "warehouse.duckdb"
    project.mkdir(parents=True, exist_ok=True)
    load_warehouse(db_path, data.rows)
    write_project(project, db_path, memory_limit)
    build_project(project, isolated=isolated)
    # Fold dbt's write-ahead log into the file now: otherwise the sync's first open replays it (the whole model
    # in memory), and a memory figure would measure the build instead of the sync.
    conn = duckdb.connect(str(db_path))
    try:
        conn.execute("checkpoint")
    finally:
        conn.close()
    return project, data


def run_phase_seconds(db_path: Path, run_id: str) -> float:
    """started_at → finished_at of the run, from the runs log: the streaming phase, without dbt's parse."""
    conn = duckdb.connect(str(db_path))
    try:
        row = conn.execute(
            "select epoch(finished_at) - epoch(started_at) from main.hubspot_sync_runs where run_id = ?",
            [run_id],
        ).fetchone()
    finally:
        conn.close()
    return float(row[0])


def endpoint_counts(stats: dict[str, Any]) -> dict[str, int]:
    """Requests per endpoint (every status) from the sandbox's stats."""
    return {k: sum(v.values()) for k, v in stats["requests"].items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=50_000)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--rate-max", type=int, default=190, help="HubSpot's Professional burst")
    ap.add_argument("--rate-window-ms", type=int, default=2000, help="HubSpot's 10 s window shortened 5x")
    ap.add_argument("--latency-ms", type=int, default=50)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument(
        "--clean", action="store_true", help="every row a known, unique, valid email (nothing to log)"
    )
    ap.add_argument("--no-rerun", action="store_true", help="skip the second, nothing-changed run")
    args = ap.parse_args(argv)

    from dbt_hubspot_sync.doors.runner import SyncOptions, run_sync
    from dbt_hubspot_sync.hubspot import HubSpotClient, RateLimiter
    from dbt_hubspot_sync.sandbox import Sandbox, SandboxConfig

    with tempfile.TemporaryDirectory(prefix="sync_bench_") as tmp:
        t0 = time.monotonic()
        project, data = prepare(Path(tmp), args.rows, args.seed, CLEAN if args.clean else REALISTIC)
        t_prep = time.monotonic() - t0
        cfg = SandboxConfig(
            contacts=data.contacts,
            rate_max=args.rate_max,
            rate_window_ms=args.rate_window_ms,
            latency_ms=args.latency_ms,
            daily_max=10**9,
        )
        clients: list[HubSpotClient] = []

        def client_factory() -> HubSpotClient:
            # A fresh limiter at HubSpot's conservative default: it learns the real window from the headers.
            c = HubSpotClient(TOKEN, sb.url, concurrency=args.concurrency, limiter=RateLimiter())
            clients.append(c)
            return c

        with Sandbox(cfg) as sb:
            start = time.monotonic()
            [result] = run_sync(
                SyncOptions(project_dir=str(project), profiles_dir=str(project), select=[EXPOSURE]),
                client_factory=client_factory,
            )
            wall = time.monotonic() - start
            stats = sb.stats()
            rerun = None
            if not args.no_rerun:
                # Nothing changed in the model: hubspot_sync_state makes the known rows `unchanged` (no request);
                # only emails HubSpot did not have are looked up again.
                start = time.monotonic()
                [rerun] = run_sync(
                    SyncOptions(project_dir=str(project), profiles_dir=str(project), select=[EXPOSURE]),
                    client_factory=client_factory,
                )
                rerun_wall = time.monotonic() - start
                rerun_requests = sb.stats()["requests_total"] - stats["requests_total"]
        phase = run_phase_seconds(Path(tmp) / "warehouse.duckdb", result.run_id)
        if rerun is not None:
            rerun_phase = run_phase_seconds(Path(tmp) / "warehouse.duckdb", rerun.run_id)

    c = result.counters
    per_endpoint = endpoint_counts(stats)
    reads = per_endpoint.get(SANDBOX_POST + "read", 0)
    updates = per_endpoint.get(SANDBOX_POST + "update", 0)
    requests = stats["requests_total"]
    allowed_rps = args.rate_max / (args.rate_window_ms / 1000)
    ideal = requests / allowed_rps
    # A rolling window of R per W carries N requests in no less than floor((N-1)/R)*W (the first R burst).
    window_bound = ((requests - 1) // args.rate_max) * args.rate_window_ms / 1000

    print(f"rows                 {c.rows_read}  (prepared in {t_prep:.1f} s: data, dbt deps, dbt run)")
    print(
        f"outcomes             updated {c.rows_updated}, not_found {c.rows_not_found}, invalid {c.rows_invalid},"
        f" duplicate {c.rows_duplicate}, unchanged {c.rows_unchanged}, failed {c.rows_failed}  [{result.status}]"
    )
    print(
        f"expected             updated {data.known}, not_found {data.unknown}, invalid {data.invalid},"
        f" duplicate {data.duplicates}"
    )
    print(
        f"sandbox              {args.rate_max} / {args.rate_window_ms} ms, latency {args.latency_ms} ms;"
        f" client concurrency {args.concurrency}"
    )
    print(
        f"wall time            {wall:.2f} s run_sync ({phase:.2f} s running phase, the rest is dbt's parse"
        " and setup)"
    )
    print(f"rows/s               {c.rows_read / wall:.0f} (wall), {c.rows_read / phase:.0f} (running phase)")
    print(
        f"requests             {requests}: batch/read {reads}, batch/update {updates},"
        f" other {requests - reads - updates}"
        f"  (client counted {c.requests}, retries {c.retries})"
    )
    print(
        f"requests / updated   {requests / max(1, c.rows_updated):.4f}  (ideal 0.0200; reads of not-found"
        f" emails add {reads - c.rows_updated / 100:.0f} over one read per 100 updated)"
    )
    achieved = requests / phase
    print(
        f"achieved / allowed   {achieved:.1f} / {allowed_rps:.1f} req/s = {achieved / allowed_rps:.1%}"
        "  (running phase)"
    )
    print(f"429s                 {stats['rate_limited']} (client saw {c.rate_limited})")
    print(
        f"ideal minimum        {ideal:.2f} s = requests / allowed rate; running/ideal {phase / ideal:.2f},"
        f" wall/ideal {wall / ideal:.2f}"
    )
    if window_bound > 0:
        print(
            f"window bound         {window_bound:.2f} s (fastest 429-free schedule with the first burst);"
            f" running/bound {phase / window_bound:.2f}"
        )
    ok = c.rows_updated == data.known and stats["rate_limited"] == 0 and c.holds()
    if rerun is not None:
        rc = rerun.counters
        print(
            f"re-run, no change    {rerun_wall:.2f} s run_sync ({rerun_phase:.2f} s running phase),"
            f" {rc.rows_read / rerun_phase:.0f} rows/s; unchanged {rc.rows_unchanged}, updated {rc.rows_updated},"
            f" not_found {rc.rows_not_found}; requests {rerun_requests}"
        )
        ok = ok and rc.rows_updated == 0 and rc.holds()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
