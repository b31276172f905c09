"""The import structure of lors_search, read from the source with `ast` (every `import` the code executes:
module level and inside functions; names imported under `if TYPE_CHECKING:` only annotate and are left out):
no cycle between modules, and no module imports a layer above its own.

The layers, bottom to top. A module belongs to the layer of the longest prefix listed; it may import its own
layer and those below. `lors_search.merging` (the maths, per-tensor methods, plans and params) imports nothing
above itself; its `service` (load -> validate -> prepare -> merge) sits above the checkpoints and the Whisper
helpers it loads with. Nothing imports `lors_search.cli`.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "lors_search"

LAYERS: tuple[tuple[str, ...], ...] = (
    ("lors_search", "lors_search.errors"),  # the version and UserError
    ("lors_search.fsutil",),
    ("lors_search.merging",),  # tensors in, tensors out; no I/O
    ("lors_search.checkpoints",),  # reading and writing Whisper checkpoints (tensor names from merging)
    # Models and data: the Whisper helpers, audio features, training targets, decoding and scores.
    ("lors_search.whisper", "lors_search.speech", "lors_search.training", "lors_search.evaluation"),
    ("lors_search.merge_config", "lors_search.merging.service"),  # a merge as a file; the merge service
    ("lors_search.space",),  # search spaces: validated data, compiled once
    ("lors_search.rundir",),  # the run directory's files
    ("lors_search.console",),
    ("lors_search.runtime",),  # Ray actors: experts, workers
    ("lors_search.search",),  # Ray Tune + Optuna over the runtime
    ("lors_search.export",),
    ("lors_search.report",),
    ("lors_search.demo",),  # the embedded benchmark and the main job
    ("lors_search.cli", "lors_search.__main__"),
)


def _modules() -> dict[str, Path]:
    out = {}
    for file in PACKAGE.rglob("*.py"):
        parts = list(file.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = file
    return out


MODULES = _modules()


def _type_checking_only(tree: ast.AST) -> set[int]:
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(inner) for statement in node.body for inner in ast.walk(statement))
    return skipped


def _owner(name: str) -> str | None:
    """The module of ours that `name` (a module, or a name inside one) lives in."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(module: str) -> set[str]:
    """The modules of lors_search that `module` imports when it runs (`from pkg import submodule` counts as
    the submodule, not the package's __init__)."""
    file = MODULES[module]
    tree = ast.parse(file.read_text(encoding="utf-8"))
    skipped = _type_checking_only(tree)
    here = module if file.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = here.split(".")[: len(here.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names]
        else:
            continue
        for name in names:
            owner = _owner(name) if name.startswith("lors_search") else None
            if owner is not None and owner != module:
                found.add(owner)
    return found


GRAPH = {module: imports_of(module) for module in MODULES}


def layer(module: str) -> int:
    best, level = -1, -1
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, level = len(prefix), index
    assert level >= 0, f"{module} is in no layer of LAYERS; add it"
    return level


def test_every_module_has_a_layer() -> None:
    for module in MODULES:
        layer(module)


def test_no_module_imports_a_layer_above_its_own() -> None:
    upward = sorted(
        f"{module} (layer {layer(module)}) imports {target} (layer {layer(target)})"
        for module, targets in GRAPH.items()
        for target in targets
        if layer(target) > layer(module)
    )
    assert not upward, "upward imports:\n" + "\n".join(upward)


def test_nothing_imports_the_cli() -> None:
    importers = sorted(
        f"{module} imports {target}"
        for module, targets in GRAPH.items()
        for target in targets
        if target.split(".")[:2] == ["lors_search", "cli"] and module.split(".")[:2] != ["lors_search", "cli"]
        and module != "lors_search.__main__"
    )
    assert not importers, "\n".join(importers)


def test_no_import_cycle_between_modules() -> None:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(module: str) -> None:  # Tarjan's strongly connected components
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in sorted(GRAPH[module]):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(GRAPH):
        if module not in index:
            visit(module)
    assert not cycles, "import cycles: " + "; ".join(" <-> ".join(cycle) for cycle in cycles)


def test_the_walk_sees_function_level_imports() -> None:
    # The CLI imports its commands' libraries inside functions: the graph must hold them.
    assert {"lors_search.space.loading", "lors_search.space"} & GRAPH["lors_search.cli.search"]
