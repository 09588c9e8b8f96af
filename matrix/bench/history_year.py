"""A year of nights in the history: 365 nights × 20,000 results (40 cells × 250 cases × 2
exporters), stored as `history.record` stores a night (a Parquet file and its summary rows),
then timed: what the report and `matrix history --regressions` compute from it, the trend
chart and each column's line over the whole year and the newest night's regressions."""

from __future__ import annotations

import argparse
import tempfile
import time
from contextlib import closing
from pathlib import Path
from typing import Any, Dict

import numpy as np
import pandas as pd
from rich.console import Console

from matrix import history
from matrix.bench.report_history import DAY, START, STATUSES, _versions
from matrix.report import charts

CODES = np.array(STATUSES)  # the same drifting statuses as the 30-night history


def _night(night: int, nights: int, cells: int, cases: int) -> pd.DataFrame:
    sets = _versions(cells, night, nights)
    c, k, e = (a.ravel() for a in np.meshgrid(np.arange(len(sets)), np.arange(cases), np.arange(2), indexing="ij"))
    status = CODES[(c * 7 + k * 3 + e * 5 + (night // 7) * (k % 3)) % len(CODES)]
    torch, ort, onnx = (np.array([s[i] for s in sets], dtype=object)[c] for i in range(3))
    failed = ~np.isin(status, ["pass", "skipped"])
    return pd.DataFrame({
        "cell": np.array([f"torch{t}-onnx{o}-ort{r}-py3.11-cpu" for t, r, o in sets], dtype=object)[c],
        "case_id": np.array([f"cat{n % 6}/case_{n}" for n in range(cases)], dtype=object)[k],
        "exporter": np.array(["torchscript", "dynamo"], dtype=object)[e], "opset": "default", "device": "cpu",
        "status": status.astype(object), "stage": np.where(failed, "load", "parity").astype(object),
        "error_kind": np.where(failed, "other", None), "error_signature": np.where(failed, "s", None),
        "python": "3.11", "torch": torch, "onnx": onnx, "onnxruntime": ort, "onnxscript": "0.7.2"})


def write_year(root: Path, nights: int = 365, cells: int = 40, cases: int = 250) -> str:
    """The history database and its nights under root; returns the newest run id."""
    run_id = ""
    with closing(history.connect(history.database(root))) as db:
        for night in range(nights):
            started = START + night * DAY
            run_id = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(started)) + f"-n{night:05d}"
            history.store(db, run_id, {"run_id": run_id, "started_at": started, "finished_at": started + 3600,
                                       "spec": {"path": "nightly"}}, _night(night, nights, cells, cases))
    return run_id


def history_year(args: argparse.Namespace, console: Console) -> Dict[str, Any]:
    nights, cells, cases = 365, 40, 250
    with tempfile.TemporaryDirectory(prefix="matrix-bench-year-") as tmp:
        root = Path(tmp)
        start = time.perf_counter()
        newest = write_year(root, nights, cells, cases)
        written_s = round(time.perf_counter() - start, 1)
        size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
        db_size = history.database(root).stat().st_size
        start = time.perf_counter()
        with closing(history.connect(history.database(root))) as db:
            rates = history.pass_rates(db, newest)
            cols = [{"column": f"{c}|{e}|default"} for c, e in
                    rates[rates["run_id"] == newest][["cell", "exporter"]].itertuples(index=False)]
            trend = charts.trend(rates, {})
            lines = charts.sparklines(rates, [dict(c, opset_label="default", torch="", onnxruntime="", onnx="",
                                                   device="", exporter="") for c in cols])
            found = history.regressions(db, newest)
        took = round(time.perf_counter() - start, 2)
    results = nights * cells * cases * 2
    console.print(f"a year of nights ({nights} × {cells * cases * 2:,} = {results:,} results; written in "
                  f"{written_s} s, {size / 2**20:.0f} MiB of which the database {db_size / 2**20:.1f} MiB): trend "
                  f"({len(trend['lines'])} lines), {len(lines)} column lines and {len(found)} regressions in {took} s")
    return {"nights": nights, "results_per_night": cells * cases * 2, "results": results, "seconds": took,
            "written_s": written_s, "mib": round(size / 2**20, 1), "db_mib": round(db_size / 2**20, 2),
            "lines": len(trend["lines"]), "regressions": len(found)}
