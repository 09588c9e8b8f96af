"""The whole matrix, as a user runs it: cold (empty caches, a fresh machine), then again with
nothing changed; and how the wall time scales with concurrent cells (-j) and with cases."""

from __future__ import annotations

import argparse
import glob
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List

from rich.console import Console

from matrix.probe import results


def _matrix(spec: str, results_root: str, env: Dict[str, str], *extra: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "matrix", "run", "--spec", spec, "--results", results_root, *extra],
                   check=True, env=env, stdout=subprocess.DEVNULL)
    return round(time.perf_counter() - start, 1)


def _report(results_root: str, out: str, env: Dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "matrix", "report", "--results", results_root, "--out", out],
                   check=True, env=env, stdout=subprocess.DEVNULL)
    return round(time.perf_counter() - start, 1)


def _latest(root: str) -> List[Dict[str, Any]]:
    return _results(os.path.join(root, "latest"))


def _results(folder: str) -> List[Dict[str, Any]]:
    return [r for name in sorted(os.listdir(folder)) if name.endswith(".jsonl")
            for r in results.read(os.path.join(folder, name))]


def whole_matrix(args: argparse.Namespace, console: Console) -> Dict[str, Any]:
    """The spec's matrix from empty caches (cold), again with nothing changed (warm), and rerun
    with --fresh (environments built, nothing reused: each job's own time); the cold run broken
    down by where its time went. With --matrix-baseline, the same with one environment per cell.
    The venv runner: its cold start is an empty uv cache, which a benchmark can make."""
    figures: Dict[str, Any] = {"spec": args.spec, "runner": "venv", "jobs": args.matrix_jobs}
    ways = [("split", ["--runner", "venv"])]
    if args.matrix_baseline:
        ways.append(("one_environment", ["--runner", "venv", "--no-split"]))
    for way, extra in ways:
        extra = [*extra, "-j", str(args.matrix_jobs)]
        with tempfile.TemporaryDirectory(prefix="matrix-bench-cold-") as tmp:
            env = dict(os.environ, XDG_CACHE_HOME=os.path.join(tmp, "cache"), UV_CACHE_DIR=os.path.join(tmp, "uv"))
            root, site = os.path.join(tmp, "results"), os.path.join(tmp, "report")
            figures[way] = {}
            for label in ("cold", "warm"):
                run_s = _matrix(args.spec, root, env, *extra)
                report_s = _report(root, site, env)
                found = _latest(root)
                figures[way][label] = {"run_s": run_s, "report_s": report_s, "total_s": round(run_s + report_s, 1),
                                       "results": len(found), "reused": sum(1 for r in found if r.get("reused_from"))}
                if label == "cold":
                    figures[way]["breakdown"] = breakdown(os.path.join(root, "latest"), args.matrix_jobs, report_s)
                console.print(f"matrix, {way.replace('_', ' ')}, {label}: run {run_s} s + report {report_s} s, "
                              f"{len(found)} results, {figures[way][label]['reused']} reused")
            figures[way]["fresh_s"] = _matrix(args.spec, root, env, "--fresh", *extra)
            run = json.loads(open(os.path.join(root, "latest", "run.json")).read())
            figures[way]["jobs"] = {"export_s": sorted(e["seconds"] for e in run.get("exports", [])),
                                    "cell_s": sorted(c["seconds"] for c in run["cells"])}
            figures["cells"] = len(run["cells"])
    if "one_environment" in figures:
        figures["cold_speedup"] = round(figures["one_environment"]["cold"]["run_s"]
                                        / figures["split"]["cold"]["run_s"], 2)
        figures["nightly"] = _nightly_machine_time(figures)
    return figures


def breakdown(run_folder: str, jobs: int, report_s: float) -> Dict[str, Any]:
    """Where a run's time went, from what the run recorded: each phase's wall time, the
    environments, the exports' own seconds per exporter (each bundle's), the version frontier's
    measurements, the runtime sides' checks; and the floor no scheduling beats, the exports'
    seconds divided by the concurrent jobs."""
    run = json.loads(open(os.path.join(run_folder, "run.json")).read())
    exports: Dict[str, float] = {}
    for meta_file in glob.glob(os.path.join(run_folder, "bundles", "*", "*", "bundle.json")):
        meta = json.loads(open(meta_file).read())
        exports[meta["exporter"]] = exports.get(meta["exporter"], 0.0) + float(meta["outcome"].get("seconds") or 0)
    frontier = 0.0
    for path in glob.glob(os.path.join(run_folder, "frontier", "*.json")):
        measured = json.loads(open(path).read())
        frontier += float(measured.get("seconds") or (measured.get("runtime") or {}).get("seconds") or 0)
    checks = sum(float(r.get("seconds") or 0) for r in _results(run_folder) if r["status"] != "skipped")
    total = sum(exports.values())
    return {"phases_s": run.get("phases", {}),
            "export_env_s": sorted(e.get("env_s", 0) for e in run.get("exports", [])),
            "runtime_env_s": sorted(c.get("env_s", 0) for c in run["cells"]),
            "exports_s": {k: round(v, 1) for k, v in sorted(exports.items())}, "frontier_s": round(frontier, 1),
            "checks_s": round(checks, 1), "report_s": report_s, "floor_s": round(total / max(jobs, 1), 1)}


