"""HubSpot's request budget: how fully and how thriftily a sync spends it, against a plain sequential client.

For N contacts (default 100,000; `--million` for 1,000,000) in a DuckDB model built by dbt, against the
in-process sandbox at 150 ms latency, once per rate tier (100 and 190 requests per 10 s: Free/Starter and
Professional/Enterprise), with a fresh HubSpot and a fresh `hubspot_sync_state` per tier:

1. first sync, 2. the same sync again with nothing changed, 3. again after 1% of the rows changed.

Printed for each: rows, requests (batch/read + batch/update), requests per 100 contacts, achieved request rate
over the allowed rate (running phase, from the runs log), 429s, wall time. Then, in the same run:

- the baseline: a plain sequential read→update loop written as a user would with HubSpot's official Python
  client (`hubspot-api-client`: batch read 100 emails, batch update the ones found, next 100; urllib3 retries on
  429/5xx), over the first `--baseline-contacts` rows of the same model, at each tier; and the ratio of the
  product's contacts per second (first sync) over the baseline's;
- the local stages alone (a child process pinned to one CPU): the same `run_sync` with HubSpot answered
  in-process by a transport adapter (no socket, no latency, no limit), so reading + SQL cleanup + validation
  + conversion + hashing + JSON serialization + log writes are all that is timed; rows/s and peak RSS.

`--time-scale S` divides the window and the latency by S (ratios are unchanged; say so when quoting figures).

    .venv/bin/python benchmarks/hubspot_budget.py [--contacts 100000 | --million] [--tiers 100,190]
        [--latency-ms 150] [--time-scale 1] [--baseline-contacts 3000] [--skip-local]

Exit status 1 when a run's outcomes are wrong (a contact not updated, a 429 in steady state, the invariant).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the shared setup lives beside this file

import sync_throughput as setup  # noqa: E402
from sync_memory import vm_hwm  # noqa: E402

# What an audience model looks like: most emails are contacts, a few are new, invalid or repeated.
AUDIENCE = setup.Mix(known=0.85, duplicate=0.03, unknown=0.08, invalid=0.04)
WINDOW_MS = 10_000
READ, UPDATE = setup.SANDBOX_POST + "read", setup.SANDBOX_POST + "update"


@dataclass
class Phase:
    name: str
    rows: int
    updated: int
    reads: int
    updates: int
    rate_limited: int
    wall: float
    running: float
    ok: bool

    @property
    def requests(self) -> int:
        return self.reads + self.updates


def sandbox_config(data: setup.Dataset, tier: int, args: argparse.Namespace) -> Any:
    """A HubSpot holding the dataset's contacts at one rate tier (window and latency divided by the time scale)."""
    from dbt_hubspot_sync.sandbox import SandboxConfig

    return SandboxConfig(
        contacts=data.contacts,
        rate_max=tier,
        rate_window_ms=int(WINDOW_MS / args.time_scale),
        latency_ms=int(args.latency_ms / args.time_scale),
        daily_max=10**9,
    )


def _sandbox_counts(sb: Any) -> tuple[int, int, int]:
    counts = setup.endpoint_counts(sb.stats())
    return counts.get(READ, 0), counts.get(UPDATE, 0), sb.stats()["rate_limited"]


