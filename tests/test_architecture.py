"""The probe runs inside cells holding old versions: it parses on Python 3.9 and imports
only the standard library, numpy, torch, onnx, onnxruntime and onnxscript."""

import ast
import sys

import pytest

from conftest import ROOT

CELL_SIDE = sorted([*(ROOT / "matrix" / "probe").rglob("*.py"), *(ROOT / "matrix" / "cases").rglob("*.py"),
                    ROOT / "matrix" / "case.py", ROOT / "matrix" / "status.py", ROOT / "matrix" / "__init__.py"])
ALLOWED = {"numpy", "torch", "onnx", "onnxruntime", "onnxscript", "matrix"}
ORCHESTRATOR_ONLY = {"matrix.cli", "matrix.here", "matrix.progress", "matrix.bench", "matrix.runners"}


def imports(path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            yield node.module


@pytest.mark.parametrize("path", CELL_SIDE, ids=lambda p: str(p.relative_to(ROOT)))
def test_cell_side_parses_on_python_39(path):
    ast.parse(path.read_text(), feature_version=(3, 9))


@pytest.mark.parametrize("path", CELL_SIDE, ids=lambda p: str(p.relative_to(ROOT)))
def test_cell_side_imports_only_what_cells_have(path):
    for name in imports(path):
        top = name.split(".")[0]
        assert top in sys.stdlib_module_names or top in ALLOWED, f"{path.name} imports {name}"
        assert not any(name == o or name.startswith(o + ".") for o in ORCHESTRATOR_ONLY), f"{path.name} imports {name}"
