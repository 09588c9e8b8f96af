"""`python -m matrix remedies`: a run's remedy search as Markdown, printed or written into a page
between its markers (docs/remedies.md)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("remedies", help="the verified remedies of a run, as Markdown",
                       description="How many failing results of a run have a verified remedy, by remedy.")
    p.add_argument("run", nargs="?", default="results", metavar="RUN",
                   help="a run folder (or a results root: its latest run); default results/")
    action = p.add_mutually_exclusive_group()
    action.add_argument("--write", metavar="FILE", help="replace the text between FILE's remedies markers")
    action.add_argument("--check", metavar="FILE", help="exit 1 when FILE's text no longer fits the code (CI: "
                                                        "the run behind it cannot be repeated there)")
    p.set_defaults(main=main)


def main(args: argparse.Namespace) -> int:
    from matrix import markers, remedy_table, runfolder

    if args.check:
        problem = remedy_table.stale(markers.read(args.check), args.check)
        if problem:
            print(f"matrix remedies: {problem}", file=sys.stderr)
            return 1
        print(f"{args.check}: the remedy registry is the code's")
        return 0
    from matrix.report.aggregate import prepare
    from matrix.report.load import load_run

    run = load_run(runfolder.resolve(Path(args.run)))
    text = remedy_table.registry() + "\n" + remedy_table.table(prepare(run.frame), run.run_id)
    if not args.write:
        print(text, end="")
        return 0
    markers.write_into(args.write, remedy_table.START, remedy_table.END, text)
    print(f"{args.write}: remedies written")
    return 0
