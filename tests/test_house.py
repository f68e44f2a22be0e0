"""The house: every wing imports on its own, and no module of digest imports itself back, even for typing."""

from __future__ import annotations

import importlib
import subprocess
import sys

import grimp  # import-linter's graph builder: it counts TYPE_CHECKING imports too
import pytest

WINGS = ("content", "selection", "summarize", "render", "archive", "delivery", "state", "schedule", "pipeline", "cli")


def _import_cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    cycles.append(sorted(group))
    return cycles


def test_no_import_circle_anywhere() -> None:
    """No module of digest reaches itself through its imports (TYPE_CHECKING imports included)."""
    assert _import_cycles(grimp.build_graph("digest")) == []


def test_the_cycle_finder_finds_a_circle() -> None:
    """The check above can fail: a graph with a circle is reported."""
    graph = grimp.ImportGraph()
    for name in ("a", "a.x", "a.y", "a.z"):
        graph.add_module(name)
    graph.add_import(importer="a.x", imported="a.y")
    graph.add_import(importer="a.y", imported="a.z")
    graph.add_import(importer="a.z", imported="a.x")
    assert _import_cycles(graph) == [["a.x", "a.y", "a.z"]]


@pytest.mark.parametrize("wing", WINGS)
def test_every_wing_imports_on_its_own(wing: str) -> None:
    """`python -c "import digest.<wing>"` works in a fresh interpreter."""
    done = subprocess.run([sys.executable, "-c", f"import digest.{wing}"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert importlib.import_module(f"digest.{wing}")
