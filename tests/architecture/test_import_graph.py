"""The platform's import graph, read from its own source (every ``import``, at any depth, and every URLconf
``include("...")``), stays one-way:

1. no two modules import each other, directly or through others;
2. between apps, dependencies form no circle. The project package ``hftplatform`` is two things: its kernel
   (errors, fields, the API's error format, the base consumer, embedded servers…) sits below every app and imports
   none; its composition root (:data:`COMPOSITION_ROOT`: URLconfs, websocket routing, the demo) sits above them all;
3. inside an app, its components form no circle. A component is the app itself or one of its feature sub-packages
   (``vaults.custody``, ``marketdata.leadlag``, ``orderbook.l2``…) or its pure ``core/``, which everything above
   may import; a folder that is only a room of the app (:data:`ROOMS`: ``services/``, ``models/``, ``api/``…)
   belongs to the component it sits in. The project package counts as its kernel and its composition root.

A new circle fails here with the imports that close it.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[2]
PACKAGES = ("hftplatform", "chains", "accounts", "marketdata", "orderbook", "strategies", "vaults", "fees")
PROJECT = "hftplatform"
# Modules of the project package that wire the apps together: the only ones allowed to import them.
COMPOSITION_ROOT = frozenset(
    {
        "hftplatform.urls",
        "hftplatform.api.urls",
        "hftplatform.routing",
        "hftplatform.asgi",
        "hftplatform.demo",
        "hftplatform.demo_chain",
        "hftplatform.management.commands.demo",
    }
)
# Folders that are rooms of the component they sit in (DESIGN.md, "Inside an app"), not components of their own.
# A pure ``core/`` is not among them: it is the bottom of its app, a component that imports nothing above it.
ROOMS = frozenset({"api", "models", "services", "selectors", "views", "management", "commands", "templatetags"})

Graph = dict[str, dict[str, list[str]]]  # module -> imported module -> where (file:line)


def _modules() -> dict[str, Path]:
    modules = {}
    for package in PACKAGES:
        for path in sorted((REPOSITORY / package).rglob("*.py")):
            relative = path.relative_to(REPOSITORY).with_suffix("")
            if "migrations" in relative.parts:
                continue
            name = ".".join(relative.parts)
            modules[name.removesuffix(".__init__")] = path
    return modules


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str, path: Path, modules: dict[str, Path]) -> list[tuple[str, int]]:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[str, int]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            for alias in node.names:
                # ``from package import submodule`` depends on the submodule, not on the package's __init__.
                submodule = f"{base}.{alias.name}"
                found.append((submodule if submodule in modules else base, node.lineno))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "include"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append((node.args[0].value, node.lineno))
    return found


def import_graph() -> Graph:
    modules = _modules()
    graph: Graph = {module: {} for module in modules}
    for module, path in modules.items():
        for target, line in _imports(module, path, modules):
            resolved = _resolve(target, modules)
            if resolved is not None and resolved != module:
                where = f"{path.relative_to(REPOSITORY)}:{line}"
                graph[module].setdefault(resolved, []).append(where)
    return graph


def _circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, targets = work[-1]
            for target in targets:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(edges.get(target, ())))))
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        circles.append(sorted(component))
    return circles


def _collapsed(graph: Graph, unit_of: dict[str, str]) -> tuple[dict[str, set[str]], dict[tuple[str, str], list[str]]]:
    edges: dict[str, set[str]] = defaultdict(set)
    evidence: dict[tuple[str, str], list[str]] = defaultdict(list)
    for module, targets in graph.items():
        for target, places in targets.items():
            a, b = unit_of[module], unit_of[target]
            if a != b:
                edges[a].add(b)
                evidence[(a, b)] += [f"{module} -> {target} ({place})" for place in places]
    for unit in set(unit_of.values()):
        edges.setdefault(unit, set())
    return edges, evidence


def _report(circles: list[list[str]], edges: dict[str, set[str]], evidence: dict[tuple[str, str], list[str]]) -> str:
    lines = []
    for circle in circles:
        lines.append("circle: " + " <-> ".join(circle))
        for a in circle:
            for b in sorted(edges[a] & set(circle)):
                lines += [f"    {a} -> {b}: {item}" for item in list(dict.fromkeys(evidence[(a, b)]))[:5]]
    return "\n".join(lines)


def app_of(module: str) -> str:
    top = module.split(".")[0]
    if top == PROJECT:
        return f"{PROJECT} (composition root)" if module in COMPOSITION_ROOT else f"{PROJECT} (kernel)"
    return top


def component_of(module: str, packages: set[str]) -> str:
    if module.split(".")[0] == PROJECT:
        return app_of(module)
    parts = module.split(".")
    component = parts[0]
    for depth in range(2, len(parts) + 1):
        prefix = ".".join(parts[:depth])
        if prefix not in packages or parts[depth - 1] in ROOMS:
            break
        component = prefix
    return component


@pytest.fixture(scope="module")
def graph() -> Graph:
    return import_graph()


def test_the_graph_is_read(graph: Graph) -> None:
    # a reader that found nothing would pass every check below
    assert len(graph) > 150
    assert "vaults.models" in graph["vaults.services.deposits"]
    assert "marketdata.models" in graph["marketdata.selectors"]
    assert "vaults.api_urls" in graph["hftplatform.api.urls"]  # include("...") counts


def test_no_module_imports_itself_through_others(graph: Graph) -> None:
    edges = {module: set(targets) for module, targets in graph.items()}
    circles = _circles(edges)
    assert not circles, _report(circles, edges, {(a, b): graph[a][b] for a in graph for b in graph[a]})


def test_apps_depend_on_each_other_one_way(graph: Graph) -> None:
    edges, evidence = _collapsed(graph, {module: app_of(module) for module in graph})
    circles = _circles(edges)
    assert not circles, _report(circles, edges, evidence)
    # the project's kernel is below every app: it imports none
    assert edges[f"{PROJECT} (kernel)"] <= {"chains"}, evidence


def test_the_components_of_each_app_depend_on_each_other_one_way(graph: Graph) -> None:
    packages = {module for module in graph if (REPOSITORY / module.replace(".", "/") / "__init__.py").exists()}
    edges, evidence = _collapsed(graph, {module: component_of(module, packages) for module in graph})
    circles = _circles(edges)
    assert not circles, _report(circles, edges, evidence)


@pytest.mark.parametrize(
    ("module", "component"),
    [
        ("vaults.services.deposits", "vaults"),
        ("vaults.models.custody", "vaults"),
        ("vaults.custody.selectors", "vaults.custody"),
        ("marketdata.api.klines", "marketdata"),
        ("marketdata.core.leadlag.analysis", "marketdata.core.leadlag"),
        ("orderbook.l2.binance", "orderbook.l2"),
        ("fees.core.vault", "fees.core"),
        ("hftplatform.api.urls", "hftplatform (composition root)"),
    ],
)
def test_room_folders_belong_to_their_component(graph: Graph, module: str, component: str) -> None:
    packages = {name for name in graph if (REPOSITORY / name.replace(".", "/") / "__init__.py").exists()}
    assert module in graph
    assert component_of(module, packages) == component
