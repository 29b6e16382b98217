"""The forecast's CASE (engine/forecast.py `next_outcome`) is the rows query's
(macros/_internal/_changed_rows_query.sql), pinned on real warehouses through real dbt: for every state, logged
record, duplicate rank and log_records a row can be left with, the warehouse settles, ships or closes a model of
that row exactly as next_outcome says. (A record logged under older validation rules is never one a run leaves
behind for a row it shipped: the query hands it over as RULES_CHANGED and the run logs it afresh; that path:
tests/integration/test_change_detection.py.)
"""

from __future__ import annotations

import itertools
from collections import Counter
from typing import Any

import pytest

from dbt_hubspot_sync.dbt_bridge import open_session
from dbt_hubspot_sync.engine.changes import REJECTED_VIEW, REJECTIONS_TABLE, RULES_VERSION
from dbt_hubspot_sync.engine.forecast import next_outcome
from dbt_hubspot_sync.tables.run_log import utcnow
from dbt_hubspot_sync.tables.state import NOT_FOUND, STATE_TABLE, SyncState

pytestmark = pytest.mark.dbt

SAME, OTHER = "same", "other"  # a state fingerprint equal to the row's, or another one
STATES: list[tuple[Any, Any, Any] | None] = [
    None,
    ("101", "h", SAME),
    ("101", "h", OTHER),
    ("101", "h", None),  # written before the state kept fingerprints
    (None, NOT_FOUND, SAME),
    (None, NOT_FOUND, None),
    ("101", NOT_FOUND, SAME),
]
LOGGED: list[tuple[str, str] | None] = [
    None,
    ("invalid", "INVALID_SYNTAX"),
    ("duplicate", "DUPLICATE_EMAIL"),
    ("duplicate", "DUPLICATE_RECORD"),
    ("not_found", "OBJECT_NOT_FOUND"),
    ("unchanged", "UNCHANGED"),
    ("unchanged", "ALREADY_IN_HUBSPOT"),
    ("failed", "HTTP_5XX"),
]


def _combos() -> list[tuple[int, Any, Any, bool]]:
    return list(itertools.product((1, 2), STATES, LOGGED, (False, True)))


def _rows_query(session: Any, schema: str, model: str, exposure: str, log_all: bool) -> list[tuple]:
    wh = session.warehouse
    changes = {
        "salt": "pinned",
        "rules": RULES_VERSION,
        "trust_not_found": True,
        "log_all": log_all,
        "rejected_relation": wh.relation(schema, REJECTED_VIEW),
        "ship_all": False,
    }
    sql = wh.render(
        "sync_rows_query",
        relation=model,
        email_column="email",
        columns=["p1"],
        state_relation=wh.relation(schema, STATE_TABLE),
        exposure=exposure,
        changes=changes,
    )
    # kind, settled, known, record key, fingerprint, rows
    return wh.execute(
        "select hubspot_sync__kind, hubspot_sync__settled, hubspot_sync__known, hubspot_sync__record_key,"
        f" hubspot_sync__fingerprint, hubspot_sync__rows from ({sql}) as q"
    )


def _warehouse_says(rows: list[tuple]) -> tuple[Counter, set[str]]:
    """(the quiet rows' (outcome, known) counts, the keys of rows shipped or closed) of one rows query."""
    quiet: Counter = Counter()
    loud: set[str] = set()
    for kind, settled, known, key, _fp, n in rows:
        if kind == "count" and settled != "ship":
            quiet[(str(settled), bool(known))] += int(n)
        elif kind in ("row", "closed"):
            loud.add(str(key))
            if kind == "closed":  # counted settled too: its record is closed, a write the next run makes
                quiet[(str(settled), bool(known))] -= 1
    return +quiet, loud


def test_next_outcome_is_the_rows_querys_case(dbt_project) -> None:
    with open_session(str(dbt_project.project_dir), str(dbt_project.project_dir)) as session:
        wh, schema, p = session.warehouse, dbt_project.schema, session.warehouse.placeholder
        wh.create_log_tables(schema)
        model = wh.relation(schema, "forecast_model")
        wh.execute(f"create table {model} (email varchar, p1 varchar)")
        wh.execute(f"insert into {model} values ('fp@example.com', 'v1')")
        [fp] = [r[4] for r in _rows_query(session, schema, model, "fingerprint", False) if r[0] == "row"]
        prints = {SAME: fp, OTHER: "0" * 32, None: None}
        combos = _combos()
        # Each combination is an exposure of its own (c<i>).
        state = SyncState(wh, schema)
        for i, (rank, st, logged, _log_all) in enumerate(combos):
            email = f"x{i}@example.com"
            if st is not None:
                state.record(f"c{i}", "r0", [(email, st[0], st[1], prints[st[2]])])
            if logged is not None:
                wh.execute(
                    f"insert into {wh.relation(schema, REJECTIONS_TABLE)} (exposure_name, record_key, outcome,"
                    f" reason_code, rules_version, run_id, logged_at) values ({p}, {p}, {p}, {p}, {p}, {p}, {p})",
                    [f"c{i}", f"={email}#{rank}", *logged, RULES_VERSION, "r0", utcnow()],
                )
        wh.commit()
        for i, (rank, st, logged, log_all) in enumerate(combos):
            email = f"x{i}@example.com"
            wh.execute(f"delete from {model}")
            # Rank 2: the same cleaned email raw 'X...' comes first in code-point order: it is the row sent.
            for raw in [email.upper(), email] if rank == 2 else [email]:
                wh.execute(f"insert into {model} values ({p}, {p})", [raw, "v1"])
            wh.commit()
            said = _warehouse_says(_rows_query(session, schema, model, f"c{i}", log_all))
            state_row = None if st is None else (st[0], st[1], prints[st[2]])
            quiet: Counter = Counter()
            loud: set[str] = set()
            for r, lg in [(1, None), (2, logged)] if rank == 2 else [(1, logged)]:
                got = next_outcome(r, fp, state_row, lg, log_all=log_all)
                if got is None:
                    loud.add(f"={email}#{r}")
                else:
                    quiet[(got, r == 1 and state_row is not None and state_row[0] is not None)] += 1
            where = f"rank {rank}, state {st}, logged {logged}, log_all {log_all}"
            assert (quiet, loud) == said, f"{where}: next_outcome says {quiet, loud}, the warehouse {said}"
