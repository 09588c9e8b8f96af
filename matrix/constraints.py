"""Known constraints applied when a cell's install set is written. Each rule says why."""

from __future__ import annotations

from typing import List, Optional

from packaging.version import Version

# torch's dynamo exporter imports onnxscript._framework_apis.torch_2_X, which exists
# only from these onnxscript releases on (torch 2.7 → 0.2.2, 2.8 → 0.3.1, 2.9 → 0.4.0,
# 2.11 → 0.6.0); newest first.
ONNXSCRIPT_MINIMUM = [((2, 11), "0.6.0"), ((2, 9), "0.4.0"), ((2, 8), "0.3.1"), ((2, 7), "0.2.2")]
# torch 2.1–2.4 export through torch.onnx.dynamo_export, which onnxscript dropped in
# 0.4.0 ("Support for dynamo_export has been dropped since onnxscript 0.4.0", seen with torch 2.4.1).
DYNAMO_EXPORT_ONNXSCRIPT_BELOW = "0.4.0"
# onnx's weekly builds are a separate distribution of the same `onnx` module; onnx itself
# publishes no dev releases, so a dev version in a cell means onnx-weekly.
WEEKLY = "onnx-weekly"
# onnxscript depends on `onnx`, which would install over onnx-weekly's files: an override
# with a marker no interpreter satisfies drops it from the resolution.
DROP_ONNX = 'onnx; python_version < "0"'
# torch releases before 2.3 were built against numpy 1.x and fail to import with numpy 2.
NUMPY_2_FROM_TORCH = Version("2.3")
# onnxruntime releases before 1.19 were built against numpy 1.x: with numpy 2 the import prints
# "A module that was compiled using NumPy 1.x cannot be run in NumPy 2.x" and goes on half-working
# (seen: onnxruntime 1.16.3 beside numpy 2.4.6), so every result of such a cell would be suspect.
NUMPY_2_FROM_ONNXRUNTIME = Version("1.19")


def onnxscript_requirement(torch: str, pinned: Optional[str]) -> Optional[str]:
    """`onnxscript==pinned`, or for "auto" the range that fits this torch (None: not needed)."""
    if pinned:
        return f"onnxscript=={pinned}"
    release = Version(torch).release[:2]
    if release < (2, 1):
        return None  # torch 2.0 has no dynamo exporter
    if release < (2, 5):
        return f"onnxscript<{DYNAMO_EXPORT_ONNXSCRIPT_BELOW}"
    for since, minimum in ONNXSCRIPT_MINIMUM:
        if release >= since:
            return f"onnxscript>={minimum}"
    return "onnxscript"


def is_weekly(onnx: Optional[str]) -> bool:
    return bool(onnx) and Version(onnx).is_devrelease


def overrides(onnx: Optional[str]) -> List[str]:
    """uv overrides a cell's resolution needs (see DROP_ONNX)."""
    return [DROP_ONNX] if is_weekly(onnx) else []


def requirements(python: str, torch: Optional[str], onnx: Optional[str], onnxruntime: Optional[str],
                 onnxscript: Optional[str], device: str, side: str = "both") -> List[str]:
    """The top-level install set of one cell, or of one side of it (export: no onnxruntime;
    runtime: onnxruntime and what it brings, nothing else); the lock pins everything beneath it."""
    wanted = [f"{WEEKLY if is_weekly(onnx) else 'onnx'}=={onnx}"] if onnx and side != "runtime" else []
    numpy_1 = False
    if side != "runtime" and torch:
        wanted.insert(0, f"torch=={torch}")
        script = onnxscript_requirement(torch, onnxscript)
        if script:
            wanted.append(script)
        numpy_1 = Version(torch) < NUMPY_2_FROM_TORCH
    if side != "export" and onnxruntime:
        # cuda cells need onnxruntime-gpu, which provides the same `onnxruntime` module.
        wanted.insert(2 if side == "both" else 0,
                      f"{'onnxruntime-gpu' if device == 'cuda' else 'onnxruntime'}=={onnxruntime}")
        numpy_1 = numpy_1 or Version(onnxruntime) < NUMPY_2_FROM_ONNXRUNTIME
    if numpy_1:
        wanted.append("numpy<2")
    return wanted
