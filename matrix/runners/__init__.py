"""Where a cell runs: one interface, three implementations.

  host    the probe in an interpreter already set up (run --here)       runners/host.py
  venv    one cached uv environment per lock                            runners/venv.py
  docker  one image per lock, a fresh locked-down container per cell    runners/docker.py

A runner prepares a cell's environment (an EnvError when it cannot), runs the probe there with
typed arguments (matrix.probe.arguments.ProbeArgs), translating this machine's paths into the
environment's, and hands each event of the probe's stdout to a callback (events.read).
"""

from __future__ import annotations

import abc
import os
from pathlib import Path
from typing import Any, Callable, Dict

from matrix.probe.arguments import ProbeArgs

Event = Dict[str, Any]


class Runner(abc.ABC):
    name = "runner"

    def start(self, folder: Path, run_id: str, continued: bool) -> None:  # noqa: B027 -- most have nothing to do
        """Before the run's first cell (e.g. sweep what a killed run left behind)."""

    @abc.abstractmethod
    def prepare(self, cell: Any, lock: Any, on_line: Callable[[str], None]) -> Any:
        """The cell's environment, built or reused; raises lock.EnvError when it cannot be."""

    def describe(self, environment: Any) -> Dict[str, Any]:
        """What the run records of an environment (run.json's cell record)."""
        return {}

    @abc.abstractmethod
    def run(self, environment: Any, cell: Any, args: ProbeArgs, on_event: Callable[[Event], None],
            stderr_path: Path, wall_clock_s: float) -> int:
        """The probe in the environment; its exit code."""

    def memory_mib(self, share_mib: int) -> int:
        """Memory one result may use, given its share of this machine's."""
        return share_mib


def machine_memory_mib() -> float:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (ValueError, OSError):
        return 8192.0
