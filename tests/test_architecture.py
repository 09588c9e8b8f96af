"""The cell side runs inside cells holding old versions: it parses on Python 3.9 and imports
only the standard library, numpy, torch, onnx, onnxruntime, onnxscript and itself. The files
are exactly those that images copy (image.CELL_SIDE), so a probe import that would work in a
venv cell (the whole checkout is on its path) but fail inside an image cannot pass."""

import ast
import sys

import pytest

import matrix
from helpers import ROOT
from matrix.image import CELL_SIDE

PACKAGE = ROOT / "matrix"
FILES = sorted(f for name in CELL_SIDE for f in ([PACKAGE / name] if name.endswith(".py")
                                                 else (PACKAGE / name).rglob("*.py")))
THIRD_PARTY = {"numpy", "torch", "onnx", "onnxruntime", "onnxscript"}
# The model libraries a cell holds where its spec names them: imported inside case builds only, so
# that a cell without them still collects every case (and skips those that need them).
LIBRARIES = {"transformers", "torchvision", "timm"}
ITSELF = tuple(f"matrix.{name.removesuffix('.py')}" for name in CELL_SIDE if name != "__init__.py")


def imports(path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            # `from matrix import Case` names what it takes from the package's __init__
            yield from (f"matrix.{a.name}" for a in node.names) if node.module == "matrix" else [node.module]


def allowed(name):
    top = name.split(".")[0]
    public = name.startswith("matrix.") and name.split(".")[1] in matrix.__all__  # the Case API, in __init__
    return top in sys.stdlib_module_names or top in THIRD_PARTY | LIBRARIES or name.startswith(ITSELF) or public


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_cell_side_parses_on_python_39(path):
    ast.parse(path.read_text(), feature_version=(3, 9))


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_cell_side_imports_only_what_cells_have(path):
    for name in imports(path):
        assert allowed(name), f"{path.relative_to(ROOT)} imports {name}"


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_model_libraries_are_imported_inside_functions_only(path):
    tree = ast.parse(path.read_text())
    top_level = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    names = [a.name for n in top_level for a in n.names] + [n.module or "" for n in top_level
                                                             if isinstance(n, ast.ImportFrom)]
    assert not [n for n in names if n.split(".")[0] in LIBRARIES], f"{path.relative_to(ROOT)}: a module-level import"


def test_the_allow_list_refuses_the_orchestrator():
    assert allowed("matrix.probe.status") and allowed("matrix.Case") and allowed("torch.onnx") and allowed("json")
    assert not allowed("matrix.plan") and not allowed("matrix.report") and not allowed("pandas")


def module_imports():
    """{module: the matrix modules it imports at load time (top level, not inside functions)}."""
    graph = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found = set()
        for node in ast.parse(path.read_text()).body:  # module level only: lazy imports cannot cycle at load
            if isinstance(node, ast.Import):
                found |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
        graph[name] = found
    return {m: {i for i in found if i in graph and i != m} for m, found in graph.items()}


def cycles(graph):
    """Each import cycle found by a depth-first walk (a module importing its own package does not count)."""
    state, found = {}, []

    def visit(module, stack):
        state[module] = "open"
        for other in sorted(graph[module]):
            if state.get(other) == "open" and not module.startswith(other + "."):
                found.append(stack[stack.index(other):] + [other])
            elif other not in state:
                visit(other, stack + [other])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    return found


def test_no_import_cycles():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]  # the walk does find one
    assert cycles(module_imports()) == []
