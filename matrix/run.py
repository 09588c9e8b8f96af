"""A matrix run: every cell of a spec, each in its own environment (a runner's), in parallel,
into a run folder (runfolder.py). A result is reused from the previous run when nothing that
determines it changed; a run killed part-way is continued by the same command."""

from __future__ import annotations

import concurrent.futures
import os
import platform
import shutil
import subprocess
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from matrix import formats, image, runfolder
from matrix.errors import UserError
from matrix.lock import EnvError, Lock, compile_lock, uv_bin
from matrix.plan import Cell, Plan
from matrix.probe import PROBE_VERSION, SCHEMA, records, results
from matrix.probe.arguments import ProbeArgs
from matrix.probe.environment import cpu_name
from matrix.runners import Runner, machine_memory_mib
from matrix.runners import docker as docker_runner
from matrix.runners.venv import ROOT, VenvRunner

WALL_CLOCK_RESULTS = 200  # per exporter × opset: more cases than a cell is expected to hold


@dataclass
class RunOptions:
    """What a matrix run is asked for, beyond its plan (the spec's [run] table fills the gaps)."""

    timeout: float = 120.0
    cases: str = ""
    cases_from: List[str] = field(default_factory=list)
    fresh: bool = False
    locked: Optional[str] = None
    run_id: Optional[str] = None


