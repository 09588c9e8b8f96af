"""The `onnx-node` suite: ONNX's own node tests (one operator each, with inputs and the expected
outputs) as bundles, so every onnxruntime of the run checks them like an exported model.

They come from the export side's onnx: files in its wheel up to onnx 1.22, built in memory by
`onnx.backend.test.loader.load_model_tests(kind="node")` from 1.23 on (the loader reads the files
where they exist). Expected outputs and tolerances are the tests' own (ONNX's runner compares
with rtol 1e-3, atol 1e-7 unless a test says otherwise). Nothing is exported: the suite's
exporter is "onnx" and its opset the test's.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

from matrix.probe.case import Case, NotAModel

EXPORTER = "onnx"  # results of the suite: written by ONNX's test suite, not exported from torch
# What a bundle's reader holds (repro.DTYPES, numpy only on the runtime side): TensorProto types.
READABLE = {1: "float", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 7: "int64", 9: "bool",
            10: "float16", 11: "double", 12: "uint32", 13: "uint64", 14: "complex64", 15: "complex128",
            16: "bfloat16"}


@dataclass(frozen=True)
class NodeTest(Case):
    """A node test: its build writes the bundle's model and data itself (writes(workdir))."""

    exporters: Tuple[str, ...] = (EXPORTER,)

    def writes(self, workdir: str) -> Dict[str, Any]:
        return write(self.id.split("/", 1)[1], workdir)


def cases() -> List[Case]:
    return [NodeTest(id=f"onnx-node/{test.name}", build=_no_model, description=f"ONNX node test {test.name}",
                     rtol=test.rtol, atol=test.atol, devices=("cpu", "cuda"), suite="onnx-node")
            for test in _tests()]


def _no_model() -> Any:
    raise NotAModel("a node test has no torch model: its bundle is written from ONNX's test data")


@functools.lru_cache(maxsize=1)  # built once in the export side, before its children fork
def _tests() -> List[Any]:
    import warnings

    from onnx.backend.test.loader import load_model_tests

    with warnings.catch_warnings():  # building the tests' data overflows casts on purpose
        warnings.simplefilter("ignore")
        return load_model_tests(kind="node")


def write(name: str, workdir: str) -> Dict[str, Any]:
    """The test's model.onnx and test_data_set_0 in workdir (tensors re-written in the bundle's
    form); the bundle's description of its data. NotAModel where the bundle cannot hold it."""
    import onnx
    from onnx import numpy_helper

    from matrix.probe import bundle

    test = next((t for t in _tests() if t.name == name), None)
    if test is None:
        raise NotAModel(f"onnx {onnx.__version__} has no node test {name}")
    model = test.model if test.model is not None else onnx.load(os.path.join(test.model_dir, "model.onnx"))
    graph = model.graph
    initializers = {i.name for i in graph.initializer}
    fed = [i for i in graph.input if i.name not in initializers]
    for value in list(fed) + list(graph.output):
        reason = _unreadable(value)
        if reason:
            raise NotAModel(reason)
    inputs, outputs = _data(test, numpy_helper)
    onnx.save(model, os.path.join(workdir, bundle.MODEL))
    bundle.write_data_set(workdir, 0, [(v.name, a, False) for v, a in zip(fed, inputs)],
                          [(v.name, a, False) for v, a in zip(graph.output, outputs)])
    return {"rtol": test.rtol, "atol": test.atol, "dynamic": None, "widened": False, "args": len(fed), "kwargs": [],
            "call": None, "source": "files" if test.model_dir else "memory",
            "op_types": sorted({(f"{n.domain}:" if n.domain not in ("", "ai.onnx") else "") + n.op_type
                                for n in graph.node})}


def _unreadable(value: Any) -> Optional[str]:
    kind = value.type.WhichOneof("value")
    if kind != "tensor_type":
        return f"{value.name} is a {kind.replace('_type', '')}: a bundle holds tensors only"
    elem = value.type.tensor_type.elem_type
    if elem not in READABLE or elem == 16:
        import onnx

        return (f"{value.name} is {onnx.TensorProto.DataType.Name(elem).lower()}: a bundle's reader "
                "(numpy, no onnx) holds no such tensor")
    return None


def _data(test: Any, numpy_helper: Any) -> Tuple[List[Any], List[Any]]:
    """The first data set's inputs and expected outputs, as numpy arrays."""
    import numpy as np

    if test.data_sets:
        inputs, outputs = test.data_sets[0]
        return ([numpy_helper.to_array(x) if hasattr(x, "data_type") else np.asarray(x) for x in inputs],
                [numpy_helper.to_array(x) if hasattr(x, "data_type") else np.asarray(x) for x in outputs])
    import onnx

    folder = os.path.join(test.model_dir, "test_data_set_0")

    def read(prefix: str) -> List[Any]:
        names = sorted((f for f in os.listdir(folder) if f.startswith(prefix)),
                       key=lambda f: int(f[len(prefix) + 1:-3]))
        return [numpy_helper.to_array(onnx.load_tensor(os.path.join(folder, f))) for f in names]

    return read("input"), read("output")


