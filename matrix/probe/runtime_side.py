"""The runtime side of a result: load → run → parity → dynamic, from a bundle, in an environment
with onnxruntime, onnx and numpy (no torch): the model file and eager's outputs at every size are
in the bundle.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Tuple

from matrix.probe import bundle, parity
from matrix.probe.errors import CheckFailed
from matrix.probe.timing import median_ms


class RecordedFailure(Exception):
    """A failure the export side recorded for the runtime side to report at its stage (eager
    failing at a size the dynamic stage tries)."""

    def __init__(self, error: Dict[str, Any]) -> None:
        super().__init__(error.get("message"))
        self.error = error


def providers_for(device: str) -> List[str]:
    import onnxruntime

    available = onnxruntime.get_available_providers()
    if device == "cuda" and "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def feed(session: Any, inputs: List[Tuple[str, Any, bool]]) -> Dict[str, Any]:
    """The data set's inputs that the session asks for; bfloat16 as an OrtValue of its raw bits."""
    import onnxruntime

    wanted = {i.name for i in session.get_inputs()}
    return {name: onnxruntime.OrtValue.ortvalue_from_numpy_with_onnx_type(array, bundle.BFLOAT16) if bf16 else array
            for name, array, bf16 in inputs if name in wanted}


def run_session(session: Any, fed: Dict[str, Any]) -> List[Any]:
    import onnxruntime

    if any(isinstance(v, onnxruntime.OrtValue) for v in fed.values()):
        fed = {k: v if isinstance(v, onnxruntime.OrtValue) else onnxruntime.OrtValue.ortvalue_from_numpy(v)
               for k, v in fed.items()}
        return [v.numpy() for v in session.run_with_ort_values(None, fed)]
    return session.run(None, fed)


def expected(outputs: List[Tuple[str, Any, bool]]) -> List[Tuple[Any, str]]:
    """Eager's outputs as parity compares them: (array, torch dtype name)."""
    return [(bundle.widened(array, bf16), "bfloat16" if bf16 else parity.dtype_name(array))
            for _, array, bf16 in outputs]


def runtime_stages(folder: str, meta: Dict[str, Any], device: str, stages: Any,
                   remedy: Optional[Dict[str, Any]] = None) -> None:
    """Check the bundle in folder with this environment's onnxruntime. Raises at the stage
    (stages.stage) where it fails. A remedy of the model's file rewrites it first (the folder is
    the try's own copy); one of the session sets its options."""
    side, params = (remedy or {}).get("side"), (remedy or {}).get("params") or {}
    stages("load")
    import onnxruntime

    if side == "model":
        rewrite(os.path.join(folder, bundle.MODEL), remedy["remedy"], params)
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    providers = providers_for(device)
    if side == "session" and remedy["remedy"] == "session_no_optimizations":
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
    if side == "session" and params.get("provider"):
        providers = [params["provider"]]
    session = onnxruntime.InferenceSession(os.path.join(folder, bundle.MODEL), options, providers=providers)
    stages.metrics["provider"] = session.get_providers()[0]

    stages("run")
    inputs, outputs = bundle.read_data_set(folder, 0)
    fed = feed(session, inputs)
    actual = run_session(session, fed)
    stages.metrics["ort_ms"] = median_ms(lambda: run_session(session, fed))

    stages("parity")
    figures, failure = parity.measure(expected(outputs), actual, meta.get("rtol"), meta.get("atol"),
                                      bool(meta.get("widened")))
    stages.metrics.update(figures)
    if failure is not None:
        raise failure

    if meta.get("dynamic") is not None:
        stages("dynamic")
        stages.metrics["dynamic_checked"] = _dynamic(folder, meta, session)


def _dynamic(folder: str, meta: Dict[str, Any], session: Any) -> List[Dict[str, Any]]:
    """Run at another size of each declared dimension; a baked-in size fails here."""
    checked = []
    for entry in meta["dynamic"]:
        if entry.get("error"):
            raise RecordedFailure(entry["error"])
        try:
            inputs, outputs = bundle.read_data_set(folder, entry["data_set"])
            figures = parity.compare(expected(outputs), run_session(session, feed(session, inputs)),
                                     meta.get("rtol"), meta.get("atol"), bool(meta.get("widened")))
        except Exception as exc:
            baked = specialised(folder, entry, session)
            if baked:  # declared, yet the exporter wrote it as a constant: say that, not the symptom
                raise CheckFailed("declared_dim_specialized", baked["sentence"], dim=entry["dim"],
                                  size=entry["size"], sizes=entry["sizes"], fixed_at=baked["fixed_at"],
                                  input=baked["input"]) from exc
            exc.matrix_detail = {"dim": entry["dim"], "size": entry["size"],  # type: ignore[attr-defined]
                                 "sizes": entry["sizes"]}
            raise
        checked.append({"dim": entry["dim"], "size": entry["size"], "max_abs_err": figures["max_abs_err"]})
    return checked


def specialised(folder: str, entry: Dict[str, Any], session: Any) -> Optional[Dict[str, Any]]:
    """Where the dimension lives (the axes whose size differs between the example's data and this
    size's), whether the model's input holds a number there instead of a symbol: the exporter
    specialised a dimension the case declared dynamic."""
    example, _ = bundle.read_data_set(folder, 0)
    other, _ = bundle.read_data_set(folder, entry["data_set"])
    declared = {i.name: i.shape for i in session.get_inputs()}
    for (name, before, _), (_, after, _) in zip(example, other):
        shape = declared.get(name) or []
        for axis, (a, b) in enumerate(zip(getattr(before, "shape", ()), getattr(after, "shape", ()))):
            if a != b and axis < len(shape) and isinstance(shape[axis], int):
                return {"input": name, "fixed_at": shape[axis],
                        "sentence": f"the declared dynamic dimension {entry['dim']!r} was exported as the constant "
                                    f"{shape[axis]} (input {name!r}, axis {axis}): the exporter did not honour the "
                                    f"declaration, so size {entry['size']} is refused"}
    return None


def rewrite(path: str, remedy: str, params: Dict[str, Any]) -> None:
    """A model remedy: the exported file at the IR (and opset) the runtime reads, saved in place.
    An IR below what one of the file's opsets needs is refused (onnx's own version table)."""
    import onnx
    from onnx import helper, version_converter

    model = onnx.load(path)
    if remedy == "version_convert":
        model = version_converter.convert_version(model, params["opset"])
    needed = max(helper.find_min_ir_version_for(list(model.opset_import), ignore_unknown=True), 3)
    if needed > params["ir"]:
        raise ValueError(f"IR {params['ir']} cannot hold this model: its opsets need IR {needed} "
                         "(onnx's version table)")
    model.ir_version = params["ir"]
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, path)
