"""The report at scale: aggregation and rendering of synthetic results (500 cells × 40 cases
× 2 exporters = 40,000 by default; the nightly's size is 631 cells × 170 cases) shaped and
sized like real ones."""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any, Dict

from rich.console import Console

from matrix.bench.common import synthetic_result

STATUSES = ["pass"] * 7 + ["mismatch", "export_error", "load_error", "skipped", "dynamic_error"]


def _write_cell(run: Path, c: int, cases: int) -> None:
    # as the nightly plans them: 37 export sides (torch × onnx), each checked on every onnxruntime
    side, runtime = c % 37, c // 37
    torch, onnx, ort = f"2.{4 + side // 3}.{side % 3}", f"1.{21 + side % 3}.0", f"1.{15 + runtime}.0"
    cell = f"torch{torch}-onnx{onnx}-ort{ort}-py3.11-cpu"
    versions = {"torch": torch, "onnx": onnx, "onnxruntime": ort, "onnxscript": "0.7.2"}
    lines = [json.dumps(synthetic_result("bench", cell, k, exporter,
                                         STATUSES[(c * 7 + k * 3 + e) % len(STATUSES)], versions))
             for k in range(cases) for e, exporter in enumerate(("torchscript", "dynamo"))]
    (run / f"{cell}.jsonl").write_text("\n".join(lines) + "\n")


def report_scale(args: argparse.Namespace, console: Console) -> Dict[str, Any]:
    from matrix.report.load import load_run
    from matrix.report.write import write_report

    with tempfile.TemporaryDirectory(prefix="matrix-bench-report-") as tmp:
        run = Path(tmp) / "results" / "run"
        run.mkdir(parents=True)
        for c in range(args.synthetic_cells):
            _write_cell(run, c, args.synthetic_cases)
        start = time.perf_counter()
        figures = write_report(load_run(run), [], Path(tmp) / "report")
        seconds = time.perf_counter() - start
        size = sum(f.stat().st_size for f in (Path(tmp) / "report").rglob("*") if f.is_file())
    console.print(f"report: {figures['results']} results rendered in {seconds:.1f} s; index.html "
                  f"{figures['index_bytes'] / 2**20:.2f} MiB; whole site {size / 2**20:.1f} MiB")
    return {"results": figures["results"], "seconds": round(seconds, 2),
            "index_mib": round(figures["index_bytes"] / 2**20, 2), "site_mib": round(size / 2**20, 1)}
