"""`python -m matrix report`."""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import time
from contextlib import closing
from pathlib import Path
from typing import List, Optional, Tuple

from matrix import history
from matrix.report.load import ReportError, Run, flatten, frame_of, load_run, previous_runs, run_dir, try_load
from matrix.report.write import write_report


def from_history(root: Path, run_id: str) -> Optional[Tuple[List[Run], list, list]]:
    """Earlier runs, this run's regressions and the bisect findings, from the history database."""
    path = history.database(root)
    if not path.exists():
        return None
    try:
        with closing(history.connect(path)) as db:
            known = set(history.runs(db)["run_id"])
            if run_id not in known:
                return None
            earlier, before = [], history.previous_run_id(db, run_id)
            while before is not None and len(earlier) < 20:
                stored = history.stored_results(db, before)
                if stored:
                    meta = json.loads(db.execute("select meta from runs where run_id = ?", (before,)).fetchone()[0])
                    earlier.append(Run(Path(before), meta, frame_of([flatten(r) for r in stored])))
                before = history.previous_run_id(db, before)
            return earlier, history.regressions(db, run_id), history.bisects(db)
    except (history.HistoryError, sqlite3.Error) as exc:
        print(f"warning: history not read: {exc}", file=sys.stderr)
        return None


def report_command(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    try:
        run = load_run(Path(args.results))
    except ReportError as exc:
        print(f"matrix report: error: {exc}", file=sys.stderr)
        return 2
    for warning in run.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    folder = run_dir(Path(args.results))
    recorded = from_history(folder.parent, run.run_id)
    if recorded is None:  # no history (a bare results folder): earlier runs are the folders beside it
        recorded = ([r for r in (try_load(p) for p in previous_runs(folder)) if r is not None], [], [])
    earlier, regressions, bisects = recorded
    figures = write_report(run, earlier, Path(args.out), regressions=regressions, bisects=bisects)
    print(f"report: {Path(args.out) / 'index.html'} ({figures['results']} results, {figures['cells']} cells, "
          f"{figures['cases']} cases; {time.perf_counter() - start:.1f} s)")
    return 0
