"""`python -m matrix report`."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from matrix.report.load import ReportError, load_run, previous_runs, run_dir, try_load
from matrix.report.write import write_report


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
    earlier = [r for r in (try_load(p) for p in previous_runs(folder)) if r is not None]
    figures = write_report(run, earlier, Path(args.out))
    print(f"report: {Path(args.out) / 'index.html'} ({figures['results']} results, {figures['cells']} cells, "
          f"{figures['cases']} cases; {time.perf_counter() - start:.1f} s)")
    return 0