def _nightly_machine_time(figures: Dict[str, Any]) -> Dict[str, Any]:
    """The nightly plan's machine time both ways, from the jobs measured above (their medians)
    and the nightly plan's numbers of cells and export sides."""
    from matrix.index import Index
    from matrix.plan import resolve
    from matrix.spec import load

    spec = load("nightly")
    plan = resolve(spec, Index.for_spec(spec.indexes))
    exports = len({cell.export_side() for cell in plan.cells})
    split, one = figures["split"]["jobs"], figures["one_environment"]["jobs"]
    today = len(plan.cells) * statistics.median(one["cell_s"])
    halves = exports * statistics.median(split["export_s"]) + len(plan.cells) * statistics.median(split["cell_s"])
    return {"cells": len(plan.cells), "exports": exports, "one_environment_h": round(today / 3600, 2),
            "split_h": round(halves / 3600, 2), "ratio": round(today / halves, 2)}


def scaling(args: argparse.Namespace, console: Console) -> Dict[str, Any]:
    """Every cell of the spec rerun (--fresh; environments already built) at -j 1, 2 and 4; then
    one cell with a growing number of cases."""
    jobs = [int(j) for j in args.jobs.split(",")]
    by_jobs: Dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="matrix-bench-scale-") as tmp:
        root = os.path.join(tmp, "results")
        env = dict(os.environ)
        _matrix(args.spec, root, env, "--cases", args.scaling_cases)  # builds (or finds) the environments
        cells = len(json.loads(open(os.path.join(root, "latest", "run.json")).read())["cells"])
        per_cell = len(_latest(root)) // max(cells, 1)
        for j in jobs:
            seconds = _matrix(args.spec, root, env, "--fresh", "-j", str(j), "--cases", args.scaling_cases)
            by_jobs[str(j)] = {"wall_s": seconds, "s_per_result": round(seconds / (cells * per_cell), 3)}
            console.print(f"scaling: {cells} cells × {per_cell} results at -j {j}: {seconds} s")
        ids = [json.loads(line)["case"] for line in subprocess.run(
            [sys.executable, "-m", "matrix.probe", "--list"], capture_output=True, text=True, check=True
        ).stdout.splitlines()]
        first_cell = json.loads(open(os.path.join(root, "latest", "run.json")).read())["cells"][0]["id"]
        by_cases: Dict[str, Any] = {}
        for n in args.case_counts:
            chosen = ",".join(ids[:n])
            seconds = _matrix(args.spec, root, env, "--fresh", "--cell", first_cell, "--cases", chosen)
            by_cases[str(n)] = {"wall_s": seconds, "s_per_case": round(seconds / n, 2)}
            console.print(f"scaling: one cell, {n} cases × exporters: {seconds} s")
    return {"spec": args.spec, "cells": cells, "results_per_cell": per_cell, "cases": args.scaling_cases,
            "by_jobs": by_jobs, "one_cell": first_cell, "by_cases": by_cases}


def _by_remedy(searched: List[Dict[str, Any]]) -> Dict[str, Dict[str, Any]]:
    """Where the search's time went: per remedy, the tries made (not those told by a sibling cell),
    how many passed, and their seconds."""
    out: Dict[str, Dict[str, Any]] = {}
    for tried in (t for s in searched for t in s.get("tried", []) if not t.get("from")):
        row = out.setdefault(tried["remedy"], {"tries": 0, "passed": 0, "seconds": 0.0})
        row["tries"] += 1
        row["passed"] += tried["status"] == "pass"
        row["seconds"] = round(row["seconds"] + (tried.get("seconds") or 0), 1)
    return dict(sorted(out.items(), key=lambda kv: -kv[1]["seconds"]))


def remedies(args: argparse.Namespace, console: Console) -> Dict[str, Any]:
    """The spec's matrix rerun (--fresh: nothing reused; environments already built) without and with
    --remedies, in one results root. A first run of one case that fails in every cell, not timed,
    builds every environment the search needs (each side, and each cell whole)."""
    with tempfile.TemporaryDirectory(prefix="matrix-bench-remedies-") as tmp:
        root = os.path.join(tmp, "results")
        env = dict(os.environ)
        venv = ("--runner", "venv")  # as the whole-matrix figure: "auto" would take docker where a daemon answers
        prepare_s = _matrix(args.spec, root, env, *venv, "--remedies", "--cases", "numerics/amax_nan")
        without_s = _matrix(args.spec, root, env, *venv, "--fresh", "--no-remedies")
        plain = _latest(root)
        with_s = _matrix(args.spec, root, env, *venv, "--fresh", "--remedies")
        passes = {c["id"]: c.get("remedies_error") for c in json.loads(
            open(os.path.join(root, "latest", "run.json")).read())["cells"] if c.get("remedies_error")}
        found = _latest(root)
    searched = [r["remedy"] for r in found if r.get("remedy")]
    if passes:  # a whole-cell pass that failed would make the search look cheaper than it is
        raise SystemExit(f"the remedies pass failed: {passes}")
    figures = {"spec": args.spec, "runner": "venv", "results": len(found), "prepare_s": prepare_s,
               "without_s": without_s,
               "with_s": with_s, "ratio": round(with_s / without_s, 2),
               "failing": sum(1 for r in plain if r["status"] not in ("pass", "skipped", "env_error")),
               "searched": len(searched), "fixed": sum(1 for s in searched if s.get("fixed_by")),
               "tries": sum(len(s.get("tried", [])) for s in searched),
               "try_s": round(sum(t.get("seconds", 0) for s in searched for t in s.get("tried", [])), 1),
               "shared": sum(1 for s in searched for t in s.get("tried", []) if t.get("from")),
               "skipped": sum(len(s.get("skipped") or ()) for s in searched),
               "by_remedy": _by_remedy(searched)}
    console.print(f"remedies: without {without_s} s, with {with_s} s ({figures['ratio']} ×); "
                  f"{figures['fixed']} of {figures['searched']} searched fixed, {figures['tries']} tries")
    return figures
