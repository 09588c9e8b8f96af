"""`python -m matrix families`: the model families' results of a run as a Markdown table, printed
or written into a page between its markers (docs/families.md's results)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("families", help="the model families' results of a run, as a Markdown table",
                       description="Per architecture × torch × exporter: the status on the run's newest onnxruntime.")
    p.add_argument("run", nargs="?", default="results", metavar="RUN",
                   help="a run folder (or a results root: its latest run); default results/")
    action = p.add_mutually_exclusive_group()
    action.add_argument("--write", metavar="FILE", help="replace the table between FILE's family-results markers")
    action.add_argument("--check", metavar="FILE", help="exit 1 when FILE's text no longer fits the code (CI: "
                                                        "the run behind it cannot be repeated there)")
    p.set_defaults(main=main)


def main(args: argparse.Namespace) -> int:
    from matrix import families, markers, runfolder

    if args.check:
        return _check(args.check)
    from matrix.report.aggregate import prepare
    from matrix.report.load import load_run

    folder = runfolder.resolve(Path(args.run))
    run = load_run(folder)
    text = families.table(prepare(run.frame), run.run_id, families.export_seconds(folder))
    if not args.write:
        print(text, end="")
        return 0
    markers.write_into(args.write, families.START, families.END, text)
    print(f"{args.write}: model family results written")
    return 0


def _check(page: str) -> int:
    from matrix import families, markers
    from matrix.corpus_table import listed

    cases = [c["case"] for c in listed([]) if c.get("library")]
    problem = families.stale(markers.read(page), cases, page)
    if problem:
        print(f"matrix families: {problem}", file=sys.stderr)
        return 1
    print(f"{page}: every model family has its results row")
    return 0
