"""The HubSpot client: the only code that talks HTTP to HubSpot (or the sandbox).

Import from here, not from the modules below it; this is the public surface. `HubSpotClient` makes the calls;
every exception it raises on purpose is a `HubSpotError`.

- `client`: `HubSpotClient`, the HubSpot calls: reads, properties, probes here; `update` (batch update with 400
  isolation, portal-rule rejections), `lists` (memberships add/remove/add-and-remove/paged GET), `search`
  (contacts created in a window, search's own limit and 10,000 cap);
- `paths`: the one table of every call's path per API version (`v3`, `2026-03`, `2026-09`), `resolve_version`;
- `transport`: the request loop (session, pacing, retries with backoff and jitter, the run's retry budget, workers);
- `rate_limit`: `RateLimiter`, the per-token pacing of HubSpot's rolling window the transport holds slots of;
- `responses`: parsing HubSpot's bodies (every field optional; value errors, codes, scopes, rate policy);
- `auth`: Bearer auth, the token from the environment, redaction, the base-URL check;
- `errors`: the exception classes; `results`: outcomes and counters the calls return.

The HubSpot API facts this relies on, with their sources, are in docs/hubspot_api.md.
"""

from dbt_hubspot_sync.hubspot.auth import DEFAULT_BASE_URL
from dbt_hubspot_sync.hubspot.client import (
    BATCH_SIZE,
    LIST_CHUNK,
    PROPERTIES_PATH,
    READ_PATH,
    UPDATE_PATH,
    HubSpotClient,
)
from dbt_hubspot_sync.hubspot.errors import (
    AuthError,
    DailyLimitError,
    HubSpotError,
    InterruptedRunError,
    MissingTokenError,
    PropertyError,
    RetriesExhaustedError,
)
from dbt_hubspot_sync.hubspot.paths import (
    DEFAULT_VERSION,
    VERSION_ENV,
    VERSIONS,
    ApiVersion,
    Paths,
    resolve_version,
)
from dbt_hubspot_sync.hubspot.rate_limit import RateLimiter
from dbt_hubspot_sync.hubspot.results import (
    ClientStats,
    ListOutcome,
    RecordFailure,
    SearchResult,
    StatsSnapshot,
    UpdateOutcome,
)
from dbt_hubspot_sync.hubspot.search import SEARCH_CAP, SEARCH_PAGE

__all__ = [
    "HubSpotClient",
    "UpdateOutcome",
    "RecordFailure",
    "ListOutcome",
    "SearchResult",
    "ClientStats",
    "StatsSnapshot",
    "HubSpotError",
    "AuthError",
    "MissingTokenError",
    "DailyLimitError",
    "PropertyError",
    "RetriesExhaustedError",
    "InterruptedRunError",
    "RateLimiter",
    "DEFAULT_BASE_URL",
    "BATCH_SIZE",
    "LIST_CHUNK",
    "READ_PATH",
    "UPDATE_PATH",
    "PROPERTIES_PATH",
    "ApiVersion",
    "VERSIONS",
    "DEFAULT_VERSION",
    "VERSION_ENV",
    "Paths",
    "resolve_version",
    "SEARCH_CAP",
    "SEARCH_PAGE",
]
