"""Known constraints applied when a cell's install set is written. Each rule says why."""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

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


# Model libraries, axes of the export side (the runtime side needs none of them).
LIBRARIES = ("transformers", "torchvision", "timm")
# How each is installed so that uv pairs it with the cell's torch:
# - transformers states the torch range each release supports only in its `torch` extra (5.0: torch>=2.2,
#   5.24: torch>=2.6, 4.52: torch>=2.1,<2.7), so it is installed with that extra (which adds accelerate);
#   for "auto" uv then picks the newest release whose range holds the cell's torch.
# - torchvision pins exactly the torch release its C++ operators are built against (0.29.2 → torch==2.15.0,
#   0.28.0 → torch==2.13.0), so uv picks the one built for the cell's torch, or none.
# - timm depends on torch and torchvision, so it pairs through torchvision.
LIBRARY_REQUIREMENT = {"transformers": "transformers[torch]", "torchvision": "torchvision", "timm": "timm"}
# A library that depends on another cannot be installed without it.
NEEDS = {"timm": "torchvision"}


def library_requirements(libraries: Sequence[Tuple[str, Optional[str]]]) -> List[str]:
    """`transformers[torch]`, or `==version` where the spec pins one."""
    return [LIBRARY_REQUIREMENT[name] + (f"=={version}" if version else "") for name, version in libraries]


def build_mismatch(pins: Dict[str, str]) -> Optional[str]:
    """Why the resolved torchvision cannot run with the resolved torch, though the versions agree:
    PEP 440 lets torchvision's `torch==2.13.0` match a local build `2.13.0+cpu`, but PyPI's torchvision
    is built for PyPI's (CUDA) torch, and next to a +cpu torch it fails at import with "operator
    torchvision::nms does not exist" (seen with torch 2.13.0+cpu), which breaks transformers' vision
    models in the same environment too. A CPU build of one beside a CUDA build of the other does not
    pair; a CUDA-labelled torch beside PyPI's torchvision does (seen: torch 2.11.0+cu130 from PyTorch's
    index with PyPI's torchvision 0.26.0, on an H100)."""
    torch, vision = pins.get("torch"), pins.get("torchvision")
    if not torch or not vision:
        return None
    label = Version(torch).local
    if (label == "cpu") == (Version(vision).local == "cpu"):
        return None
    def build(version: str) -> str:
        return "a CPU build" if Version(version).local == "cpu" else "a CUDA build"

    wanted = "+cpu" if label == "cpu" else "CUDA"
    return (f"torchvision {vision} ({build(vision)}) does not run beside torch {torch} ({build(torch)}): it fails "
            f"at import with \"operator torchvision::nms does not exist\"; a {wanted} torchvision comes from "
            "PyTorch's own index ([index.torchvision] url)")


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
                 onnxscript: Optional[str], device: str, side: str = "both",
                 libraries: Sequence[Tuple[str, Optional[str]]] = ()) -> List[str]:
    """The top-level install set of one cell, or of one side of it (export: no onnxruntime, the
    model libraries; runtime: onnxruntime and onnx, nothing else); the lock pins
    everything beneath it."""
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
    if side == "runtime" and onnxruntime:
        # the runtime side's ONNX reference (blame) and version converter (remedies): the newest
        # onnx that fits, whichever wrote the model (the export side's onnx did)
        wanted.append("onnx")
    if numpy_1:
        wanted.append("numpy<2")
    if side != "runtime" and torch:
        wanted += library_requirements(libraries)
    return wanted
