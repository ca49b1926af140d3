"""The layout rules ARCHITECTURE.md states, checked on the source: no import cycle among the project's modules,
the core never imports the edge (but for the launcher), a domain's service module is imported by server/app.py
alone, and every contract service is wired there explicitly."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import contract.services
from server.app import SERVICES

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("server", "edge", "contract")


def _name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_name(path): path for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))}


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported(node: ast.AST, module: str, package: bool, types: bool) -> Iterator[str]:
    """Every name a module imports when it runs (in functions too), and with `types` what only type checkers
    read (`if TYPE_CHECKING:`)."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _type_checking(child) and not types:
            for branch in child.orelse:
                yield from _imported(branch, module, package, types)
            continue
        if isinstance(child, ast.Import):
            yield from (alias.name for alias in child.names)
        elif isinstance(child, ast.ImportFrom):
            base = child.module or ""
            if child.level:
                parts = module.split(".") if package else module.split(".")[:-1]
                parts = parts[: len(parts) - child.level + 1]
                base = ".".join([*parts, *([child.module] if child.module else [])])
            yield base
            yield from (f"{base}.{alias.name}" for alias in child.names)
        yield from _imported(child, module, package, types)


def _dependencies(module: str, types: bool = False) -> set[str]:
    """The project's modules `module` makes Python run: each imported module, and the packages above it."""
    path = MODULES[module]
    found: set[str] = set()
    for name in _imported(ast.parse(path.read_text()), module, path.name == "__init__.py", types):
        parts = name.split(".")
        for end in range(1, len(parts) + 1):
            if ".".join(parts[:end]) in MODULES:
                found.add(".".join(parts[:end]))
    found.discard(module)
    return found


GRAPH = {module: _dependencies(module) for module in MODULES}
# With the imports only type checkers read: a cycle there is still two modules that cannot be read apart.
TYPED_GRAPH = {module: _dependencies(module, types=True) for module in MODULES}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_the_graph_sees_the_project() -> None:
    assert {"server.app", "server.chat.turn", "edge.ws", "contract.services"} <= set(GRAPH)
    assert "server.chat.opening" in GRAPH["server.chat.turn"]
    assert "server.workers.heartbeat" in GRAPH["server.workers"]
    assert "server.deps" in TYPED_GRAPH["server.chat.memories"] and "server.deps" not in GRAPH["server.chat.memories"]


def test_no_import_cycle_among_the_projects_modules() -> None:
    assert _cycles(GRAPH) == []
    assert _cycles(TYPED_GRAPH) == []


def test_the_core_never_imports_the_edge_but_for_the_launcher() -> None:
    importers = sorted(
        m
        for m, deps in GRAPH.items()
        if m.startswith("server") and any(d == "edge" or d.startswith("edge.") for d in deps)
    )
    assert importers == ["server.cli"]


def test_the_contract_imports_neither_the_core_nor_the_edge() -> None:
    assert [
        m for m, deps in GRAPH.items() if m.startswith("contract") and any(not d.startswith("contract") for d in deps)
    ] == []


def test_service_modules_are_imported_by_the_core_assembly_alone() -> None:
    importers = {
        module: sorted(d for d in deps if d.startswith("server.") and d.endswith(".service"))
        for module, deps in GRAPH.items()
    }
    assert {m: deps for m, deps in importers.items() if deps and m != "server.app"} == {}


def test_every_contract_service_is_wired_explicitly() -> None:
    assert sorted(SERVICES) == sorted(s.full_name for s in contract.services.services())


def test_no_package_scanning_outside_the_contract() -> None:
    scanners = [m for m, path in MODULES.items() if "pkgutil" in path.read_text() and not m.startswith("contract")]
    assert scanners == []
