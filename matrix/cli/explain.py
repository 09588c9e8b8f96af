"""`python -m matrix explain "ERROR TEXT" [RUN]`: the error signatures of the run and the runs
before it closest to a pasted message, each with where it occurs, since when, where its cases
pass, its hint, blame and verified remedy — what the report's errors.html answers in the browser."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("explain", help="a pasted error message: where the run met it and what fixed it",
                       description="The run's error signatures closest to TEXT (normalised as signatures are: "
                                   "paths, numbers, shapes, onnxruntime's prelude), with what is known of each.")
    p.add_argument("text", help="the error message (or '-' to read it from stdin)")
    p.add_argument("run", nargs="?", default="results", metavar="RUN",
                   help="a run folder (or a results root: its latest run); default results/")
    p.add_argument("-n", type=int, default=3, help="how many signatures to show (default 3)")
    p.set_defaults(main=main)


def main(args: argparse.Namespace) -> int:
    from matrix import explain
    from matrix.errors import UserError
    from matrix.progress import make_console
    from matrix.report import aggregate
    from matrix.report.load import context, load_run

    text = sys.stdin.read() if args.text == "-" else args.text
    if not explain.tokens(text):
        raise UserError("explain: the text has no words to match (paste the error message)")
    run = load_run(Path(args.run))
    known = explain.signatures(aggregate.prepare(run.frame), {}, context(run.path, run).earlier)
    if not known:
        raise UserError(f"{run.path}: no failing result to compare with")
    found = explain.closest(text, known, args.n)
    console = make_console()
    if not found:
        console.print(f"no error of run {run.run_id} shares a word with that text ({len(known)} signatures)")
        return 1
    for entry in found:
        console.print(f"[bold]{entry['kind']}[/] (match {entry['score']:.2f}): {entry['message']}", markup=True,
                      highlight=False)
        console.print(f"  seen: {explain.seen(entry)}", highlight=False)
        if entry["gone"]:
            console.print(f"  not in this run: last met in run {entry['gone']['run']}, in {entry['runs'][0]} of the "
                          f"{entry['runs'][1]} runs", highlight=False)
        elif entry["runs"]:
            since = f"first in run {entry['first']['run']}" if entry["first"] else "new in this run"
            console.print(f"  in {entry['runs'][0]} of the {entry['runs'][1]} runs, {since}", highlight=False)
        console.print(f"  cases: {', '.join(c['case'] for c in entry['cases'][:8])}"
                      + (f" and {len(entry['cases']) - 8} more" if len(entry["cases"]) > 8 else ""), highlight=False)
        if entry["passes_on"]:
            console.print(f"  the same cases pass with: {'; '.join(entry['passes_on'][:4])}", highlight=False)
        for label in ("hint", "blame"):
            if entry[label]:
                console.print(f"  {label}: {entry[label]}", highlight=False)
        if entry["remedy"]:
            console.print(f"  verified fix ({entry['fixed']} of {entry['results']}): {entry['fix']}", highlight=False)
            if entry["snippet"]:
                console.print("    " + entry["snippet"].replace("\n", "\n    "), highlight=False, markup=False)
    return 0
