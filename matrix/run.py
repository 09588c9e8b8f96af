"""`python -m matrix run`: every cell of a spec, each in its own environment, in parallel.

results/<run-id>/run.json    spec, plan, locks, host, git revision, times
results/<run-id>/<cell>.jsonl the cell's results (the probe's format)
results/<run-id>/lock/<cell>.txt   each cell's complete install set with hashes
results/<run-id>/models/     the .onnx of every failing result, for the report to link
results/latest               the newest run
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import platform
import shutil
import subprocess
import threading
import time
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Any, Dict, Optional

from matrix import formats, image
from matrix.lock import EnvError, Lock, compile_lock, uv_bin
from matrix.plan import Cell, Plan
from matrix.probe import PROBE_VERSION, SCHEMA, records, results
from matrix.probe.corpus import BadInput
from matrix.probe.environment import cpu_name
from matrix.runners import docker as docker_runner
from matrix.runners import venv

WALL_CLOCK_RESULTS = 200  # per exporter × opset: more cases than a cell is expected to hold


def new_run_id() -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + uuid.uuid4().hex[:6]


def default_jobs(cells: int) -> int:
    """Concurrent cells: one per core, at most one per 3 GiB of available memory."""
    try:
        with open("/proc/meminfo") as f:
            available = next(int(line.split()[1]) for line in f if line.startswith("MemAvailable")) / 2**20
    except (OSError, StopIteration):
        available = 8.0
    return max(1, min(os.cpu_count() or 1, int(available // 3), cells))


def git_revision() -> Optional[str]:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=venv.ROOT, capture_output=True, text=True)
    return done.stdout.strip() or None


class MatrixRun:
    def __init__(self, plan: Plan, results_root: Path, options: Any, progress: Any, runner: str = "venv",
                 docker_client: Any = None) -> None:
        self.plan = plan
        self.runner = runner
        self.docker = docker_client
        self.options = options
        self.progress = progress
        self.root = results_root
        self.not_reused: Optional[str] = None
        # A run killed part-way is continued by the same command: its finished results are kept.
        self.continued = None if getattr(options, "run_id", None) or options.fresh else unfinished(results_root, plan)
        self.run_id = getattr(options, "run_id", None) or (self.continued or {}).get("run_id") or new_run_id()
        self.dir = results_root / self.run_id
        self.previous = self._previous_run()
        self.cells: Dict[str, Dict[str, Any]] = {}
        self.bad_input: Optional[str] = None
        self.lock = threading.Lock()
        self.jobs = 1

    def _previous_run(self) -> Dict[str, Any]:
        latest = self.root / "latest" / "run.json"
        if self.options.fresh or not latest.exists() or latest.resolve().parent == self.dir:
            return {}
        try:
            previous = formats.read_run(latest.resolve().parent)
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
        if self.runner == "docker":  # containers a killed run or a stopped daemon left behind
            docker_runner.sweep(self.docker, self.run_id if self.continued else None, stopped_only=not self.continued)
        self._write_run_json(started, None)
        with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
            for future in [pool.submit(self._cell, cell) for cell in self.plan.cells]:
                future.result()
        if self.bad_input:
            raise BadInput(self.bad_input)
        self._write_run_json(started, time.time())
        self._point_latest()
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
            try:
                environment = self._prepare(cell, lock)
                record["env_s"] = round(time.time() - started, 2)
                if self.runner == "docker":
                    record["image"] = environment
                code, stderr_tail = self._probe(cell, lock, environment, out)
            except (EnvError, BadInput):
                raise
            except Exception as exc:  # noqa: BLE001 -- e.g. the Docker daemon stopped: this cell's env_error
                if self.runner != "docker":
                    raise
                raise EnvError(f"docker: {type(exc).__name__}: {exc}") from exc
            if code == 2:
                with self.lock:
                    self.bad_input = self.bad_input or stderr_tail.strip().splitlines()[-1]
                record["status"] = "bad_input"
            elif code != 0:
                raise EnvError(f"the probe exited with code {code}:\n{stderr_tail}")
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

    def _prepare(self, cell: Cell, lock: Lock) -> Any:
        """The cell's environment: a venv's interpreter, or a built image's name."""
        if self.runner != "docker":
            return venv.ensure(lock, cell.python, self.plan.spec.indexes)
        o = self.options
        wheelhouse = [d for options in self.plan.spec.indexes.values() for d in options.get("find-links", [])]
        context = image.render(cell, lock, self.plan.spec.indexes, base_image=o.base_image,
                               ca_bundle=o.ca_bundle, wheelhouse=wheelhouse)
        return image.build(self.docker, context, lock, lambda line: self.progress.note(cell.id, line))

    def _probe(self, cell: Cell, lock: Lock, environment: Any, out: Path) -> tuple:
        """Run the probe in the cell's environment; paths are given as the environment sees them."""
        o = self.options
        cases_from = [str(Path(s).resolve()) for s in o.cases_from]
        in_container = self.runner == "docker"

        def where(path: Path) -> str:
            return docker_runner.inside(str(path), self.dir, cases_from) if in_container else str(path)

        args = ["--out", where(out), "--device", cell.device, "--exporter", ",".join(self.plan.exporters),
                "--opset", ",".join("default" if x is None else str(x) for x in self.plan.opsets),
                "--timeout", str(o.timeout), "--cell", cell.id, "--run-id", self.run_id,
                "--keep-failed", where(self.dir / "models"), "--memory-limit", str(self._memory_mib(in_container))]
        if o.cases:
            args += ["--cases", o.cases]
        for source in cases_from:
            args += ["--cases-from", where(Path(source))]
        if out.exists():  # continuing a killed run: keep what the cell finished, drop its env_error stand-ins
            found = list(results.read(str(out)))
            kept = [r for r in found if r.get("case") != "*"]
            if len(kept) != len(found):
                writer = results.Writer(str(out.with_suffix(".tmp")))
                for result in kept:
                    writer.write(result)
                writer.close()
                os.replace(out.with_suffix(".tmp"), out)
            if kept:
                args.append("--resume")
        earlier = self.previous.get(cell.id)
        if earlier and earlier.get("lock_hash") == lock.hash and Path(earlier["file"]).exists():
            # a copy inside this run's folder, which is all a container can see
            (self.dir / "reuse").mkdir(exist_ok=True)
            copy = self.dir / "reuse" / f"{cell.id}.jsonl"
            shutil.copyfile(earlier["file"], copy)
            args += ["--reuse", where(copy)]
        log = self.dir / "logs" / f"{cell.id}.log"
        on_event = lambda event: self.progress.event(cell.id, event)  # noqa: E731
        if not in_container:
            with open(log, "w") as stderr:
                return venv.run(environment, args, on_event, stderr=stderr), results_tail(log)
        # The probe times each result itself; this only stops a container that hangs outside any result.
        wall_clock = float(o.timeout) * WALL_CLOCK_RESULTS * len(self.plan.exporters) * len(self.plan.opsets)
        code = docker_runner.run(self.docker, environment, args, self.dir, cases_from, on_event, self.run_id,
                                 # without the NVIDIA runtime no GPU is asked for: the probe then records
                                 # the cuda results as skipped ("no CUDA device")
                                 gpu=cell.device == "cuda" and docker_runner.gpus_available(self.docker),
                                 wall_clock_s=wall_clock, stderr_path=log)
        return code, results_tail(log)

    def _memory_mib(self, in_container: bool) -> int:
        """Per result: 3/4 of the machine's memory shared by the cells running at once; in a
        container, within its memory limit (docker_runner.MEMORY_MIB)."""
        try:
            total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**20
        except (ValueError, OSError):
            total = 8192.0
        share = int(total * 0.75 / max(1, self.jobs))
        return min(share, int(docker_runner.MEMORY_MIB * 0.75)) if in_container else share

    def _write_run_json(self, started: float, finished: Optional[float]) -> None:
        spec = self.plan.spec
        data = {
            "schema": SCHEMA, "run_id": self.run_id, "started_at": started, "finished_at": finished,
            "spec": {"path": spec.path, "text": Path(spec.path).read_text(), "description": spec.description},
            "plan": self.plan.as_json(), "cells": sorted(self.cells.values(), key=lambda c: c["id"]),
            "host": {"platform": platform.platform(), "python": platform.python_version(), "cpu": cpu_name(),
                     "cores": os.cpu_count()},
            "git_revision": git_revision(), "probe_version": PROBE_VERSION, "runner": self.runner,
        }
        tmp = self.dir / "run.json.tmp"
        tmp.write_text(json.dumps(data, indent=1))
        tmp.replace(self.dir / "run.json")

    def _point_latest(self) -> None:
        link = self.root / "latest"
        tmp = self.root / f".latest-{self.run_id}"
        os.symlink(self.run_id, tmp)
        os.replace(tmp, link)


class Busy(Exception):
    """Another run holds the results folder."""


def claim(root: Path) -> Any:
    """Hold the results folder for this run (released when the process ends, however it ends)."""
    import fcntl

    root.mkdir(parents=True, exist_ok=True)
    handle = open(root / ".run.lock", "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise Busy(f"{root} is in use by another run ({holder}); wait for it, or use another --results") from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()} since {time.strftime('%H:%M:%S')}")
    handle.flush()
    return handle


def unfinished(root: Path, plan: Plan) -> Optional[Dict[str, Any]]:
    """The newest run under root that was killed before it finished, if it ran this same spec."""
    from matrix.merge import spec_hash

    if not root.is_dir():
        return None
    for folder in sorted((p for p in root.iterdir() if (p / "run.json").is_file()), reverse=True):
        try:
            meta = formats.read_run(folder)
        except formats.FormatError:
            continue
        if meta.get("finished_at"):
            return None  # the newest run finished: nothing to continue
        same = spec_hash(meta) == spec_hash({"spec": {"text": Path(plan.spec.path).read_text()}})
        return meta if same and meta.get("run_id") == folder.name else None
    return None


def results_tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
