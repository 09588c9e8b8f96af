"""Putting a bundle in its place: whole or not at all, with how to reproduce it (repro.py), and
a failing result's bundle zipped beside the run's results, where the report links it."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
from typing import Any, Dict, Optional

from matrix.probe import PROBE_VERSION, bundle, export_repro, isolation
from matrix.probe.exporters import for_torch
from matrix.probe.tasks import Task


def meta_of(task: Task, versions: Dict[str, Optional[str]], data: Dict[str, Any], outcome: Dict[str, Any],
          started: float) -> Dict[str, Any]:
    """bundle.json: the case, the export side's versions, the data's description and the export's outcome."""
    exported = {k: v for k, v in versions.items() if k != "onnxruntime"}
    return dict(task.fields, requires=list(task.requires), exporter=task.exporter, opset=task.opset,
                device=task.device, versions=dict(exported, onnxruntime=None), probe_version=PROBE_VERSION,
                data=data, started_at=started,
                outcome=dict(outcome, reason=outcome.get("reason") or task.reason,
                             seconds=round(time.time() - started, 4)))


def publish(workdir: Optional[str], folder: str, meta: Dict[str, Any], case: Any = None) -> None:
    """Put a bundle in its place whole: built beside it, then swapped in. With it, how to
    reproduce it: with onnxruntime alone when the export passed, with torch when it failed."""
    staging = folder + ".new"
    shutil.rmtree(staging, ignore_errors=True)
    os.makedirs(staging)
    if workdir is not None:
        for name in os.listdir(workdir):
            if name != isolation.LOG_NAME:  # the exporter's chatter is not part of the bundle
                shutil.move(os.path.join(workdir, name), os.path.join(staging, name))
        shutil.rmtree(workdir, ignore_errors=True)
    outcome = meta["outcome"]
    if outcome["status"] == "pass" and os.path.exists(os.path.join(staging, bundle.MODEL)):
        shutil.copyfile(os.path.join(os.path.dirname(__file__), "repro.py"), os.path.join(staging, "repro.py"))
    elif case is not None and outcome["stage"] in ("export", "check") and outcome["status"] != "skipped":
        api = for_torch(meta["versions"].get("torch") or "0")
        keywords = meta["data"].get("kwargs") or []
        count = meta["data"].get("args")
        count = (0 if keywords else len(case.dynamic or ()) or 1) if count is None else count
        export_repro.write(staging, case, meta, api.call(meta["exporter"], meta["opset"], case.dynamic, count,
                                                         keywords, case.output_names))
    bundle.write_meta(staging, meta)
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(staging, folder)


def keep(workdir: str, meta: Dict[str, Any], folder: str, key: tuple, made_by: str, case: Any) -> str:
    """A failing result's bundle, made from its workdir and zipped into folder; the zip's name."""
    staging = tempfile.mkdtemp(prefix=".keep-", dir=_made(folder))  # beside its place: a rename, not a copy
    try:
        made = os.path.join(staging, bundle.folder_name(*key))
        publish(workdir, made, meta, case)
        return zipped(made, folder, made_by)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _made(folder: str) -> str:
    os.makedirs(folder, exist_ok=True)
    return folder


def zipped(source: str, folder: str, made_by: str) -> str:
    """source (a bundle folder) as a zip in folder, which unzips into a folder of its name; named
    also by what made it (the cell, or the export side), as cells with another torch keep theirs
    beside it."""
    name = os.path.basename(source.rstrip(os.sep))
    target = f"{name}--{hashlib.sha256(made_by.encode()).hexdigest()[:8]}.zip"
    staging = tempfile.mkdtemp(prefix=".zip-", dir=_made(folder))
    try:
        archive = shutil.make_archive(os.path.join(staging, name), "zip", os.path.dirname(source), name)
        os.replace(archive, os.path.join(folder, target))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
