"""`python -m matrix cases`: the corpus as a Markdown table, printed, written into a file between
its markers, or checked against it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cases", help="list the corpus, or write its table into docs/corpus.md",
                       description="List the built-in corpus (and --cases-from cases) as a Markdown table.")
    p.add_argument("--cases-from", action="append", default=[], metavar="PATH_OR_MODULE")
    action = p.add_mutually_exclusive_group()
    action.add_argument("--write", metavar="FILE", help="replace the tables between the corpus (or model families) "
                                                        "markers in FILE")
    action.add_argument("--check", metavar="FILE", help="exit 1 when FILE's table is not what the code says")
    p.set_defaults(main=main)


def main(args: argparse.Namespace) -> int:
    from matrix.corpus_table import listed, replaced, table
    from matrix.errors import CatalogueError

    cases = listed(args.cases_from)
    target = args.write or args.check
    if target is None:
        print(table(cases), end="")
        return 0
    path = Path(target)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogueError(f"{target}: {exc.strerror}") from None
    wanted = replaced(text, cases, target)
    if args.check:
        if wanted != text:
            print(f"matrix cases: {target} lists a different corpus than the code; "
                  f"run `python -m matrix cases --write {target}`", file=sys.stderr)
            return 1
        print(f"{target}: tables are current")
        return 0
    path.write_text(wanted, encoding="utf-8")
    print(f"{target}: tables written")
    return 0
