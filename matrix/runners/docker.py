"""The docker runner: each cell in a fresh container of its image.

The container runs the probe as a non-root user, with no network, a read-only root
filesystem, a tmpfs for scratch, memory / CPU / process limits and a wall-clock limit;
only the cell's results folder is writable, and users' case files are mounted read-only.
It is always removed, and labelled so that leftovers of a killed run can be swept.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

from matrix import image
from matrix.image import LABEL
from matrix.lock import EnvError
from matrix.probe.arguments import ProbeArgs
from matrix.runners import Event, Runner
from matrix.runners.host import read_events

RESULTS = "/results"
CASES = "/cases"
MODELS = "/models"  # --model checkpoint folders, read-only (the run's staging of links: they may be large)
MEMORY_MIB = 6144  # each cell container's memory limit


def client() -> Any:
    """A Docker client whose daemon answers, or None."""
    try:
        import docker

        found = docker.from_env(timeout=10)
        found.ping()
        return found
    except Exception:  # noqa: BLE001 -- no SDK, no socket, no daemon: the runner is unavailable
        return None


def gpus_available(docker_client: Any) -> bool:
    """Whether this daemon can hand GPUs to containers (the NVIDIA runtime is registered)."""
    try:
        return "nvidia" in (docker_client.info().get("Runtimes") or {})
    except Exception:  # noqa: BLE001 -- an unreadable info means no
        return False


def mounts(results_dir: Path, cases_from: List[str], staged: Optional[Path] = None,
           models: Sequence[str] = ()) -> Dict[str, Dict[str, str]]:
    """The results folder read-write; each --cases-from folder read-only (from `staged` copies when
    given); each --model folder read-only (its staging by stage_models)."""
    volumes = {str(results_dir.resolve()): {"bind": RESULTS, "mode": "rw"}}
    for n, source in enumerate(cases_from):
        folder = staged / str(n) if staged else Path(source).resolve().parent
        volumes[str(folder)] = {"bind": f"{CASES}/{n}", "mode": "ro"}
    for n, folder in enumerate(models):
        volumes[str(Path(folder).resolve())] = {"bind": f"{MODELS}/{n}", "mode": "ro"}
    return volumes


def stage_models(models: Sequence[str], into: Path) -> List[str]:
    """Each --model folder as the container's user (65534) may read it: a file others may read is
    hard-linked (no copy of gigabytes of weights), one they may not (transformers writes its
    weights 0600) is copied readable; a hub snapshot's links are followed. The originals are
    never changed."""
    staged = []
    for n, folder in enumerate(models):
        target = into / str(n)

        def place(source: str, destination: str) -> None:
            if os.stat(source).st_mode & 0o004:
                try:
                    os.link(os.path.realpath(source), destination)
                    return
                except OSError:  # another filesystem
                    pass
            shutil.copyfile(source, destination)
            os.chmod(destination, 0o644)

        shutil.copytree(Path(folder).resolve(), target, copy_function=place, ignore=shutil.ignore_patterns(".cache"))
        for root, _dirs, _files in os.walk(target):
            os.chmod(root, 0o755)
        staged.append(str(target))
    os.chmod(into, 0o755)
    return staged


def stage_cases(cases_from: List[str], into: Path) -> Path:
    """Copies of the users' case folders that the container's user (65534) may read: the
    originals may sit in folders only their owner can enter."""
    for n, source in enumerate(cases_from):
        target = into / str(n)
        shutil.copytree(Path(source).resolve().parent, target,
                        ignore=shutil.ignore_patterns("__pycache__", ".git", "*.pyc"))
        for folder, _dirs, files in os.walk(target):
            os.chmod(folder, 0o755)
            for name in files:
                os.chmod(os.path.join(folder, name), 0o644)
    os.chmod(into, 0o755)
    return into


def inside(path: str, results_dir: Path, cases_from: List[str], models: Sequence[str] = ()) -> str:
    """Where a host path (results, a case file or a model folder) appears inside the container."""
    resolved = Path(path).resolve()
    for n, folder in enumerate(models):
        if resolved.is_relative_to(Path(folder).resolve()):
            below = resolved.relative_to(Path(folder).resolve())
            return f"{MODELS}/{n}" + (f"/{below}" if below != Path(".") else "")
    if resolved.is_relative_to(results_dir.resolve()):
        return f"{RESULTS}/{resolved.relative_to(results_dir.resolve())}"
    for n, source in enumerate(cases_from):
        if resolved == Path(source).resolve():
            return f"{CASES}/{n}/{resolved.name}"
    raise ValueError(f"{path} is not mounted into the container")


def options(results_dir: Path, cases_from: List[str], run_id: str, gpu: bool,
            staged: Optional[Path] = None, models: Sequence[str] = ()) -> Dict[str, Any]:
    """How every cell container runs: least privilege, bounded resources, labelled."""
    import docker

    return {"network_mode": "none", "user": "65534:65534", "read_only": True,
            "tmpfs": {"/tmp": "rw,size=2g,mode=1777"}, "mem_limit": f"{MEMORY_MIB}m",
            "nano_cpus": int((os.cpu_count() or 1) * 1e9), "pids_limit": 1024,
            "volumes": mounts(results_dir, cases_from, staged, models),
            "environment": {"HOME": "/tmp", "PYTHONHASHSEED": "0"},  # a set's order fixed, as in runners/host.py
            "labels": {f"{LABEL}.run": run_id}, "security_opt": ["no-new-privileges"], "cap_drop": ["ALL"],
            "device_requests": [docker.types.DeviceRequest(count=-1, capabilities=[["gpu"]])] if gpu else []}


def run(docker_client: Any, image: str, probe_args: List[str], results_dir: Path, cases_from: List[str],
        on_event: Callable[[Dict[str, Any]], None], run_id: str, gpu: bool, wall_clock_s: float,
        stderr_path: Optional[Path] = None, models: Sequence[str] = ()) -> int:
    """Run the probe in a fresh container; its stdout is the event stream."""
    results_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(results_dir, 0o777)  # the container's user (65534) writes the cell's results here
    staged = stage_cases(cases_from, Path(tempfile.mkdtemp(prefix="matrix-cases-"))) if cases_from else None
    try:
        container = docker_client.containers.run(image, command=probe_args, detach=True,
                                                 **options(results_dir, cases_from, run_id, gpu, staged, models))
    except BaseException:
        if staged:
            shutil.rmtree(staged, ignore_errors=True)
        raise
    killer = threading.Timer(wall_clock_s, lambda: _kill(container))
    killer.start()
    try:
        read_events(container.logs(stream=True, follow=True, stdout=True, stderr=False), on_event)
        code = container.wait().get("StatusCode", 1)
        if stderr_path is not None:
            stderr_path.write_bytes(container.logs(stdout=False, stderr=True))
        return int(code)
    finally:
        killer.cancel()
        container.remove(force=True)
        if staged:
            shutil.rmtree(staged, ignore_errors=True)


def _kill(container: Any) -> None:
    try:
        container.kill()
    except Exception:  # noqa: BLE001 -- already gone
        pass


def sweep(docker_client: Any, run_id: Optional[str] = None, stopped_only: bool = False) -> int:
    """Remove cell containers left behind by killed runs or a daemon that stopped: all of them, one
    run's, or only those no longer running (a live run removes its own when they end)."""
    gone = 0
    label = f"{LABEL}.run={run_id}" if run_id else f"{LABEL}.run"
    for container in docker_client.containers.list(all=True, filters={"label": label}):
        if stopped_only and container.status == "running":
            continue
        container.remove(force=True)
        gone += 1
    return gone


