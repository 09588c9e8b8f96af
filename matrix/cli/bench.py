"""`python -m matrix bench`: the performance figures, each beside its baseline, measured in one
run on this machine; bench.json and bench.md (the table in docs/performance.md)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from typing import Any, Dict


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="benchmarks, each beside its baseline (docs/performance.md)",
                       description="Measure every performance figure (or those named) beside the way people do "
                                   "it by hand; write bench.json and bench.md.")
    p.add_argument("what", nargs="*", metavar="FIGURE",
                   help="isolation, envs, image, disk, matrix, report, scaling (default: all)")
    p.add_argument("--spec", default=os.environ.get("MATRIX_SPEC", "default"))
    p.add_argument("--cell", default=None, help="envs: the cell whose environment is built (default: the last)")
    p.add_argument("--cases", default="", help="isolation: case patterns (default: the whole corpus)")
    p.add_argument("--exporter", default="torchscript,dynamo")
    p.add_argument("--repeat", type=int, default=3, help="repetitions of each timed figure (medians, spread)")
    p.add_argument("--synthetic-cells", type=int, default=500, help="report: synthetic cells")
    p.add_argument("--synthetic-cases", type=int, default=40, help="report: synthetic cases per cell")
    p.add_argument("--jobs", default="1,2,4", help="scaling: the -j values")
    p.add_argument("--scaling-cases", default="blocks/*,dynamic/*", help="scaling: the cases each cell reruns")
    p.add_argument("--case-counts", type=lambda t: [int(n) for n in t.split(",")], default=[15, 30, 60],
                   help="scaling: numbers of cases run in one cell")
    p.add_argument("--json", default="bench.json", help="where to write the figures (and the table, as .md)")
    p.set_defaults(main=main)


def main(args: argparse.Namespace) -> int:
    from rich.table import Table

    from matrix.bench import FIGURES, markdown, rows
    from matrix.bench.common import machine
    from matrix.errors import UserError
    from matrix.lock import EnvError
    from matrix.progress import make_console

    console = make_console()
    chosen = list(FIGURES) if not args.what or args.what == ["all"] else args.what
    unknown = [w for w in chosen if w not in FIGURES]
    if unknown:
        raise UserError(f"unknown figure {unknown[0]!r}; expected {', '.join(FIGURES)} or all")
    here = machine()
    console.print(f"machine: {here['cpu']}, {here['cores']} cores, {here['memory_gib']} GiB, "
                  f"Python {here['python']}, {here['platform']}")
    figures: Dict[str, Any] = {}
    if os.path.exists(args.json):
        with open(args.json) as f:
            figures = json.load(f)  # one file gathers every figure's latest value
    figures["machine"] = here
    failed = []
    for what in chosen:
        try:
            figures[what] = FIGURES[what](args, console)
        except (EnvError, SystemExit, subprocess.CalledProcessError) as exc:  # one figure failing spoils no other
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            print(f"matrix bench: {what}: {message}", file=sys.stderr)
            failed.append(what)
            continue
        with open(args.json, "w") as f:  # after each figure: a long run interrupted keeps what it measured
            json.dump(figures, f, indent=2)
    table = Table(title=f"on {here['cpu']} ({here['cores']} cores)", title_justify="left")
    for column in ("figure", "this project", "the usual way", "target", "verdict"):
        table.add_column(column)
    for row in rows({k: v for k, v in figures.items() if k in chosen and k not in failed}):
        table.add_row(*row)
    console.print(table)
    with open(os.path.splitext(args.json)[0] + ".md", "w") as f:
        f.write(markdown(figures))
    console.print(f"figures: {args.json}, table: {os.path.splitext(args.json)[0]}.md")
    return 1 if failed else 0
