"""Whole-sync memory: does the sync's memory stay flat as the model grows?

For each N, builds the same throwaway dbt project as `sync_throughput.py` (DuckDB, no plugin, a `contacts`
model of N synthetic customers, one exposure), starts the sandbox in a separate process
(`python -m dbt_hubspot_sync.doors.cli sandbox --contacts FILE.csv`, rate limit effectively off, no latency) so its
contact store is not measured, and runs `run_sync` in a fresh child process. Measured in the child:

- peak RSS: the child's `VmHWM` (/proc/self/status) as it ends, its whole life: interpreter, dbt's imports and
  parse, DuckDB (in-process: the warehouse's own sort/window memory counts here) and the sync. Not `ru_maxrss`
  from `wait4`: Linux keeps across exec the high-water mark of the forked copy of this parent, which holds the
  whole generated dataset (it read 526 MB at 1,000,000 rows for a child whose own peak was 296 MB);
- tracemalloc peak: Python allocations of the sync phase only, from `SyncRun.start()` (after dbt's parse and
  the plan) to `run_sync`'s return;
- streaming growth: the tracemalloc peak after the first chunk minus the traced size at the first chunk, i.e.
  what the sync holds beyond its fixed cost while rows stream (flat when chunks are bounded);
- DuckDB's own memory (`duckdb_memory()`), sampled at every progress callback, and the `memory_limit` the
  instance ran the sync under (the product lowers DuckDB's default for its session: dbt_bridge/duckdb_memory.py).

Each figure is also given as a ratio over the smallest N. Memory is bounded when the ratios stay near 1.

`--post-hook` measures the other DuckDB door instead: the profile loads the package's dbt-duckdb plugin, the
model carries `+post-hook: "{{ dbt_hubspot_sync.sync() }}"` and the exposure `workflow: automatic`, and the child
runs `dbt run` (the model rebuilt, then pushed from its hook: rows reach Python through UDFs on dbt's own
connection). Its peak RSS is the dbt process's; the counts are the runs row's.

    .venv/bin/python benchmarks/sync_memory.py [--rows 3000,12000,48000] [--no-tracemalloc]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the shared setup lives beside this file

import sync_throughput as setup  # noqa: E402

MB = 1024 * 1024
# The default keeps a run under ~3 minutes at today's ~700 rows/s (warehouse writes dominate, see README);
# `--rows 20000,80000,320000` is the full measurement (16 minutes on 2 cores).
DEFAULT_ROWS = "3000,12000,48000"
TOP = 8


def start_sandbox(contacts_csv: Path) -> tuple[subprocess.Popen[str], str]:
    """The sandbox CLI in its own process on a free port; returns the process and its URL."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dbt_hubspot_sync.doors.cli",
            "sandbox",
            "--port",
            "0",
            "--contacts",
            str(contacts_csv),
            "--rate-max",
            str(10**9),  # effectively off: memory, not pacing, is measured here
            "--rate-window-ms",
            "1000",
            "--daily-max",
            str(10**9),
            "--latency-ms",
            "0",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()  # "HubSpot sandbox listening on http://127.0.0.1:PORT"
    match = re.search(r"http://\S+", line)
    if not match:
        proc.kill()
        proc.wait()
        raise SystemExit(f"sandbox did not start: {line!r}")
    return proc, match.group(0)


