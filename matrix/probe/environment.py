"""The environment fingerprint stamped on every result."""

from __future__ import annotations

import os
import platform
import sys
from typing import Any, Dict, Optional, Sequence


def _version(module_name: str) -> Optional[str]:
    try:
        module = __import__(module_name)
    except Exception:  # noqa: BLE001 -- a broken install is "not installed" for the fingerprint
        return None
    return getattr(module, "__version__", None)


# The packages each side of a cell imports; a runtime side never imports torch, even where it exists.
SIDE_PACKAGES = {"both": ("torch", "onnx", "onnxruntime", "onnxscript", "numpy"),
                 "export": ("torch", "onnx", "onnxscript", "numpy"),
                 "runtime": ("onnxruntime", "numpy")}


# Model libraries a cell may hold besides (the spec's library axes); found by their metadata, not
# imported: a torchvision built for another torch fails at import, which a case must report.
LIBRARIES = ("transformers", "torchvision", "timm")


def _installed(distribution: str) -> Optional[str]:
    from importlib import metadata

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def versions(side: str = "both", requirements: Sequence[str] = ()) -> Dict[str, Optional[str]]:
    """Package versions, keyed by distribution-like names used in `requires`; the model libraries
    and the user's own requirements only where installed (the export side: a runtime side has none)."""
    found = {name: _version(name) for name in SIDE_PACKAGES[side]}
    libraries = {name: _installed(name) for name in (*LIBRARIES, *requirements)} if side != "runtime" else {}
    return {"python": platform.python_version(), **{name: found.get(name) for name in SIDE_PACKAGES["both"]},
            **{name: version for name, version in libraries.items() if version}}


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cuda_available() -> bool:
    # NVML-based check (set before torch is imported, see probe.__main__) answers
    # without creating a CUDA context, so the warm parent stays safe to fork.
    import torch

    return bool(torch.cuda.is_available())


def fingerprint(gpu: Optional[Dict[str, Any]] = None, side: str = "both") -> Dict[str, Any]:
    torch_cuda = providers = None
    if side != "runtime":
        import torch

        torch_cuda = getattr(torch.version, "cuda", None)
    if side != "export":
        import onnxruntime

        providers = list(onnxruntime.get_available_providers())
    return {
        "versions": versions(side),
        "platform": platform.platform(),
        "python_implementation": platform.python_implementation(),
        "executable": os.path.basename(sys.executable),
        "torch_cuda": torch_cuda,
        "onnxruntime_providers": providers,
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "gpu": gpu,
    }


def gpu_info() -> Dict[str, Any]:
    """Name and capability of GPU 0. Creates a CUDA context: call it in a child."""
    import torch

    props = torch.cuda.get_device_properties(0)
    return {"name": props.name, "capability": f"{props.major}.{props.minor}",
            "memory_gib": round(props.total_memory / 2**30, 1), "count": torch.cuda.device_count()}
