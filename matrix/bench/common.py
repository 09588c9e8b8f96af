"""What every benchmark shares: the machine it ran on, medians with their spread, timing the probe."""

from __future__ import annotations

import os
import platform
import statistics
import time
from importlib import metadata
from typing import Any, Dict, List

from matrix.probe.arguments import ProbeArgs
from matrix.probe.environment import cpu_name
from matrix.runners import host


def machine() -> Dict[str, Any]:
    memory = None
    try:
        with open("/proc/meminfo") as f:
            memory = round(int(next(line.split()[1] for line in f if line.startswith("MemTotal"))) / 2**20, 1)
    except (OSError, StopIteration):
        pass
    packages = {}
    for name in ("torch", "onnx", "onnxruntime", "onnxscript"):  # the probe side's versions (the test cell)
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return {"platform": platform.platform(), "cpu": cpu_name(), "cores": os.cpu_count(), "memory_gib": memory,
            "python": platform.python_version(), "packages": packages}


def spread(values: List[float], digits: int = 2) -> Dict[str, float]:
    return {"median": round(statistics.median(values), digits), "min": round(min(values), digits),
            "max": round(max(values), digits), "n": len(values)}


def timed_probe(args: ProbeArgs) -> float:
    start = time.perf_counter()
    code = host.run(args.argv(), lambda event: None)
    if code != 0:
        raise SystemExit(f"matrix bench: the probe exited with {code}")
    return time.perf_counter() - start
