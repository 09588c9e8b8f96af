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
import os
from pathlib import Path
from typing import Any, Dict, List

from matrix.advice import _read, _rewrite, cell_results
from matrix.probe import results
from matrix.probe.search import SEARCHED

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


def search_whole(run: Any, pool: Any) -> None:
    """Each cell with unfixed failures: its whole environment, those results, --remedies."""
    from matrix.lock import EnvError
    from matrix.run import BadInput

    root = run.dir / REMEDIES
    wanted = {cell.id: (cell, unfixed(found)) for cell in run.plan.cells
              for found in [cell_results(run.dir, [cell.id])[cell.id]] if unfixed(found)}
    if not wanted:
        return
    root.mkdir(exist_ok=True)
    os.chmod(root, 0o777)  # a container's user writes there

    def search(cell: Any, keys: List[tuple]) -> None:
        path = root / f"{cell.id}.keys.json"
        path.write_text(json.dumps([list(k) for k in keys]))
        environment = run.runner.prepare(cell, run._lock(cell), lambda line: run.progress.note(cell.id, line))
        args = run._probe_args(cell, "", root / f"{cell.id}.jsonl")
        args.side, args.bundles, args.reuse, args.keep_failed, args.resume = "both", None, None, None, False
        args.cases_from = [str(Path(s).resolve()) for s in run.options.cases_from]
        args.cases = ",".join(sorted({k[0] for k in keys}))
        args.keys, args.remedies = str(path), True
        args.frontier = str(root / f"{cell.id}.frontier.json")
        run._shown(cell, environment, args, f"{cell.id} (remedies)")

    for future in [pool.submit(search, cell, keys) for cell, keys in wanted.values()]:
        try:
            future.result()
        except (EnvError, BadInput, OSError):
            pass  # those results keep the runtime side's search, which says it was partial
    run.bad_input = None


def annotate(folder: Path) -> int:
    """The whole searches (remedies/<cell>.jsonl) in the cells' results; returns how many."""
    done = 0
    for cell, found in cell_results(folder).items():
        whole = {results.key(r): r for r in _read(folder / REMEDIES / f"{cell}.jsonl")}
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
            _rewrite(folder / f"{cell}.jsonl", found)
    return done
