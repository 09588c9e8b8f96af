"""`python -m matrix versions`: the version frontier a run measured — which IR and opset each
onnxruntime loads, which opsets each torch exporter writes — and the answer joined from them.
--write puts the tables in a page (and their data in versions.json beside it); --check says
whether a page's tables are what that data says."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("versions", help="which runtime loads what each exporter writes, as a run measured it",
                       description="The version frontier of runs: measured per environment, joined into advice.")
    p.add_argument("runs", nargs="*", default=["results"], metavar="RUN",
                   help="run folders (or results roots: their latest run); default results/")
    p.add_argument("--json", action="store_true", help="print the tables as JSON")
    p.add_argument("--write", metavar="FILE", help="replace the tables between FILE's versions markers, and "
                                                   "write their data to versions.json beside it")
    p.add_argument("--check", metavar="FILE", help="exit 1 when FILE's tables are not what versions.json beside "
                                                   "it says (measures nothing)")
    p.set_defaults(main=main)


def _data(target: str) -> Path:
    return Path(target).with_name("versions.json")


def main(args: argparse.Namespace) -> int:
    from matrix import frontier, markers, runfolder
    from matrix.errors import UserError

    if args.check:
        try:
            text = Path(args.check).read_text(encoding="utf-8")
            tables = json.loads(_data(args.check).read_text(encoding="utf-8"))
        except OSError as exc:
            raise UserError(f"{exc.filename}: {exc.strerror}") from None
        except ValueError as exc:
            raise UserError(f"{_data(args.check)}: not version tables ({exc})") from None
        if markers.replaced(text, frontier.START, frontier.END, frontier.markdown(tables), args.check) != text:
            print(f"matrix versions: {args.check}'s tables are not what {_data(args.check)} says; "
                  f"run `python -m matrix versions RUN --write {args.check}`", file=sys.stderr)
            return 1
        print(f"{args.check}: version tables are current")
        return 0
    files = [f for run in args.runs for f in frontier.run_files(runfolder.resolve(Path(run)))]
    tables = frontier.collect(files)
    if args.json:
        print(json.dumps(dict(tables, joined=frontier.joined(tables)), indent=1))
    else:
        _show(tables)
    if args.write:
        try:
            text = Path(args.write).read_text(encoding="utf-8")
        except OSError as exc:
            raise UserError(f"{args.write}: {exc.strerror}") from None
        page = markers.replaced(text, frontier.START, frontier.END, frontier.markdown(tables), args.write)
        _data(args.write).write_text(json.dumps(tables, indent=1) + "\n", encoding="utf-8")
        Path(args.write).write_text(page, encoding="utf-8")
        print(f"{args.write}: version tables written (data: {_data(args.write)})")
    return 0


def _show(tables: dict) -> None:
    from rich.table import Table

    from matrix import frontier
    from matrix.probe.frontier import opset_range
    from matrix.progress import make_console

    console = make_console()
    runtimes = Table(title="onnxruntime: what it loads (measured)", title_justify="left")
    for column in ("onnxruntime", "newest IR", "newest opset", "opset if unreleased allowed"):
        runtimes.add_column(column)
    for version, row in tables["runtimes"].items():
        runtimes.add_row(version, str(row["ir"]), str(row["opset"]), str(row["opset_unreleased"]))
    exporters = Table(title="torch exporters: what they write (measured)", title_justify="left")
    for column in ("torch", "exporter", "default opset / IR", "writes opsets", "with onnx"):
        exporters.add_column(column)
    for row in tables["exporters"]:
        exporters.add_row(row["torch"], row["exporter"], f"{row['default']['opset']} / {row['default']['ir']}",
                          opset_range(row), ", ".join(row["onnx"]))
    console.print(runtimes, exporters)
    for answer in frontier.joined(tables):
        console.print(f"• {frontier.sentence(answer)}", highlight=False)
