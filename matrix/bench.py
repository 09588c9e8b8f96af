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
import shutil
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
    figures = {"isolation": isolation, "envs": envs, "matrix": whole_matrix,
               "report": report_scale}[args.what](args, console)
    existing = {}
    if os.path.exists(args.json):
        with open(args.json) as f:
            existing = json.load(f)
    existing[args.what] = figures  # one file gathers every benchmark's latest figures
    with open(args.json, "w") as f:
        json.dump(existing, f, indent=2)
    console.print_json(data=figures)
    if args.what != "isolation":
        return 0
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


def envs(args: argparse.Namespace, console: Console) -> Dict[str, Any]:
    """Environment creation with a warm cache: the venv runner vs python -m venv + pip install
    of the same locked set (both caches warmed by one untimed run first)."""
    from matrix.index import Index
    from matrix.lock import compile_lock
    from matrix.plan import resolve
    from matrix.runners import venv as venv_runner
    from matrix.spec import load

    plan = resolve(load(args.spec), Index())
    cell = next(c for c in plan.cells if c.id == args.cell) if args.cell else plan.cells[-1]
    lock = compile_lock(cell, plan.spec.indexes)
    ours: List[float] = []
    naive: List[float] = []
    with tempfile.TemporaryDirectory(prefix="matrix-bench-env-") as tmp:
        lock_file = os.path.join(tmp, "lock.txt")
        with open(lock_file, "w") as f:
            f.write(lock.text)
        for rep in range(args.repeat + 1):  # the first round warms both caches and is not counted
            shutil.rmtree(venv_runner.env_dir(lock), ignore_errors=True)
            start = time.perf_counter()
            venv_runner.ensure(lock, cell.python, plan.spec.indexes)
            ours.append(time.perf_counter() - start)
            target = os.path.join(tmp, "naive")
            shutil.rmtree(target, ignore_errors=True)
            start = time.perf_counter()
            subprocess.run([f"python{cell.python}", "-m", "venv", target], check=True)
            subprocess.run([os.path.join(target, "bin", "pip"), "install", "--quiet", "--require-hashes", "-r",
                            lock_file], check=True, env=dict(os.environ, PIP_CONSTRAINT=""))
            naive.append(time.perf_counter() - start)
            console.print(f"round {rep}{' (warm-up)' if rep == 0 else ''}: venv runner {ours[-1]:.1f} s, "
                          f"python -m venv + pip install {naive[-1]:.1f} s")
    ours, naive = ours[1:], naive[1:]
    return {"machine": machine(), "cell": cell.id, "packages": len(lock.pinned()), "repeats": args.repeat,
            "venv_runner_s": _spread(ours), "venv_pip_s": _spread(naive),
            "speedup": round(statistics.median(naive) / statistics.median(ours), 1)}


def whole_matrix(args: argparse.Namespace, console: Console) -> Dict[str, Any]:
    """The spec's matrix with empty caches (a fresh machine), then again with nothing changed."""
    with tempfile.TemporaryDirectory(prefix="matrix-bench-cold-") as tmp:
        env = dict(os.environ, XDG_CACHE_HOME=os.path.join(tmp, "cache"), UV_CACHE_DIR=os.path.join(tmp, "uv"))
        times = {}
        for label in ("cold", "warm"):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "matrix", "run", "--spec", args.spec, "--results",
                            os.path.join(tmp, "results")], check=True, env=env, stdout=subprocess.DEVNULL)
            times[label] = round(time.perf_counter() - start, 1)
            console.print(f"{label}: {times[label]} s")
        reused = sum(1 for r in _latest_results(os.path.join(tmp, "results")) if r.get("reused_from"))
    return {"machine": machine(), "spec": args.spec, "cold_s": times["cold"], "warm_s": times["warm"],
            "warm_results_reused": reused}


def _latest_results(root: str) -> List[Dict[str, Any]]:
    latest = os.path.join(root, "latest")
    return [r for name in sorted(os.listdir(latest)) if name.endswith(".jsonl")
            for r in results.read(os.path.join(latest, name))]


def _spread(values: List[float]) -> Dict[str, float]:
    return {"median": round(statistics.median(values), 2), "min": round(min(values), 2), "max": round(max(values), 2)}


def report_scale(args: argparse.Namespace, console: Console) -> Dict[str, Any]:
    """Aggregate and render a report over synthetic results: 500 cells × 40 cases × 2 exporters."""
    from pathlib import Path

    from matrix.report.load import load_run
    from matrix.report.write import write_report

    statuses = ["pass"] * 7 + ["mismatch", "export_error", "load_error", "skipped", "dynamic_error"]
    with tempfile.TemporaryDirectory(prefix="matrix-bench-report-") as tmp:
        run = Path(tmp) / "results" / "run"
        run.mkdir(parents=True)
        for c in range(args.synthetic_cells):
            torch, ort, onnx = f"2.{c // 50}.{c % 5}", f"1.{10 + (c // 5) % 10}.0", f"1.{c % 3 + 15}.0"
            cell = f"torch{torch}-onnx{onnx}-ort{ort}-py3.11-cpu-{c}"
            lines = []
            for k in range(args.synthetic_cases):
                for e, exporter in enumerate(("torchscript", "dynamo")):
                    status = statuses[(c * 7 + k * 3 + e) % len(statuses)]
                    failed = status not in ("pass", "skipped")
                    lines.append(json.dumps({
                        "schema": 1, "run_id": "bench", "cell": cell, "case": f"cat{k % 6}/case_{k}",
                        "category": f"cat{k % 6}", "description": f"synthetic case {k}", "fixes": None,
                        "exporter": exporter, "opset": None, "device": "cpu", "status": status,
                        "stage": "export" if failed else "parity", "reason": "n/a" if status == "skipped" else None,
                        "error": {"type": "RuntimeError", "message": f"failure {k} in {cell}", "signature": "s",
                                  "kind": "other", "detail": {}, "hint": None, "traceback": "t" * 200}
                        if failed else None,
                        "metrics": {"max_abs_err": 1e-6 * k, "atol": 1e-5, "rtol": 1e-4},
                        "versions": {"python": "3.11", "torch": torch, "onnx": onnx, "onnxruntime": ort,
                                     "onnxscript": "0.7.2", "numpy": "2.0"},
                        "environment": {"cpu": "synthetic"}, "probe_version": "1", "seconds": 0.5}))
            (run / f"{cell}.jsonl").write_text("\n".join(lines) + "\n")
        start = time.perf_counter()
        loaded = load_run(run)
        figures = write_report(loaded, [], Path(tmp) / "report")
        seconds = time.perf_counter() - start
        size = sum(f.stat().st_size for f in (Path(tmp) / "report").rglob("*") if f.is_file())
    console.print(f"{figures['results']} results rendered in {seconds:.1f} s; index.html "
                  f"{figures['index_bytes'] / 2**20:.2f} MiB; whole site {size / 2**20:.1f} MiB")
    return {"machine": machine(), "results": figures["results"], "seconds": round(seconds, 2),
            "index_mib": round(figures["index_bytes"] / 2**20, 2), "site_mib": round(size / 2**20, 1)}