class DockerRunner(Runner):
    """A cell image per lock (rendered, built through the SDK, reused), and a fresh container per
    cell run; anything the daemon does wrong mid-cell is that cell's EnvError."""

    name = "docker"

    def __init__(self, client: Any, indexes: Dict[str, Dict], base_image: Optional[str], ca_bundle: Optional[str],
                 cases_from: List[str], models: Sequence[str] = ()) -> None:
        self.client = client
        self.models = [str(Path(m).resolve()) for m in models]  # --model folders, mounted read-only
        self.staged_models: List[str] = []
        self.results_dir = Path()
        self.indexes = indexes
        self.base_image = base_image
        self.ca_bundle = ca_bundle
        self.cases_from = [str(Path(s).resolve()) for s in cases_from]
        self.run_id = ""

    def start(self, folder: Path, run_id: str, continued: bool) -> None:
        """Containers a killed run or a stopped daemon left behind: this run's when it is continued,
        else the stopped ones of any run. The run's folder is all a container sees of this machine."""
        self.results_dir, self.run_id = folder, run_id
        sweep(self.client, run_id if continued else None, stopped_only=not continued)
        if self.models:  # once per run, removed when the orchestrator exits
            staging = Path(tempfile.mkdtemp(prefix="matrix-models-"))
            atexit.register(shutil.rmtree, staging, ignore_errors=True)
            self.staged_models = stage_models(self.models, staging)

    def prepare(self, cell: Any, lock: Any, on_line: Callable[[str], None]) -> str:
        wheelhouse = [d for options in self.indexes.values() for d in options.get("find-links", [])]
        try:
            context = image.render(cell, lock, self.indexes, base_image=self.base_image, ca_bundle=self.ca_bundle,
                                   wheelhouse=wheelhouse)
            return image.build(self.client, context, lock, on_line)
        except EnvError:
            raise
        except Exception as exc:  # noqa: BLE001 -- e.g. the daemon stopped: this cell's env_error
            raise EnvError(f"docker: {type(exc).__name__}: {exc}") from exc

    def describe(self, environment: Any) -> Dict[str, Any]:
        return {"image": environment}

    def run(self, environment: Any, cell: Any, args: ProbeArgs, on_event: Callable[[Event], None],
            stderr_path: Path, wall_clock_s: float) -> int:
        where = lambda path: inside(path, self.results_dir, self.cases_from, self.models)  # noqa: E731
        # without the NVIDIA runtime no GPU is asked for: the probe then records cuda results as skipped
        gpu = cell.device == "cuda" and gpus_available(self.client)
        try:
            return run(self.client, environment, args.argv(where), self.results_dir, self.cases_from, on_event,
                       self.run_id, gpu=gpu, wall_clock_s=wall_clock_s, stderr_path=stderr_path,
                       models=self.staged_models)
        except Exception as exc:  # noqa: BLE001 -- e.g. the daemon stopped mid-cell: this cell's env_error
            raise EnvError(f"docker: {type(exc).__name__}: {exc}") from exc

    def memory_mib(self, share_mib: int) -> int:
        return min(share_mib, int(MEMORY_MIB * 0.75))  # within the container's own limit
