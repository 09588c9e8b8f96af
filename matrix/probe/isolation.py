"""One process per result, without paying for `import torch` each time.

The probe imports the heavy modules once (and warms the dynamo exporter with a
tiny export), then forks a child per result. A segfault, abort, hang or
runaway allocation ends that child only; the parent records it as `crash` or
`timeout` with the stage the child had reached, and goes on.

CUDA is never initialised in the parent (a CUDA context does not survive
fork); each child creates its own.
"""

from __future__ import annotations

import contextlib
import faulthandler
import functools
import gc
import importlib
import json
import os
import select
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple

from matrix.probe import errors

Work = Callable[[Callable[[str], None]], Dict[str, Any]]
# Threads a child computes with. The parent itself computes with one thread: libgomp
# (torch's OpenMP) is not fork-safe once it has started a thread team, and a child
# forked after that hangs in its first parallel region.
_child_threads: Optional[int] = None
# Bytes of private memory (RLIMIT_DATA: heap and anonymous mappings) a child may hold, so
# that one runaway case fails as out_of_memory instead of starving the machine.
_memory_limit: Optional[int] = None
_probe_pid: Optional[int] = None


def die_with_parent(parent: Optional[int]) -> None:
    """Be killed when `parent` ends (Linux: PR_SET_PDEATHSIG), so that a killed orchestrator
    or probe leaves no worker running on, writing to files the next run uses."""
    if not parent or not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # it ended before the call above took effect
        os._exit(1)


def limit_memory(mib: Optional[float]) -> None:
    """Set the per-result memory limit for children forked from now on (None: 3/4 of RAM; 0: none)."""
    global _memory_limit
    if mib is None:
        try:
            mib = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**20 * 0.75
        except (ValueError, OSError):
            mib = 0
    _memory_limit = int(mib * 2**20) or None


def hide_gpus() -> None:
    """Hide the GPUs from this process and the children it forks from now on.

    A CUDA context does not survive fork, and warming up creates one as a side
    effect where GPUs are visible (torch.export's fork_rng touches every CUDA
    device, even for a CPU export); every later child then fails at its first
    CUDA call, dynamo CPU exports included. So cuda results are forked from the
    import-only parent first, and GPUs are hidden before the warm-up for cpu ones.
    """
    os.environ["CUDA_VISIBLE_DEVICES"] = ""
LOG_NAME = "output.log"
LOG_TAIL_BYTES = 4000


