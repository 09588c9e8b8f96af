"""A run's remedies pass, and the results it completes.

In a split run the runtime side tries only the remedies of the session and of the exported file
(it has no torch). Every failing result they leave unfixed is searched again, whole: the cell's
own environment (torch and onnxruntime both; venv or image as the run's runner makes them) runs
those results only, with --remedies, into remedies/<cell>.jsonl. annotate() then puts each
whole search into the cell's result. A failure of the pass costs those results their search,
not the run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Tuple

from matrix.probe import results
from matrix.probe.search import SEARCHED
from matrix.runfolder import cell_results, read_results, rewrite_results

REMEDIES = "remedies"  # a run folder's remedies/<cell>.jsonl and remedies/<cell>.keys.json


def unfixed(found: List[Dict[str, Any]]) -> List[tuple]:
    """The keys of failing results that no remedy has fixed yet, searched whole or not at all."""
    keys = []
    for result in found:
        searched = result.get("remedy") or {}
        if result.get("status") in SEARCHED and not searched.get("fixed_by") \
                and (not searched or searched.get("partial")):
            keys.append(results.key(result))
    return sorted(keys, key=lambda k: tuple("" if v is None else str(v) for v in k))


def wanted(folder: Path, cells: List[Any]) -> Dict[str, Tuple[Any, List[tuple]]]:
    """Per cell with unfixed failures: (the cell, their keys)."""
    found = cell_results(folder, [cell.id for cell in cells])
    return {cell.id: (cell, unfixed(found[cell.id])) for cell in cells if unfixed(found[cell.id])}


def narrowed(args: Any, keys: List[tuple], root: Path, cell_id: str, cases_from: List[str],
             models: List[Dict[str, Any]]) -> Any:
    """The whole cell's probe arguments for a search of these results only, into remedies/."""
    path = root / f"{cell_id}.keys.json"
    path.write_text(json.dumps([list(k) for k in keys]))
    args.side, args.bundles, args.reuse, args.keep_failed, args.resume = "both", None, None, None, False
    args.cases_from, args.models = [str(Path(s).resolve()) for s in cases_from], list(models)
    args.cases = ",".join(sorted({k[0] for k in keys}))
    args.keys, args.remedies = str(path), True
    args.frontier = str(root / f"{cell_id}.frontier.json")
    return args


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
