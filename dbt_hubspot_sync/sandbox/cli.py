"""`dbt-hubspot-sync sandbox`: serve the HubSpot sandbox on 127.0.0.1 until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from dbt_hubspot_sync.sandbox.faults import parse_spec
from dbt_hubspot_sync.sandbox.routes import VERSIONS
from dbt_hubspot_sync.sandbox.server import Sandbox, SandboxConfig


def build_parser(prog: str = "dbt-hubspot-sync sandbox") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="Serve a HubSpot-compatible CRM API on 127.0.0.1.")
    p.add_argument("--port", type=int, default=8765, help="port to listen on (0: any free port)")
    p.add_argument("--token", default="sandbox-token", help="the Bearer token accepted, with every scope")
    p.add_argument("--contacts", metavar="FILE.csv", help="CSV whose header names properties; email required")
    p.add_argument("--rate-max", type=int, default=100, help="requests per rolling window and token")
    p.add_argument("--rate-window-ms", type=int, default=10000, help="rolling window length in ms")
    p.add_argument("--daily-max", type=int, default=None, help="requests per day and token (default 250000)")
    p.add_argument("--latency-ms", type=int, default=0, help="added latency per API request")
    p.add_argument("--faults", default="", metavar="SPEC", help='e.g. "503:0.05,reset:0.02,slow:0.01"')
    p.add_argument("--seed", type=int, default=0, help="seed for fault injection")
    p.add_argument("--slow-ms", type=int, default=15000, help="delay of a 'slow' fault in ms")
    p.add_argument(
        "--versions",
        default=",".join(VERSIONS),
        metavar="V,V",
        help=f"API versions served (default: {','.join(VERSIONS)}); other versions' paths answer 404",
    )
    p.add_argument(
        "--search-lag-ms", type=int, default=0, help="how long writes take to show in search results"
    )
    p.add_argument("--search-per-second", type=int, default=5, help="search requests per second and token")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        parse_spec(args.faults)
    except ValueError as exc:
        parser.error(str(exc))  # exits 2
    if args.rate_max < 1 or args.rate_window_ms < 1 or (args.daily_max is not None and args.daily_max < 0):
        parser.error("--rate-max and --rate-window-ms must be positive, --daily-max not negative")
    versions = tuple(v.strip() for v in args.versions.split(",") if v.strip())
    if not versions or any(v not in VERSIONS for v in versions):
        parser.error(
            f"--versions takes a comma-separated subset of {','.join(VERSIONS)} (got {args.versions!r})"
        )
    if args.search_lag_ms < 0 or args.search_per_second < 1:
        parser.error("--search-lag-ms must not be negative, --search-per-second must be positive")
    cfg = SandboxConfig(
        port=args.port,
        token=args.token,
        contacts_csv=args.contacts,
        rate_max=args.rate_max,
        rate_window_ms=args.rate_window_ms,
        daily_max=args.daily_max,
        latency_ms=args.latency_ms,
        faults=args.faults,
        seed=args.seed,
        slow_ms=args.slow_ms,
        versions=versions,
        search_lag_ms=args.search_lag_ms,
        search_per_second=args.search_per_second,
    )
    try:
        sandbox = Sandbox(cfg).start()
    except (OSError, ValueError) as exc:  # port in use, unreadable or invalid CSV
        print(f"sandbox: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def _stop(signum: int, frame: object) -> None:
        stop.set()

    previous = {s: signal.signal(s, _stop) for s in (signal.SIGINT, signal.SIGTERM)}
    # The token is never printed: only where to point HUBSPOT_BASE_URL.
    print(f"HubSpot sandbox listening on {sandbox.url}", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        sandbox.stop()
        for s, handler in previous.items():
            signal.signal(s, handler)
    return 0


if __name__ == "__main__":
    sys.exit(main())
