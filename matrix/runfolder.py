"""The run folder, and everything about it, in one place: run ids and their check, run.json
(written atomically, read against the published schema), the `latest` link beside the runs,
and the lock that lets one run at a time use a results root.

results/<run-id>/run.json          spec (and its text), plan, each cell's lock hash and pins, host, times
results/<run-id>/<cell>.jsonl      the cell's results (matrix/schemas/result.schema.json)
results/<run-id>/lock/<cell>.txt   each cell's complete install set with hashes
results/<run-id>/logs/<cell>.log   the probe's stderr
results/<run-id>/models/           the bundle zips of failing results, for the report to link (one over
                                   PUBLISHED_LIMIT: <zip>.withheld.json, its size; the bundle stays in bundles/)
results/<run-id>/bundles/<side>/   an export side's bundles, its frontier.json and stamped models
results/<run-id>/frontier/         each side's version frontier measurement (matrix/frontier.py)
results/<run-id>/advice/           the checks of too-new models' advice (matrix/advice.py)
results/<run-id>/remedies/         whole-cell remedy searches of a --remedies run (matrix/remedy.py)
results/latest                     the newest run
results/.run.lock                  held by the run using this root
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
from pathlib import Path
from typing import IO, Any, Dict, Iterable, List, Optional

from matrix import formats
from matrix.errors import Busy, UserError
from matrix.probe import results
from matrix.probe.records import new_run_id

__all__ = ["new_run_id", "check_run_id", "spec_hash", "read", "write", "point_latest", "resolve", "claim",
           "unfinished", "read_results", "cell_results", "rewrite_results", "withhold", "link_bundles"]

RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")  # names a folder: nothing that could leave it
LATEST = "latest"
BUNDLES = "bundles"  # a run folder's bundles/<export side id>/<case--exporter--opset--device>/
RUN_JSON = "run.json"
# Failing results' zips travel between the nightly's jobs and are published with the report. A
# few models' weights were nine tenths of them (resnet18's zip: 42 MB, next to ~20 KB for most);
# rerunning the result rebuilds such a bundle from the same seeded weights, so it is withheld.
PUBLISHED_LIMIT = 8 * 2**20
WITHHELD = ".withheld.json"


def check_run_id(run_id: str, where: str = "--run-id") -> str:
    if not RUN_ID.match(str(run_id)):
        raise UserError(f"{where} {str(run_id)[:80]!r}: use letters, digits, '.', '_' and '-' only")
    return run_id


def spec_hash(meta: Dict[str, Any]) -> str:
    """Which spec a run ran, by its text: runs of one spec can be merged, continued, compared."""
    return hashlib.sha256(((meta.get("spec") or {}).get("text") or "").encode()).hexdigest()[:16]


def read(folder: Path) -> Dict[str, Any]:
    return formats.read_run(folder)


def write(folder: Path, data: Dict[str, Any]) -> None:
    """run.json, replaced whole: a reader never sees half of it."""
    tmp = folder / f"{RUN_JSON}.tmp"
    tmp.write_text(json.dumps(data, indent=1))
    tmp.replace(folder / RUN_JSON)


def point_latest(root: Path, run_id: str) -> None:
    tmp = root / f".{LATEST}-{run_id}"
    os.symlink(run_id, tmp)
    os.replace(tmp, root / LATEST)


def resolve(path: Path) -> Path:
    """A run folder: the path itself, or the latest run of a results root."""
    return (path / LATEST).resolve() if (path / LATEST).exists() else path


def claim(root: Path) -> IO[str]:
    """Hold the results root for this run (released when the process ends, however it ends)."""
    import fcntl

    root.mkdir(parents=True, exist_ok=True)
    handle = open(root / ".run.lock", "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise Busy(f"{root} is in use by another run ({holder}); wait for it, or use another --results") from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()} since {time.strftime('%H:%M:%S')}")
    handle.flush()
    return handle


def unfinished(root: Path, spec_text: str) -> Optional[Dict[str, Any]]:
    """The newest run under root that was killed before it finished, if it ran this same spec."""
    if not root.is_dir():
        return None
    for folder in sorted((p for p in root.iterdir() if (p / RUN_JSON).is_file()), reverse=True):
        try:
            meta = read(folder)
        except formats.FormatError:
            continue
        if meta.get("finished_at"):
            return None  # the newest run finished: nothing to continue
        same = spec_hash(meta) == spec_hash({"spec": {"text": spec_text}})
        return meta if same and meta.get("run_id") == folder.name else None
    return None


def read_results(path: Path) -> List[Dict[str, Any]]:
    """A results file as it is (the report and merge check it against the schema); unreadable:
    none, and the file is left as it is."""
    try:
        return list(results.read(str(path), warn=lambda message: None)) if path.exists() else []
    except (OSError, ValueError):
        return []


def cell_results(folder: Path, cells: Optional[Iterable[str]] = None) -> Dict[str, List[Dict[str, Any]]]:
    """Each cell's results: the cells named, or those of the finished run's run.json."""
    if cells is None:
        cells = [c["id"] for c in read(folder).get("cells", [])]
    return {cell: read_results(folder / f"{cell}.jsonl") for cell in cells}


def rewrite_results(path: Path, found: Iterable[Dict[str, Any]]) -> None:
    """A cell's results file replaced whole, atomically (advice and remedies annotate results)."""
    temporary = path.with_suffix(".rewritten.tmp")
    with open(temporary, "w", encoding="utf-8") as f:
        for result in found:
            f.write(json.dumps(result) + "\n")
    os.replace(temporary, path)


def withhold(models: Path, limit: int = PUBLISHED_LIMIT) -> int:
    """Each zip in a run's models/ larger than limit replaced by `<zip>.withheld.json` (its size);
    the bytes withheld."""
    withheld = 0
    for kept in sorted(models.glob("*.zip")) if models.is_dir() else []:
        size = kept.stat().st_size
        if size > limit:
            (models / (kept.name + WITHHELD)).write_text(json.dumps({"bytes": size, "limit": limit}))
            kept.unlink()
            withheld += size
    return withheld


def link_bundles(source: Path, target: Path) -> None:
    """A folder of bundles, hard-linked (copied across filesystems), that a container's user may
    add to and replace in."""
    try:
        shutil.copytree(source, target, copy_function=os.link)
    except (OSError, shutil.Error):  # another filesystem: copy instead
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(source, target)
    for folder, _dirs, _files in os.walk(target):
        os.chmod(folder, 0o777)
    os.chmod(target.parent, 0o777)
