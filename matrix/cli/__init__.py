"""python -m matrix: the command line. One module per command, each adding its parser and a
`main` that parses, calls the domain and prints. Domain code returns values or raises; a
matrix.errors.UserError is said here, once, in one line, exit 2."""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from matrix.cli import (
    bench,
    bisect,
    cases,
    explain,
    families,
    history,
    images,
    merge,
    ops,
    plan,
    rehearse,
    remedies,
    remedy,
    report,
    run,
    versions,
)
from matrix.errors import UserError

COMMANDS = (run, plan, report, images, merge, history, bisect, cases, families, remedy, remedies, bench, versions,
            rehearse, ops, explain)
START = """to start:
  pip install nox uv && nox -s matrix   plan, run and report the default spec (report/index.html)
  pip install nox uv && nox -s tests    the test suite
  python -m matrix run --here           do my models export with what this interpreter has installed?
"""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m matrix", epilog=START,
                                description="Which PyTorch → ONNX → ONNX Runtime versions export and run your models.",
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", title="commands", metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(sub)
    return p


def main(argv: Optional[List[str]] = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    if args.command is None:
        p.print_help()
        return 2
    try:
        return args.main(args)
    except UserError as exc:
        print(f"matrix {args.command}: error: {exc}", file=sys.stderr)
        return 2
