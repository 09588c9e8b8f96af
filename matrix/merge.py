"""The per-cell outputs of many machines joined into one run, as if one machine had run every
cell (`python -m matrix merge`).

The fan-out gives every machine the same `--run-id`, so the merged results are the
files the machines wrote, unchanged; run.json is rebuilt from theirs."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any, Dict, List

from matrix import advice, formats, runfolder
from matrix.errors import MergeError

CELL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,200}$")  # a cell id names files here


def _run_folder(path: Path) -> Path:
    folder = runfolder.resolve(path)
    if not (folder / runfolder.RUN_JSON).is_file():
        raise MergeError(f"{path}: not a run (no run.json here or under latest/)")
    return folder


def merge(sources: List[Path], root: Path) -> Path:
    folders = [_run_folder(p) for p in sources]
    metas = [runfolder.read(f) for f in folders]
    first = metas[0]
    for folder, meta in zip(folders[1:], metas[1:]):
        theirs, ours = runfolder.spec_hash(meta), runfolder.spec_hash(first)
        if theirs != ours:
            raise MergeError(f"{folder} ran spec {(meta.get('spec') or {}).get('path')} ({theirs}), {folders[0]} ran "
                             f"{(first.get('spec') or {}).get('path')} ({ours}): results of different specs are not "
                             "one run")
        if meta["run_id"] != first["run_id"]:
            raise MergeError(f"{folder} is run {meta['run_id']}, {folders[0]} is run {first['run_id']}: "
                             "give every machine the same --run-id (from `python -m matrix plan --json`)")
        if (meta.get("plan") or {}).get("exporters") != (first.get("plan") or {}).get("exporters") or \
                (meta.get("plan") or {}).get("opsets") != (first.get("plan") or {}).get("opsets"):
            raise MergeError(f"{folder} ran other exporters or opsets than {folders[0]}")
    cells: Dict[str, Dict[str, Any]] = {}
    owner: Dict[str, Path] = {}
    for folder, meta in zip(folders, metas):
        for cell in meta.get("cells", []):
            if not isinstance(cell.get("id"), str) or not CELL_ID.match(cell["id"]):
                # a cell id names files here: one that could leave the folder is not a cell of ours
                raise MergeError(f"{folder / 'run.json'}: cell id {str(cell.get('id'))[:80]!r} is not a cell id")
            if cell["id"] in cells:
                raise MergeError(f"cell {cell['id']} is in both {owner[cell['id']]} and {folder}")
            for number, result in formats.read_numbered(folder / f"{cell['id']}.jsonl"):
                if result.get("run_id") != first["run_id"]:
                    raise MergeError(f"{folder / (cell['id'] + '.jsonl')}:{number}: result of run "
                                     f"{result.get('run_id')}, not {first['run_id']}")
            cells[cell["id"]], owner[cell["id"]] = cell, folder
    runfolder.check_run_id(first["run_id"], f"{folders[0] / 'run.json'}: run id")

    target = root / first["run_id"]
    if target.exists():
        raise MergeError(f"{target} exists: merge into another --results root")
    tmp = root / f".{first['run_id']}-merging-{os.getpid()}"
    tmp.mkdir(parents=True)
    try:
        for folder in folders:
            for name in ("lock", "logs", "models", "reuse", "bundles", "frontier", "advice"):
                if (folder / name).is_dir():
                    shutil.copytree(folder / name, tmp / name, dirs_exist_ok=True)
        for cell_id, folder in owner.items():
            shutil.copyfile(folder / f"{cell_id}.jsonl", tmp / f"{cell_id}.jsonl")
        finished = [m.get("finished_at") for m in metas]
        exports: dict = {}
        for adopted in (True, False):  # an export job's own record over the copies its runtime jobs hold
            exports.update({e["id"]: e for m in metas for e in m.get("exports", []) if bool(e.get("adopted_from"))
                            == adopted})
        merged = dict(first, cells=sorted(cells.values(), key=lambda c: c["id"]),
                      exports=sorted(exports.values(), key=lambda e: e["id"]),
                      started_at=min(m.get("started_at") or 0 for m in metas),
                      finished_at=None if None in finished else max(finished),
                      hosts=[m.get("host") for m in metas], merged_from=[str(f) for f in folders])
        merged["plan"] = dict(first.get("plan") or {}, cells=sorted(
            {c["id"]: c for m in metas for c in (m.get("plan") or {}).get("cells", [])}.values(),
            key=lambda c: c["id"]))
        runfolder.write(tmp, merged)
        advice.annotate(tmp)  # the oldest loading onnxruntime is known only once the runtime jobs are together
        os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    runfolder.point_latest(root, first["run_id"])
    return target