def run_tier(project: Path, data: setup.Dataset, tier: int, args: argparse.Namespace) -> list[Phase]:
    """First sync, unchanged re-sync and 1%-changed re-sync at one rate tier, with a fresh state."""
    from dbt_hubspot_sync.doors.runner import SyncOptions, run_sync
    from dbt_hubspot_sync.hubspot import HubSpotClient, RateLimiter
    from dbt_hubspot_sync.sandbox import Sandbox

    schema = f"budget_{tier}"
    cfg = sandbox_config(data, tier, args)
    options = SyncOptions(
        project_dir=str(project),
        profiles_dir=str(project),
        select=[setup.EXPOSURE],
        vars_yaml=json.dumps({"hubspot_sync": {"log_schema": schema}}),
    )
    phases: list[Phase] = []
    with Sandbox(cfg) as sb:
        # One limiter per token for the whole process, as in production; it starts at HubSpot's conservative
        # default and learns the tier from the response headers.
        limiter = RateLimiter()

        def sync(name: str, expect_updated: int) -> None:
            before = _sandbox_counts(sb)
            start = time.monotonic()
            with HubSpotClient(setup.TOKEN, sb.url, limiter=limiter) as client:
                [result] = run_sync(options, client_factory=lambda: client)
            wall = time.monotonic() - start
            after = _sandbox_counts(sb)
            c = result.counters
            running = _running_seconds(project.parent / "warehouse.duckdb", schema, result.run_id)
            ok = c.holds() and c.rows_updated == expect_updated and c.rows_failed == 0
            phases.append(
                Phase(
                    name,
                    c.rows_read,
                    c.rows_updated,
                    after[0] - before[0],
                    after[1] - before[1],
                    after[2] - before[2],
                    wall,
                    running,
                    ok,
                )
            )

        sync("first sync", data.known)
        sync("unchanged re-sync", 0)
        changed = _change_one_percent(project.parent / "warehouse.duckdb", data, tier)
        sync("1% changed re-sync", changed)
    return phases


def _running_seconds(db_path: Path, schema: str, run_id: str) -> float:
    import duckdb

    conn = duckdb.connect(str(db_path))
    try:
        row = conn.execute(
            f"select epoch(finished_at) - epoch(started_at) from {schema}.hubspot_sync_runs where run_id = ?",
            [run_id],
        ).fetchone()
    finally:
        conn.close()
    return float(row[0])


def _change_one_percent(db_path: Path, data: setup.Dataset, salt: int) -> int:
    """Change `company` on 1% of the rows of the model's table; returns how many of them must be updated (the
    first row of a known email: its raw value holds c{customer_id}@example.com, see sync_throughput)."""
    import duckdb

    conn = duckdb.connect(str(db_path))
    try:
        conn.execute(
            "update main.contacts set company = coalesce(company, '') || ? where customer_id % 100 = 42",
            [f" #{salt}"],
        )
    finally:
        conn.close()
    return sum(
        1 for cid, raw, *_ in data.rows if cid % 100 == 42 and f"c{cid}@example.com" in (raw or "").lower()
    )


def run_baseline(
    project: Path, data: setup.Dataset, tier: int, args: argparse.Namespace
) -> tuple[int, float]:
    """The plain user's loop with the official client: (contacts updated, seconds)."""
    import duckdb
    from hubspot import HubSpot
    from hubspot.crm.contacts import (
        BatchInputSimplePublicObjectBatchInput,
        BatchReadInputSimplePublicObjectId,
        SimplePublicObjectBatchInput,
        SimplePublicObjectId,
    )
    from urllib3.util.retry import Retry

    from dbt_hubspot_sync.sandbox import Sandbox

    cfg = sandbox_config(data, tier, args)
    conn = duckdb.connect(str(project.parent / "warehouse.duckdb"))
    cur = conn.execute(
        "select lower(trim(email)), firstname, lastname, company, lifetime_value from main.contacts"
        " where email like '%@%' order by customer_id limit ?",
        [args.baseline_contacts],
    )
    updated = 0
    with Sandbox(cfg) as sb:
        retry = Retry(
            total=8, backoff_factor=0.5, status_forcelist=[429, 500, 502, 503, 504], allowed_methods=None
        )
        api = HubSpot(access_token=setup.TOKEN, host=sb.url, retry=retry).crm.contacts.batch_api
        start = time.monotonic()
        while rows := cur.fetchmany(100):
            by_email = {r[0]: r for r in rows}
            found = api.read(
                BatchReadInputSimplePublicObjectId(
                    id_property="email",
                    inputs=[SimplePublicObjectId(id=e) for e in by_email],
                    properties=["email"],
                    properties_with_history=[],
                )
            )
            inputs = []
            for obj in found.results:
                row = by_email.get((obj.properties.get("email") or "").lower())
                if row is None:
                    continue
                props = {"firstname": row[1], "lastname": row[2], "company": row[3], "lifetime_value": row[4]}
                inputs.append(
                    SimplePublicObjectBatchInput(
                        id=obj.id, properties={k: str(v) for k, v in props.items() if v is not None}
                    )
                )
            if inputs:
                api.update(BatchInputSimplePublicObjectBatchInput(inputs=inputs))
                updated += len(inputs)
        seconds = time.monotonic() - start
    conn.close()
    return updated, seconds


