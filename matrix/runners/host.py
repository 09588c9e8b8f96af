"""The host runner: the probe in an interpreter that is already set up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import IO, Any, Callable, Dict, List, Optional

Event = Dict[str, Any]


def probe_command(probe_args: List[str], python: Optional[str] = None) -> List[str]:
    return [python or sys.executable, "-m", "matrix.probe", *probe_args]


def run(probe_args: List[str], on_event: Callable[[Event], None], python: Optional[str] = None,
        env: Optional[Dict[str, str]] = None, stderr: Optional[IO[str]] = None) -> int:
    """Run the probe; its stdout is a stream of JSON events, its stderr passes through (or to `stderr`)."""
    env = dict(os.environ if env is None else env, MATRIX_PARENT_PID=str(os.getpid()))
    process = subprocess.Popen(probe_command(probe_args, python), stdout=subprocess.PIPE, text=True, bufsize=1,
                               env=env, stderr=stderr)
    assert process.stdout is not None
    try:
        for line in process.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                continue  # not an event: something in the probe printed to stdout before redirecting
            on_event(event)
    except BaseException:
        process.kill()
        raise
    finally:
        process.stdout.close()
    return process.wait()
