"""Each cell's complete install set, pinned with hashes by `uv pip compile`."""

from __future__ import annotations

import functools
import hashlib
import subprocess
import tempfile
from dataclasses import dataclass
from typing import Dict, List

import uv

from matrix.plan import Cell

PLATFORM = "x86_64-manylinux_2_28"


class EnvError(Exception):
    """A cell's environment cannot be resolved or built; the message is the tool's own."""


@dataclass(frozen=True)
class Lock:
    cell: str
    text: str

    @property
    def hash(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()[:16]

    def pinned(self) -> Dict[str, str]:
        """{package: version} as the lock pins them."""
        found = {}
        for line in self.text.splitlines():
            if "==" in line and not line.startswith((" ", "#")):
                name, version = line.split("==", 1)
                found[name.strip().lower()] = version.split()[0].rstrip("\\").strip()
        return found


@functools.lru_cache(maxsize=1)
def uv_bin() -> str:
    """uv's executable. Looked up once: find_uv_bin reads sysconfig, whose first use is not thread-safe."""
    return uv.find_uv_bin()


def index_options(indexes: Dict[str, Dict], package_names: List[str]) -> List[str]:
    """uv options for per-package indexes and find-links from the spec's [index.*] tables."""
    options: List[str] = []
    for package in package_names:
        settings = indexes.get(package, {})
        if settings.get("url"):
            options += ["--extra-index-url", settings["url"], "--index-strategy", "unsafe-best-match"]
        for link in settings.get("find-links", []):
            options += ["--find-links", link]
    return options


def tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def compile_lock(cell: Cell, indexes: Dict[str, Dict]) -> Lock:
    command = [uv_bin(), "pip", "compile", "-", "--python-version", cell.python, "--python-platform",
               PLATFORM, "--generate-hashes", "--no-header", "--quiet", *index_options(indexes, list(indexes))]
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as overrides:
        if cell.overrides():
            overrides.write("\n".join(cell.overrides()) + "\n")
            overrides.flush()
            command += ["--override", overrides.name]
        done = subprocess.run(command, input="\n".join(cell.requirements()) + "\n", capture_output=True, text=True)
    if done.returncode != 0:
        raise EnvError(f"cannot resolve {' '.join(cell.requirements())}:\n{tail(done.stderr)}")
    return Lock(cell.id, done.stdout)
