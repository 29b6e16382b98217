"""A 1,000,000-row audience through HubSpot's imports API (`push: import`) against the sandbox, and the same
audience through the batch path, in one run: requests, share of a Starter portal's daily budget, wall time and
the sync process's peak memory.

A DuckDB model of N synthetic customers (default 1,000,000: 97% known contacts, 2% emails HubSpot does not have,
1% invalid) is built by dbt; each path then syncs it into a fresh sandbox (its own process, holding the contacts)
from a fresh sync state, as `dbt-hubspot-sync sync` does, in a child process whose RSS is sampled every 10 ms.

- The sandbox processes imports at `--import-rate` rows/s (default 20,000; HubSpot states no rate: the import
  path's wall time is this rate's, say so beside it) and paces requests at Starter's 100 per 10 s, the window
  divided by `--time-scale` (default 10: 100 per second, so the batch path takes minutes, not half an hour;
  request counts do not depend on it).
- Printed per path: rows, requests by endpoint, requests per 100 rows, the share of a Starter portal's daily
  budget (250,000 requests), wall time of the sync, peak RSS; then the batch/import ratios.

    .venv/bin/python benchmarks/imports.py [--rows 1000000] [--import-rate 20000] [--time-scale 10] [--skip-batch]
        [--memory-limit 256MB]

Exit status 1 when a path's outcomes are wrong (a known contact not updated, an unknown email not `not_found`, the
invariant broken, a contact created).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the shared setup lives beside this file

import sync_throughput as setup  # noqa: E402

AUDIENCE = setup.Mix(known=0.97, duplicate=0.0, unknown=0.02, invalid=0.01)
STARTER_DAILY = 250_000  # requests a day on Free and Starter portals (the 8% for 20,000 requests)
WINDOW_MS = 10_000
MB = 1024 * 1024


# -- the sandbox, in its own process ---------------------------------------------------------------------------
def serve(contacts_csv: str, import_rate: float, rate_max: int, window_ms: int) -> int:
    from dbt_hubspot_sync.sandbox import Sandbox, SandboxConfig
    from dbt_hubspot_sync.sandbox.imports import imports_of

    cfg = SandboxConfig(
        contacts_csv=contacts_csv, rate_max=rate_max, rate_window_ms=window_ms, daily_max=10**9
    )
    sb = Sandbox(cfg).start()
    imports_of(sb).cfg.rows_per_second = import_rate
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(f"sandbox {sb.url}", flush=True)
    stop.wait()
    sb.stop()
    return 0


def start_sandbox(contacts_csv: Path, args: argparse.Namespace) -> tuple[subprocess.Popen[str], str]:
    window = int(WINDOW_MS / args.time_scale)
    cmd = [sys.executable, __file__, "--serve", str(contacts_csv), str(args.import_rate), "100", str(window)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = re.search(r"http://\S+", line)
    if not match:
        proc.kill()
        raise SystemExit(f"sandbox did not start: {line!r}")
    return proc, match.group(0)


def sandbox_stats(url: str) -> dict[str, Any]:
    import requests

    return requests.get(f"{url}/__sandbox__/stats", timeout=30).json()


# -- the sync, in a measured child process ----------------------------------------------------------------------
def child(project: str, push: str, out: str) -> int:
    from dbt_hubspot_sync.doors.runner import SyncOptions, run_sync

    peak = {"rss": 0}
    done = threading.Event()

    def rss() -> int:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def sample() -> None:
        while not done.wait(0.01):
            peak["rss"] = max(peak["rss"], rss())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.monotonic()
    options = SyncOptions(
        project_dir=project,
        profiles_dir=project,
        select=[setup.EXPOSURE],
        vars_yaml=json.dumps({"hubspot_sync": {"push": push}}),
    )
    [result] = run_sync(options)
    seconds = time.monotonic() - start
    done.set()
    sampler.join()
    c = result.counters
    report = {
        "status": result.status,
        "run_id": result.run_id,
        "error": result.error,
        "seconds": seconds,
        "peak_rss": peak["rss"],
        "holds": c.holds(),
        **{
            k: getattr(c, k)
            for k in ("rows_read", "rows_invalid", "rows_updated", "rows_not_found", "rows_failed")
        },
        "requests": c.requests,
    }
    Path(out).write_text(json.dumps(report), encoding="utf-8")
    return 0


def run_path(
    push: str, project: Path, workdir: Path, data: setup.Dataset, args: argparse.Namespace
) -> dict[str, Any]:
    """One path into a fresh sandbox from a fresh sync state: the child's report plus the sandbox's counts."""
    import duckdb

    conn = duckdb.connect(str(workdir / "warehouse.duckdb"))
    try:  # a fresh sync state: the other path's would make every row unchanged
        for table in ("hubspot_sync_state", "hubspot_sync_imports"):
            if conn.execute(f"select count(*) from duckdb_tables() where table_name = '{table}'").fetchone()[
                0
            ]:
                conn.execute(f"delete from main.{table}")
    finally:
        conn.close()
    proc, url = start_sandbox(workdir / "contacts.csv", args)
    try:
        env = {
            **os.environ,
            "HUBSPOT_ACCESS_TOKEN": setup.TOKEN,
            "HUBSPOT_BASE_URL": url,
            "HUBSPOT_RATE_LIMIT_MAX": "100",
            "HUBSPOT_RATE_LIMIT_INTERVAL_MS": str(int(WINDOW_MS / args.time_scale)),
            "HUBSPOT_SYNC_SPOOL_DIR": str(workdir / "spool"),
        }
        out = workdir / f"{push}.json"
        cmd = [sys.executable, __file__, "--child", str(project), push, str(out)]
        code = subprocess.run(cmd, env=env, check=False).returncode
        if code != 0:
            raise SystemExit(f"the {push} sync failed (exit {code})")
        report = json.loads(out.read_text(encoding="utf-8"))
        stats = sandbox_stats(url)
        report["sync_seconds"] = setup.run_phase_seconds(workdir / "warehouse.duckdb", report["run_id"])
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    report["endpoints"] = {k: sum(v.values()) for k, v in stats["requests"].items()}
    report["created"] = stats["contacts_created"]
    report["ok"] = (
        report["holds"]
        and report["status"] == "completed"
        and report["rows_updated"] == data.known
        and report["rows_not_found"] == data.unknown
        and report["created"] == 0
    )
    return report


def short(endpoint: str) -> str:
    return (
        endpoint.replace("/crm/v3/objects/contacts/", "")
        .replace("/crm/v3/imports", "imports")
        .replace("/crm/v3/properties/{objectType}", "properties")
        .replace("/{importId}", "/{id}")
    )


def print_report(name: str, r: dict[str, Any], rows: int, args: argparse.Namespace) -> None:
    requests = r["requests"]
    print(
        f"\n{name}: {r['status']}, {rows:,} rows read, {r['rows_updated']:,} updated, "
        f"{r['rows_not_found']:,} not found, {r['rows_invalid']:,} invalid, {r['created']} created"
    )
    print(f"  requests of the run      {requests:,} ({100 * requests / rows:.4f} per 100 rows)")
    for endpoint, n in sorted(r["endpoints"].items(), key=lambda kv: -kv[1]):
        print(f"    {short(endpoint):<34} {n:,}")
    print(f"  Starter daily budget     {100 * requests / STARTER_DAILY:.3f}% of {STARTER_DAILY:,} requests")
    print(
        f"  wall time of the sync    {r['sync_seconds']:.1f} s (runs row: running to end; the whole command"
        f" {r['seconds']:.0f} s with dbt's parse)"
    )
    print(f"  peak RSS (sync process)  {r['peak_rss'] / MB:.0f} MB")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument(
        "--import-rate", type=float, default=20_000.0, help="the sandbox's import processing, rows/s"
    )
    p.add_argument("--time-scale", type=float, default=10.0, help="divides Starter's 10 s window")
    p.add_argument("--skip-batch", action="store_true", help="the import path only")
    p.add_argument("--workdir", type=Path, default=None)
    p.add_argument(
        "--memory-limit", default=None, help="DuckDB's memory_limit for the model's database, e.g. 256MB"
    )
    p.add_argument("--child", nargs=3, metavar=("PROJECT", "PUSH", "OUT"), help=argparse.SUPPRESS)
    p.add_argument("--serve", nargs=4, metavar=("CSV", "RATE", "MAX", "WINDOW"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        return child(*args.child)
    if args.serve:
        csv_path, rate, rate_max, window = args.serve
        return serve(csv_path, float(rate), int(rate_max), int(window))

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="hubspot-imports-bench-"))
    t0 = time.monotonic()
    project, data = setup.prepare(
        workdir, args.rows, mix=AUDIENCE, isolated=True, memory_limit=args.memory_limit
    )
    setup.write_contacts_csv(workdir / "contacts.csv", data.contacts)
    print(
        f"{args.rows:,} rows ({data.known:,} known contacts, {data.unknown:,} unknown, {data.invalid:,} invalid)"
        f" built in {time.monotonic() - t0:.0f} s; sandbox: imports at {args.import_rate:,.0f} rows/s, "
        f"100 requests per {WINDOW_MS / args.time_scale / 1000:g} s (Starter's window / {args.time_scale:g})"
    )
    reports = {"import": run_path("import", project, workdir, data, args)}
    print_report("push: import", reports["import"], args.rows, args)
    if not args.skip_batch:
        reports["batch"] = run_path("batch", project, workdir, data, args)
        print_report("push: batch", reports["batch"], args.rows, args)
        imp, bat = reports["import"], reports["batch"]
        print(
            f"\nbatch / import: {bat['requests'] / imp['requests']:,.0f}x the requests, "
            f"{bat['sync_seconds'] / imp['sync_seconds']:.1f}x the sync's wall time (at these rates), "
            f"{bat['peak_rss'] / imp['peak_rss']:.2f}x the peak RSS"
        )
        starter_s = bat["requests"] / 10  # 100 requests per 10 s
        print(f"at Starter's real 100 / 10 s the batch path would take {starter_s / 60:.0f} min")
    (workdir / "report.json").write_text(json.dumps(reports, indent=2), encoding="utf-8")
    return 0 if all(r["ok"] for r in reports.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