def default_jobs(cells: int) -> int:
    """Concurrent cells: one per core, at most one per 3 GiB of available memory."""
    try:
        with open("/proc/meminfo") as f:
            available = next(int(line.split()[1]) for line in f if line.startswith("MemAvailable")) / 2**20
    except (OSError, StopIteration):
        available = 8.0
    return max(1, min(os.cpu_count() or 1, int(available // 3), cells))


def git_revision() -> Optional[str]:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return done.stdout.strip() or None


def choose_runner(wanted: str, plan: Plan, cases_from: List[str], base_image: Optional[str],
                  ca_bundle: Optional[str]) -> Tuple[Runner, str]:
    """The runner, and the reason in a few words; docker asked for but missing is a UserError."""
    if wanted == "venv":
        return VenvRunner(plan.spec.indexes), "asked for"
    client = docker_runner.client()
    if client is None:
        if wanted == "docker":
            raise UserError("--runner docker: no Docker daemon answers (is dockerd running?)")
        return VenvRunner(plan.spec.indexes), "no Docker daemon answers"
    if not base_image:
        if image.local_base_exists(client):
            base_image = image.LOCAL_BASE
        elif wanted == "auto":
            return VenvRunner(plan.spec.indexes), "a daemon answers but no base image: build one with nox -s base-image"
    if ca_bundle is None and os.path.exists(image.HOST_CA_BUNDLE):
        ca_bundle = image.HOST_CA_BUNDLE
    runner = docker_runner.DockerRunner(client, plan.spec.indexes, base_image, ca_bundle, cases_from)
    return runner, f"base image {base_image or 'python:X-slim'}"


class MatrixRun:
    def __init__(self, plan: Plan, results_root: Path, options: RunOptions, progress: Any, runner: Runner) -> None:
        self.plan = plan
        self.runner = runner
        self.options = options
        self.progress = progress
        self.root = results_root
        self.not_reused: Optional[str] = None
        # A run killed part-way is continued by the same command: its finished results are kept.
        self.continued = None if options.run_id or options.fresh \
            else runfolder.unfinished(results_root, Path(plan.spec.path).read_text())
        self.run_id = options.run_id or (self.continued or {}).get("run_id") or runfolder.new_run_id()
        self.dir = results_root / self.run_id
        self.previous = self._previous_run()
        self.cells: Dict[str, Dict[str, Any]] = {}
        self.bad_input: Optional[str] = None
        self.lock = threading.Lock()
        self.jobs = 1

    def _previous_run(self) -> Dict[str, Any]:
        latest = self.root / runfolder.LATEST / runfolder.RUN_JSON
        if self.options.fresh or not latest.exists() or latest.resolve().parent == self.dir:
            return {}
        try:
            previous = runfolder.read(latest.resolve().parent)
        except formats.FormatError as exc:  # reuse is only a saving: run everything, and say why
            self.not_reused = str(exc)
            return {}
        return {c["id"]: dict(c, file=str(self.root / previous["run_id"] / f"{c['id']}.jsonl"))
                for c in previous.get("cells", [])}

    def execute(self, jobs: int) -> Dict[str, Any]:
        self.jobs = jobs
        uv_bin()  # before the threads start (see lock.uv_bin)
        (self.dir / "lock").mkdir(parents=True, exist_ok=bool(self.continued))
        (self.dir / "logs").mkdir(exist_ok=bool(self.continued))
        started = (self.continued or {}).get("started_at") or time.time()
        self.runner.start(self.dir, self.run_id, bool(self.continued))
        self._write_run_json(started, None)
        with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
            for future in [pool.submit(self._cell, cell) for cell in self.plan.cells]:
                future.result()
        if self.bad_input:
            raise UserError(self.bad_input)
        self._write_run_json(started, time.time())
        runfolder.point_latest(self.root, self.run_id)
        return self.cells

    def _cell(self, cell: Cell) -> None:
        if self.bad_input:
            return
        started = time.time()
        record: Dict[str, Any] = {"id": cell.id, "cell": asdict(cell), "requirements": cell.requirements()}
        out = self.dir / f"{cell.id}.jsonl"
        self.progress.cell_started(cell.id)
        try:
            locked = Path(self.options.locked or "") / f"{cell.id}.txt"
            lock = Lock(cell.id, locked.read_text()) if self.options.locked and locked.exists() \
                else compile_lock(cell, self.plan.spec.indexes)
            (self.dir / "lock" / f"{cell.id}.txt").write_text(lock.text)
            record.update(lock_hash=lock.hash, pinned=lock.pinned())
            environment = self.runner.prepare(cell, lock, lambda line: self.progress.note(cell.id, line))
            record.update(env_s=round(time.time() - started, 2), **self.runner.describe(environment))
            log = self.dir / "logs" / f"{cell.id}.log"
            # The probe times each result itself; the wall clock only stops a cell that hangs outside any.
            wall_clock = self.options.timeout * WALL_CLOCK_RESULTS * len(self.plan.exporters) * len(self.plan.opsets)
            code = self.runner.run(environment, cell, self._probe_args(cell, lock, out),
                                   lambda event: self.progress.event(cell.id, event), log, wall_clock)
            if code == 2:
                with self.lock:
                    self.bad_input = self.bad_input or results_tail(log).strip().splitlines()[-1]
                record["status"] = "bad_input"
            elif code != 0:
                raise EnvError(f"the probe exited with code {code}:\n{results_tail(log)}")
            else:
                record["status"] = "ok"
        except EnvError as exc:
            record.update(status="env_error", error=str(exc).splitlines()[0])
            try:
                writer = results.Writer(str(out))
                versions = {"python": cell.python, "torch": cell.torch, "onnx": cell.onnx,
                            "onnxruntime": cell.onnxruntime, "onnxscript": cell.onnxscript, "numpy": None}
                for result in records.env_errors(self.run_id, cell.id, cell.device, self.plan.exporters,
                                                 self.plan.opsets, versions, str(exc), cell.requirements()):
                    writer.write(result)
                writer.close()
            except (results.WriteFailed, OSError) as failed:  # a full disk: run.json still says why
                record["error"] += f" (and its env_error results could not be written: {failed})"
        record["seconds"] = round(time.time() - started, 2)
        with self.lock:
            self.cells[cell.id] = record
        self.progress.cell_finished(cell.id, record)

    def _probe_args(self, cell: Cell, lock: Lock, out: Path) -> ProbeArgs:
        """What the cell's probe is asked: this machine's paths (the runner translates them)."""
        args = ProbeArgs(out=str(out), exporters=self.plan.exporters, opsets=self.plan.opsets, devices=[cell.device],
                         timeout=self.options.timeout, cases=self.options.cases,
                         cases_from=[str(Path(s).resolve()) for s in self.options.cases_from],
                         cell=cell.id, run_id=self.run_id, keep_failed=str(self.dir / "models"),
                         memory_limit=self.runner.memory_mib(int(machine_memory_mib() * 0.75 / max(1, self.jobs))))
        if out.exists():  # continuing a killed run: keep what the cell finished, drop its env_error stand-ins
            found = list(results.read(str(out)))
            kept = [r for r in found if r.get("case") != "*"]
            if len(kept) != len(found):
                writer = results.Writer(str(out.with_suffix(".tmp")))
                for result in kept:
                    writer.write(result)
                writer.close()
                os.replace(out.with_suffix(".tmp"), out)
            args.resume = bool(kept)
        earlier = self.previous.get(cell.id)
        if earlier and earlier.get("lock_hash") == lock.hash and Path(earlier["file"]).exists():
            # a copy inside this run's folder, which is all a container can see
            (self.dir / "reuse").mkdir(exist_ok=True)
            copy = self.dir / "reuse" / f"{cell.id}.jsonl"
            shutil.copyfile(earlier["file"], copy)
            args.reuse = str(copy)
        return args

    def _write_run_json(self, started: float, finished: Optional[float]) -> None:
        spec = self.plan.spec
        runfolder.write(self.dir, {
            "schema": SCHEMA, "run_id": self.run_id, "started_at": started, "finished_at": finished,
            "spec": {"path": spec.path, "text": Path(spec.path).read_text(), "description": spec.description},
            "plan": self.plan.as_json(), "cells": sorted(self.cells.values(), key=lambda c: c["id"]),
            "host": {"platform": platform.platform(), "python": platform.python_version(), "cpu": cpu_name(),
                     "cores": os.cpu_count()},
            "git_revision": git_revision(), "probe_version": PROBE_VERSION, "runner": self.runner.name,
        })


def results_tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
