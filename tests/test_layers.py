"""The library's imports follow the layering docs/ARCHITECTURE.md draws: no cycle, no upward import.

Every ``from .x import`` in helpers/ counts, at module level or inside a function: an import
placed inside a function to dodge a cycle is still the cycle.
"""

import ast
from pathlib import Path

import pytest

HELPERS = Path(__file__).resolve().parents[1] / "helpers"

#: Lower layers never import higher ones (docs/ARCHITECTURE.md, "Layers").
LAYERS = {
    "formatting": 0, "display": 0,
    # the programs that run inside the child (helpers/runner.py's ask() starts them)
    "harness": 0, "probe_child": 0, "tickrate_child": 0, "inspect_child": 0, "memory_child": 0,
    "vmprof_child": 0, "script_runner": 0, "grade_child": 0,
    "nursery": 1, "interpreters": 1,
    "runner": 2, "plots": 2, "disasm": 2,
    "pypylog": 3,
    "stats": 3, "vmprofread": 3, "failures": 3,
    "timing": 4, "pairs": 4, "wheretime": 4, "traceview": 4, "tracemodel": 4, "findings": 4, "reportpage": 4, "traces": 4, "profiling": 4, "objects": 4, "cext": 4,
    "whynot": 4,
    "report": 5, "grade": 5,
    "magics": 6, "cli": 6, "checks": 6, "setup": 6, "__init__": 6, "__main__": 6,
}


def module_name(path: Path) -> str:
    """``helpers/timing.py`` -> "timing"; ``helpers/pypylog/scan.py`` -> "pypylog.scan";
    ``helpers/pypylog/__init__.py`` -> "pypylog"."""
    parts = list(path.relative_to(HELPERS).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


def _target(module: str, path: Path, node: ast.ImportFrom) -> list:
    """The helpers modules one relative import names."""
    in_package = path.name == "__init__.py" and module != "__init__"
    package = module.split(".") if in_package else module.split(".")[:-1]
    base = package[: len(package) - (node.level - 1)]
    if node.module:
        return [".".join(base + [node.module.split(".")[0]])]
    return [".".join(base + [alias.name]) for alias in node.names]


def imports() -> dict:
    """module -> the helpers modules it imports (relative imports, anywhere in the file)."""
    graph = {}
    for path in sorted(HELPERS.rglob("*.py")):
        module = module_name(path)
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level >= 1:
                found.update(_target(module, path, node))
        graph[module] = found - {module}
    return graph


def layer(module: str) -> int:
    """A package's modules share the package's layer."""
    return LAYERS.get(module, LAYERS.get(module.split(".")[0], -1))


def test_every_module_has_a_layer():
    missing = sorted(m for m in imports() if layer(m) < 0)
    assert not missing, f"give {missing} a layer in LAYERS (and in docs/ARCHITECTURE.md)"


@pytest.mark.parametrize("module", sorted(LAYERS))
def test_no_upward_import(module):
    graph = imports()
    if module not in graph:
        pytest.skip(f"{module}.py is gone: drop it from LAYERS")
    upward = sorted(m for m in graph[module] if layer(m) > LAYERS[module])
    assert not upward, (f"helpers/{module}.py (layer {LAYERS[module]}) imports {upward} from a "
                        "higher layer: move the shared piece down instead")


def test_no_import_cycle():
    graph = imports()

    def cycle_from(start):
        stack = [(start, [start])]
        while stack:
            node, path = stack.pop()
            for nxt in graph.get(node, ()):
                if nxt == start:
                    return path + [nxt]
                if nxt not in path:
                    stack.append((nxt, path + [nxt]))
        return None

    cycles = [c for c in map(cycle_from, graph) if c]
    assert not cycles, "import cycle: " + " -> ".join(cycles[0])


def test_the_check_can_fail(tmp_path):
    """The cycle and layer checks see an import inside a function."""
    fake = tmp_path / "helpers"
    fake.mkdir()
    (fake / "plots.py").write_text("def f():\n    from .timing import race\n")
    (fake / "timing.py").write_text("from .plots import f\n")
    globals()["HELPERS"] = fake
    try:
        graph = imports()
        assert graph == {"plots": {"timing"}, "timing": {"plots"}}
        with pytest.raises(AssertionError, match="higher layer"):
            test_no_upward_import("plots")
        with pytest.raises(AssertionError, match="import cycle"):
            test_no_import_cycle()
    finally:
        globals()["HELPERS"] = HELPERS_REAL


HELPERS_REAL = HELPERS


#: The only imports allowed inside a function: the matplotlib module (heavy, and only needed when
#: a figure is drawn) and the package's lazy hook for the cell magics.
LAZY_OK = {("plots", None), ("magics", "__init__")}


def test_imports_are_at_module_level():
    late = []
    for path in sorted(HELPERS.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        top = {id(n) for n in tree.body}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level >= 1 and id(node) not in top:
                name = (node.module or "").split(".")[0]
                if (name, None) not in LAZY_OK and (name, path.stem) not in LAZY_OK:
                    late.append(f"{path.name}:{node.lineno} from .{name}")
    assert not late, "imports inside functions (move them to the top): " + ", ".join(late)
