"""The project's import graph (issue 24): no import circles, whether the import sits at the top
of a module or inside a function (a function-level import only hides a circle, it does not
break it). Read from the source with ``ast``, so new files are covered at once."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("core", "model", "widgets", "app")
# Circles not yet taken apart: each entry must go, never grow (issue 24). None are left.
KNOWN: set[frozenset[str]] = set()


def module_graph() -> dict[str, set[str]]:
    files = {}
    for pkg in PACKAGES:
        for f in (REPO / pkg).rglob("*.py"):
            name = ".".join(f.relative_to(REPO).with_suffix("").parts)
            files[name.removesuffix(".__init__")] = f
    graph: dict[str, set[str]] = {m: set() for m in files}
    for mod, f in files.items():
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                graph[mod].update(a.name for a in node.names if a.name in files)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                if node.module in files:
                    graph[mod].add(node.module)
                graph[mod].update(
                    f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in files
                )
    for mod in graph:
        graph[mod].discard(mod)
    return graph


def circles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[frozenset[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
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
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                comp = set()
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.add(w)
                    if w == node:
                        break
                if len(comp) > 1:
                    out.append(frozenset(comp))
    return out


def test_the_finder_sees_a_circle_hidden_in_a_function() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert circles(graph) == [frozenset({"a", "b", "c"})]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_no_new_import_circles() -> None:
    found = set(circles(module_graph()))
    assert found - KNOWN == set(), f"new import circles: {sorted(map(sorted, found - KNOWN))}"
    gone = KNOWN - found
    assert not gone, f"circles taken apart: remove them from KNOWN: {sorted(map(sorted, gone))}"


def levels(graph: dict[str, set[str]], package: str) -> dict[str, int]:
    """Floor of each module of ``package`` counting imports inside the package only: 1 for a
    module that imports none of its package, else 1 + the highest floor it imports."""
    inner = {m: {d for d in deps if d.split(".")[0] == package} for m, deps in graph.items()
             if m.split(".")[0] == package}  # fmt: skip
    floor: dict[str, int] = {}

    def visit(m: str) -> int:
        if m not in floor:
            floor[m] = 0  # a circle would recurse forever; the circle test reports those
            floor[m] = 1 + max((visit(d) for d in inner[m]), default=0)
        return floor[m]

    for m in inner:
        visit(m)
    return floor


def test_levels_are_counted_by_hand() -> None:
    graph = {"p.a": {"p.b", "q.x"}, "p.b": {"p.c"}, "p.c": set(), "q.x": set()}
    assert levels(graph, "p") == {"p.a": 3, "p.b": 2, "p.c": 1}


# Floors today (issue 24 asks for <= 5 once core/ and model/ are split into layers): a ratchet,
# so that no change adds a floor meanwhile.
MAX_LEVELS = {"core": 5, "model": 5, "widgets": 5, "app": 6}


def test_no_package_grows_a_floor() -> None:
    graph = module_graph()
    for pkg, most in MAX_LEVELS.items():
        assert max(levels(graph, pkg).values()) <= most, pkg
