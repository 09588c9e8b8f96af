"""`python -m matrix remedy --case ID`: search the remedies of one case's failing results, here (this
interpreter's torch, onnx and onnxruntime) or in one cell of a spec, and print what fixes each."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("remedy", help="find and verify the smallest change that makes a case export and match",
                       description="Run one case; for each failing result try the remedies that apply (another "
                                   "exporter or opset, dynamo's options, fp32 inputs, a version conversion, "
                                   "onnxruntime's options) until one passes every stage.")
    p.add_argument("--case", required=True, metavar="ID", help="the case (a glob over case ids also works)")
    p.add_argument("--cell", default=None, metavar="ID",
                   help="search in this cell of --spec, in its own environment (default: this interpreter)")
    p.add_argument("--spec", default=os.environ.get("MATRIX_SPEC", "default"), help="the spec --cell is in")
    p.add_argument("--runner", choices=("auto", "venv", "docker"), default="auto", help="where --cell runs")
    p.add_argument("--cases-from", action="append", default=[], metavar="PATH_OR_MODULE",
                   help="where your own case is (a .py file, a folder or a module)")
    p.add_argument("--exporter", default="torchscript,dynamo", help="comma-separated: torchscript,dynamo")
    p.add_argument("--remedy-budget", default=None, metavar="COUNT,SECONDS",
                   help="per failing result: at most COUNT tries and SECONDS (default 8,300)")
    p.add_argument("--results", default="results", help="results root of a --cell search (default: results/)")
    p.set_defaults(main=main)


def main(args: argparse.Namespace) -> int:
    from matrix.cli import run as run_command
    from matrix.probe import results
    from matrix.progress import make_console

    common = ["--cases", args.case, "--exporter", args.exporter, "--remedies"] + \
        [x for source in args.cases_from for x in ("--cases-from", source)] + \
        (["--remedy-budget", args.remedy_budget] if args.remedy_budget else [])
    if args.cell:
        argv = ["run", "--spec", args.spec, "--cell", args.cell, "--no-split", "--runner", args.runner,
                "--results", args.results, *common]
    else:
        out = os.path.join(run_command.HERE_RESULTS, f"remedy-{os.getpid()}.jsonl")
        argv = ["run", "--here", "--out", out, *common]
    from matrix.cli import parser

    code = run_command.main(parser().parse_args(argv))
    if code not in (0, 1):
        return code
    path = Path(args.results) / "latest" / f"{args.cell}.jsonl" if args.cell else Path(out)
    console = make_console()
    found = [r for r in results.read(str(path)) if r["status"] not in ("pass", "skipped")]
    if not found:
        console.print(f"{args.case}: nothing fails here, nothing to remedy")
    for result in found:
        searched = result.get("remedy") or {}
        where = f"{result['case']} · {result['exporter']} · {result['cell']}"
        console.print(f"\n[bold]{where}[/bold]: {result['status']} ({(result.get('error') or {}).get('kind')})")
        if result.get("blame"):
            console.print(f"  blame: {result['blame']['sentence']}")
        console.print(f"  {searched.get('summary') or 'not searched'}")
        for tried in searched.get("tried", []):
            console.print(f"    tried {tried['remedy']} ({tried['change']}): {tried['status']}"
                          + (f", {tried['kind']}" if tried.get("kind") else ""), markup=False)
        fixed = searched.get("fixed_by")
        if fixed:
            console.print("  copy:\n" + "\n".join("    " + line for line in fixed["snippet"].splitlines()),
                          markup=False, highlight=False)
    fixed = sum(1 for r in found if (r.get("remedy") or {}).get("fixed_by"))
    console.print(f"\n{fixed} of {len(found)} failing results have a verified remedy; results: {path}")
    return 0
