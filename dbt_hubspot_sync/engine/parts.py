"""How the parts of a run plug into it: `RunPart`, the hooks a run calls on each of its parts in the order of the
flow, and `RunContext`, all a part may see and do of the run it belongs to.

A run (engine/run.py) classifies rows and keeps the counters, the record log and the end state; its parts do the
rest: the import path (engine/imports.py) and the batch push (engine/batch.py) send the candidates, the list
mirror (list_mirror.py) follows the audience. A part depends on this interface only, never on `SyncRun` itself,
so the run imports its parts and no part imports the run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from dbt_hubspot_sync.config.plan import SyncPlan
    from dbt_hubspot_sync.engine.calls import Pushed
    from dbt_hubspot_sync.engine.outcomes import Candidate, Stop
    from dbt_hubspot_sync.hubspot import HubSpotClient
    from dbt_hubspot_sync.tables.run_log import Counters, RunLog, RunRow
    from dbt_hubspot_sync.tables.state import SyncState


class RunContext(Protocol):
    """The run as its parts see it."""

    plan: SyncPlan
    log: RunLog
    client: HubSpotClient | None
    state: SyncState | None  # None in a dry run: nothing is remembered
    counters: Counters
    dry_run: bool
    run: RunRow  # the runs row: run_id, exposure, trigger, ...
    rows_expected: int | None  # the row count, when the caller knows it before the rows
    changes: dict[str, int]  # a dry run's diff: records that would change, per property

    @property
    def stop(self) -> Stop | None:
        """Why nothing more is sent (the first stop wins), or None while the run goes on."""

    @property
    def offline(self) -> bool:
        """The warehouse went away: nothing more is written."""

    def halt(self, stop: Stop) -> None:
        """Stop sending: every later candidate fails with `stop` (unless an earlier stop came first)."""

    def interrupted(self) -> bool:
        """Whether Ctrl-C came (the run then stops `interrupted`)."""

    def wait_interrupted(self, seconds: float) -> bool:
        """Sleep up to `seconds`, waking at a Ctrl-C: whether one came."""

    def send(self, candidate: Candidate) -> None:
        """Hand `candidate` to the first part that takes it (a part gives back what it will not send)."""

    def landed(self, pushed: Pushed) -> None:
        """A batch's answer, for every part to see (the batch push calls it once per batch)."""

    def settle(
        self, c: Candidate, outcome: str, code: str | None, detail: str | None, http_status: int | None = None
    ) -> None:
        """Give `c` its one outcome (a second call for the same candidate is ignored)."""

    def flush_records(self, *, force: bool = False) -> None:
        """Write the record-log rows held (when enough are held, or `force`)."""

    def report(self) -> None:
        """Tell the progress display where the run is."""


class RunPart:
    """One part of a run. The run calls, on every part in order: `begin` before the first row; `row` for each
    classified row; `take` for each candidate until a part takes it; `landed` for each batch HubSpot answered;
    at the end `drain` (send what is held), then `conclude` once the status is known; or `abandon` instead of
    both when the warehouse went away. Every hook but `take` does nothing unless a part overrides it."""

    def begin(self) -> None:
        """Before the first row."""

    def row(self, row: Sequence[Any], got: Any) -> None:
        """A classified row: a Candidate, or its local outcome (outcome, code, detail)."""

    def take(self, candidate: Candidate) -> bool:
        """Whether this part sends `candidate` (then it settles it, now or at `drain`)."""
        return False

    def landed(self, pushed: Pushed) -> None:
        """A batch's answer from HubSpot."""

    def drain(self) -> None:
        """The rows are all read: send what is held and settle it."""

    def conclude(self, status: str, message: str | None) -> tuple[str, str | None]:
        """The run's (status, message) once every row has its outcome; a part may change them."""
        return status, message

    def abandon(self) -> None:
        """The warehouse went away: settle in the counters what is held, write nothing."""
