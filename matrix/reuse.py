"""Whether a side of a cell need run at all: decided here, in the orchestrator, without importing
torch or starting the side's environment.

A side's results are determined by its lock (every package, hashed), the probe's code, the case
files and what the side is asked (exporters, opsets, devices, selection, time limit, remedies).
`inputs` hashes all of them but the lock, which the run records beside it. When the previous run
recorded the same two for a side that finished, the side is not started: its results (and
bundles, frontier measurement and failing results' zips) are taken from the previous run as they
are. Anything else starts the side, whose probe still keeps each unchanged result by itself
(probe/tasks.py), so a change to one case file reruns that file's cases only.

The probe's code stands in for the corpus version: the built-in cases live under matrix/probe/,
so a changed case, tolerance or stage changes this hash. A --cases-from file or folder counts by
its Python sources (and a folder's pyproject.toml); what such files import from elsewhere counts
through the lock when it is a requirement, as the probe's own case hash does."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional

from matrix.lock import Lock
from matrix.probe import PROBE_VERSION, frontier, results
from matrix.probe.arguments import ProbeArgs
from matrix.runfolder import WITHHELD

PROBE = Path(__file__).resolve().parent / "probe"
# What of a probe's arguments decides its results; paths, run ids and memory shares do not.
DECIDING = ("side", "exporters", "opsets", "devices", "timeout", "cases", "suites", "frontier_only", "unpaired",
            "remedies", "remedy_budget", "requirements", "isolation", "models")


def _sources(root: Path) -> Iterable[Path]:
    if root.is_file():
        yield root
        return
    for path in sorted(root.rglob("*")):
        if path.is_file() and (path.suffix == ".py" or path.name == "pyproject.toml") \
                and "__pycache__" not in path.parts:
            yield path


def _digest(root: Path) -> str:
    h = hashlib.sha256()
    for path in _sources(root):
        h.update(str(path.relative_to(root) if path != root else path.name).encode() + b"\0")
        h.update(path.read_bytes())
    return h.hexdigest()


def inputs(args: ProbeArgs, cases_from: List[str]) -> str:
    """What decides a side's results besides its lock, as one hash."""
    asked = {name: getattr(args, name) for name in DECIDING}
    h = hashlib.sha256(json.dumps(asked, sort_keys=True, default=str).encode())
    h.update(str(PROBE_VERSION).encode())
    h.update(_digest(PROBE).encode())
    for source in cases_from:
        path = Path(source).resolve()
        h.update(_digest(path).encode() if path.exists() else b"missing:" + str(source).encode())
    return h.hexdigest()[:16]


def holds(earlier: Optional[Dict[str, Any]], lock_hash: str, digest: str) -> bool:
    """The previous run's record of a side answers for this one: it finished, on the same lock,
    asked the same."""
    return bool(earlier) and earlier.get("status") == "ok" and earlier.get("lock_hash") == lock_hash \
        and earlier.get("inputs") == digest


def taken(earlier: Dict[str, Any], previous_run: str, seconds: float) -> Dict[str, Any]:
    """The side's record in this run: the previous one's, saying which run it came from."""
    record = {k: v for k, v in earlier.items() if k not in ("folder", "file", "seconds", "env_s", "reused_from")}
    return dict(record, reused_from=earlier.get("reused_from") or previous_run, env_s=0.0, seconds=round(seconds, 3))


def copy_results(source: Path, target: Path, run_id: str, models_from: Path, models_to: Path) -> int:
    """The previous run's results of a cell into this run (each saying where it came from, as the
    probe's own reuse writes it), with the failing results' zips beside them; returns how many."""
    writer = results.Writer(str(target))
    count = 0
    try:
        for result in results.read(str(source)):
            writer.write(dict(result, run_id=run_id, reused_from=result.get("reused_from") or result["run_id"]))
            count += 1
            zipped = (result.get("artifacts") or {}).get("bundle")
            if zipped:
                _link_file(models_from, models_to, zipped)
    finally:
        writer.close()
    return count


def _link_file(source_dir: Path, target_dir: Path, name: str) -> None:
    """A kept zip (or the stub saying it was withheld), linked into this run's folder."""
    for candidate in (name, name + WITHHELD):
        source, target = source_dir / candidate, target_dir / candidate
        if source.is_file() and not target.exists():
            target_dir.mkdir(exist_ok=True)
            try:
                os.link(source, target)
            except OSError:  # another filesystem
                shutil.copyfile(source, target)


def _measured_at(lock: Lock, python: str, exporters: List[str]) -> Path:
    """Where this machine keeps an environment's version frontier measurement: by the Python
    release and the packages the measurement depends on as the lock pins them (probe/frontier.py:
    not the model libraries, so environments that differ only in those share it), the probe's
    code and the exporters measured."""
    from matrix.index import cache_dir

    pinned = lock.pinned()
    depends = [python, *(pinned.get(name) for name in frontier.DEPENDS_ON)]
    key = hashlib.sha256(json.dumps([depends, _digest(PROBE), sorted(exporters)]).encode()).hexdigest()[:24]
    return cache_dir() / "frontier" / f"{key}.json"


def seed_frontier(lock: Lock, python: str, exporters: List[str], target: Path) -> bool:
    """An environment's frontier as an earlier run on this machine measured it, put where its probe
    looks (which keeps it where it holds: same versions, same probe); a dynamo export at each opset
    costs ~20 s."""
    kept = _measured_at(lock, python, exporters)
    if target.exists() or not kept.is_file():
        return False
    made = [p for p in reversed(target.parents) if not p.exists()]
    for folder in made:  # a container's user (65534) writes its bundles and stamps there, as in the run folder
        folder.mkdir()
        os.chmod(folder, 0o777)
    shutil.copyfile(kept, target)
    os.chmod(target, 0o666)
    return True


def keep_frontier(lock: Lock, python: str, exporters: List[str], source: Path) -> None:
    """The frontier a side measured, kept for the next run on this machine (whole or not at all)."""
    if not source.is_file():
        return
    kept = _measured_at(lock, python, exporters)
    kept.parent.mkdir(parents=True, exist_ok=True)
    temporary = kept.with_suffix(f".{os.getpid()}.tmp")
    shutil.copyfile(source, temporary)
    os.replace(temporary, kept)

