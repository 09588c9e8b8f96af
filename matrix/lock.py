"""Each cell's complete install set, pinned with hashes by `uv pip compile`.

A model library (transformers, torchvision, timm) that cannot be paired with the cell's torch is
left out of the lock rather than failing the cell: the lock says why in a comment line
(`# unpaired transformers: …`), and the cell's cases that need it are skipped with that reason.
"""

from __future__ import annotations

import functools
import hashlib
import subprocess
import tempfile
from dataclasses import dataclass, replace
from typing import Dict, List, Optional, Tuple

import uv
from packaging.requirements import InvalidRequirement, Requirement

from matrix import constraints
from matrix.plan import Cell

PLATFORM = "x86_64-manylinux_2_28"
UNPAIRED = "# unpaired "


class EnvError(Exception):
    """A cell's environment cannot be resolved or built; the message is the tool's own."""


@dataclass(frozen=True)
class Lock:
    cell: str
    text: str

    @property
    def hash(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()[:16]

    def unpaired(self) -> Dict[str, str]:
        """{library: why it is not in this lock}."""
        found = {}
        for line in self.text.splitlines():
            if line.startswith(UNPAIRED):
                name, _, reason = line[len(UNPAIRED):].partition(": ")
                found[name] = reason
        return found

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


def index_options(indexes: Dict[str, Dict], cell: Optional[Cell] = None) -> List[str]:
    """uv options for the spec's [index.*] tables that apply to this cell, on its device (a table
    with `devices` serves those cells only: PyTorch's CPU index is for cpu cells, a cuda cell keeps
    the default index's CUDA build). A table's URL counts only for a cell that installs its
    package, so that a runtime side's lock never names PyTorch's index; its local wheel folders
    count for every cell, as a package may come in as another's dependency. Without a cell, every
    table."""
    wanted = _names(cell) if cell is not None else set(indexes)
    options: List[str] = []
    for package in sorted(indexes):
        settings = indexes[package]
        if cell is not None and cell.device not in settings.get("devices", [cell.device]):
            continue
        if settings.get("url") and package in wanted and settings["url"] not in options:
            options += ["--extra-index-url", settings["url"]]
        for link in settings.get("find-links", []):
            options += ["--find-links", link]
    if "--extra-index-url" in options:
        # the best version of each package across the indexes: `torch==2.15.0` is then PyTorch's
        # 2.15.0+cpu (a local version sorts above the bare one), and a package the extra index
        # mirrors is still the default index's newer release
        options += ["--index-strategy", "unsafe-best-match", "--emit-index-url"]
    return options


def _names(cell: Cell) -> set:
    """The package names a cell installs (a requirement that is a path names none)."""
    names = set()
    for text in cell.requirements():
        try:
            names.add(Requirement(text).name.lower())
        except InvalidRequirement:
            continue
    return names


def tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _resolve(cell: Cell, indexes: Dict[str, Dict]) -> Tuple[Optional[str], str]:
    """(the pinned lock text, or None and uv's error)."""
    command = [uv_bin(), "pip", "compile", "-", "--python-version", cell.python, "--python-platform",
               PLATFORM, "--generate-hashes", "--no-header", "--quiet", *index_options(indexes, cell)]
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as overrides:
        if cell.overrides():
            overrides.write("\n".join(cell.overrides()) + "\n")
            overrides.flush()
            command += ["--override", overrides.name]
        done = subprocess.run(command, input="\n".join(cell.requirements()) + "\n", capture_output=True, text=True)
    return (done.stdout, "") if done.returncode == 0 else (None, done.stderr)


def _why(error: str) -> str:
    """uv's reason in one line: the premise of its first "Because …" sentence."""
    lines = [line.strip(" ╰─▶│") for line in error.splitlines()]
    flat = " ".join(line for line in lines if line)  # uv wraps its sentences to the terminal's width
    if "Because " in flat:
        return flat[flat.index("Because ") + len("Because "):].split(", we can conclude")[0]
    return next((line for line in lines if line), "no release resolves")


def _paired(cell: Cell, indexes: Dict[str, Dict]) -> Tuple[str, Dict[str, str]]:
    """The lock with every library that pairs with the cell's torch, and why each other one does not."""
    whole, _ = _resolve(cell, indexes)
    if whole is not None and not constraints.build_mismatch(Lock(cell.id, whole).pinned()):
        return whole, {}  # the usual case: one resolution
    bare = replace(cell, libraries=())
    base, error = _resolve(bare, indexes)
    if base is None:  # the cell itself does not resolve: its env_error, libraries or not
        raise EnvError(f"cannot resolve the cell's requirements: {_why(error)}\n{tail(error)}")
    text, kept, unpaired = base, [], {}
    for name, version in cell.libraries:
        needed = constraints.NEEDS.get(name)
        if needed in unpaired:
            unpaired[name] = f"needs {needed}, which does not pair here: {unpaired[needed]}"
            continue
        trial, error = _resolve(replace(cell, libraries=tuple(kept + [(name, version)])), indexes)
        mismatch = constraints.build_mismatch(Lock(cell.id, trial).pinned()) if trial else None
        if trial is None or mismatch:
            unpaired[name] = mismatch or _why(error)
        else:
            text, kept = trial, kept + [(name, version)]
    return text, unpaired


def compile_lock(cell: Cell, indexes: Dict[str, Dict]) -> Lock:
    if cell.libraries and cell.side != "runtime":
        text, unpaired = _paired(cell, indexes)
        notes = "".join(f"{UNPAIRED}{name}: {reason}\n" for name, reason in unpaired.items())
        return Lock(cell.id, notes + text)
    text, error = _resolve(cell, indexes)
    if text is None:  # uv's reason first: a version of the matrix, or a requirement of the user's, conflicts
        raise EnvError(f"cannot resolve the cell's requirements: {_why(error)}\n{tail(error)}")
    return Lock(cell.id, text)
