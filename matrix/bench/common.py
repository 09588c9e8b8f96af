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


# A traceback as long as real ones (the probe keeps about 2,000 characters of the last frames).
_FRAMES = "".join(f'  File "<site-packages>/torch/onnx/_internal/exporter/_core.py", line {400 + n}, in _export\n'
                  f"    return _call_next_stage(program, args, kwargs, options, registry={n})\n" for n in range(34))
_TRIED = ["opset", "version_convert", "ir_downgrade", "session_options", "fp32_inputs", "other_exporter"]


def synthetic_result(run_id: str, cell: str, case: int, exporter: str, status: str, versions: Dict[str, str],
                     started_at: float = 0.0, device: str = "cpu") -> Dict[str, Any]:
    """A result record as large as a real one (≈3 KB a line in a default run): every result has its
    metrics, environment and export call; a failure its traceback, hint, the remedy search's tries
    and, for a mismatch, the blame. Messages and tracebacks differ per export side (torch × onnx),
    as real ones do: one export is checked on every onnxruntime of its side."""
    from matrix.probe import records

    failed = status not in ("pass", "skipped")
    side = f"torch {versions.get('torch')}, onnx {versions.get('onnx')}"
    error = remedy = blame = None
    if failed:
        message = f"Exporting the operator 'aten::op_{case % 37}' to ONNX opset version 17 is not supported"
        error = {"type": "UnsupportedOperatorError", "message": message, "signature": message[:120],
                 "kind": "unsupported_operator", "detail": {"operator": f"aten::op_{case % 37}"},
                 "hint": "export with dynamo=True, or register a custom symbolic for the operator "
                         "(torch.onnx.register_custom_op_symbolic); see the workarounds page",
                 "traceback": f"Traceback (most recent call last):\n{_FRAMES}{message} ({side})"}
        tried = [{"remedy": name, "change": f"{name}: try {n}", "status": "export_error" if n < 2 else "pass",
                  "kind": "unsupported_operator", "message": message, "seconds": 1.5 + n}
                 for n, name in enumerate(_TRIED[case % 3:case % 3 + 3])]
        fixed = tried[-1]
        remedy = {"candidates": 6, "tried": tried, "summary": f"fixed by {fixed['remedy']}: {fixed['change']}",
                  "fixed_by": {"remedy": fixed["remedy"], "change": fixed["change"],
                               "snippet": "torch.onnx.export(model, args, 'model.onnx', dynamo=True,\n"
                                          "                  dynamic_shapes=dynamic_shapes, opset_version=18)"}}
        if status == "mismatch":
            blame = {"verdict": "runtime", "sentence": "onnx.reference agrees with eager PyTorch and onnxruntime "
                                                        "does not: the difference is onnxruntime's"}
    return records.result(
        run_id=run_id, cell=cell, exporter=exporter, opset=None, device=device, status=status,
        case={"case": f"cat{case % 6}/case_{case}", "category": f"cat{case % 6}",
              "description": f"synthetic case {case}: a block of the corpus with dynamic batch", "fixes": None,
              "origin": "builtin", "case_hash": f"{case:016x}"},
        stage="export" if failed else "parity", reason="no CUDA device" if status == "skipped" else None,
        error=error, remedy=remedy, blame=blame,
        metrics={"max_abs_err": 1e-6 * case, "max_rel_err": 1e-5, "atol": 1e-5, "rtol": 1e-4,
                 "required_atol": 1e-6 * case, "export_s": 0.73, "eager_ms": 0.41, "ort_ms": 0.12,
                 "model_bytes": 48213, "nodes": 37, "model_opset": 18, "ir_version": 10,
                 "provider": "CPUExecutionProvider"},
        environment={"cpu": "synthetic", "cores": 2, "memory_gib": 23.5, "platform": "Linux-6.1-x86_64",
                     "python": "3.11.7", "numpy": "2.3.1", "omp_threads": 1},
        versions={"python": "3.11", "numpy": "2.3.1", **versions}, started_at=started_at, seconds=0.5,
        export_call="torch.onnx.export(model, args, f, kwargs=kwargs, dynamo=True, "
                    "dynamic_shapes={'x': {0: dims['batch'], 1: dims['sequence']}}, "
                    "input_names=['x'], output_names=['y'], opset_version=None, external_data=False)")
