"""The layers import one way: no module of pykeepalived imports itself back through others.

The graph counts every import statement in src/, including those inside functions and under
``TYPE_CHECKING``: a cycle that only type checking closes is still a design cycle (two
modules that know each other's insides).
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = "pykeepalived"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for p in SRC.joinpath(PACKAGE).rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        is_package = path.name == "__init__.py"
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = name.split(".") if is_package else name.split(".")[:-1]
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                # "from pkg import sub" imports the submodule when there is one.
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in files else base
                           for a in node.names]
            for target in targets:
                if target.split(".")[0] != PACKAGE:
                    continue
                while target not in files and "." in target:
                    target = target.rsplit(".", 1)[0]
                if target != name and target in files:
                    graph[name].add(target)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle (as a path that starts and ends at the same module), or None."""
    white, grey, black = 0, 1, 2
    colour = dict.fromkeys(graph, white)
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        colour[node] = grey
        stack.append(node)
        for nxt in sorted(graph[node]):
            if colour[nxt] == grey:
                return [*stack[stack.index(nxt):], nxt]
            if colour[nxt] == white and (found := visit(nxt)) is not None:
                return found
        stack.pop()
        colour[node] = black
        return None

    for start in sorted(graph):
        if colour[start] == white and (found := visit(start)) is not None:
            return found
    return None


def test_the_graph_sees_the_imports_that_matter() -> None:
    graph = import_graph()
    assert "pykeepalived.daemon.driver" in graph
    assert "pykeepalived.core.node" in graph["pykeepalived.daemon.driver"]
    assert "pykeepalived.daemon.runtime" in graph["pykeepalived.daemon.driver"]
    # function-local imports count too
    assert "pykeepalived.daemon.metrics" in graph["pykeepalived.daemon.control"]


def test_cycle_detection_finds_a_planted_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle_in_src() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_core_imports_nothing_above_it() -> None:
    """core/ is the bottom layer: it may import only itself and errors.py."""
    graph = import_graph()
    for module, targets in graph.items():
        if module.startswith("pykeepalived.core"):
            above = {t for t in targets
                     if not t.startswith("pykeepalived.core") and t != "pykeepalived.errors"}
            assert not above, f"{module} imports {sorted(above)}"
