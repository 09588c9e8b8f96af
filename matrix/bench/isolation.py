"""Per-result isolation: the corpus with a forked child per result (this project) vs all in
one plain process (the floor) vs one fresh interpreter per result (the usual way). Every
variant runs the same cases through the same stages and checks."""

from __future__ import annotations

import argparse
import collections
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List

from rich.console import Console

from matrix.bench.common import spread, timed_probe
from matrix.probe import results
from matrix.probe.arguments import ProbeArgs


def isolation(args: argparse.Namespace, console: Console) -> Dict[str, Any]:
    exporters = [e.strip() for e in args.exporter.split(",") if e.strip()]
    per_result: Dict[str, Dict[tuple, List[float]]] = {"fork": collections.defaultdict(list),
                                                       "none": collections.defaultdict(list)}
    totals: Dict[str, List[float]] = {"fork": [], "none": []}
    statuses: Dict[str, Dict[tuple, str]] = {"fork": {}, "none": {}}
    with tempfile.TemporaryDirectory(prefix="matrix-bench-") as tmp:
        for rep in range(args.repeat):
            for mode in ("fork", "none"):  # alternating, so drift in the machine hits both
                out = os.path.join(tmp, f"{mode}-{rep}.jsonl")
                totals[mode].append(timed_probe(ProbeArgs(out=out, exporters=exporters, cases=args.cases,
                                                          isolation=mode)))
                for r in results.read(out):
                    per_result[mode][results.key(r)].append(r["seconds"])
                    statuses[mode][results.key(r)] = r["status"]
            console.print(f"isolation {rep + 1}/{args.repeat}: forked {totals['fork'][-1]:.1f} s, "
                          f"one process {totals['none'][-1]:.1f} s")
        fresh = _fresh_interpreters(tmp, list(per_result["fork"]))
        console.print(f"isolation: a fresh interpreter per result {fresh:.1f} s")
    keys = [k for k in per_result["fork"] if statuses["fork"][k] != "skipped"]
    extra_ms = [1000 * (statistics.median(per_result["fork"][k]) - statistics.median(per_result["none"][k]))
                for k in keys]
    fork, floor = statistics.median(totals["fork"]), statistics.median(totals["none"])
    return {
        "results_per_run": len(per_result["fork"]), "repeats": args.repeat,
        "same_statuses": statuses["fork"] == statuses["none"],
        # where sharing one process changes an outcome: what isolation is for
        "differing": [[*k[:2], statuses["fork"][k], statuses["none"].get(k)] for k in statuses["fork"]
                      if statuses["fork"][k] != statuses["none"].get(k)],
        "forked_s": spread(totals["fork"]), "one_process_s": spread(totals["none"]),
        "fresh_interpreters_s": round(fresh, 2),
        "forked_over_floor": round(fork / floor, 3), "fresh_over_forked": round(fresh / fork, 1),
        "extra_ms_per_result": spread(extra_ms, 1),
    }


def _fresh_interpreters(tmp: str, keys: List[tuple]) -> float:
    """The usual way: `python -m matrix.probe` once per result (one pass; it is slow)."""
    start = time.perf_counter()
    for case, exporter, opset, _device in keys:
        out = os.path.join(tmp, "fresh.jsonl")
        if os.path.exists(out):
            os.remove(out)
        probe = ProbeArgs(out=out, cases=case, exporters=[exporter], opsets=[opset], isolation="none")
        subprocess.run([sys.executable, "-m", "matrix.probe", *probe.argv()], stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start
