"""`python -m matrix report`: the static HTML report of a run, set against the runs before it."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="write the HTML compatibility report of a run",
                       description="Write the static HTML report of a run (and its changes since the previous one).")
    p.add_argument("--results", default="results", help="a results root (its latest run) or one run's folder")
    p.add_argument("--out", default="report", help="where the site is written (replaced whole)")
    p.set_defaults(main=main)


def main(args: argparse.Namespace) -> int:
    from matrix.report.load import context, load_run
    from matrix.report.write import write_report

    start = time.perf_counter()
    run = load_run(Path(args.results))
    around = context(run.path, run)
    for warning in run.warnings + around.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    figures = write_report(run, around.earlier, Path(args.out), regressions=around.regressions,
                           bisects=around.bisects, rates=around.rates)
    print(f"report: {Path(args.out) / 'index.html'} ({figures['results']} results, {figures['cells']} cells, "
          f"{figures['cases']} cases; {time.perf_counter() - start:.1f} s)")
    return 0
