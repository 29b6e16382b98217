"""One sync run of one exposure: rows in, one counted outcome per row out.

Rows arrive in chunks (from the runner's streaming query or from the DuckDB post-hook's UDF) shaped as the
`sync_rows_query` macro returns them: (email_raw, email_clean, rank, state record id, state hash, *values).
Unchanged rows (same hash as the state's) cost no request; valid first-of-their-email rows are buffered up to
`push_size`, resolved to record ids with batch/read (unless the state knows them) and updated with batch/update,
two batches in flight so one's updates overlap the next one's lookups; every other row is logged. A call that
ends the run (daily limit, unknown property) stops the batch behind it before its update is sent. Memory holds
at most one chunk plus two push buffers, whatever the model's size. A run whose counts do not add up (rows_read
= invalid + duplicate + unchanged + updated + not_found + failed) ends `failed`, never `completed`.

Import from here; the modules:
- `run`: `SyncRun`, the run on the caller's thread (classify rows, buffer, land batches, write the runs row).
- `calls`: the HubSpot calls for one batch on a worker thread (lookups, updates, stale-id relookup, list add).
- `outcomes`: the bookkeeping (candidates, stops, outcome counters, the invariant check, `RunResult`).
"""

from dbt_hubspot_sync.engine.outcomes import RunResult, run_result_ok
from dbt_hubspot_sync.engine.run import IN_FLIGHT, PUSH_SIZE, RECORDS_PER_WRITE, SyncRun

__all__ = ["IN_FLIGHT", "PUSH_SIZE", "RECORDS_PER_WRITE", "RunResult", "SyncRun", "run_result_ok"]
