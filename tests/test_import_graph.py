"""The package's import graph has no cycles: every module's imports (at the top, inside functions, and under
TYPE_CHECKING) point one way, so the folders can be read in the order of the flow (docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "dbt_hubspot_sync"
# Cycles still in the house, named so that a new one fails this test and a removed one says to drop it here.
# None: a run's parts plug in through the interface the run declares (engine/parts.py).
KNOWN: set[frozenset[str]] = set()


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _targets(module: str, node: ast.Import | ast.ImportFrom, modules: dict[str, Path]) -> set[str]:
    if isinstance(node, ast.Import):
        names = [a.name.removeprefix("dbt_hubspot_sync.") for a in node.names if a.name.startswith("dbt_hubspot_sync")]
        return {n for n in names if n in modules}
    if node.level == 0:
        if not (node.module or "").startswith("dbt_hubspot_sync"):
            return set()
        base = (node.module or "").removeprefix("dbt_hubspot_sync").lstrip(".")
    else:
        here = module.split(".") if modules[module].name == "__init__.py" else module.split(".")[:-1]
        here = here[: len(here) - (node.level - 1)] if node.level > 1 else here
        base = ".".join([*here, *([node.module] if node.module else [])])
    found = set()
    for alias in node.names:
        name = f"{base}.{alias.name}".lstrip(".")
        found.add(name if name in modules else base)
    # A submodule's import of its own package's __init__ is how a package exposes its parts, not a cycle.
    return {t for t in found if t in modules and t != module and not module.startswith(f"{t}.") and t != ""}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import | ast.ImportFrom):
                graph[module] |= _targets(module, node, modules)
    return graph


def _cycles(graph: dict[str, set[str]]) -> set[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: set[frozenset[str]] = set()

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.add(frozenset(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_the_graph_is_read() -> None:
    graph = _graph()
    assert "hubspot.transport" in graph["hubspot.client"] and "config.sync_config" in graph["config.plan"]


def test_no_import_cycles_but_the_known_ones() -> None:
    assert _cycles(_graph()) == KNOWN


def test_a_cycle_is_found() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == {frozenset({"a", "b", "c"})}