def run_local_stages(workdir: Path) -> dict[str, float]:
    """The local-stage figures from a child process pinned to one CPU (see `_local_child`)."""
    proc = subprocess.run(
        [sys.executable, __file__, "--local-child", str(workdir)], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise SystemExit(f"local-stage child failed:\n{proc.stdout}{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _local_child(workdir: Path) -> None:
    """Pinned to one CPU before anything starts a thread. The client is the product's, with only its transport
    replaced: each call's body is serialized exactly as a real call's is, then answered in-process (every
    email found, every update applied), so the HTTP stack and HubSpot's side are all that is left out."""
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    from dbt_hubspot_sync.doors.runner import SyncOptions, run_sync
    from dbt_hubspot_sync.engine import SyncRun
    from dbt_hubspot_sync.hubspot import client as hubspot_client
    from dbt_hubspot_sync.sandbox.store import Store

    properties = Store([{"email": "x@example.com", **dict.fromkeys(setup.PROPERTIES, "")}]).property_list()

    class NoNetwork(hubspot_client.HubSpotClient):
        def request(self, method: str, path: str, payload: Any = None) -> Any:
            json.dumps(payload)  # what request sends
            self.stats.add(requests=1)
            if method == "GET":  # the property preflight: the sandbox's own property list
                return hubspot_client.Reply(200, {"results": properties}, {}, "")
            if path.endswith("/batch/read"):
                results = [
                    {"id": str(n), "properties": {"email": i["id"]}} for n, i in enumerate(payload["inputs"])
                ]
            else:
                results = [{"id": i["id"]} for i in payload["inputs"]]
            return hubspot_client.Reply(200, {"status": "COMPLETE", "results": results}, {}, "")

    project = workdir / "project"
    client = NoNetwork(setup.TOKEN, "http://127.0.0.1:9")
    options = SyncOptions(
        project_dir=str(project),
        profiles_dir=str(project),
        select=[setup.EXPOSURE],
        vars_yaml=json.dumps({"hubspot_sync": {"log_schema": "budget_local"}}),
        full_refresh=True,  # every row sent, as in a first sync
    )
    # CPU seconds of the running phase (SyncRun.start to finish): the figure that load from other processes
    # on the same CPU cannot inflate.
    cpu: list[float] = []
    for name in ("start", "finish"):
        original = getattr(SyncRun, name)

        def timed(self: SyncRun, *a: Any, _original: Any = original, **kw: Any) -> Any:
            cpu.append(time.process_time())
            return _original(self, *a, **kw)

        setattr(SyncRun, name, timed)
    start = time.monotonic()
    [result] = run_sync(options, client_factory=lambda: client)
    wall = time.monotonic() - start
    running = _running_seconds(workdir / "warehouse.duckdb", "budget_local", result.run_id)
    rss_mb = vm_hwm() / 2**20  # not ru_maxrss: it keeps the forked parent's peak across exec
    figures = {"rows": result.counters.rows_read, "wall": wall, "running": running, "cpu": cpu[-1] - cpu[0]}
    print(json.dumps({**figures, "stages_cpu": _stages_cpu(options, client), "rss_mb": rss_mb}))


def _stages_cpu(options: Any, client: Any) -> float:
    """CPU seconds of the named stages alone, in the engine's order and with its functions: stream the
    `sync_rows_query` (SQL cleanup, duplicate rank), validate each email, convert and hash the properties,
    serialize them as batch/update bodies of 100. No engine bookkeeping, no log or state writes."""
    from dbt_hubspot_sync.config.properties import properties_hash, to_hubspot_value
    from dbt_hubspot_sync.doors.runner import prepared, rows_query
    from dbt_hubspot_sync.engine.validation import validate_email

    with prepared(options, lambda: client) as (wh, [plan], _):
        sql = rows_query(wh, plan, full_refresh=True)
        start = time.process_time()
        body: list[dict[str, Any]] = []
        for _names, rows in wh.stream(sql, 10_000):
            for row in rows:
                if not validate_email(row[1]).ok or (row[2] is not None and int(row[2]) > 1):
                    continue
                props = {}
                for name, value in zip(plan.properties, row[5:]):
                    text = to_hubspot_value(value, null_as_empty=False)
                    if text is not None:
                        props[name] = text
                properties_hash(props)
                body.append({"id": row[1], "properties": props})
                if len(body) == 100:
                    json.dumps({"inputs": body})
                    body = []
        return time.process_time() - start


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--contacts", type=int, default=100_000)
    ap.add_argument("--million", action="store_true", help="1,000,000 contacts")
    ap.add_argument("--tiers", default="100,190", help="requests per 10 s, comma-separated")
    ap.add_argument("--latency-ms", type=int, default=150)
    ap.add_argument("--time-scale", type=float, default=1.0, help="divide window and latency by this")
    ap.add_argument("--baseline-contacts", type=int, default=3000)
    ap.add_argument("--skip-local", action="store_true")
    ap.add_argument("--local-child", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.local_child:
        _local_child(args.local_child)
        return 0
    n = 1_000_000 if args.million else args.contacts
    tiers = [int(t) for t in args.tiers.split(",")]
    ok = True
    with tempfile.TemporaryDirectory(prefix="hubspot_budget_") as tmp:
        t0 = time.monotonic()
        project, data = setup.prepare(Path(tmp), n, mix=AUDIENCE, isolated=True)
        window_s = WINDOW_MS / 1000 / args.time_scale
        print(
            f"{n:,} rows: {data.known:,} known contacts, {data.unknown:,} unknown, {data.invalid:,} invalid,"
            f" {data.duplicates:,} duplicates (prepared in {time.monotonic() - t0:.0f} s)"
        )
        scale = f" (time scale 1/{args.time_scale:g}: {window_s:g} s window)" if args.time_scale != 1 else ""
        print(f"sandbox latency {args.latency_ms / args.time_scale:g} ms{scale}\n")
        local = None if args.skip_local else run_local_stages(Path(tmp))
        for tier in tiers:
            allowed = tier / window_s
            phases = run_tier(project, data, tier, args)
            base_updated, base_seconds = run_baseline(project, data, tier, args)
            print(f"== {tier} requests / {window_s:g} s  (allowed {allowed:.2f} req/s)")
            print(
                f"{'':22}{'rows':>9} {'updated':>8} {'reads':>6} {'updates':>8} {'req/100':>8}"
                f" {'achieved/allowed':>17} {'429s':>5} {'wall s':>8}"
            )
            for p in phases:
                # Fewer requests than one window holds go out as a burst: a rate over them means nothing.
                rate = f"{p.requests / p.running / allowed:.1%}" if p.requests > tier else "(one burst)"
                print(
                    f"{p.name:22}{p.rows:>9,} {p.updated:>8,} {p.reads:>6} {p.updates:>8}"
                    f" {100 * p.requests / p.rows:>8.3f} {rate:>17} {p.rate_limited:>5} {p.wall:>8.1f}"
                )
                ok = ok and p.ok and (p.name != "first sync" or p.rate_limited == 0)
            first = phases[0]
            ours = first.updated / first.wall
            base = base_updated / base_seconds
            print(
                f"baseline (official client, sequential): {base_updated:,} contacts in {base_seconds:.1f} s"
                f" = {base:,.0f} contacts/s; dbt-hubspot-sync first sync {ours:,.0f} contacts/s"
                f" (wall, dbt parse included) -> ratio {ours / base:.1f}x\n"
            )
        if local is not None:
            rows = local["rows"]
            print(
                f"local stages, one CPU, no HTTP ({rows:,} rows):\n"
                f"  read + SQL cleanup + validate + convert + hash + serialize: {rows / local['stages_cpu']:,.0f}"
                " rows per CPU-second\n"
                f"  the whole sync without the network (engine, response handling, log and state writes):"
                f" {rows / local['cpu']:,.0f} rows per CPU-second, {rows / local['running']:,.0f} rows/s wall;"
                f" peak RSS {local['rss_mb']:.0f} MB\n"
                "  HubSpot's fastest tier (250 / 10 s; a read and an update per 100 contacts): 1,250 contacts/s"
            )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
