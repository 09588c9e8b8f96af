"""`python -m matrix families`: the model families' results of a run as a Markdown table, printed
or written into a page between its markers (the README's "Model families" results)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("families", help="the model families' results of a run, as a Markdown table",
                       description="Per architecture × torch × exporter: the status on the run's newest onnxruntime.")
    p.add_argument("run", nargs="?", default="results", metavar="RUN",
                   help="a run folder (or a results root: its latest run); default results/")
    p.add_argument("--write", metavar="FILE", help="replace the table between FILE's family-results markers")
    p.set_defaults(main=main)


def main(args: argparse.Namespace) -> int:
    from matrix import families, markers, runfolder
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