@contextlib.contextmanager
def redirected(path: str) -> Iterator[None]:
    """Send fd 1 and 2 (C libraries write there too) to `path` for a while."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for f in (fd, *saved):
            os.close(f)


def log_tail(workdir: str) -> str:
    try:
        with open(os.path.join(workdir, LOG_NAME), "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - LOG_TAIL_BYTES))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def _warm_up_case() -> Any:
    import torch

    from matrix.probe.case import Case

    class WarmUp(torch.nn.Module):
        """A little of everything common: conv, norm, linear, activation, softmax, matmul, reshape."""

        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(2, 4, 3, padding=1)
            self.norm = torch.nn.LayerNorm(8)
            self.linear = torch.nn.Linear(8, 8)

        def forward(self, x: Any) -> Any:
            y = self.linear(self.norm(self.conv(x).relu())).flatten(1, 2)
            y = torch.nn.functional.gelu(y).softmax(-1)
            return (y @ y.transpose(1, 2)).mean(-1)

    return Case(id="warmup/model", build=lambda: (WarmUp(), (torch.randn(2, 2, 4, 8),)), dynamic=({0: "batch"},))


def libraries(tasks: Any) -> List[str]:
    """The model libraries the tasks to run build their models with."""
    return sorted({t.case.library for t in tasks if t.reason is None and getattr(t.case, "library", None)})


def memoize_torchlib_table() -> None:
    """The dynamo exporter builds its registry anew on every export, first asking onnxscript for
    torchlib's table of functions, which parses each function's source: about 0.9 s, most of a
    small model's export (an operator of the aten suite). The table is the same on every call (a
    function of the installed onnxscript and nothing else), so it is computed once here and every
    forked child reads it; the registry, and so every exported model, are unchanged."""
    try:
        from torch.onnx._internal.exporter import _registration
    except ImportError:  # a torch before the new exporter
        return
    apis = getattr(_registration, "onnxscript_apis", None)
    table = getattr(apis, "get_torchlib_ops", None)
    if table is not None and not hasattr(table, "cache_info"):
        apis.get_torchlib_ops = functools.lru_cache(maxsize=1)(table)


def warm_up(exporters: Any, fork: bool, side: str = "both", libraries: Any = (), model: Optional[str] = None) -> None:
    """Import once and run a small model through every stage this side runs, with each exporter,
    in this process, so that forked children find first-use set-up (lazy imports, registries,
    about 3 s for dynamo and 0.3 s for TorchScript) already done; import the model libraries the
    cases use too (transformers' model code costs about 2 s per child otherwise). The runtime
    side imports what a check and a blame use and opens one of its models (`model`)."""
    global _child_threads
    import numpy  # noqa: F401

    if side == "runtime":
        _warm_runtime(model)
        return
    import onnx  # noqa: F401
    import torch

    if side == "both":
        import onnxruntime  # noqa: F401
    if fork:
        _child_threads = torch.get_num_threads()
        torch.set_num_threads(1)
    with contextlib.suppress(ImportError):
        import onnxscript  # noqa: F401
    for library in libraries:
        # a library that fails to import (a torchvision built for another torch) fails its cases, not the warm-up
        with contextlib.suppress(Exception):
            importlib.import_module(library)
            if library == "transformers":
                importlib.import_module("transformers.modeling_utils")
    from matrix.probe.exporters import for_torch
    from matrix.probe.stages import export_only, run_stages

    if "dynamo" in exporters:
        memoize_torchlib_table()
    api = for_torch(torch.__version__)
    case = _warm_up_case()
    for exporter in exporters:
        if api.unavailable(exporter):
            continue
        with tempfile.TemporaryDirectory(prefix="matrix-warmup-") as tmp:
            def work(enter: Callable[[str], None], exporter: str = exporter, tmp: str = tmp) -> Dict[str, Any]:
                return (run_stages if side == "both" else export_only)(case, exporter, None, "cpu", tmp, enter)

            in_process(work, tmp)
    gc.collect()  # drop the warm-up's onnxruntime session and its threads before any fork


def _warm_runtime(model: Optional[str]) -> None:
    """A child otherwise pays, per bundle, onnxruntime's first session in a process (its
    environment: ~10 ms) and, for each mismatch blamed, the import of onnx's reference
    evaluator (~1 s): both are done here once."""
    import onnxruntime

    importlib.import_module("matrix.probe.runtime_side")
    with contextlib.suppress(ImportError):  # a runtime side without onnx blames nothing
        importlib.import_module("onnx.reference")
    if model:
        with contextlib.suppress(Exception):  # a model this runtime refuses still set its environment up
            onnxruntime.InferenceSession(model, providers=["CPUExecutionProvider"])
    gc.collect()  # the session and its threads are gone before any fork


def in_process(work: Work, workdir: str) -> Dict[str, Any]:
    """The same work with no isolation: the floor the benchmark compares against."""
    here = os.getcwd()
    os.chdir(workdir)
    try:
        with redirected(os.path.join(workdir, LOG_NAME)):
            return work(lambda stage: None)
    finally:
        os.chdir(here)


def forked(work: Work, workdir: str, timeout: float, limit: bool = True) -> Dict[str, Any]:
    """Run `work` in a child; its dict comes back over a pipe, line-delimited JSON."""
    return next(concurrently([(None, work, workdir, timeout, limit)], 1))[1]


Job = Tuple[Any, Work, str, float, bool]  # (the caller's key, work, workdir, timeout, memory limit or not)


@dataclass
class _Running:
    key: Any
    pid: int
    fd: int
    workdir: str
    timeout: float
    deadline: float
    stage: Optional[str] = None
    outcome: Optional[Dict[str, Any]] = None
    buffer: bytes = b""


def concurrently(jobs: Iterable[Job], workers: int) -> Iterator[Tuple[Any, Dict[str, Any]]]:
    """Run each job's work in a child of its own, at most `workers` at a time; yields (key, outcome)
    as each ends. One thread waits on every child's pipe: forking from several threads could copy
    a lock another thread holds into the child."""
    pending = iter(jobs)
    running: Dict[int, _Running] = {}
    try:
        while True:
            while len(running) < max(1, workers):
                job = next(pending, None)
                if job is None:
                    break
                child = _start(*job, share=workers)
                running[child.fd] = child
            if not running:
                return
            now = time.monotonic()
            late = [c for c in running.values() if c.deadline <= now]
            ready: List[int] = []
            if not late:
                ready, _, _ = select.select(list(running), [], [], min(c.deadline for c in running.values()) - now)
            for fd in ready:
                child = running[fd]
                if _read(child):
                    del running[fd]
                    yield child.key, _ended(child, timed_out=False)
            for child in late:
                del running[child.fd]
                _kill(child.pid)
                yield child.key, _ended(child, timed_out=True)
    finally:  # an interrupt, or the caller stopped early: no child outlives the probe
        for child in running.values():
            _kill(child.pid)
            os.close(child.fd)
            os.waitpid(child.pid, 0)


def _start(key: Any, work: Work, workdir: str, timeout: float, limit: bool, share: int = 1) -> _Running:
    sys.stdout.flush()
    sys.stderr.flush()
    global _probe_pid
    _probe_pid = os.getpid()
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never returns
        threads = _child_threads and max(1, _child_threads // max(1, share))  # the cores, shared by the workers
        _child(work, workdir, read_fd, write_fd, _memory_limit if limit else None, threads)
    os.close(write_fd)
    with contextlib.suppress(OSError):
        os.setpgid(pid, pid)  # also done by the child; whichever runs first wins the race
    return _Running(key, pid, read_fd, workdir, timeout, time.monotonic() + timeout)


def _read(child: _Running) -> bool:
    """Take what the child sent; True when it has ended (its outcome came, or its pipe closed)."""
    chunk = os.read(child.fd, 1 << 16)
    child.buffer += chunk
    *lines, child.buffer = child.buffer.split(b"\n")
    for line in lines:
        message = json.loads(line)
        child.stage = message.get("stage", child.stage)
        child.outcome = message.get("outcome", child.outcome)
    return not chunk or child.outcome is not None


def _ended(child: _Running, timed_out: bool) -> Dict[str, Any]:
    os.close(child.fd)
    _, status = os.waitpid(child.pid, 0)
    if child.outcome is not None:
        return child.outcome
    stage, workdir = child.stage, child.workdir
    if timed_out:
        message = f"no result after {child.timeout:g} s (stage {stage})"
        error = errors.build("timeout", "Timeout", message, message, log_tail(workdir), workdir=workdir)
        return {"status": "timeout", "stage": stage, "error": error, "metrics": {}}
    if os.WIFSIGNALED(status):
        cause = signal.Signals(os.WTERMSIG(status)).name
    else:
        cause = f"exit code {os.WEXITSTATUS(status)}"
    message = f"process died ({cause}) in stage {stage}"
    error = errors.build("crash", cause, message, message, log_tail(workdir), detail={"signal": cause},
                         workdir=workdir)
    return {"status": "crash", "stage": stage, "error": error, "metrics": {}}


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _child(work: Work, workdir: str, read_fd: int, write_fd: int, memory: Optional[int],
           threads: Optional[int]) -> None:
    code = 0
    try:
        die_with_parent(_probe_pid)
        os.close(read_fd)
        if memory:
            import resource

            resource.setrlimit(resource.RLIMIT_DATA, (memory, memory))
        os.setpgid(0, 0)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.chdir(workdir)
        fd = os.open(LOG_NAME, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        faulthandler.enable(file=sys.stderr, all_threads=True)  # a segfault leaves its Python stack in the log
        if threads:
            import torch

            torch.set_num_threads(threads)

        def send(message: Dict[str, Any]) -> None:
            data = (json.dumps(message, default=str) + "\n").encode()
            while data:
                data = data[os.write(write_fd, data):]

        send({"outcome": work(lambda stage: send({"stage": stage}))})
    except BaseException:  # noqa: BLE001 -- reported by the parent as a crash with this exit code
        code = 70
        with contextlib.suppress(Exception):
            import traceback

            traceback.print_exc()
            sys.stderr.flush()
    finally:
        os._exit(code)
