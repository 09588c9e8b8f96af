"""`python -m matrix bench isolation`: what one process per result costs.

Runs the same cases through the probe with `--isolation fork` (the default: a
forked child per result) and `--isolation none` (all in one process, the
floor), alternating, several times; and, as the usual way people do it, one
fresh interpreter per result. Every variant does the same stages and checks.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List

from rich.console import Console
from rich.table import Table

from matrix.probe import results
from matrix.probe.environment import cpu_name
from matrix.progress import make_console
from matrix.runners import host


def _probe(args: List[str], out: str) -> float:
    start = time.perf_counter()
    code = host.run([*args, "--out", out], lambda event: None)
    if code != 0:
        raise SystemExit(f"matrix bench: the probe exited with {code}")
    return time.perf_counter() - start


def machine() -> Dict[str, Any]:
    return {"platform": platform.platform(), "cpu": cpu_name(), "cores": os.cpu_count(),
            "python": platform.python_version()}


def isolation(args: argparse.Namespace, console: Console) -> Dict[str, Any]:
    base = ["--exporter", args.exporter] + (["--cases", args.cases] if args.cases else [])
    per_result: Dict[str, Dict[tuple, List[float]]] = {"fork": collections.defaultdict(list),
                                                       "none": collections.defaultdict(list)}
    totals: Dict[str, List[float]] = {"fork": [], "none": []}
    statuses: Dict[str, Dict[tuple, str]] = {"fork": {}, "none": {}}
    with tempfile.TemporaryDirectory(prefix="matrix-bench-") as tmp:
        for rep in range(args.repeat):
            for mode in ("fork", "none"):
                out = os.path.join(tmp, f"{mode}-{rep}.jsonl")
                totals[mode].append(_probe([*base, "--isolation", mode], out))
                for r in results.read(out):
                    per_result[mode][results.key(r)].append(r["seconds"])
                    statuses[mode][results.key(r)] = r["status"]
            console.print(f"repeat {rep + 1}/{args.repeat}: fork {totals['fork'][-1]:.1f} s, "
                          f"in-process {totals['none'][-1]:.1f} s")
        fresh = _fresh_interpreters(base, tmp, list(per_result["fork"]))
    keys = [k for k in per_result["fork"] if statuses["fork"][k] != "skipped"]
    extra_ms = [1000 * (statistics.median(per_result["fork"][k]) - statistics.median(per_result["none"][k]))
                for k in keys]
    fork_sum = sum(statistics.median(per_result["fork"][k]) for k in keys)
    none_sum = sum(statistics.median(per_result["none"][k]) for k in keys)
    return {
        "machine": machine(),
        "results_per_run": len(keys),
        "repeats": args.repeat,
        "same_statuses": statuses["fork"] == statuses["none"],
        "extra_ms_per_result": {"median": round(statistics.median(extra_ms), 1),
                                "min": round(min(extra_ms), 1), "max": round(max(extra_ms), 1)},
        "per_result_s": {"fork": round(fork_sum, 3), "in_process": round(none_sum, 3),
                         "ratio": round(fork_sum / none_sum, 3)},
        "run_wall_s": {mode: {"median": round(statistics.median(v), 2), "min": round(min(v), 2),
                              "max": round(max(v), 2)} for mode, v in totals.items()},
        "fresh_interpreter_per_result_wall_s": round(fresh, 2),
    }


def _fresh_interpreters(base: List[str], tmp: str, keys: List[tuple]) -> float:
    """The usual way: `python -m matrix.probe` once per result (one pass; it is slow)."""
    start = time.perf_counter()
    for case, exporter, opset, _device in keys:
        out = os.path.join(tmp, "fresh.jsonl")
        if os.path.exists(out):
            os.remove(out)
        subprocess.run([sys.executable, "-m", "matrix.probe", "--cases", case, "--exporter", exporter,
                        "--opset", str(opset or "default"), "--isolation", "none", "--out", out],
                       stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def bench(args: argparse.Namespace) -> int:
    console = make_console()
    figures = isolation(args, console)
    with open(args.json, "w") as f:
        json.dump({"isolation": figures}, f, indent=2)
    table = Table(title=f"isolation, {figures['results_per_run']} results × {figures['repeats']} repeats "
                        f"on {figures['machine']['cpu']} ({figures['machine']['cores']} cores)", title_justify="left")
    for column in ("figure", "value"):
        table.add_column(column)
    extra = figures["extra_ms_per_result"]
    table.add_row("extra per result, fork vs in-process: median (min … max)",
                  f"{extra['median']} ms ({extra['min']} … {extra['max']})")
    table.add_row("sum of per-result times, fork / in-process", f"{figures['per_result_s']['ratio']}×")
    table.add_row("whole run wall, fork (median)", f"{figures['run_wall_s']['fork']['median']} s")
    table.add_row("whole run wall, in-process (median)", f"{figures['run_wall_s']['none']['median']} s")
    table.add_row("fresh interpreter per result (one pass)", f"{figures['fresh_interpreter_per_result_wall_s']} s")
    table.add_row("same statuses in both modes", str(figures["same_statuses"]))
    console.print(table)
    console.print(f"figures written to {args.json}")
    return 0
