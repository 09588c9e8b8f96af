"""The host runner: the probe in an interpreter that is already set up (run --here, and the
base of the venv runner); and the one reader of the probe's event stream, for every runner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import IO, Any, Callable, Dict, Iterable, List, Optional

from matrix.probe.arguments import ProbeArgs
from matrix.runners import Event, Runner


def read_events(chunks: Iterable[bytes], on_event: Callable[[Event], None]) -> None:
    """The probe's stdout, in chunks of any size: one JSON event per line, anything else skipped
    (something in the probe printed to stdout before redirecting)."""
    buffer = b""
    for chunk in chunks:
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict):
                on_event(event)


def run(probe_args: List[str], on_event: Callable[[Event], None], python: Optional[str] = None,
        env: Optional[Dict[str, str]] = None, stderr: Optional[IO[str]] = None) -> int:
    """Run the probe; its stdout is the event stream, its stderr passes through (or to `stderr`)."""
    # PYTHONHASHSEED: a set's order is a str hash's, random per interpreter; torch's OpInfos draw
    # some samples from sets (meshgrid's indexing), so the "first sample" would change run to run
    env = dict(os.environ if env is None else env, MATRIX_PARENT_PID=str(os.getpid()), PYTHONHASHSEED="0")
    process = subprocess.Popen([python or sys.executable, "-m", "matrix.probe", *probe_args],
                               stdout=subprocess.PIPE, env=env, stderr=stderr)
    assert process.stdout is not None
    try:
        read_events(iter(process.stdout.readline, b""), on_event)
    except BaseException:
        process.kill()
        raise
    finally:
        process.stdout.close()
    return process.wait()


class HostRunner(Runner):
    """This interpreter (or another one already set up), as it is."""

    name = "host"

    def __init__(self, python: Optional[str] = None, env: Optional[Dict[str, str]] = None) -> None:
        self.python = python or sys.executable
        self.env = env

    def prepare(self, cell: Any, lock: Any, on_line: Callable[[str], None]) -> Any:
        return self.python

    def run(self, environment: Any, cell: Any, args: ProbeArgs, on_event: Callable[[Event], None],
            stderr_path: Optional[Path] = None, wall_clock_s: float = 0.0) -> int:
        if stderr_path is None:
            return run(args.argv(), on_event, python=str(environment), env=self.env)
        with open(stderr_path, "w") as stderr:
            return run(args.argv(), on_event, python=str(environment), env=self.env, stderr=stderr)
