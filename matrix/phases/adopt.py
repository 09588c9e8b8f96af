"""A fan-out's runtime job: its export sides come from the export jobs' run folders
(--bundles-from), not from environments of its own."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any, Dict, List, Tuple

from matrix import runfolder
from matrix.errors import UserError
from matrix.plan import Cell
from matrix.runfolder import BUNDLES


def adopt(run: Any, sides: List[Cell]) -> None:
    """The export sides' records and bundles from export jobs' run folders, linked into this
    run; a side none of them holds is its cells' env_error."""
    found: Dict[str, Tuple[Path, Dict[str, Any]]] = {}
    for folder in map(Path, run.options.bundles_from):
        job = runfolder.read(folder)
        if job["run_id"] != run.run_id:
            raise UserError(f"--bundles-from {folder}: bundles of run {job['run_id']}, not {run.run_id}")
        for record in job.get("exports", []):
            found.setdefault(record["id"], (folder, record))
    for side in sides:
        if side.id not in found:
            run.exports[side.id] = {"id": side.id, "cell": asdict(side), "status": "env_error",
                                    "error": f"export side {side.id}: not in --bundles-from (its job failed "
                                             "or did not run)"}
            continue
        folder, record = found[side.id]
        if record["status"] == "ok":
            runfolder.link_bundles(folder / BUNDLES / side.id, run.dir / BUNDLES / side.id)
        run.exports[side.id] = dict(record, adopted_from=str(folder))
