"""A matrix run: every cell of a spec, in parallel, into a run folder (runfolder.py).

A cell runs in two halves (the default): each distinct export side (torch, onnx, onnxscript,
device) once, writing a bundle per result into the run folder's bundles/<export side>/, then
each cell's runtime side (onnx, onnxruntime: no torch) over its export side's bundles, started
as soon as that side has written them. An export side gets the cores no other side takes
(--workers: the jobs divided by the sides). Cells
that share a torch share its export; an onnxruntime costs a small environment. With
split=False each cell exports and checks in one environment of its own (the way before).

A side whose lock, probe, case files and arguments are the previous run's is not started at all
(matrix/reuse.py); otherwise its probe reuses each result and bundle that still holds. A run
killed part-way is continued by the same command. The phases around the cells (a fan-out's
adopted bundles, the advice's check, the remedies pass) are in matrix/phases/."""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import os
import platform
import shutil
import subprocess
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from matrix import advice, extras, formats, image, remedy, reuse, runfolder
from matrix.errors import ProbeRefused, UserError
from matrix.frontier import FRONTIER
from matrix.lock import EnvError, Lock, compile_lock, uv_bin
from matrix.phases import adopt, advice_check, remedy_search
from matrix.plan import Cell, Plan
from matrix.probe import PROBE_VERSION, SCHEMA, records, results
from matrix.probe.arguments import ProbeArgs
from matrix.probe.environment import cpu_name
from matrix.probe.frontier import FILE as FRONTIER_FILE
from matrix.runfolder import BUNDLES
from matrix.runners import Runner, machine_memory_mib
from matrix.runners import docker as docker_runner
from matrix.runners.venv import ROOT, VenvRunner

WALL_CLOCK_RESULTS = 200  # per exporter × opset: more cases than a cell is expected to hold


