"""duckdb_plugin.py's own rules, isolated: a post-hook push that read fewer rows than the model has is never
`completed` silently; `on_push_error` is the resolved one (vars < template < exposure)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from dbt_hubspot_sync.doors.duckdb_plugin import Plugin
from dbt_hubspot_sync.doors.hook_run import HookRun

CTX: dict[str, Any] = {"exposure": "x", "relation": '"db"."main"."c360"', "email_column": "email"}


def _hook(rows_read: int, *, ended: bool = False) -> HookRun:
    push = SimpleNamespace(run=SimpleNamespace(counters=SimpleNamespace(rows_read=rows_read)), result=None)
    if ended:
        push.result = object()
    return HookRun(CTX, None, push, None)  # type: ignore[arg-type]


def test_a_short_read_is_named_with_both_counts() -> None:
    problem = Plugin._short_read(_hook(0), 612)
    assert problem is not None and problem.startswith("short_read:")
    assert "read 0 of the 612 rows" in problem and CTX["relation"] in problem and "'email'" in problem


@pytest.mark.parametrize(("read", "model", "ended"), [(612, 612, False), (0, 0, False), (3, 612, True)])
def test_a_full_read_or_an_ended_run_is_left_alone(read: int, model: int, ended: bool) -> None:
    assert Plugin._short_read(_hook(read, ended=ended), model) is None


@pytest.mark.parametrize(
    ("meta", "hubspot_vars", "expected"),
    [
        ({}, {}, "warn"),
        ({"template": "t"}, {"templates": {"t": {"on_push_error": "fail"}}}, "fail"),
        ({}, {"on_push_error": "fail"}, "fail"),
        ({"on_push_error": "warn"}, {"on_push_error": "fail"}, "warn"),
        ({"template": "missing"}, {"on_push_error": "fail"}, "warn"),  # the layers do not resolve: warn
    ],
)
def test_on_push_error_of_an_unplanned_hook_is_resolved_from_the_layers(
    meta: dict[str, Any], hubspot_vars: dict[str, Any], expected: str
) -> None:
    hook = HookRun({**CTX, "meta": meta, "vars": hubspot_vars}, None, None, "config error")
    assert Plugin._on_push_error(hook) == expected
