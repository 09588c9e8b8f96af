"""The remedies pass of a --remedies run (what it completes: matrix/remedy.py)."""

from __future__ import annotations

import concurrent.futures
import os
import time
from typing import Any, List

from matrix import remedy
from matrix.errors import ProbeRefused
from matrix.lock import EnvError
from matrix.plan import Cell


def search(run: Any, pool: concurrent.futures.ThreadPoolExecutor) -> None:
    """Failing results the runtime sides' remedies left unfixed, searched again whole: each such
    cell's own environment (torch and onnxruntime), those results only (matrix/remedy.py). A
    failure here costs those results their whole search, not the run."""
    wanted = remedy.wanted(run.dir, run.plan.cells)
    root = run.dir / remedy.REMEDIES
    if not wanted:
        return
    root.mkdir(exist_ok=True)
    os.chmod(root, 0o777)  # a container's user writes there

    def search_cell(cell: Cell, keys: List[tuple]) -> None:
        shown, started = f"{cell.id} (remedies)", time.time()
        run.progress.cell_started(shown)  # before the build, whose steps it shows
        record = {"status": "ok"}
        try:
            environment = run.runner.prepare(cell, run.lock_for(cell), lambda line: run.progress.note(shown, line))
            args = remedy.narrowed(run.probe_args(cell, "", root / f"{cell.id}.jsonl"), keys, root, cell.id,
                                   run.options.cases_from, run.options.models)
            run.probe(cell, environment, args, shown)
        except (EnvError, ProbeRefused, OSError) as exc:  # those results keep the runtime side's partial search
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            record = {"status": "env_error", "error": f"the whole cell's search failed: {message}"}
            with run.lock:
                run.cells[cell.id]["remedies_error"] = message
        finally:
            run.progress.cell_finished(shown, dict(record, seconds=round(time.time() - started, 2)))

    for future in [pool.submit(search_cell, cell, keys) for cell, keys in wanted.values()]:
        future.result()
    run.bad_input = None
