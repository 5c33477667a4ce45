"""Dependencies point one way: no import cycles, no upward imports, no reaching across packages.

Reads every module's imports from its syntax tree (module-level, inside functions and under
``TYPE_CHECKING`` alike: a type-only import is still a dependency) and checks three rules:

1. packages: ``router`` and ``node`` share only ``herd_contract`` (neither imports the other);
   ``herd_mcp`` and ``herd_cli`` are HTTP clients (no ``router`` or ``node``); ``herd_contract``
   imports none of ours; ``bench`` does not import ``tests``;
2. layers inside ``router``: front ends -> pipeline -> services (scorer, queues, upstream, the
   read models) -> store and HTTP client -> foundation; a module imports its own layer or lower;
3. no cycles anywhere, inside a package included.

``KNOWN_CROSSINGS``, ``KNOWN_UPWARD`` and ``KNOWN_CYCLES`` list the violations the code had when
this test was written. They must only shrink: an entry that no longer occurs fails the test until
it is deleted, so a fix is recorded the moment it lands. A new router module outside the listed
prefixes fails until it is given a layer in ``ROUTER_LAYERS``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("router", "node", "herd_mcp", "herd_cli", "herd_contract", "bench", "tests")

FORBIDDEN: dict[str, tuple[str, ...]] = {
    "router": ("node", "herd_mcp", "herd_cli", "bench", "tests"),
    "node": ("router", "herd_mcp", "herd_cli", "bench", "tests"),
    "herd_mcp": ("router", "node", "herd_cli", "bench", "tests"),
    "herd_cli": ("router", "node", "herd_mcp", "bench", "tests"),
    "herd_contract": ("router", "node", "herd_mcp", "herd_cli", "bench", "tests"),
    "bench": ("tests",),
}
"""Package -> the packages it must never import."""

ALLOWED_CROSSINGS = {("router.cli", "herd_cli")}
"""Deliberate exceptions: the ``herd`` command hands its client subcommands to ``herd_cli``."""

FRONT, PIPELINE, SERVICES, STORAGE, FOUNDATION = range(5)
LAYER_NAMES = ("front ends", "pipeline", "services", "store/http client", "foundation")
ROUTER_LAYERS: dict[str, int] = {
    # front ends: HTTP routes, the parts they are given (built once), the app, the command line
    "router.__main__": FRONT,
    "router.cli": FRONT,
    "router.server": FRONT,
    "router.demo": FRONT,
    "router.app": FRONT,
    "router.api": FRONT,
    "router.parts": FRONT,
    # the pipeline: one request from intake to the last byte, and what drives it
    "router.pipeline": PIPELINE,
    "router.benchmarks": PIPELINE,
    "router.discovery": PIPELINE,
    "router.management": PIPELINE,
    # services the pipeline and the front ends use: scorer, queues, upstream, read models
    "router.scoring": SERVICES,
    "router.latency": SERVICES,
    "router.queues": SERVICES,
    "router.upstream": SERVICES,
    "router.registry": SERVICES,
    "router.fleet_view": SERVICES,
    "router.health": SERVICES,
    "router.recommendations": SERVICES,
    "router.translate": SERVICES,
    "router.weekly": SERVICES,
    "router.events": SERVICES,
    "router.auth": SERVICES,
    "router.node_identity": SERVICES,
    "router.pull_plan": SERVICES,
    "router.demand": SERVICES,
    "router.native": SERVICES,
    "router.unload": SERVICES,
    "router.restorer": SERVICES,
    "router.supervisor": SERVICES,
    "router.metrics": SERVICES,
    "router.backends": SERVICES,
    # storage and the outbound HTTP client
    "router.store": STORAGE,
    "router.http_client": STORAGE,
    # foundation: settings, errors, facts and models anyone may use
    "router": FOUNDATION,
    "router.config": FOUNDATION,
    "router.errors": FOUNDATION,
    "router.catalogue": FOUNDATION,
    "router.model_size": FOUNDATION,
    "router.fleet_status": FOUNDATION,
    "router.traces": FOUNDATION,
    "router.measures": FOUNDATION,
    "router.data_dir": FOUNDATION,
}
"""Module or package -> layer (the longest matching prefix wins)."""

KNOWN_CROSSINGS: set[tuple[str, str]] = set()
"""Imports across packages that existed when the rule was written. Delete each entry as it goes."""

KNOWN_UPWARD: set[tuple[str, str]] = set()
"""Upward imports that existed when the rule was written. Delete each entry as it is fixed."""

KNOWN_CYCLES: list[set[str]] = []
"""Import cycles that existed when the rule was written: each current cycle must lie inside one
of these; an entry that no longer overlaps any cycle must be deleted."""


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def all_modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            found[module_name(path)] = path
    return found


def _targets(
    node: ast.Import | ast.ImportFrom, module: str, path: Path, known: set[str]
) -> Iterator[str]:
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
        return
    base = node.module or ""
    if node.level:
        package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        package = package[: len(package) - (node.level - 1)]
        base = ".".join([*package, base] if base else package)
    for alias in node.names:
        full = f"{base}.{alias.name}"
        yield full if full in known else base


def import_graph() -> dict[str, set[str]]:
    """Module -> the modules of ours it imports (the nearest existing module of each name)."""
    modules = all_modules()
    known = set(modules)
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            for target in _targets(node, module, path, known):
                if target.split(".")[0] not in PACKAGES:
                    continue
                while target not in known and "." in target:
                    target = target.rsplit(".", 1)[0]
                if target != module and target in known:
                    edges.add(target)
        graph[module] = edges
    return graph


def layer_of(module: str) -> int | None:
    best: tuple[int, int] | None = None
    for prefix, layer in ROUTER_LAYERS.items():
        # "router" itself names only the package's __init__; other entries cover their subtree.
        matches = module == prefix or ("." in prefix and module.startswith(prefix + "."))
        if matches and (best is None or len(prefix) > best[0]):
            best = (len(prefix), layer)
    return best[1] if best is not None else None


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[set[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component: set[str] = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(component)
    return found


GRAPH = import_graph()


def test_packages_import_only_what_they_may() -> None:
    crossing = {
        (module, target)
        for module, targets in GRAPH.items()
        for target in targets
        if target.split(".")[0] in FORBIDDEN.get(module.split(".")[0], ())
        and (module, target) not in ALLOWED_CROSSINGS
    }
    assert sorted(crossing - KNOWN_CROSSINGS) == [], "imports across packages"
    assert sorted(KNOWN_CROSSINGS - crossing) == [], "fixed: delete these from KNOWN_CROSSINGS"


def test_every_router_module_has_a_layer() -> None:
    unplaced = sorted(m for m in GRAPH if m.startswith("router") and layer_of(m) is None)
    assert unplaced == [], "give these modules a layer in ROUTER_LAYERS"


def test_router_dependencies_point_down() -> None:
    upward: set[tuple[str, str]] = set()
    for module, targets in GRAPH.items():
        mine = layer_of(module) if module.startswith("router") else None
        for target in targets:
            theirs = layer_of(target) if target.startswith("router") else None
            if mine is not None and theirs is not None and theirs < mine:
                upward.add((module, target))
    new = sorted(
        f"{m} ({LAYER_NAMES[layer_of(m) or 0]}) imports {t} ({LAYER_NAMES[layer_of(t) or 0]})"
        for m, t in upward - KNOWN_UPWARD
    )
    assert new == [], "upward imports"
    fixed = sorted(KNOWN_UPWARD - upward)
    assert fixed == [], "fixed: delete these from KNOWN_UPWARD"


def test_no_import_cycles() -> None:
    found = cycles(GRAPH)
    new = [sorted(c) for c in found if not any(c <= known for known in KNOWN_CYCLES)]
    assert new == [], "import cycles"
    fixed = [sorted(k) for k in KNOWN_CYCLES if not any(c & k for c in found)]
    assert fixed == [], "fixed: delete these from KNOWN_CYCLES"


def test_the_checker_sees_cycles_layers_and_relative_imports() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e"}}
    assert cycles(graph) == [{"a", "b", "c"}]
    assert layer_of("router.store.rollups") == STORAGE
    assert layer_of("router.api.ollama") == FRONT
    assert layer_of("router.apiary") is None
    # ``from .findings import gb`` inside router/health/config_checks.py
    assert "router.health.findings" in GRAPH["router.health.config_checks"]
    # ``from router import health`` names the package router.health, not router
    assert "router.health" in GRAPH["router.management"]
