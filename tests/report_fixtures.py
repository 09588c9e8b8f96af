"""Results for report tests: real probe results plus synthetic ones carrying hostile text."""

import copy
import json

from helpers import MATRIX_CELL, run_module
from matrix.probe import records

HOSTILE = '<script>window.PWNED=1</script>"\' onmouseover="window.PWNED=2" ../../etc/passwd'


def result(cell, case, exporter, status, **extra):
    failed = status != "pass"
    base = records.result(
        run_id="run-b", cell=cell, exporter=exporter, opset=None, device="cpu", status=status,
        case={"case": case, "category": case.split("/")[0], "description": f"{case} described", "fixes": None,
              "origin": "builtin", "case_hash": "h"},
        stage="export" if failed else "parity",
        error={"type": "RuntimeError", "message": f"{case} failed", "signature": f"RuntimeError: {case} failed",
               "kind": "other", "detail": {}, "hint": None, "traceback": "tb"} if failed else None,
        metrics={} if failed else {"max_abs_err": 1e-7}, environment={"cpu": "test"}, started_at=0, seconds=0.1,
        versions={"python": "3.11", "torch": cell.split("-")[0][5:], "onnx": "1.23.2",
                  "onnxruntime": cell.split("-")[2][3:], "onnxscript": "0.7.2", "numpy": "2.0"})
    base.update(extra)
    return base


def write_run(folder, run_id, rows, started):
    folder.mkdir(parents=True)
    by_cell = {}
    for r in rows:
        by_cell.setdefault(r["cell"], []).append(dict(r, run_id=run_id))
    for cell, part in by_cell.items():
        (folder / f"{cell}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in part))
    (folder / "run.json").write_text(json.dumps({"schema": 1, "run_id": run_id, "started_at": started,
                                                 "spec": {"path": "default"}, "git_revision": "abc1234",
                                                 "cells": [{"id": c} for c in by_cell]}))


NEW = MATRIX_CELL
OLD = "torch2.11.0-onnx1.23.2-ort1.32.0-py3.11-cpu"


def synthetic(real_results):
    """Two runs: the second adds a cell, breaks one case, fixes another; real results ride along."""
    real = [dict(copy.deepcopy(r), cell=NEW) for r in real_results]
    first = [result(OLD, "blocks/mlp", "dynamo", "pass"), result(OLD, "blocks/lstm", "dynamo", "export_error"),
             result(OLD, "dtypes/fp16", "dynamo", "pass")]
    second = [result(OLD, "blocks/mlp", "dynamo", "mismatch"), result(OLD, "blocks/lstm", "dynamo", "pass"),
              result(OLD, "dtypes/fp16", "dynamo", "pass"),
              result(NEW, "blocks/mlp", "dynamo", "pass"), result(NEW, "blocks/lstm", "dynamo", "pass"),
              result(NEW, "dtypes/fp16", "dynamo", "export_error"),
              result(NEW, "hostile/x", "torchscript", "export_error", description=HOSTILE,
                     error={"type": "E", "message": HOSTILE + " " + "long " * 400, "signature": HOSTILE,
                            "kind": "other", "detail": {}, "hint": HOSTILE, "traceback": HOSTILE}),
              result(NEW, 'hostile/"><img src=x onerror=window.PWNED=3>', "torchscript", "pass"),
              result(NEW.replace("cpu", "cuda"), "blocks/mlp", "dynamo", "skipped", device="cuda",
                     reason="no CUDA device"),
              *real]
    return first, second


def report_of(results, out):
    """`python -m matrix report` over a results root (or run folder) into `out`; returns `out`."""
    done = run_module("matrix", "report", "--results", results, "--out", out)
    assert done.returncode == 0, done.stderr
    return out


def two_runs_site(tmp_path_factory, staged_results):
    """The site of two runs: real probe results and synthetic ones on torch 2.11 and 2.15."""
    root = tmp_path_factory.mktemp("results")
    first, second = synthetic(list(staged_results.values()))
    write_run(root / "20260101T000000Z-aaaaaa", "run-a", first, 1.0)
    write_run(root / "20260102T000000Z-bbbbbb", "run-b", second, 2.0)
    (root / "latest").symlink_to("20260102T000000Z-bbbbbb")
    return report_of(root, tmp_path_factory.mktemp("site") / "report")
