"""The nightly workflow rehearsed on this machine: the steps of `.github/workflows/nightly.yml`
themselves, run over a slice of the nightly spec, each job in a folder of its own as on a CI
machine of its own, the artifacts between jobs handed on as its upload and download steps say.
Each step is timed, and each artifact measured as upload-artifact sends it (zipped), so the
bytes a night moves between jobs and publishes are counted, not assumed.

What cannot run here is said, not imitated: checkout and setup-python (this checkout and this
interpreter stand in), the Pages deploy, and GPU jobs (the slice is CPU only)."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any, Callable, Dict, List

import yaml

from matrix.errors import UserError
from matrix.spec import tomllib

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / ".github" / "workflows" / "nightly.yml"
NIGHTLY = ROOT / "matrix" / "specs" / "nightly.toml"
# a few cases of each kind, the model families' heaviest among them
CASES = "blocks/mlp,blocks/lstm,operators/tril,dtypes/fp16,dynamic/*,models/bert,models/resnet18"
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


class RehearsalError(UserError):
    """A step of the workflow failed here, or the workflow holds what the rehearsal cannot stand in for."""


def slice_spec(cases: str, torch: str = "latest-minors:1", onnx: str = "latest-minors:1") -> str:
    """The nightly spec narrowed to one torch × one onnx × every onnxruntime, CPU, a set of cases;
    everything else (exporters, opsets, remedies, the model libraries) as the nightly has it, but
    the case corpus alone: the operator suites' cost is measured apart (docs/operators.md)."""
    spec = tomllib.loads(NIGHTLY.read_text())
    spec["matrix"].update(torch=[torch], onnx=[onnx], device=["cpu"])
    spec.pop("include", None)
    spec.setdefault("run", {}).update(cases=cases, suites=["cases"])
    lines = [f"description = {json.dumps('a slice of the nightly spec, rehearsed')}"]
    for table in ("matrix", "run"):
        lines.append(f"[{table}]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in spec[table].items()]
    return "\n".join(lines) + "\n"


def _files(base: Path, patterns: str) -> List[Path]:
    """The files an upload-artifact `path:` names (lines; `!` excludes), under base."""
    chosen: Dict[Path, None] = {}
    for line in (p.strip() for p in patterns.splitlines() if p.strip()):
        excluded = line.startswith("!")
        target = base / line.lstrip("!")
        found = [p for p in target.rglob("*") if p.is_file()] if target.is_dir() else [target] if target.exists() \
            else []
        for path in found:
            if excluded:
                chosen.pop(path, None)
            else:
                chosen[path] = None
    return list(chosen)


def _zipped(files: List[Path], root: Path, archive: Path) -> int:
    """The artifact as upload-artifact sends it: a zip (deflate); its bytes."""
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
        for path in files:
            out.write(path, path.relative_to(root))
    return archive.stat().st_size


class Rehearsal:
    def __init__(self, work: Path, spec: Path, runner: str, note: Callable[[str], None]):
        self.work, self.spec, self.runner, self.note = work, spec, runner, note
        self.workflow = yaml.safe_load(WORKFLOW.read_text())
        self.artifacts: Dict[str, Dict[str, Any]] = {}  # name → {folder, bytes, files}
        self.outputs: Dict[str, Dict[str, str]] = {}  # job → its outputs
        self.steps: List[Dict[str, Any]] = []

    def value(self, expression: str, matrix: Dict[str, Any]) -> str:
        if expression.startswith("matrix."):
            return str(matrix[expression[len("matrix."):]])
        found = re.fullmatch(r"needs\.(\w+)\.outputs\.(\w+)", expression)
        if found:
            return self.outputs[found.group(1)][found.group(2)]
        if expression == "inputs.spec || 'nightly'":
            return str(self.spec)
        if expression.startswith(("github.", "steps.")) or "fromJSON" in expression:
            return ""  # names and conditions a rehearsal does not need
        raise RehearsalError(f"{WORKFLOW.name}: the rehearsal cannot stand in for ${{{{ {expression} }}}}")

    def fill(self, text: str, matrix: Dict[str, Any]) -> str:
        return EXPRESSION.sub(lambda found: self.value(found.group(1), matrix), text)

    def job(self, name: str, label: str, matrix: Dict[str, Any]) -> None:
        """One job of the workflow, in a folder of its own."""
        folder = self.work / label
        folder.mkdir(parents=True)
        output = folder / ".github_output"
        output.touch()
        env = dict(os.environ, PYTHONPATH=str(ROOT), PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}",
                   GITHUB_OUTPUT=str(output), PAGES_URL="http://127.0.0.1:9")  # no site published yet: a first night
        env.update({k: self.fill(str(v), matrix) for k, v in (self.workflow.get("env") or {}).items()})
        for step in self.workflow["jobs"][name]["steps"]:
            uses, started = step.get("uses", "").split("@")[0], time.perf_counter()
            given = {k: self.fill(str(v), matrix) for k, v in (step.get("with") or {}).items()}
            if "run" in step:
                command = self.fill(step["run"], matrix)
                if "pip install" in command:
                    continue  # this interpreter has the orchestrator already
                step_env = dict(env, **{k: self.fill(str(v), matrix) for k, v in (step.get("env") or {}).items()})
                moved = self._run(label, step.get("name") or command[:60], command, folder, step_env)
            elif uses == "actions/upload-artifact":
                moved = self._upload(folder, given)
            elif uses == "actions/download-artifact":
                moved = self._download(folder, given)
            elif uses == "actions/upload-pages-artifact":
                moved = sum(p.stat().st_size for p in (folder / given["path"]).rglob("*") if p.is_file())
            else:
                continue  # checkout, setup-python: this checkout and interpreter stand in
            self.steps.append({"job": label, "step": step.get("name") or uses, "seconds":
                               round(time.perf_counter() - started, 1), "bytes": moved,
                               "direction": {"actions/upload-artifact": "up", "actions/download-artifact": "down",
                                             "actions/upload-pages-artifact": "published"}.get(uses, "")})
            self.note(f"{label}: {self.steps[-1]['step']} {self.steps[-1]['seconds']} s")
        self.outputs[name] = dict(line.split("=", 1) for line in output.read_text().splitlines() if "=" in line)

    def _run(self, label: str, name: str, command: str, folder: Path, env: Dict[str, str]) -> int:
        if self.runner != "docker":
            command = command.replace("--runner docker", f"--runner {self.runner}")
        done = subprocess.run(["bash", "-e", "-c", command], cwd=folder, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RehearsalError(f"{label}: step {name!r} exited {done.returncode}: "
                                 f"{(done.stderr or done.stdout).strip()[-400:]}")
        return 0

    def _upload(self, folder: Path, given: Dict[str, str]) -> int:
        files = _files(folder, given["path"])
        archive = self.work / "artifacts" / f"{given['name']}.zip"
        archive.parent.mkdir(exist_ok=True)
        searched = [folder / line.strip() for line in given["path"].splitlines()
                    if line.strip() and not line.strip().startswith("!")]
        # upload-artifact keeps paths below the least common ancestor of its search paths
        root = Path(os.path.commonpath([p if p.is_dir() else p.parent for p in searched]))
        self.artifacts[given["name"]] = {"root": root, "files": files,
                                         "bytes": _zipped(files, root, archive) if files else 0}
        return self.artifacts[given["name"]]["bytes"]

    def _download(self, folder: Path, given: Dict[str, str]) -> int:
        moved = 0
        for name in [n for n in self.artifacts if fnmatch.fnmatch(n, given.get("pattern") or given["name"])]:
            where = folder / given["path"] / (name if given.get("pattern") else "")
            source = self.artifacts[name]
            for path in source["files"]:
                (where / path.relative_to(source["root"])).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, where / path.relative_to(source["root"]))
            moved += source["bytes"]
        return moved


