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
import json
import os
import select
import signal
import sys
import tempfile
import time
from typing import Any, Callable, Dict, Iterator, Optional

from matrix.probe import errors

Work = Callable[[Callable[[str], None]], Dict[str, Any]]
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


def warm_up(dynamo: bool) -> None:
    """Import once; with dynamo, one tiny export so children skip its ~3 s of first-use set-up."""
    import numpy  # noqa: F401
    import onnx  # noqa: F401
    import onnxruntime  # noqa: F401
    import torch

    with contextlib.suppress(ImportError):
        import onnxscript  # noqa: F401
    if not dynamo:
        return
    from matrix.probe.exporters import for_torch

    api = for_torch(torch.__version__)
    if api.unavailable("dynamo"):
        return
    with tempfile.TemporaryDirectory(prefix="matrix-warmup-") as tmp, redirected(os.path.join(tmp, LOG_NAME)):
        with contextlib.suppress(Exception):  # a warm-up that fails costs speed, not results
            api.export("dynamo", torch.nn.Linear(2, 2).eval(), (torch.randn(1, 2),), os.path.join(tmp, "w.onnx"), None, None)


def in_process(work: Work, workdir: str) -> Dict[str, Any]:
    """The same work with no isolation: the floor the benchmark compares against."""
    here = os.getcwd()
    os.chdir(workdir)
    try:
        with redirected(os.path.join(workdir, LOG_NAME)):
            return work(lambda stage: None)
    finally:
        os.chdir(here)


def forked(work: Work, workdir: str, timeout: float) -> Dict[str, Any]:
    """Run `work` in a child; its dict comes back over a pipe, line-delimited JSON."""
    sys.stdout.flush()
    sys.stderr.flush()
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never returns
        _child(work, workdir, read_fd, write_fd)
    os.close(write_fd)
    with contextlib.suppress(OSError):
        os.setpgid(pid, pid)  # also done by the child; whichever runs first wins the race
    stage: Optional[str] = None
    outcome: Optional[Dict[str, Any]] = None
    timed_out = False
    buffer = b""
    deadline = time.monotonic() + timeout
    try:
        while outcome is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                timed_out = True
                break
            ready, _, _ = select.select([read_fd], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(read_fd, 1 << 16)
            if not chunk:
                break
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                message = json.loads(line)
                stage = message.get("stage", stage)
                outcome = message.get("outcome", outcome)
    except BaseException:
        _kill(pid)
        raise
    finally:
        os.close(read_fd)
    if timed_out:
        _kill(pid)
    _, status = os.waitpid(pid, 0)
    if outcome is not None:
        return outcome
    if timed_out:
        message = f"no result after {timeout:g} s (stage {stage})"
        error = errors.build("timeout", "Timeout", message, message, log_tail(workdir))
        return {"status": "timeout", "stage": stage, "error": error, "metrics": {}}
    if os.WIFSIGNALED(status):
        cause = signal.Signals(os.WTERMSIG(status)).name
    else:
        cause = f"exit code {os.WEXITSTATUS(status)}"
    message = f"process died ({cause}) in stage {stage}"
    error = errors.build("crash", cause, message, message, log_tail(workdir), detail={"signal": cause})
    return {"status": "crash", "stage": stage, "error": error, "metrics": {}}


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _child(work: Work, workdir: str, read_fd: int, write_fd: int) -> None:
    code = 0
    try:
        os.close(read_fd)
        os.setpgid(0, 0)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.chdir(workdir)
        fd = os.open(LOG_NAME, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        faulthandler.enable(file=sys.stderr, all_threads=True)  # a segfault leaves its Python stack in the log

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
