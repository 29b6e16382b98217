"""The imports limits the sandbox enforces when an import starts, with HubSpot's `Error` bodies: file size, rows
per file (400 TOO_MANY_ROWS with maximumAllowedRows and rowsDetected, as observed), imports and rows per rolling
day; and an upload above the sandbox's generic 10 MB body limit is an import like any other."""

from __future__ import annotations

from typing import Any

import pytest

from dbt_hubspot_sync.sandbox.imports import ImportsConfig, imports_of

from .imports_helpers import ImportSpecChecker, csv_of, fast, session, start, wait_state


@pytest.fixture(scope="module")
def checker() -> ImportSpecChecker:
    return ImportSpecChecker()


@pytest.fixture
def api(sandbox: Any, checker: ImportSpecChecker) -> Any:
    fast(sandbox)
    return session(sandbox, checker)


def _refusal(resp: Any, code: str) -> dict[str, Any]:
    assert resp.status_code == 400, resp.text
    body = resp.json()
    assert body["category"] == "VALIDATION_ERROR" and body["subCategory"] == code, body
    assert body["errors"][0]["code"] == code
    return body


def test_a_file_over_the_row_limit_is_refused_too_many_rows(sandbox: Any, api: Any) -> None:
    imports_of(sandbox).cfg.max_file_rows = 2
    assert start(api, csv_of([("ada@example.com", "a")] * 2)).status_code == 200
    body = _refusal(start(api, csv_of([("ada@example.com", "a")] * 3)), "TOO_MANY_ROWS")
    assert body["context"] == {"maximumAllowedRows": ["2"], "rowsDetected": ["3"]}


def test_a_file_over_the_size_limit_is_refused(sandbox: Any, api: Any) -> None:
    content = csv_of([("ada@example.com", "a" * 40)])
    imports_of(sandbox).cfg.max_file_bytes = len(content) - 1
    body = _refusal(start(api, content), "FILE_TOO_LARGE")
    assert body["context"]["bytesDetected"] == [str(len(content))]


def test_the_daily_import_count_is_a_rolling_day(sandbox: Any, api: Any) -> None:
    state = imports_of(sandbox)
    state.cfg.daily_max_imports = 2
    content = csv_of([("ada@example.com", "a")])
    assert [start(api, content).status_code for _ in range(2)] == [200, 200]
    body = _refusal(start(api, content), "DAILY_IMPORT_LIMIT")
    assert body["context"]["maximumAllowedImports"] == ["2"]
    for job in state.jobs.values():  # a day later
        job.created_ms -= 24 * 3600 * 1000 + 1
    assert start(api, content).status_code == 200


def test_the_daily_row_count_includes_the_new_file(sandbox: Any, api: Any) -> None:
    imports_of(sandbox).cfg.daily_max_rows = 5
    assert start(api, csv_of([("ada@example.com", "a")] * 3)).status_code == 200
    body = _refusal(start(api, csv_of([("bob@example.com", "b")] * 3)), "DAILY_ROW_LIMIT")
    assert body["context"] == {"maximumAllowedRows": ["5"], "rowsDetected": ["6"]}
    assert start(api, csv_of([("bob@example.com", "b")] * 2)).status_code == 200


def test_free_tools_limits() -> None:
    free, paid = ImportsConfig.free(), ImportsConfig()
    assert (free.max_file_bytes, free.daily_max_imports, free.daily_max_rows) == (20 * 2**20, 50, 500_000)
    assert (paid.max_file_bytes, paid.daily_max_imports, paid.daily_max_rows) == (
        512 * 2**20,
        500,
        80_000_000,
    )
    assert free.max_file_rows == paid.max_file_rows == 1_048_576


def test_a_file_above_ten_megabytes_is_imported(sandbox: Any, api: Any) -> None:
    rows = [("ada@example.com", f"Ada {i:07d} " + "x" * 30) for i in range(200_000)]
    content = csv_of(rows)
    assert len(content) > 10 * 1024 * 1024  # the sandbox's body limit for every other endpoint
    resp = start(api, content)
    assert resp.status_code == 200, resp.text[:300]
    done = wait_state(api, resp.json()["id"], ("DONE",), timeout=60)
    assert done["metadata"]["counters"]["UPDATED_OBJECTS"] == 200_000
    by_email = {c["properties"]["email"]: c["properties"] for c in sandbox.contacts()}
    assert by_email["ada@example.com"]["firstname"].startswith("Ada 0199999")
