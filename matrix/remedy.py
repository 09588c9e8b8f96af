"""A run's remedies pass, and the results it completes.

In a split run the runtime side tries only the remedies of the session and of the exported file
(it has no torch). Every failing result they leave unfixed is searched on by the whole cell: its
own environment (torch and onnxruntime both; venv or image as the run's runner makes them), for
those results only, with --remedies, into remedies/<cell>.jsonl. It is told what the split run
knows of each (outcome, export data, the runtime side's tries), so it tries the export's remedies
only and runs neither the result nor those tries again. annotate() then puts each whole search
into the cell's result. A failure of the pass costs those results their search, not the run.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from matrix import advice
from matrix.probe import bundle, frontier, results
from matrix.probe.search import SEARCHED
from matrix.probe.status import EXPORT_STAGES
from matrix.runfolder import cell_results, read_results, rewrite_results

REMEDIES = "remedies"  # a run folder's remedies/<cell>.jsonl and remedies/<cell>.keys.json


def unfixed(found: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """The failing results that no remedy has fixed yet, searched whole or not at all."""
    left = []
    for result in found:
        searched = result.get("remedy") or {}
        if result.get("status") in SEARCHED and not searched.get("fixed_by") \
                and (not searched or searched.get("partial")):
            left.append(result)
    return sorted(left, key=lambda r: tuple("" if v is None else str(v) for v in results.key(r)))


def wanted(folder: Path, cells: List[Any]) -> Dict[str, Tuple[Any, List[Dict[str, Any]]]]:
    """Per cell with unfixed failures: (the cell, those results). Not those whose advised opset the
    run's advice check verified (matrix/advice.py): the run has their fix, and a search would
    export them again at that opset only to find it."""
    out = {}
    for cell in cells:
        found = cell_results(folder, [cell.id])[cell.id]
        fixed = advice.verified(folder, cell.id, found)
        left = [r for r in unfixed(found) if results.key(r) not in fixed]
        if left:
            out[cell.id] = (cell, left)
    return out


def known(result: Dict[str, Any], bundles: Path) -> Optional[Dict[str, Any]]:
    """What the split run knows of a result, so that the whole cell searches the export's remedies
    only, without running it again: its outcome, its export's data (the bundle's description) and
    the tries its runtime side made (none where the export failed: there was nothing to check).
    None where the runtime side did not search a result it checked (the whole cell then runs it
    again and searches every remedy)."""
    searched = result.get("remedy") or {}
    if not searched.get("partial") and result.get("stage") not in EXPORT_STAGES:
        return None
    try:
        meta = bundle.read_meta(str(bundles / bundle.folder_name(*results.key(result))))
    except bundle.BundleError:
        return None
    return {"outcome": {k: result.get(k) for k in ("status", "stage", "error", "metrics", "export_call")},
            "data": meta.get("data") or {}, "tried": searched.get("tried") or []}


def learnt(path: Path, cell_id: str, side_id: str) -> Dict[tuple, Dict[str, Any]]:
    """A whole cell's searches (remedies/<cell>.jsonl), for the other cells of its export side:
    {(export side, case, exporter, opset, device): {cell, tried}}."""
    return {(side_id, *results.key(r)): {"cell": cell_id, "tried": (r.get("remedy") or {}).get("tried") or []}
            for r in read_results(path) if r.get("remedy")}


def other_exporter(result: Dict[str, Any], same_cell: Dict[tuple, Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    """The cell's own result (`same_cell`: by key) for the same case, opset and device with the other
    exporter — what the other_exporter remedy would make again — as a try's outcome; None where the
    cell has none."""
    case, exporter, opset, device = results.key(result)
    other = same_cell.get((case, {"dynamo": "torchscript", "torchscript": "dynamo"}.get(exporter), opset, device))
    if not other or other.get("status") in ("skipped", "env_error"):
        return None
    return {k: other.get(k) for k in ("status", "stage", "error", "export_call")}


def narrowed(args: Any, found: List[Dict[str, Any]], root: Path, cell_id: str, cases_from: List[str],
             models: List[Dict[str, Any]], bundles: Path, siblings: Dict[tuple, Dict[str, Any]],
             same_cell: List[Dict[str, Any]]) -> Any:
    """The whole cell's probe arguments for a search of these results only, into remedies/; what a
    cell of the same export side found (`siblings`, from learnt) goes with each result it searched,
    and so does the cell's own result with the other exporter (`same_cell`: all its results)."""
    entries, by_key = [], {results.key(r): r for r in same_cell}
    for result in found:
        told = known(result, bundles)
        if told:
            sibling = siblings.get((bundles.name, *results.key(result)))
            told = dict(told, sibling=sibling, other=other_exporter(result, by_key))
        entries.append([*results.key(result), told])
    path = root / f"{cell_id}.keys.json"
    path.write_text(json.dumps(entries))
    args.side, args.bundles, args.reuse, args.keep_failed, args.resume = "both", None, None, None, False
    args.cases_from, args.models = [str(Path(s).resolve()) for s in cases_from], list(models)
    args.cases = ",".join(sorted({r["case"] for r in found}))
    args.keys, args.remedies = str(path), True
    args.frontier = str(root / f"{cell_id}.frontier.json")
    return args


def joined_frontier(exported: Path, runtime: Path, target: Path) -> bool:
    """The export side's and the runtime side's measurements as one file for the whole cell's search
    (its opsets and the runtime's limits are those the split run measured); whether both were there."""
    export_side, runtime_side = frontier.read(str(exported)), frontier.read(str(runtime))
    if not export_side or not runtime_side or export_side.get("error") or not runtime_side.get("runtime"):
        return False
    versions = {k: v if v is not None else (runtime_side.get("versions") or {}).get(k)
                for k, v in (export_side.get("versions") or {}).items()}
    frontier.write(str(target), frontier.SPLIT, versions, exporters=export_side.get("exporters"),
                   onnx=export_side.get("onnx"), runtime=runtime_side["runtime"])
    os.chmod(target, 0o666)  # a container's user reads it
    return True


def annotate(folder: Path) -> int:
    """The whole searches (remedies/<cell>.jsonl) in the cells' results; returns how many."""
    done = 0
    for cell, found in cell_results(folder).items():
        whole = {results.key(r): r for r in read_results(folder / REMEDIES / f"{cell}.jsonl")}
        changed = False
        for result in found:
            again = whole.get(results.key(result))
            if again is None or result.get("status") not in SEARCHED:
                continue
            if again.get("remedy"):
                result["remedy"] = dict(again["remedy"], searched="whole cell")
            elif again["status"] == "pass":  # the whole cell's own result passed: nothing to remedy there
                result["remedy"] = {"candidates": 0, "tried": [], "fixed_by": None, "stopped": None,
                                    "summary": "passed when the whole cell ran it again: the split is the cause",
                                    "searched": "whole cell"}
            changed, done = True, done + 1
        if changed:
            rewrite_results(folder / f"{cell}.jsonl", found)
    return done
