"""The report at a night's size: `python -m matrix report` over synthetic results shaped and
sized like real ones (631 cells × 170 cases × 2 exporters = 214,540 by default, the nightly
spec's plan), timed with its peak memory; then a second night with 1% of the results changed,
and the share of the site's bytes that second report rewrote (what a static host would upload)."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict

from rich.console import Console

from matrix.bench.common import synthetic_result
from matrix.bench.page_timing import page_times

STATUSES = ["pass"] * 7 + ["mismatch", "export_error", "load_error", "skipped", "dynamic_error"]
CHANGED_EVERY = 100  # the second night: one result in a hundred changes status


def _write_cell(run: Path, c: int, cases: int, night: int = 0) -> set:
    """One cell's results file; returns the (case, exporter) of the results that differ from the
    first night's."""
    # as the nightly plans them: 37 export sides (torch × onnx), each checked on every onnxruntime
    side, runtime = c % 37, c // 37
    torch, onnx, ort = f"2.{4 + side // 3}.{side % 3}", f"1.{21 + side % 3}.0", f"1.{15 + runtime}.0"
    cell = f"torch{torch}-onnx{onnx}-ort{ort}-py3.11-cpu"
    versions = {"torch": torch, "onnx": onnx, "onnxruntime": ort, "onnxscript": "0.7.2"}
    lines, changed = [], set()
    for k in range(cases):
        for e, exporter in enumerate(("torchscript", "dynamo")):
            status = STATUSES[(c * 7 + k * 3 + e) % len(STATUSES)]
            if night and (c * cases * 2 + k * 2 + e) % CHANGED_EVERY == 0:
                status = "mismatch" if status == "pass" else "pass"
                changed.add((k, exporter))
            lines.append(json.dumps(synthetic_result(f"night{night}", cell, k, exporter, status, versions)))
    (run / f"{cell}.jsonl").write_text("\n".join(lines) + "\n")
    return changed


def _night(root: Path, cells: int, cases: int, night: int) -> Dict[str, int]:
    """A night's run folder; how many of its results, and of its cases, differ from the first night."""
    run = root / f"night{night}"
    run.mkdir(parents=True)
    changed = [_write_cell(run, c, cases, night) for c in range(cells)]
    return {"results": sum(map(len, changed)), "cases": len({k for found in changed for k, _ in found})}


def _report(results: Path, site: Path) -> Dict[str, float]:
    """`python -m matrix report` in a child: its wall time and its own peak memory (wait4)."""
    with tempfile.TemporaryFile() as said:
        start = time.perf_counter()
        child = subprocess.Popen([sys.executable, "-m", "matrix", "report", "--results", str(results), "--out",
                                  str(site)], stdout=subprocess.DEVNULL, stderr=said)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - start
        if status != 0:
            said.seek(0)
            raise SystemExit(f"matrix bench: the report failed: {said.read().decode()[-2000:]}")
    return {"seconds": round(seconds, 2), "peak_gib": round(usage.ru_maxrss / 2**20, 2)}


def _files(site: Path) -> Dict[str, tuple]:
    return {str(p.relative_to(site)): (p.stat().st_size, hashlib.sha256(p.read_bytes()).hexdigest())
            for p in site.rglob("*") if p.is_file()}


def report_scale(args: argparse.Namespace, console: Console) -> Dict[str, Any]:
    cells, cases = args.synthetic_cells, args.synthetic_cases
    with tempfile.TemporaryDirectory(prefix="matrix-bench-report-") as tmp:
        root, site = Path(tmp), Path(tmp) / "site"
        _night(root / "first", cells, cases, 0)
        results = sum(1 for f in (root / "first" / "night0").glob("*.jsonl") for _ in f.open())
        jsonl = sum(f.stat().st_size for f in (root / "first" / "night0").glob("*.jsonl"))
        first = _report(root / "first" / "night0", site)
        pages = page_times(site)
        before = _files(site)
        changed = _night(root / "second", cells, cases, 1)
        second = _report(root / "second" / "night1", site)
        after = _files(site)
    size = sum(s for s, _ in after.values())
    rewritten = sum(s for name, (s, digest) in after.items() if before.get(name, (0, None))[1] != digest)
    figures = {"results": results, "bytes_per_result": round(jsonl / max(1, results)), **first,
               "index_mib": round(after["index.html"][0] / 2**20, 2), "site_mib": round(size / 2**20, 1),
               "pages": pages,
               "second_night": {"changed_results": changed["results"], "changed_cases": changed["cases"],
                                "seconds": second["seconds"],
                                "rewritten_mib": round(rewritten / 2**20, 1),
                                "rewritten_share": round(rewritten / max(1, size), 3)}}
    console.print(f"report: {results} results ({figures['bytes_per_result']} bytes each as JSON) in "
                  f"{first['seconds']} s, peak {first['peak_gib']} GiB; index.html {figures['index_mib']} MiB; "
                  f"whole site {figures['site_mib']} MiB; a second night with {changed['results']} results changed (in "
                  f"{changed['cases']} of {cases} cases) rewrote "
                  f"{figures['second_night']['rewritten_mib']} MiB ({100 * rewritten / max(1, size):.0f}%); "
                  + (f"in Chromium over HTTP: front page {pages['front_ms']} ms, grid {pages['grid_ms']} ms, case page "
                     f"{pages['case_ms']} ms, a drill-down {pages['drill_ms']} ms, console errors: "
                     f"{len(pages['console_errors'])}, axe-core violations: {pages['axe'] or 'none'}"
                     if pages else "pages not timed (no Chromium or selenium)"))
    return figures
