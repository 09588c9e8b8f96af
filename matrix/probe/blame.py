"""Who is to blame for a mismatch or a run_error: the same model and inputs through ONNX's own
reference implementation (onnx.reference.ReferenceEvaluator, the operators' specification in
numpy). It matching eager means onnxruntime computes the graph wrongly; it matching onnxruntime
means the graph itself is not eager's computation (what the exporter wrote).

Needs onnx, onnxruntime and numpy: it runs on the runtime side, from a bundle's files.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Optional

from matrix.probe import bundle, errors, parity
from matrix.probe.runtime_side import expected, feed, providers_for, run_session

STATUSES = ("mismatch", "run_error")
SENTENCES = {
    "runtime": "onnxruntime disagrees with the ONNX reference, which matches eager: the runtime is at fault",
    "exporter": "onnxruntime agrees with the ONNX reference and both differ from eager: the exported graph, computed "
                "as ONNX specifies, is not eager's computation (the exporter changed it, or the ONNX ops' own "
                "precision differs: see the sizes)",
    "undetermined": "the ONNX reference matches neither eager nor onnxruntime",
    "cuda": "onnxruntime agrees with the ONNX reference and both differ from eager on CUDA, where torch may compute "
            "float32 convolutions and matmuls in TF32: compare with eager on the CPU before blaming the exporter",
}


def _difference(want: List[Any], got: List[Any], meta: Dict[str, Any]) -> Dict[str, Any]:
    """Whether `got` matches `want` at the result's tolerance, and by how much it differs."""
    try:
        figures, failure = parity.measure(want, got, meta.get("rtol"), meta.get("atol"), bool(meta.get("widened")))
    except parity.CheckFailed as exc:  # count, shape or dtype: nothing to measure
        return {"matches": False, "why": str(exc)}
    return {"matches": failure is None, "max_abs_err": figures["max_abs_err"],
            "why": None if failure is None else str(failure)}


def verdict(folder: str, meta: Dict[str, Any], device: str) -> Dict[str, Any]:
    """{verdict: runtime | exporter | undetermined, sentence, reference, runtime} for data set 0."""
    from onnx.reference import ReferenceEvaluator

    inputs, outputs = bundle.read_data_set(folder, 0)
    want = expected(outputs)
    if any(bf16 for _, _, bf16 in inputs):
        return {"verdict": "undetermined", "sentence": "the ONNX reference is not run on bfloat16 inputs"}
    path = os.path.join(folder, bundle.MODEL)
    try:
        reference = ReferenceEvaluator(path).run(None, {name: array for name, array, _ in inputs})
    except Exception as exc:  # noqa: BLE001 -- what it says is the finding
        message = errors.first_line(str(exc)) or type(exc).__name__
        return {"verdict": "undetermined", "sentence": f"the ONNX reference cannot run the model: {message[:200]}"}
    against_eager = _difference(want, reference, meta)
    ran: Optional[List[Any]] = None
    try:
        import onnxruntime

        session = onnxruntime.InferenceSession(path, providers=providers_for(device))
        ran = run_session(session, feed(session, inputs))
    except Exception:  # noqa: BLE001 -- a run_error: onnxruntime has no outputs to compare
        ran = None
    against_runtime = _difference([(o, parity.dtype_name(o)) for o in map(_array, reference)], ran, meta) \
        if ran is not None else None
    sentence = None
    if against_eager["matches"]:
        found = "runtime"
    elif against_runtime and against_runtime["matches"]:
        # seen on an H100: ConvNeXt and ResNet-18 off by TF32's error in eager, matched by both
        found, sentence = ("undetermined", SENTENCES["cuda"]) if device == "cuda" else ("exporter", None)
    else:
        found = "undetermined"
    return {"verdict": found, "sentence": sentence or SENTENCES[found], "reference_vs_eager": against_eager,
            "reference_vs_runtime": against_runtime}


def _array(value: Any) -> Any:
    import numpy as np

    return np.asarray(value)
