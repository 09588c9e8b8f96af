"""Compare ONNX Runtime's outputs with eager PyTorch's."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from matrix.probe.errors import CheckFailed

# (rtol, atol) per dtype; integers and bools are compared exactly.
TOLERANCES: Dict[str, Tuple[float, float]] = {
    "float64": (1e-7, 1e-9),
    "float32": (1e-4, 1e-5),
    "float16": (1e-2, 1e-3),
    "bfloat16": (1e-2, 1e-3),
}
REAL_OF_COMPLEX = {"complex64": "float32", "complex128": "float64"}


def tolerance(dtype: str, rtol: Optional[float] = None, atol: Optional[float] = None) -> Tuple[float, float]:
    """(rtol, atol) for an output of this torch dtype name: the case's own, else the dtype's."""
    default_rtol, default_atol = TOLERANCES.get(dtype, (0.0, 0.0))
    return (default_rtol if rtol is None else rtol), (default_atol if atol is None else atol)


def flatten(value: Any) -> List[Any]:
    """Tensors of a (nested) output in the order exporters flatten them."""
    import torch

    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in flatten(v)]
    if isinstance(value, dict):
        return [t for v in value.values() for t in flatten(v)]
    return []


def to_numpy(tensor: Any) -> Tuple[np.ndarray, str]:
    """(array, torch dtype name); bfloat16 widens to float32, which numpy can hold."""
    import torch

    name = str(tensor.dtype).replace("torch.", "")
    tensor = tensor.detach().cpu()
    if tensor.dtype == torch.bfloat16:
        tensor = tensor.float()
    return tensor.numpy(), name


def dtype_name(array: np.ndarray) -> str:
    name = str(array.dtype)
    return "bool" if name == "bool_" else name


def compare(expected: Sequence[Tuple[np.ndarray, str]], actual: Sequence[np.ndarray],
            rtol: Optional[float] = None, atol: Optional[float] = None, widened: bool = False) -> Dict[str, Any]:
    """Metrics for the worst output; raises CheckFailed on any difference."""
    figures, failure = measure(expected, actual, rtol, atol, widened)
    if failure is not None:
        raise failure
    return figures


def measure(expected: Sequence[Tuple[np.ndarray, str]], actual: Sequence[np.ndarray],
            rtol: Optional[float] = None, atol: Optional[float] = None,
            widened: bool = False) -> Tuple[Dict[str, Any], Optional[CheckFailed]]:
    """(metrics for the worst output, the first value difference or None). Structural
    differences (count, shape, dtype) raise at once: there are no values to measure. `widened`:
    a model run in fp32 for half-precision eager (a remedy) may return float32 where eager has
    float16; it is compared at float16's tolerance."""
    failure: Optional[CheckFailed] = None
    if len(expected) != len(actual):
        raise CheckFailed("output_count", f"onnxruntime returned {len(actual)} outputs, eager returned {len(expected)}")
    worst: Dict[str, Any] = {"max_abs_err": 0.0, "max_rel_err": 0.0, "required_atol": 0.0,
                             "rtol": None, "atol": None}
    worst_margin = None  # the output nearest to failing names the tolerances reported
    for i, ((want, want_dtype), got) in enumerate(zip(expected, actual)):
        got = np.asarray(got)
        want, want_dtype = _as_real_pairs(want, want_dtype, got)
        if tuple(want.shape) != tuple(got.shape):
            raise CheckFailed("shape_mismatch", f"output {i}: shape {list(got.shape)}, eager has {list(want.shape)}",
                              output=i)
        got_dtype = dtype_name(got)
        # onnxruntime has no numpy bfloat16: accept the widened or raw 16-bit forms for it.
        bf16_forms = ("float32", "uint16", "bfloat16")
        if got_dtype != want_dtype and not (want_dtype == "bfloat16" and got_dtype in bf16_forms) \
                and not (widened and want_dtype == "float16" and got_dtype == "float32"):
            raise CheckFailed("dtype_mismatch", f"output {i}: dtype {got_dtype}, eager has {want_dtype}", output=i)
        r, a = tolerance(want_dtype, rtol, atol)
        errs = _errors(want, got.astype(want.dtype, copy=False), r)
        margin = errs["required_atol"] - a
        if worst_margin is None or margin > worst_margin:
            worst_margin = margin
            worst.update(rtol=r, atol=a)
        worst["max_abs_err"] = max(worst["max_abs_err"], errs["max_abs_err"])
        worst["max_rel_err"] = max(worst["max_rel_err"], errs["max_rel_err"])
        worst["required_atol"] = max(worst["required_atol"], errs["required_atol"])
        if failure is None and errs["nan_mismatch"]:
            failure = CheckFailed("nan_mismatch", f"output {i}: NaN or Inf where eager has none (or the reverse)",
                                  output=i)
        if failure is None and errs["required_atol"] > a:
            failure = CheckFailed("value_mismatch",
                                  f"output {i}: max abs error {errs['max_abs_err']:.3g} > atol {a:g} + "
                                  f"rtol {r:g}*|eager| (passes with atol {errs['required_atol']:.3g})", output=i)
    return worst, failure


def _as_real_pairs(want: np.ndarray, dtype: str, got: np.ndarray) -> Tuple[np.ndarray, str]:
    """A complex eager output against a real one with a last axis of 2: ONNX has no complex
    arithmetic, so the dynamo exporter writes a complex tensor as its real and imaginary parts
    (torch.view_as_real); eager's is compared in that form."""
    if want.dtype.kind == "c" and got.dtype.kind == "f" and tuple(got.shape) == tuple(want.shape) + (2,):
        return np.stack([want.real, want.imag], axis=-1), REAL_OF_COMPLEX.get(dtype, dtype)
    return want, dtype


def _errors(want: np.ndarray, got: np.ndarray, rtol: float) -> Dict[str, Any]:
    if want.size == 0:
        return {"max_abs_err": 0.0, "max_rel_err": 0.0, "required_atol": 0.0, "nan_mismatch": False}
    if want.dtype.kind in "biu":
        diff = np.abs(want.astype(np.float64) - got.astype(np.float64))
        return {"max_abs_err": float(diff.max()), "max_rel_err": float((diff / np.maximum(np.abs(want), 1)).max()),
                "required_atol": float(diff.max()), "nan_mismatch": False}
    w, g = want.astype(np.float64), got.astype(np.float64)
    special = ~np.isfinite(w) | ~np.isfinite(g)
    same_special = (np.isnan(w) & np.isnan(g)) | (w == g)
    nan_mismatch = bool((special & ~same_special).any())
    finite = ~special
    if not finite.any():
        return {"max_abs_err": 0.0, "max_rel_err": 0.0, "required_atol": 0.0, "nan_mismatch": nan_mismatch}
    diff = np.abs(w[finite] - g[finite])
    mag = np.abs(w[finite])
    return {
        "max_abs_err": float(diff.max()),
        "max_rel_err": float((diff / np.maximum(mag, np.finfo(np.float64).tiny)).max()),
        "required_atol": float(max((diff - rtol * mag).max(), 0.0)),
        "nan_mismatch": nan_mismatch,
    }
