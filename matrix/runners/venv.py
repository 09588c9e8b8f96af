"""The venv runner: one uv virtual environment per lock, from uv's shared cache, reused.

Environments live under the cache directory keyed by the lock's hash; one is
built in a temporary folder and renamed into place only when complete, so a
failed or killed build leaves nothing half-made behind.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Callable, List

from matrix.index import cache_dir
from matrix.lock import EnvError, Lock, index_options, tail, uv_bin
from matrix.runners.host import HostRunner

ROOT = Path(__file__).resolve().parents[2]  # the project: the probe runs from here
READY = "matrix-env-ready"
# A cell's processes write the bytecode of what they import into the environment, even where
# PYTHONDONTWRITEBYTECODE is set (as on this project's machines and in many CI images): without
# it every probe compiled torch's source again (its start 28 s instead of 15 s, measured). Written
# on first import rather than at install (uv's --compile-bytecode), because a probe imports a
# fraction of what is installed: the torch 2.15 + transformers environment took 30.0 s to compile
# at install, its first self-check 8.3 s more than the second. The suffix is that of the
# environments that were compiled at install, which hold the same.
BUILD = "pyc"


def env_dir(lock: Lock) -> Path:
    return cache_dir() / "envs" / f"{lock.hash}-{BUILD}"


def ensure(lock: Lock, cell: Any, indexes: dict) -> Path:
    """The environment's interpreter, building the environment if needed."""
    final = env_dir(lock)
    if (final / READY).exists():
        return final / "bin" / "python"
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".build-{lock.hash}-", dir=final.parent))
    try:
        _run([uv_bin(), "venv", "--quiet", "--relocatable", "--python", cell.python, str(tmp / "env")],
             "create a venv")
        lock_file = tmp / "lock.txt"
        lock_file.write_text(lock.text)
        _run([uv_bin(), "pip", "sync", "--quiet", "--python", str(tmp / "env" / "bin" / "python"),
              str(lock_file), *index_options(indexes, cell)], "install the lock")
        _self_check(tmp / "env" / "bin" / "python", cell.side)
        (tmp / "env" / READY).write_text(lock.text)
        try:
            os.rename(tmp / "env", final)
        except OSError:
            if not (final / READY).exists():  # another run may have finished the same one first
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final / "bin" / "python"


def _self_check(python: Path, side: str) -> None:
    """The packages import cleanly (see matrix.probe.selfcheck); otherwise the environment is
    not kept and the cell's env_error is the check's one line."""
    done = subprocess.run([str(python), "-m", "matrix.probe.selfcheck", "--side", side], capture_output=True, text=True,
                          env=_probe_env())
    if done.returncode != 0:
        raise EnvError(done.stdout.strip() or f"the self-check exited with code {done.returncode}:\n"
                       f"{tail(done.stderr)}")


def _probe_env() -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("VIRTUAL_ENV", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # see BUILD
    return env


def _run(command: List[str], what: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise EnvError(f"could not {what}:\n{tail(done.stderr or done.stdout)}")


class VenvRunner(HostRunner):
    """One uv environment per lock, built from uv's shared cache and reused; the probe imports
    the project from the checkout (nothing of it is installed there)."""

    name = "venv"

    def __init__(self, indexes: dict) -> None:
        super().__init__(env=_probe_env())
        self.indexes = indexes

    def prepare(self, cell: Any, lock: Lock, on_line: Callable[[str], None]) -> Path:
        return ensure(lock, cell, self.indexes)