def rehearse(work: Path, cases: str = CASES, runner: str = "venv",
             note: Callable[[str], None] = lambda line: None) -> Dict[str, Any]:
    """The workflow's jobs in order over the slice; each step's seconds and bytes, and the site."""
    if work.exists() and any(work.iterdir()):
        raise UserError(f"{work}: not empty; the rehearsal starts from nothing, as a night does")
    work.mkdir(parents=True, exist_ok=True)
    spec = work / "nightly-slice.toml"
    spec.write_text(slice_spec(cases))
    rehearsal = Rehearsal(work, spec, runner, note)
    rehearsal.job("plan", "plan", {})
    sides = json.loads(rehearsal.outputs["plan"]["exports"])
    for n, side in enumerate(sides):
        rehearsal.job("export", f"side-{n}", side)
    rehearsal.job("report", "report", {})
    report = work / "report"
    run = json.loads((report / "results" / rehearsal.outputs["plan"]["run_id"] / "run.json").read_text())
    results = sum(1 for c in run["cells"] for _ in open(report / "results" / run["run_id"] / f"{c['id']}.jsonl"))
    kept = [p for n in range(len(sides)) for p in (work / f"side-{n}" / "results").rglob("bundles/*/*/bundle.json")]
    return {"spec": spec.read_text(), "runner": runner, "steps": rehearsal.steps, "sides": len(sides),
            "cells": len(run["cells"]), "results": results, "bundles_made": len(kept),
            "bundles_bytes": sum(p.stat().st_size for n in range(len(sides))
                                 for p in (work / f"side-{n}" / "results").rglob("bundles/**/*") if p.is_file()),
            "published_bundles_bytes": sum(p.stat().st_size for p in (report / "site" / "models").rglob("*")
                                           if p.is_file()) if (report / "site" / "models").is_dir() else 0,
            "site_bytes": sum(p.stat().st_size for p in (report / "site").rglob("*") if p.is_file()),
            "side_parts": _parts(sorted((work / "artifacts").glob("side-*.zip")))}