@dataclass
class RunOptions:
    """What a matrix run is asked for, beyond its plan (the spec's [run] table fills the gaps)."""

    timeout: float = 120.0
    cases: str = ""
    suites: List[str] = field(default_factory=lambda: ["cases"])  # matrix/probe/suites
    cases_from: List[str] = field(default_factory=list)
    models: List[Dict[str, Any]] = field(default_factory=list)  # --model entries, resolved (matrix/models.py)
    fresh: bool = False
    locked: Optional[str] = None
    run_id: Optional[str] = None
    split: bool = True  # export once per export side, check on every runtime (see the module's doc)
    exports_only: bool = False  # a fan-out's first stage
    bundles_from: List[str] = field(default_factory=list)  # a fan-out's second stage: export jobs' run folders
    frontier_only: bool = False  # measure each environment's version frontier, run no case
    remedies: bool = False  # search each failing result's remedy (matrix/remedy.py)
    remedy_budget: Optional[str] = None  # "COUNT,SECONDS" per failing result


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
                  ca_bundle: Optional[str], models: Sequence[str] = ()) -> Tuple[Runner, str]:
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
    runner = docker_runner.DockerRunner(client, plan.spec.indexes, base_image, ca_bundle, cases_from, models)
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
        self.previous_exports: Dict[str, Dict[str, Any]] = {}
        self.previous_id: Optional[str] = None
        self.previous = self._previous_run()
        self.cells: Dict[str, Dict[str, Any]] = {}
        self.exports: Dict[str, Dict[str, Any]] = {}
        self.bad_input: Optional[str] = None
        self.environments: Dict[str, Any] = {}  # side or cell id → its prepared environment, for the phases
        self.locks: Dict[str, Lock] = {}  # side or cell id → its lock, to prepare a reused side's environment later
        self.lock = threading.Lock()
        self.unpaired: Dict[str, Dict[str, str]] = {}  # per environment: the libraries its lock left out, and why
        self.jobs = 1
        self.export_workers = 1  # set by execute: cores per export side
        self.phases: Dict[str, float] = {}  # wall seconds of each phase of execute(), for run.json

    @contextlib.contextmanager
    def _phase(self, name: str) -> Iterator[None]:
        started = time.time()
        try:
            yield
        finally:
            self.phases[name] = round(time.time() - started, 2)

    def _previous_run(self) -> Dict[str, Any]:
        latest = self.root / runfolder.LATEST / runfolder.RUN_JSON
        if self.options.fresh or not latest.exists() or latest.resolve().parent == self.dir:
            return {}
        try:
            previous = runfolder.read(latest.resolve().parent)
        except formats.FormatError as exc:  # reuse is only a saving: run everything, and say why
            self.not_reused = str(exc)
            return {}
        folder = self.root / previous["run_id"]
        self.previous_id = previous["run_id"]
        self.previous_exports = {e["id"]: dict(e, folder=str(folder / BUNDLES / e["id"]))
                                 for e in previous.get("exports", [])}
        return {c["id"]: dict(c, file=str(folder / f"{c['id']}.jsonl")) for c in previous.get("cells", [])}

    def execute(self, jobs: int) -> Dict[str, Any]:
        self.jobs = jobs
        uv_bin()  # before the threads start (see lock.uv_bin)
        (self.dir / "lock").mkdir(parents=True, exist_ok=bool(self.continued))
        (self.dir / "logs").mkdir(exist_ok=bool(self.continued))
        (self.dir / FRONTIER).mkdir(exist_ok=True)
        os.chmod(self.dir / FRONTIER, 0o777)  # a container's user writes its side's measurement there
        started = (self.continued or {}).get("started_at") or time.time()
        self.runner.start(self.dir, self.run_id, bool(self.continued))
        self._write_run_json(started, None)
        with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
            sides = list(dict.fromkeys(cell.export_side() for cell in self.plan.cells))
            self.export_workers = max(1, jobs // max(1, len(sides)))  # one torch's side gets every core
            cells: List[concurrent.futures.Future] = []
            with self._phase("exports"):
                if self.options.bundles_from:
                    adopt.adopt(self, sides)
                elif self.options.split:  # a side's cells start as soon as it has written their bundles
                    exporting = {pool.submit(self._export, side): side for side in sides}
                    for future in concurrent.futures.as_completed(exporting):
                        future.result()
                        cells += [] if self.options.exports_only else [
                            pool.submit(self._cell, c) for c in self.plan.cells if c.export_side() == exporting[future]]
            with self._phase("cells"):  # the cells still running when the last export side ended
                if not (self.options.exports_only or self.options.split and not self.options.bundles_from):
                    cells = [pool.submit(self._cell, c) for c in self.plan.cells]
                for future in cells:
                    future.result()
            if not (self.options.exports_only or self.options.frontier_only or self.bad_input):
                if not self.options.bundles_from:  # the export sides' environments are elsewhere
                    with self._phase("advice"):
                        advice_check.check(self, pool)
                if self.options.remedies and self.options.split:  # a fan-out's runtime job too
                    with self._phase("remedies"):
                        remedy_search.search(self, pool)
        for record in self.exports.values():  # adopted bundles stay in their export job's run folder
            if record.get("adopted_from"):
                shutil.rmtree(self.dir / BUNDLES / record["id"], ignore_errors=True)
        if self.bad_input:
            raise UserError(self.bad_input)
        self._write_run_json(started, time.time())
        runfolder.withhold(self.dir / "models")
        advice.annotate(self.dir)
        remedy.annotate(self.dir)
        runfolder.point_latest(self.root, self.run_id)
        return self.cells

    def lock_for(self, cell: Cell) -> Lock:
        """The cell's (or side's) lock: from --locked when given, else resolved; kept in the run."""
        locked = Path(self.options.locked or "") / f"{cell.id}.txt"
        lock = Lock(cell.id, locked.read_text()) if self.options.locked and locked.exists() \
            else compile_lock(cell, self.plan.spec.indexes)
        (self.dir / "lock" / f"{cell.id}.txt").write_text(lock.text)
        self.unpaired[cell.id] = lock.unpaired()
        self.locks[cell.id] = lock
        return lock

    def environment(self, side: Cell, shown: str) -> Any:
        """The side's environment, prepared now where the run reused its results without it."""
        if side.id not in self.environments:
            lock = self.locks.get(side.id) or self.lock_for(side)
            self.environments[side.id] = self.runner.prepare(side, lock, lambda line: self.progress.note(shown, line))
        return self.environments[side.id]

    def _wall_clock(self) -> float:
        # The probe times each result itself; the wall clock only stops a cell that hangs outside any.
        return self.options.timeout * WALL_CLOCK_RESULTS * len(self.plan.exporters) * len(self.plan.opsets)

    def probe(self, cell: Cell, environment: Any, args: ProbeArgs, shown: str) -> None:
        """The probe in its environment; bad input stops the run, another failure is an EnvError."""
        log = self.dir / "logs" / f"{cell.id}.log"
        code = self.runner.run(environment, cell, args, lambda event: self.progress.event(shown, event), log,
                               self._wall_clock())
        if code == 2:
            with self.lock:
                self.bad_input = self.bad_input or results_tail(log).strip().splitlines()[-1]
            raise ProbeRefused()
        if code != 0:
            raise EnvError(f"the probe exited with code {code}:\n{results_tail(log)}")

    def _export(self, side: Cell) -> None:
        """One export side: its environment, then a bundle per result under bundles/<side>/."""
        if self.bad_input:
            return
        started = time.time()
        record: Dict[str, Any] = {"id": side.id, "cell": asdict(side), "requirements": side.requirements()}
        self.progress.cell_started(side.id)
        try:
            lock = self.lock_for(side)
            bundles = self.dir / BUNDLES / side.id
            args = self.export_args(side, bundles)
            record.update(lock_hash=lock.hash, pinned=lock.pinned(),
                          inputs=reuse.inputs(args, self.options.cases_from))
            seeded = self._seed(side, lock, bundles)
            earlier = self.previous_exports.get(side.id)
            if seeded and self.previous_id and reuse.holds(earlier, lock.hash, record["inputs"]):
                self._copy_frontier(side.id)
                record = reuse.taken(earlier, self.previous_id, time.time() - started)
            else:
                self._started(side, lock, args, side.id, record, started)
        except ProbeRefused:
            record["status"] = "bad_input"
        except EnvError as exc:
            record.update(status="env_error", error=str(exc).splitlines()[0], message=str(exc))
        record["seconds"] = round(time.time() - started, 2)
        with self.lock:
            self.exports[side.id] = record
        self.progress.cell_finished(side.id, record)

    def _started(self, side: Cell, lock: Lock, args: ProbeArgs, shown: str, record: Dict[str, Any],
                 started: float) -> None:
        """The side's environment, prepared (built or found), and its probe run: what a side the run
        could not reuse costs. The record learns the environment and that the side finished."""
        environment = self.runner.prepare(side, lock, lambda line: self.progress.note(shown, line))
        self.environments[side.id] = environment
        record.update(env_s=round(time.time() - started, 2), **self.runner.describe(environment))
        # the version frontier, measured once per environment on this machine
        measured = Path(args.bundles) / FRONTIER_FILE if args.side == "export" else \
            Path(args.frontier) if args.frontier else None
        if measured:
            reuse.seed_frontier(lock, side.python, args.exporters, measured)
        self.probe(side, environment, args, shown)
        if measured:
            reuse.keep_frontier(lock, side.python, args.exporters, measured)
        record["status"] = "ok"

    def _seed(self, side: Cell, lock: Lock, bundles: Path) -> bool:
        """The previous run's bundles of this export side, when it had the same lock, linked (not
        copied) into this run: the probe keeps each whose case and probe are unchanged. Whether
        they were."""
        earlier = self.previous_exports.get(side.id)
        if bundles.exists() or not earlier or earlier.get("lock_hash") != lock.hash \
                or not Path(earlier["folder"]).is_dir():
            return False
        runfolder.link_bundles(Path(earlier["folder"]), bundles)
        return True

    def _copy_frontier(self, side_id: str) -> None:
        """A reused side's version frontier measurement, from the previous run."""
        measured = self.root / str(self.previous_id) / FRONTIER / f"{side_id}.json"
        if measured.is_file() and not (self.dir / FRONTIER / measured.name).exists():
            shutil.copyfile(measured, self.dir / FRONTIER / measured.name)

    def _cell(self, cell: Cell) -> None:
        if self.bad_input:
            return
        started = time.time()
        record: Dict[str, Any] = {"id": cell.id, "cell": asdict(cell), "requirements": cell.requirements()}
        out = self.dir / f"{cell.id}.jsonl"
        self.progress.cell_started(cell.id)
        try:
            if self.options.split:
                exported = self.exports[cell.export_side().id]
                record.update(export=exported["id"])
                if exported["status"] != "ok":
                    raise EnvError(exported.get("message") or exported.get("error")
                                   or f"export side {exported['id']}: {exported['status']}")
                side = cell.runtime_side()
                lock = self.lock_for(side)
                # what determines the cell's results: both sides' locks
                record.update(runtime=side.id, lock_hash=_joined(exported["lock_hash"], lock.hash),
                              pinned={**exported["pinned"], **lock.pinned()})
            else:
                side, lock = cell, self.lock_for(cell)
                record.update(lock_hash=lock.hash, pinned=lock.pinned())
            fresh = not out.exists()  # a killed run's cell goes on where it stopped
            args = self.probe_args(cell, record["lock_hash"], out)
            record["inputs"] = reuse.inputs(args, self.options.cases_from)
            earlier = self.previous.get(cell.id)
            exported = self.exports.get(cell.export_side().id, {}) if self.options.split else {}
            if fresh and self.previous_id and reuse.holds(earlier, record["lock_hash"], record["inputs"]) \
                    and (not self.options.split or exported.get("reused_from")):
                previous = Path(earlier["file"]).parent
                reuse.copy_results(Path(earlier["file"]), out, self.run_id, previous / "models", self.dir / "models")
                self._copy_frontier(side.id)
                record = dict(reuse.taken(earlier, self.previous_id, time.time() - started), **{
                    k: record[k] for k in ("export", "runtime") if k in record})
            else:
                self._started(side, lock, args, cell.id, record, started)
        except ProbeRefused:
            record["status"] = "bad_input"
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

    def _memory_limit(self) -> int:
        return self.runner.memory_mib(int(machine_memory_mib() * 0.75 / max(1, self.jobs)))

    def probe_args(self, cell: Cell, lock_hash: str, out: Path) -> ProbeArgs:
        """What the cell's probe is asked: this machine's paths (the runner translates them)."""
        args = ProbeArgs(out=str(out), exporters=self.plan.exporters, opsets=self.plan.opsets, devices=[cell.device],
                         timeout=self.options.timeout, cases=self.options.cases,
                         suites=self.plan.suites_for(cell, self.options.suites),
                         cases_from=[str(Path(s).resolve()) for s in self.options.cases_from],
                         models=self.options.models, cell=cell.id, run_id=self.run_id,
                         keep_failed=str(self.dir / "models"),
                         memory_limit=self._memory_limit(), frontier_only=self.options.frontier_only,
                         frontier=str(self.dir / FRONTIER / f"{cell.id}.json"),
                         unpaired=self.unpaired.get(cell.id, {}), remedies=self.options.remedies,
                         remedy_budget=self.options.remedy_budget, requirements=extras.names(cell.extras))
        if self.options.split:  # the runtime side: the cases are in the bundles
            args.side, args.cases_from, args.models = "runtime", [], []
            args.bundles = str(self.dir / BUNDLES / cell.export_side().id)
            args.frontier = str(self.dir / FRONTIER / f"{cell.runtime_side().id}.json")
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
        if earlier and earlier.get("lock_hash") == lock_hash and Path(earlier["file"]).exists():
            # a copy inside this run's folder, which is all a container can see
            (self.dir / "reuse").mkdir(exist_ok=True)
            copy = self.dir / "reuse" / f"{cell.id}.jsonl"
            shutil.copyfile(earlier["file"], copy)
            args.reuse = str(copy)
            measured = Path(earlier["file"]).parent / FRONTIER / Path(args.frontier or "").name
            if args.frontier and measured.is_file() and not Path(args.frontier).exists():
                shutil.copyfile(measured, args.frontier)  # the probe keeps it: same versions, same probe
        return args

    def export_args(self, side: Cell, bundles: Path, cases: Optional[str] = None,
                     opsets: Optional[List[Any]] = None) -> ProbeArgs:
        return ProbeArgs(side="export", bundles=str(bundles), exporters=self.plan.exporters,
                         opsets=opsets or self.plan.opsets, devices=[side.device], timeout=self.options.timeout,
                         cases=self.options.cases if cases is None else cases, run_id=self.run_id,
                         suites=self.plan.suites_for(side, self.options.suites),
                         cases_from=[str(Path(s).resolve()) for s in self.options.cases_from],
                         models=self.options.models, memory_limit=self._memory_limit(),
                         frontier_only=self.options.frontier_only,
                         frontier=str(self.dir / FRONTIER / f"{side.id}.json"),
                         unpaired=self.unpaired.get(side.id, {}), requirements=extras.names(side.extras),
                         workers=self.export_workers)

    def shown(self, side: Cell, environment: Any, args: ProbeArgs, shown: str) -> None:
        started = time.time()
        self.progress.cell_started(shown)
        try:
            self.probe(side, environment, args, shown)
        finally:
            self.progress.cell_finished(shown, {"status": "ok", "seconds": round(time.time() - started, 2)})

    def _write_run_json(self, started: float, finished: Optional[float]) -> None:
        spec = self.plan.spec
        runfolder.write(self.dir, {
            "schema": SCHEMA, "run_id": self.run_id, "started_at": started, "finished_at": finished,
            "spec": {"path": spec.path, "text": Path(spec.path).read_text(), "description": spec.description},
            "plan": self.plan.as_json(), "cells": sorted(self.cells.values(), key=lambda c: c["id"]),
            "exports": sorted(({k: v for k, v in e.items() if k != "message"} for e in self.exports.values()),
                              key=lambda e: e["id"]),
            "host": {"platform": platform.platform(), "python": platform.python_version(), "cpu": cpu_name(),
                     "cores": os.cpu_count()},
            "git_revision": git_revision(), "probe_version": PROBE_VERSION, "runner": self.runner.name,
            "phases": dict(self.phases),
        })


def _joined(*hashes: str) -> str:
    return hashlib.sha256("+".join(hashes).encode()).hexdigest()[:16]


def results_tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
