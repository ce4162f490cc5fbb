"""Imports point down the layers of docs/architecture.md; no circles within a layer.

Every import of every colframe module counts: module level, inside functions and
under ``if TYPE_CHECKING:`` (a type-only import is still a dependency of the code).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "colframe"

# Lowest first; a module may import from its own layer (without a circle) and any below.
# A name matches a module, or a package and everything under it. Keep in step with
# the "Layers" section of docs/architecture.md.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("bottom", ("colframe.errors", "colframe.results", "colframe.extras")),
    (
        "pure",
        (
            "colframe.fileset",
            "colframe.plan",
            "colframe.preprocess",
            "colframe._tree_head",
            "colframe._openfiles",
            "colframe._work",
            "colframe.decompression",
            "colframe.accumulate",
            "colframe.serialize",
            "colframe.hist",
            "colframe.envs",
            "colframe.processor_abc",
            "colframe.progress",
            "colframe.report",
        ),
    ),
    ("executors", ("colframe.executors",)),
    ("schedule", ("colframe.schedule", "colframe.checkpoint", "colframe.rerun", "colframe.config")),
    ("runner", ("colframe.runner", "colframe.dask_awkward")),
    (
        "entry",
        (
            "colframe.cli",
            "colframe.__main__",
            "colframe",
            "colframe.processor",
            "colframe._coffea_executors",
        ),
    ),
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer_of(module: str) -> int:
    best, best_len = None, -1
    for index, (_, names) in enumerate(LAYERS):
        for name in names:
            # a name is a module or a package with everything under it; "colframe" (the
            # package's __init__, which re-exports the API) only itself
            under = module.startswith(name + ".") and name != "colframe"
            if (module == name or under) and len(name) > best_len:
                best, best_len = index, len(name)
    if best is None:
        msg = f"{module} is in no layer: add it to LAYERS here and to docs/architecture.md"
        raise AssertionError(msg)
    return best


def imports_of(module: str) -> set[str]:
    """The modules ``module`` imports, anywhere in it."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    return imports_in(path.read_text(), package)


def imports_in(source: str, package: str) -> set[str]:
    """Absolute names of what ``source`` (a module of ``package``) imports, anywhere in it."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            # ``from . import serialize`` imports the submodule, not the package
            subs = {f"{target}.{a.name}" for a in node.names} & MODULES.keys()
            found.update(subs or {target})
    return found


GRAPH = {
    module: {dep for dep in imports_of(module) if dep.split(".")[0] == "colframe"}
    for module in MODULES
}


def test_every_module_has_a_layer():
    for module in MODULES:
        layer_of(module)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down(module):
    mine = layer_of(module)
    upward = [
        f"{dep} (layer {LAYERS[layer_of(dep)][0]})"
        for dep in sorted(GRAPH[module])
        if dep in MODULES and layer_of(dep) > mine
    ]
    assert not upward, f"{module} (layer {LAYERS[mine][0]}) imports from above: {upward}"


def test_library_does_not_import_repository_folders():
    """benchmarks/ and processors/ stay in the repository, out of the wheel and the library."""
    for module in MODULES:
        tops = {dep.split(".")[0] for dep in imports_of(module)}
        assert not tops & {"benchmarks", "processors"}, module


def test_no_circles():
    """Tarjan's strongly connected components of the import graph: each must be one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for dep in GRAPH.get(node, ()):
            if dep not in MODULES:
                continue
            if dep not in index:
                visit(dep)
                low[node] = min(low[node], low[dep])
            elif dep in on_stack:
                low[node] = min(low[node], index[dep])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for module in sorted(MODULES):
        if module not in index:
            visit(module)
    assert not circles, f"import circles: {circles}"


def test_the_check_sees_function_level_and_type_only_imports():
    """Imports inside functions and under TYPE_CHECKING count; ``from . import m`` is module m."""
    source = (
        "from typing import TYPE_CHECKING\n"
        "from . import serialize\n"
        "from .hist import SparseHist\n"
        "if TYPE_CHECKING:\n    from .runner import Runner\n"
        "def f():\n    from ..colframe import schedule\n    import colframe.cli\n"
    )
    assert imports_in(source, "colframe") == {
        "typing",
        "colframe.serialize",
        "colframe.hist",
        "colframe.runner",
        "colframe.schedule",
        "colframe.cli",
    }
    assert "colframe.hist._wire" not in GRAPH["colframe.serialize"]  # the public seam
