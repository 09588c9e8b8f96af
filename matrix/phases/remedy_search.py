"""The remedies pass of a --remedies run (what it completes: matrix/remedy.py)."""

from __future__ import annotations

import concurrent.futures
import os
import time
from pathlib import Path
from typing import Any, Dict, List

from matrix import remedy
from matrix.errors import ProbeRefused
from matrix.frontier import FRONTIER
from matrix.lock import EnvError
from matrix.plan import Cell
from matrix.runfolder import BUNDLES, read_results


def search(run: Any, pool: concurrent.futures.ThreadPoolExecutor) -> None:
    """Failing results the runtime sides' remedies left unfixed, searched again by each such cell's
    own environment (torch and onnxruntime): the export's remedies, for those results only
    (matrix/remedy.py). A failure here costs those results their whole search, not the run."""
    wanted = remedy.wanted(run.dir, run.plan.cells)
    root = run.dir / remedy.REMEDIES
    if not wanted:
        return
    root.mkdir(exist_ok=True)
    os.chmod(root, 0o777)  # a container's user writes there

    def search_cell(cell: Cell, found: List[Dict[str, Any]], learnt: Dict[tuple, Dict[str, Any]]) -> None:
        shown, started = f"{cell.id} (remedies)", time.time()
        run.progress.cell_started(shown)  # before the build, whose steps it shows
        record = {"status": "ok"}
        try:
            environment = run.runner.prepare(cell, run.lock_for(cell), lambda line: run.progress.note(shown, line))
            args = remedy.narrowed(run.probe_args(cell, "", root / f"{cell.id}.jsonl"), found, root, cell.id,
                                   run.options.cases_from, run.options.models,
                                   run.dir / BUNDLES / cell.export_side().id, learnt,
                                   read_results(run.dir / f"{cell.id}.jsonl"))
            # the search's opsets and the runtime's limits: what the split run measured (else measured here)
            remedy.joined_frontier(run.dir / FRONTIER / f"{cell.export_side().id}.json",
                                   run.dir / FRONTIER / f"{cell.runtime_side().id}.json", Path(args.frontier))
            run.probe(cell, environment, args, shown)
        except (EnvError, ProbeRefused, OSError) as exc:  # those results keep the runtime side's partial search
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            record = {"status": "env_error", "error": f"the whole cell's search failed: {message}"}
            with run.lock:
                run.cells[cell.id]["remedies_error"] = message
        finally:
            run.progress.cell_finished(shown, dict(record, seconds=round(time.time() - started, 2)))

    # Two waves: one cell of each export side first, then its others, which are told what it found
    # (the same torch exports the same way: a try that failed before onnxruntime had a say is not
    # made again, and the one that fixed it there goes first).
    sides: Dict[str, List[tuple]] = {}
    for cell, found in wanted.values():
        sides.setdefault(cell.export_side().id, []).append((cell, found))
    learnt: Dict[tuple, Dict[str, Any]] = {}
    for wave in ([jobs[0] for jobs in sides.values()], [job for jobs in sides.values() for job in jobs[1:]]):
        for future in [pool.submit(search_cell, cell, found, learnt) for cell, found in wave]:
            future.result()
        for cell, _ in wave:
            learnt.update(remedy.learnt(root / f"{cell.id}.jsonl", cell.id, cell.export_side().id))
    run.bad_input = None
