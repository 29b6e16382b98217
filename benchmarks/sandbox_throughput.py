"""Sandbox throughput: batch/read requests of 100 emails per second over loopback keep-alive.

Starts an in-process sandbox (rate limit out of the way, no latency), fires N requests from a few threads,
each with its own keep-alive connection, and prints requests/s and the ratio over the 1,000 requests/s target.
Two clients are measured: requests.Session (what the product uses) and http.client (a thin client, closer to
the sandbox's own capacity). Both run in the same process (and GIL) as the server, so both figures are lower
bounds; the requests figure includes requests' own CPU cost (~0.5-0.7 ms a call on a 2-core machine).
Exit status 0 when the sandbox reaches the target with the thin client.

    python benchmarks/sandbox_throughput.py [--requests 3000] [--threads 4] [--contacts 10000]
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import threading
import time

import requests

from dbt_hubspot_sync.sandbox import Sandbox, SandboxConfig

TARGET_RPS = 1000.0
TOKEN = "bench-token"
PATH = "/crm/v3/objects/contacts/batch/read"


def run(n_requests: int, n_threads: int, n_contacts: int, client: str = "requests") -> float:
    contacts = [{"email": f"user{i}@example.com", "firstname": f"U{i}"} for i in range(n_contacts)]
    cfg = SandboxConfig(token=TOKEN, contacts=contacts, rate_max=10**9, daily_max=10**9)
    with Sandbox(cfg) as sb:
        url = sb.url + PATH
        per_thread = n_requests // n_threads
        errors: list[str] = []

        # Bodies are encoded before the clock starts: the client's own JSON work is not the sandbox's.
        bodies = []
        for j in range(n_requests):
            start = (j * 100) % max(n_contacts - 100, 1)
            body = {
                "idProperty": "email",
                "properties": ["email"],
                "propertiesWithHistory": [],
                "inputs": [{"id": f"user{start + i}@example.com"} for i in range(100)],
            }
            bodies.append(json.dumps(body).encode())

        def thin_worker(k: int) -> None:
            conn = http.client.HTTPConnection("127.0.0.1", sb.port)
            headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
            for j in range(per_thread):
                conn.request("POST", PATH, bodies[k * per_thread + j], headers)
                resp = conn.getresponse()
                data = resp.read()
                if resp.status != 200:
                    errors.append(f"{resp.status} {data[:200]!r}")
            conn.close()

        def worker(k: int) -> None:
            session = requests.Session()
            session.trust_env = False  # no per-request proxy/netrc lookups from the environment
            session.headers["Authorization"] = f"Bearer {TOKEN}"
            session.headers["Content-Type"] = "application/json"
            for j in range(per_thread):
                r = session.post(url, data=bodies[k * per_thread + j])
                if r.status_code != 200:
                    errors.append(f"{r.status_code} {r.text[:200]}")
            session.close()

        target = worker if client == "requests" else thin_worker
        threads = [threading.Thread(target=target, args=(k,)) for k in range(n_threads)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - t0
        if errors:
            print(f"{len(errors)} unexpected responses, first: {errors[0]}", file=sys.stderr)
        stats = sb.stats()
    done = per_thread * n_threads
    rps = done / elapsed
    print(f"[{client}] {done} batch/read requests (100 emails each) in {elapsed:.2f}s, {n_threads} threads")
    print(f"[{client}] {rps:.0f} requests/s; ratio over {TARGET_RPS:.0f}/s target: {rps / TARGET_RPS:.2f}")
    counted, internal = stats["requests_total"], stats["internal_errors"]
    print(f"[{client}] server counted {counted} requests, internal errors {internal}")
    return rps


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--requests", type=int, default=3000)
    p.add_argument("--threads", type=int, default=4)
    p.add_argument("--contacts", type=int, default=10000)
    args = p.parse_args(argv)
    run(args.requests, args.threads, args.contacts, "requests")
    thin = run(args.requests, args.threads, args.contacts, "http.client")
    return 0 if thin >= TARGET_RPS else 1


if __name__ == "__main__":
    sys.exit(main())