PER_CELL = ("lock", "frontier", "logs", "run.json")  # what a job hands on per cell, whatever the cases


def _parts(archives: List[Path]) -> Dict[str, int]:
    """The side jobs' artifacts' compressed bytes by what they hold (lock, models, results, ...)."""
    parts: Dict[str, int] = {}
    for archive in archives:
        with zipfile.ZipFile(archive) as z:
            for entry in z.infolist():
                part = entry.filename.split("/")[0] if "/" in entry.filename else \
                    "run.json" if entry.filename == "run.json" else "results"
                parts[part] = parts.get(part, 0) + entry.compress_size
    return parts


def projection(measured: Dict[str, Any], plan: Dict[str, Any], corpus: int, slice_cases: int) -> Dict[str, Any]:
    """The full nightly from the slice: what a job hands on per cell (locks, frontier, logs) times
    the nightly's cells, the rest (results, failing bundles, remedy searches) and the time per
    result times its results."""
    full = len(plan["cells"]) * corpus * len(plan["exporters"]) * len(plan["opsets"])
    by_results, by_cells = full / max(1, measured["results"]), len(plan["cells"]) / max(1, measured["cells"])
    parts = measured["side_parts"]
    per_cell = sum(v for k, v in parts.items() if k in PER_CELL)
    per_result = sum(v for k, v in parts.items() if k not in PER_CELL)
    side_s = sum(s["seconds"] for s in measured["steps"] if s["job"].startswith("side-"))
    uploaded = per_cell * by_cells + per_result * by_results
    return {"results": full, "sides": len({c["export"] for c in plan["cells"]}), "cells": len(plan["cells"]),
            "corpus": corpus, "slice_cases": slice_cases, "by_results": round(by_results, 1),
            "by_cells": round(by_cells, 1), "per_cell_bytes": per_cell, "per_result_bytes": per_result,
            "moved_bytes": round(2 * uploaded),  # uploaded by the side jobs, downloaded once by the report job
            "published_bundles_bytes": round(measured["published_bundles_bytes"] * by_results),
            "bundles_kept_bytes": round(measured["bundles_bytes"] * by_results),
            "machine_hours": round(side_s * by_results / 3600, 1)}
