"""Advice checked by the run itself (matrix/advice.py says what the advice is and writes it
into the results): the export side again for the advised opset, then the runtime side."""

from __future__ import annotations

import concurrent.futures
import os
import shutil
from pathlib import Path
from typing import Any, Dict

from matrix import advice
from matrix.errors import ProbeRefused
from matrix.lock import EnvError
from matrix.plan import Cell
from matrix.probe import frontier
from matrix.probe.arguments import ProbeArgs
from matrix.runfolder import BUNDLES


def check(run: Any, pool: concurrent.futures.ThreadPoolExecutor) -> None:
    """Check the opset each too-new load error was advised to export with, where the cell has no
    result at that opset: the export side again for those cases at that opset (into
    advice/bundles/), then the runtime side (into advice/<cell>.jsonl); a whole cell
    (--no-split) does both in its environment. A failure here costs the advice its check,
    not the run."""
    wanted = advice.pending(run.dir, [c.id for c in run.plan.cells])
    root = run.dir / advice.ADVICE
    for cell_id in list(wanted):  # the previous run checked the same, in the same environments
        earlier = run.previous.get(cell_id)
        source = Path(earlier["file"]).parent / advice.ADVICE / f"{cell_id}.jsonl" if earlier else None
        if source and earlier.get("lock_hash") == run.cells[cell_id].get("lock_hash") \
                and advice.still_holds(source, run.dir / f"{cell_id}.jsonl", wanted[cell_id]):
            root.mkdir(exist_ok=True)
            shutil.copyfile(source, root / f"{cell_id}.jsonl")
            del wanted[cell_id]
    cells = {c.id: c for c in run.plan.cells if c.id in wanted}
    by_side: Dict[str, Dict[str, Any]] = {}
    for cell_id, cell in cells.items():
        side = by_side.setdefault(cell.export_side().id, {"side": cell.export_side(), "keys": set()})
        side["keys"].update(wanted[cell_id])

    def narrowed(args: ProbeArgs, keys: Any) -> ProbeArgs:
        args.cases = ",".join(sorted({case for case, _, _, _ in keys}))
        args.exporters = sorted({exporter for _, exporter, _, _ in keys})
        args.opsets = sorted({opset for _, _, opset, _ in keys})
        args.frontier = args.reuse = args.keep_failed = None
        return args

    def export(job: Dict[str, Any]) -> None:
        side, bundles = job["side"], root / BUNDLES / job["side"].id
        bundles.mkdir(parents=True, exist_ok=True)
        os.chmod(bundles, 0o777)
        measured = run.dir / BUNDLES / side.id / frontier.FILE
        if measured.exists():  # measured once: the probe keeps it (same versions and probe)
            shutil.copyfile(measured, bundles / frontier.FILE)
        args = narrowed(run.export_args(side, bundles), job["keys"])
        run.shown(side, run.environment(side, f"{side.id} (advice)"), args, f"{side.id} (advice)")

    def check_cell(cell: Cell) -> None:
        args = narrowed(run.probe_args(cell, "", root / f"{cell.id}.jsonl"), wanted[cell.id])
        side = cell.runtime_side() if run.options.split else cell  # a whole cell exports and checks
        if run.options.split:
            args.bundles = str(root / BUNDLES / cell.export_side().id)
        run.shown(side, run.environment(side, f"{cell.id} (advice)"), args, f"{cell.id} (advice)")

    if not wanted:
        return
    root.mkdir(exist_ok=True)
    os.chmod(root, 0o777)
    exports = list(by_side.values()) if run.options.split else []
    for stage, jobs in ((export, exports), (check_cell, list(cells.values()))):
        for future in [pool.submit(stage, job) for job in jobs]:
            try:
                future.result()
            except (EnvError, ProbeRefused, KeyError):
                pass  # unverified advice says so in its hint
    run.bad_input = None  # the run's own input was good: the check's failure is only the check's
