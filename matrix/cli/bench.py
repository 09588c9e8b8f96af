"""`python -m matrix bench`: the performance figures, each beside its baseline, measured in one
run on this machine; bench.json and bench.md, or with --write the table in docs/performance.md
(between its markers) and the figures behind it in docs/bench.json."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="benchmarks, each beside its baseline (docs/performance.md)",
                       description="Measure every performance figure (or those named) beside the way people do "
                                   "it by hand; write bench.json and bench.md.")
    p.add_argument("what", nargs="*", metavar="FIGURE",
                   help="isolation, envs, image, disk, matrix, report, history, year, scaling, remedies, aten "
                            "(default: all)")
    p.add_argument("--spec", default=os.environ.get("MATRIX_SPEC", "default"))
    p.add_argument("--cell", default=None, help="envs: the cell whose environment is built (default: the last)")
    p.add_argument("--cases", default="", help="isolation: case patterns (default: the whole corpus)")
    p.add_argument("--exporter", default="torchscript,dynamo")
    p.add_argument("--repeat", type=int, default=3, help="repetitions of each timed figure (medians, spread)")
    p.add_argument("--synthetic-cells", type=int, default=631, help="report: synthetic cells (the nightly's 631)")
    p.add_argument("--synthetic-cases", type=int, default=170, help="report: synthetic cases per cell")
    p.add_argument("--jobs", default="1,2,4", help="scaling: the -j values")
    p.add_argument("--matrix-jobs", type=int, default=2, help="matrix: concurrent cells (-j), as on a 2-core machine")
    p.add_argument("--matrix-baseline", action="store_true",
                   help="matrix: also one environment per cell, cold, warm and fresh (twice the time)")
    p.add_argument("--scaling-cases", default="blocks/*,dynamic/*", help="scaling: the cases each cell reruns")
    p.add_argument("--case-counts", type=lambda t: [int(n) for n in t.split(",")], default=[15, 30, 60],
                   help="scaling: numbers of cases run in one cell")
    p.add_argument("--json", default=None,
                   help="where to write the figures (and the table, as .md); default bench.json, or with "
                        "--write, bench.json beside FILE")
    publish = p.add_mutually_exclusive_group()
    publish.add_argument("--write", metavar="FILE",
                         help="also replace the table between the bench markers in FILE (docs/performance.md)")
    publish.add_argument("--check", metavar="FILE",
                         help="measure nothing: exit 1 unless FILE's table is what its bench.json says")
    p.set_defaults(main=main)


def _published(target: str, json_path: str | None) -> tuple:
    """FILE's text, and the figures file its table is written from (bench.json beside it)."""
    from matrix.errors import UserError

    try:
        text = Path(target).read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"{target}: {exc.strerror}") from None
    return text, json_path or str(Path(target).with_name("bench.json"))


def check(target: str, json_path: str | None) -> int:
    from matrix.bench import load, markdown, replaced

    text, json_path = _published(target, json_path)
    if replaced(text, markdown(load(json_path)), target) != text:
        print(f"matrix bench: {target}'s table is not what {json_path} says; "
              f"run `python -m matrix bench --write {target}`", file=sys.stderr)
        return 1
    print(f"{target}: benchmark table is current")
    return 0


def main(args: argparse.Namespace) -> int:
    from rich.table import Table

    from matrix.bench import FIGURES, load, markdown, replaced, rows
    from matrix.bench.common import machine
    from matrix.errors import UserError
    from matrix.lock import EnvError
    from matrix.progress import make_console

    if args.check:
        return check(args.check, args.json)
    if args.write:
        published, args.json = _published(args.write, args.json)
    args.json = args.json or "bench.json"
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
        figures = load(args.json)  # one file gathers every figure's latest value
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
    if args.write:
        Path(args.write).write_text(replaced(published, markdown(figures), args.write), encoding="utf-8")
        console.print(f"{args.write}: benchmark table written")
    return 1 if failed else 0
