"""`python -m matrix merge DIR... --results OUT`: the run folders of machines that each ran some
cells of one run, joined into that run and recorded in the history."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("merge", help="merge the per-cell results of many machines into one run",
                       description="Merge the run folders (or results roots) of machines that each ran some cells "
                                   "of one run into a single run, and record it in the history.")
    p.add_argument("sources", nargs="+", metavar="DIR")
    p.add_argument("--results", required=True, help="results root the merged run is written into")
    p.set_defaults(main=main)


def main(args: argparse.Namespace) -> int:
    from matrix.cli import history
    from matrix.merge import merge

    target = merge([Path(p) for p in args.sources], Path(args.results))
    print(f"merged {len(args.sources)} results folders into {target}")
    history.record(Path(args.results), target)
    return 0