def stop_sandbox(proc: subprocess.Popen[str]) -> None:
    proc.terminate()  # SIGTERM: the sandbox CLI shuts down cleanly
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def vm_hwm() -> int:
    """This process's peak RSS in bytes, since its exec."""
    with open("/proc/self/status", encoding="ascii") as fh:
        line = next(x for x in fh if x.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024


def run_child(
    project: Path, url: str, out: Path, concurrency: int, trace: bool, post_hook: bool = False
) -> int:
    """The sync in a fresh interpreter; returns its exit code (its figures are in its report). Its import
    spool in the measurement's own folder: another sync of the same exposure name on this machine cleans
    the shared one."""
    cmd = [
        sys.executable,
        __file__,
        "--child",
        str(project),
        url,
        str(out),
        "--concurrency",
        str(concurrency),
    ]
    if not trace:
        cmd.append("--no-tracemalloc")
    if post_hook:
        cmd.append("--post-hook")
    env = {**os.environ, "HUBSPOT_SYNC_SPOOL_DIR": str(out.parent / "spool")}
    return subprocess.run(cmd, check=False, env=env).returncode


def child(project: str, url: str, out: str, concurrency: int, trace: bool) -> int:
    """Runs in the measured process: imports first (not part of the sync phase), then run_sync."""
    import tracemalloc

    from dbt_hubspot_sync.doors.runner import SyncOptions, run_sync
    from dbt_hubspot_sync.engine import SyncRun
    from dbt_hubspot_sync.hubspot import HubSpotClient, RateLimiter

    def rss_now() -> int:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    samples: dict[str, Any] = {"first": None, "duckdb_max": 0, "rss_first": None, "rss_max": 0, "limit": None}

    probe: dict[str, Any] = {}

    def duckdb_bytes() -> int | None:
        # DuckDB's own accounting (buffer pool, sort/hash state), on the sync's connection.
        try:
            from dbt.adapters.factory import FACTORY

            handle = FACTORY.adapters["duckdb"].connections.get_thread_connection().handle
            # One cursor for every sample: each new one may be a connection of its own, kept until the end.
            cur = probe.setdefault("cursor", handle.cursor())
            cur.execute("select coalesce(sum(memory_usage_bytes), 0) from duckdb_memory()")
            used = int(cur.fetchone()[0])
            cur.execute("select current_setting('memory_limit')")
            samples["limit"] = cur.fetchone()[0]
            return used
        except Exception:  # not measurable on this dbt-duckdb version: left out
            return None

    def on_progress(_run: Any) -> None:
        rss = rss_now()
        samples["rss_max"] = max(samples["rss_max"], rss)
        db = duckdb_bytes()
        if db is not None:
            samples["duckdb_max"] = max(samples["duckdb_max"], db)
        if samples["first"] is None:
            samples["rss_first"] = rss
            if trace:
                samples["snapshot"] = tracemalloc.take_snapshot()  # compared with the end's: what grew
                samples["first"] = tracemalloc.get_traced_memory()[0]  # the snapshot's own objects included
                samples["peak_before_stream"] = tracemalloc.get_traced_memory()[1]
                tracemalloc.reset_peak()  # from here on the peak is the streaming phase's
            else:
                samples["first"] = 0

    def client_factory() -> HubSpotClient:
        return HubSpotClient(setup.TOKEN, url, concurrency=concurrency, limiter=RateLimiter())

    # The sync phase starts when the run is marked running (after dbt's parse and the plan): tracing from
    # there leaves dbt's manifest out (and tracemalloc would slow the parse tenfold).
    original_start = SyncRun.start

    def start_traced(self: SyncRun) -> None:
        samples["rss_sync_start"] = rss_now()
        samples["sync_start"] = time.monotonic()
        if trace and not tracemalloc.is_tracing():
            tracemalloc.start()
        original_start(self)

    SyncRun.start = start_traced  # type: ignore[method-assign]  # this measuring process only

    # RSS every 10 ms, split where the run's end state is written: before it, the sync (reading, pushing,
    # logging); after it, closing the session (for DuckDB: the checkpoint of what the run wrote).
    phase = {"name": "sync"}
    peaks = {"sync": 0, "closing": 0}
    original_finish = SyncRun.finish

    def finish_marked(self: SyncRun, *a: Any, **kw: Any) -> Any:
        try:
            return original_finish(self, *a, **kw)
        finally:
            phase["name"] = "closing"

    SyncRun.finish = finish_marked  # type: ignore[method-assign]
    sampling = threading.Event()

    def sample() -> None:
        while not sampling.wait(0.01):
            peaks[phase["name"]] = max(peaks[phase["name"]], rss_now())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    rss_before = rss_now()
    start = time.monotonic()
    [result] = run_sync(
        SyncOptions(project_dir=project, profiles_dir=project, select=[setup.EXPOSURE]),
        client_factory=client_factory,
        on_progress=on_progress,
    )
    end = time.monotonic()
    sampling.set()
    sampler.join()
    seconds, sync_seconds = end - start, end - samples["sync_start"]
    report: dict[str, Any] = {
        "status": result.status,
        "rows_read": result.counters.rows_read,
        "rows_updated": result.counters.rows_updated,
        "requests": result.counters.requests,
        "seconds": seconds,
        "sync_seconds": sync_seconds,
        "rss_before": rss_before,
        "rss_sync_start": samples.get("rss_sync_start"),
        "rss_first_chunk": samples["rss_first"],
        "rss_max_sampled": samples["rss_max"],
        "rss_peak_sync": peaks["sync"],
        "rss_peak_closing": peaks["closing"],
        "duckdb_max": samples["duckdb_max"] or None,
        "duckdb_limit": samples["limit"],
    }
    if trace:
        _, stream_peak = tracemalloc.get_traced_memory()
        end_snapshot = tracemalloc.take_snapshot()
        tracemalloc.stop()
        if samples.get("snapshot") is not None:
            diff = end_snapshot.compare_to(samples["snapshot"], "lineno")
            grew = sorted((d for d in diff if d.size_diff > 0), key=lambda d: d.size_diff, reverse=True)
            report["top_growth"] = [str(d) for d in grew[:TOP]]
        first = samples["first"] or 0
        report["tm_first_chunk"] = first
        report["tm_peak"] = max(stream_peak, samples.get("peak_before_stream", 0))
        report["tm_stream_growth"] = max(0, stream_peak - first)
    report["maxrss"] = vm_hwm()
    Path(out).write_text(json.dumps(report), encoding="utf-8")
    return 0 if result.counters.holds() else 1


def hook_project(project: Path) -> None:
    """The built project turned into one that pushes from the model's post-hook through the plugin."""
    profiles = project / "profiles.yml"
    profiles.write_text(
        profiles.read_text(encoding="utf-8")
        + "      plugins:\n        - module: dbt_hubspot_sync.duckdb_plugin\n",
        encoding="utf-8",
    )
    dbt_project = project / "dbt_project.yml"
    dbt_project.write_text(
        dbt_project.read_text(encoding="utf-8")
        + 'models:\n  sync_bench:\n    +post-hook: "{{ dbt_hubspot_sync.sync() }}"\n',
        encoding="utf-8",
    )
    exposures = project / "models" / "exposures.yml"
    text = exposures.read_text(encoding="utf-8")
    exposures.write_text(
        text.replace("email_column: email\n", "email_column: email\n          workflow: automatic\n")
    )


def child_post_hook(project: str, url: str, out: str) -> int:
    """Runs in the measured process: `dbt run`, the push in the model's post-hook; the runs row after."""
    from dbt.cli.main import dbtRunner

    os.environ["HUBSPOT_ACCESS_TOKEN"] = setup.TOKEN  # the sandbox's; this measuring process only
    os.environ["HUBSPOT_BASE_URL"] = url
    start = time.monotonic()
    res = dbtRunner().invoke(["run", "--project-dir", project, "--profiles-dir", project, "--quiet"])
    seconds = time.monotonic() - start
    if not res.success:
        print(f"dbt run failed: {res.exception}", file=sys.stderr)
        return 1
    report = {"seconds": seconds, "maxrss": vm_hwm()}  # the counts: runs_row(), once this process is gone
    Path(out).write_text(json.dumps(report), encoding="utf-8")
    return 0


def runs_row(db_path: Path) -> dict[str, Any]:
    """The last run's counts from the runs log (read after the dbt process released the file)."""
    import duckdb

    conn = duckdb.connect(str(db_path), read_only=True)
    try:
        status, rows_read, updated, requests, secs = conn.execute(
            "select status, rows_read, rows_updated, requests, epoch(finished_at) - epoch(started_at)"
            " from main.hubspot_sync_runs order by started_at desc limit 1"
        ).fetchone()
    finally:
        conn.close()
    return {
        "status": status,
        "rows_read": rows_read,
        "rows_updated": updated,
        "requests": requests,
        "sync_seconds": float(secs),
    }


def measure(
    n: int,
    seed: int,
    concurrency: int,
    trace: bool,
    memory_limit: str | None = None,
    post_hook: bool = False,
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="sync_mem_") as tmp:
        work = Path(tmp)
        t0 = time.monotonic()
        project, data = setup.prepare(work, n, seed, isolated=True, memory_limit=memory_limit)
        contacts_csv = work / "contacts.csv"
        setup.write_contacts_csv(contacts_csv, data.contacts)
        if post_hook:
            hook_project(project)
        prep = time.monotonic() - t0
        sandbox, url = start_sandbox(contacts_csv)
        try:
            code = run_child(project, url, work / "report.json", concurrency, trace, post_hook)
        finally:
            stop_sandbox(sandbox)
        if code != 0 or not (work / "report.json").exists():
            raise SystemExit(f"the sync child for N={n} failed (exit {code})")
        report = json.loads((work / "report.json").read_text(encoding="utf-8"))
        if post_hook:
            report.update(runs_row(work / "warehouse.duckdb"))
    report.update(n=n, prep=prep, expected_updated=data.known)
    return report


def fmt_mb(value: float | None) -> str:
    return "-" if value is None else f"{value / MB:.1f}"


def fmt_ratio(value: float | None, base: float | None) -> str:
    return "-" if value is None or not base else f"{value / base:.2f}"


def print_table(reports: list[dict[str, Any]]) -> None:
    base = reports[0]
    cols = [
        ("peak RSS MB", "maxrss"),
        ("tracemalloc peak MB", "tm_peak"),
        ("streaming growth MB", "tm_stream_growth"),
        ("DuckDB MB", "duckdb_max"),
    ]
    head = f"{'N':>8} {'rows/s':>7} {'status':>10}"
    for label, _ in cols:
        head += f" | {label:>19} {'x':>5}"
    print(head)
    for r in reports:
        line = f"{r['n']:>8} {r['rows_read'] / r['sync_seconds']:>7.0f} {r['status']:>10}"
        for _, key in cols:
            line += f" | {fmt_mb(r.get(key)):>19} {fmt_ratio(r.get(key), base.get(key)):>5}"
        print(line)
    print(
        "rows/s: over the sync phase. x: ratio over the smallest N."
        " RSS: the child's whole life (dbt's parse, DuckDB, tracemalloc's own bookkeeping when on)."
    )
    for r in reports:
        if "rss_before" not in r:  # --post-hook: the dbt run's own figures only
            print(
                f"N={r['n']}: dbt run {r['seconds']:.1f} s (push {r['sync_seconds']:.1f} s), {r['requests']} requests"
            )
            continue
        ok = "ok" if r["rows_updated"] == r["expected_updated"] else "MISMATCH"
        print(
            f"N={r['n']}: {r['seconds']:.1f} s run_sync ({r['sync_seconds']:.1f} s sync phase),"
            f" {r['requests']} requests, updated {r['rows_updated']} ({ok});"
            f" RSS before run_sync {fmt_mb(r['rss_before'])} MB, at sync start"
            f" {fmt_mb(r['rss_sync_start'])} MB, at first chunk"
            f" {fmt_mb(r['rss_first_chunk'])} MB, max sampled {fmt_mb(r['rss_max_sampled'])} MB; every 10 ms:"
            f" peak {fmt_mb(r['rss_peak_sync'])} MB while syncing, {fmt_mb(r['rss_peak_closing'])} MB closing;"
            f" DuckDB's memory_limit during the sync: {r.get('duckdb_limit') or '-'}"
        )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", default=DEFAULT_ROWS, help="comma-separated model sizes")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument(
        "--no-tracemalloc", action="store_true", help="RSS without tracemalloc's overhead (no Python figures)"
    )
    ap.add_argument(
        "--duckdb-memory-limit",
        metavar="SIZE",
        help="DuckDB's memory_limit in the profile (e.g. 128MB): its sorts spill to disk beyond it",
    )
    ap.add_argument(
        "--post-hook", action="store_true", help="push from the model's post-hook in `dbt run` (the plugin)"
    )
    ap.add_argument("--child", nargs=3, metavar=("PROJECT", "URL", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    trace = not args.no_tracemalloc
    if args.child and args.post_hook:
        return child_post_hook(*args.child)
    if args.child:
        return child(*args.child, concurrency=args.concurrency, trace=trace)

    sizes = sorted(int(x) for x in args.rows.split(",") if x.strip())
    reports = []
    for n in sizes:
        reports.append(
            measure(n, args.seed, args.concurrency, trace, args.duckdb_memory_limit, args.post_hook)
        )
        r = reports[-1]
        print(f"N={n} done: run_sync {r['seconds']:.1f} s (+{r['prep']:.1f} s setup)", flush=True)
    print()
    print_table(reports)
    if reports[-1].get("top_growth"):
        print(f"\nlargest N: where traced memory grew between the first chunk and the end (top {TOP}):")
        for line in reports[-1]["top_growth"]:
            print(f"  {line}")
    return 0 if all(r["rows_updated"] == r["expected_updated"] for r in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
