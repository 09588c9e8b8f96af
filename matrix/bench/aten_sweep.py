"""One torch's aten sweep (docs/operators.md): every OpInfo's samples through both exporters on
the newest torch, checked on the newest onnxruntime and 1.16, as `--suite aten` runs it. The
environments are built (or found) first: the figure is the sweep, not the downloads.

The usual way is one export process per torch: the exports' own seconds, summed (each bundle
records its export's seconds), which is what the side took before it exported on every core."""

from __future__ import annotations

import argparse
import collections
import json
import os
import tempfile
from typing import Any, Dict

from rich.console import Console

from matrix.bench.matrix_run import _matrix, _results, breakdown

SPEC = """description = "bench: one torch's aten sweep"
[matrix]
torch = ["latest"]
onnx = ["latest"]
onnxruntime = ["latest", "~=1.16.0"]
onnxscript = ["auto"]
device = ["cpu"]
exporter = ["torchscript", "dynamo"]
opset = ["default"]

[run]
suites = ["aten"]

[index.torch]  # as the default spec: its environments are the ones a first run built
url = "https://download.pytorch.org/whl/cpu"
devices = ["cpu"]
fallback = true
"""


def aten_sweep(args: argparse.Namespace, console: Console) -> Dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="matrix-bench-aten-") as tmp:
        spec = os.path.join(tmp, "aten.toml")
        with open(spec, "w") as f:
            f.write(SPEC)
        root = os.path.join(tmp, "results")
        jobs = ["--runner", "venv", "-j", str(args.matrix_jobs)]
        _matrix(spec, root, dict(os.environ), *jobs, "--cases", "aten/abs-float32")  # builds the environments
        run_s = _matrix(spec, root, dict(os.environ), *jobs, "--fresh")
        folder = os.path.join(root, "latest")
        run = json.loads(open(os.path.join(folder, "run.json")).read())
        found = _results(folder)
        split = breakdown(folder, args.matrix_jobs, 0.0)
    statuses: Dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for r in found:
        statuses[f"{r['exporter']} on {r['versions']['onnxruntime']}"][r["status"]] += 1
    serial = round(sum(split["exports_s"].values()), 1)
    figures = {"torch": run["exports"][0]["pinned"].get("torch") if run.get("exports") else None,
               "results": len(found), "run_s": run_s, "phases_s": split["phases_s"], "exports_s": split["exports_s"],
               "serial_exports_s": serial, "checks_s": split["checks_s"],
               "statuses": {k: dict(v) for k, v in sorted(statuses.items())}, "jobs": args.matrix_jobs}
    console.print(f"aten sweep, torch {figures['torch']}: {run_s} s for {len(found)} results; the exports' own "
                  f"seconds {serial} s ({split['exports_s']})")
    return figures
