"""The report over a nightly history: 30 nights × 40 cells × 120 results by default, written as
run folders the way nightly runs leave them (new releases entering part-way, with their upload
days in the plan), reported by `python -m matrix report` itself, against the newest night alone."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path
from typing import Any, Dict, List

from rich.console import Console

from matrix import history
from matrix.probe import records

DAY = 86400.0
START = 1767225600.0  # 2026-01-01 00:00 UTC
TORCH = ["2.11.0", "2.12.0", "2.13.0", "2.14.0", "2.15.0"]
ORT = ["1.16.3", "1.30.0", "1.31.0", "1.32.0"]
ONNX = ["1.22.0", "1.23.2"]
STATUSES = ["pass"] * 8 + ["mismatch", "export_error", "load_error", "dynamic_error", "skipped"]


def _versions(cells: int, night: int, nights: int) -> List[tuple]:
    """The version sets of one night: the newest torch enters two thirds of the way through."""
    sets = [(t, r, o) for t in TORCH for r in ORT for o in ONNX]
    if night < nights * 2 // 3:
        sets = [s for s in sets if s[0] != TORCH[-1]]
    return sets[-cells:]


def write_history(root: Path, nights: int = 30, cells: int = 40, results_per_cell: int = 120) -> Path:
    """Run folders <root>/<run id>, one per night (oldest first), each recorded in the history
    database, and `latest`; returns the newest."""
    root.mkdir(parents=True, exist_ok=True)
    cases = results_per_cell // 2
    released = {"torch": {TORCH[-1]: time.strftime("%Y-%m-%d", time.gmtime(START + (nights * 2 // 3) * DAY - DAY))}}
    folder = root
    for night in range(nights):
        started = START + night * DAY
        run_id = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(started)) + f"-n{night:05d}"
        folder = root / run_id
        folder.mkdir()
        ids = []
        for c, (torch, ort, onnx) in enumerate(_versions(cells, night, nights)):
            cell = f"torch{torch}-onnx{onnx}-ort{ort}-py3.11-cpu"
            ids.append(cell)
            lines = []
            for k in range(cases):
                for e, exporter in enumerate(("torchscript", "dynamo")):
                    # a status per (cell, case, exporter) that drifts a little from night to night
                    status = STATUSES[(c * 7 + k * 3 + e * 5 + (night // 7) * (k % 3)) % len(STATUSES)]
                    failed = status not in ("pass", "skipped")
                    lines.append(json.dumps(records.result(
                        run_id=run_id, cell=cell, exporter=exporter, opset=None, device="cpu", status=status,
                        case={"case": f"cat{k % 6}/case_{k}", "category": f"cat{k % 6}",
                              "description": f"synthetic case {k}", "fixes": None, "origin": "builtin",
                              "case_hash": None},
                        stage="load" if failed else "parity", reason="n/a" if status == "skipped" else None,
                        error={"type": "RuntimeError", "message": f"failure {k} in {cell}", "signature": "s",
                               "kind": "other", "detail": {}, "hint": None, "traceback": "t" * 200} if failed else None,
                        metrics={"max_abs_err": 1e-6 * k, "atol": 1e-5, "rtol": 1e-4}, environment={"cpu": "synthetic"},
                        versions={"python": "3.11", "torch": torch, "onnx": onnx, "onnxruntime": ort,
                                  "onnxscript": "0.7.2", "numpy": "2.0"}, started_at=started, seconds=0.5)))
            (folder / f"{cell}.jsonl").write_text("\n".join(lines) + "\n")
        (folder / "run.json").write_text(json.dumps({
            "schema": 1, "run_id": run_id, "started_at": started, "finished_at": started + 3600,
            "spec": {"path": "nightly", "text": "", "description": "synthetic history"},
            "plan": {"exporters": ["torchscript", "dynamo"], "opsets": [None], "cells": [{"id": i} for i in ids],
                     "released": released},
            "cells": [{"id": i, "status": "ok"} for i in ids]}))
        with closing(history.connect(history.database(root))) as db:  # as every nightly run records itself
            history.record(db, folder)
    latest = root / "latest"
    if latest.is_symlink() or latest.exists():
        latest.unlink()
    latest.symlink_to(folder.name)
    return folder


def _report(results: Path, out: Path) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "matrix", "report", "--results", str(results), "--out", str(out)],
                   check=True, stdout=subprocess.DEVNULL, env=dict(os.environ, PYTHONHASHSEED="0"))
    return round(time.perf_counter() - start, 2)


def report_history(args: argparse.Namespace, console: Console) -> Dict[str, Any]:
    nights, cells, per_cell = 30, 40, 120
    with tempfile.TemporaryDirectory(prefix="matrix-bench-history-") as tmp:
        newest = write_history(Path(tmp) / "history", nights, cells, per_cell)
        alone = Path(tmp) / "alone"
        alone.mkdir()
        os.rename(newest, alone / newest.name)  # the newest night with no history beside it
        (alone / "latest").symlink_to(newest.name)
        alone_s = _report(alone, Path(tmp) / "site-alone")
        os.rename(alone / newest.name, newest)
        history_s = _report(Path(tmp) / "history", Path(tmp) / "site")
        index = (Path(tmp) / "site" / "index.html").stat().st_size
        charts = (Path(tmp) / "site" / "charts.html").stat().st_size
    console.print(f"report over {nights} nights × {cells} cells × {per_cell} results: {history_s} s, index.html "
                  f"{index / 2**20:.2f} MiB; the newest night alone: {alone_s} s")
    return {"nights": nights, "cells": cells, "results_per_cell": per_cell, "history_s": history_s,
            "alone_s": alone_s, "index_mib": round(index / 2**20, 2), "index_bytes": index,
            "charts_kib": round(charts / 2**10, 1)}
