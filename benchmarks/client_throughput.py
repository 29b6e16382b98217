"""Client throughput against the embedded sandbox: does the client keep HubSpot's allowed rate busy?

Starts the sandbox with a Professional-tier window compressed in time (190 requests / 2 s instead of / 10 s,
so a run takes seconds) and 50 ms latency, resolves N emails and updates them, then prints the achieved
request rate over the allowed rate, the 429 count (should be 0) and requests per contact.

A rolling window of R requests per W seconds cannot carry N requests in less than floor((N-1)/R)*W seconds
(any W-long stretch holds at most R), so the run's time is also compared with that bound ("schedule
efficiency"); the plain rate ratio flatters short runs, whose first window is a burst.

    /tmp/venv/bin/python benchmarks/client_throughput.py [--contacts 20000] [--concurrency 4] [--faults SPEC]
"""

from __future__ import annotations

import argparse
import sys
import time

from dbt_hubspot_sync.hubspot import HubSpotClient, RateLimiter
from dbt_hubspot_sync.sandbox import Sandbox, SandboxConfig


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--contacts", type=int, default=20_000)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--rate-max", type=int, default=190)
    ap.add_argument("--rate-window-ms", type=int, default=2000)
    ap.add_argument("--latency-ms", type=int, default=50)
    ap.add_argument("--faults", default="")
    args = ap.parse_args(argv)

    contacts = [{"email": f"user{i}@example.com", "firstname": "Old"} for i in range(args.contacts)]
    cfg = SandboxConfig(
        port=0,
        contacts=contacts,
        rate_max=args.rate_max,
        rate_window_ms=args.rate_window_ms,
        latency_ms=args.latency_ms,
        faults=args.faults,
        seed=1,
    )
    with Sandbox(cfg) as sb:
        # A fresh limiter at HubSpot's conservative default: it learns the real window from the headers.
        client = HubSpotClient(
            "sandbox-token", sb.url, concurrency=args.concurrency, limiter=RateLimiter(), backoff_base=0.2
        )
        with client:
            start = time.monotonic()
            ids = client.read_ids_by_email([c["email"] for c in contacts])
            t_read = time.monotonic() - start
            outcome = client.update([(rid, {"firstname": "New"}) for rid in ids.values()])
            elapsed = time.monotonic() - start
        stats = sb.stats()

    allowed_rps = args.rate_max / (args.rate_window_ms / 1000)
    achieved_rps = client.stats.requests / elapsed
    print(f"contacts            {args.contacts}  (found {len(ids)}, updated {len(outcome.updated)}, "
          f"failed {len(outcome.failed)})")  # fmt: skip
    print(f"window              {args.rate_max} / {args.rate_window_ms} ms, latency {args.latency_ms} ms, "
          f"concurrency {args.concurrency}")  # fmt: skip
    print(f"requests            {client.stats.requests} in {elapsed:.2f} s (read phase {t_read:.2f} s), "
          f"retries {client.stats.retries}")  # fmt: skip
    print(
        f"achieved / allowed  {achieved_rps:.1f} / {allowed_rps:.1f} req/s = {achieved_rps / allowed_rps:.1%}"
    )
    best = ((client.stats.requests - 1) // args.rate_max) * args.rate_window_ms / 1000
    if best > 0:
        print(f"schedule efficiency {best / elapsed:.1%}  (fastest 429-free schedule: {best:.2f} s)")
    print(f"429s                {stats['rate_limited']} (client saw {client.stats.rate_limited})")
    print(f"requests / contact  {client.stats.requests / max(1, args.contacts):.4f}")
    ok = len(outcome.updated) == args.contacts and (stats["rate_limited"] == 0 or args.faults)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
