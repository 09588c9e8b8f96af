"""`python -m matrix ops`: one operator across a run's versions, from its operator suites (an aten
operator: per exporter, which torch releases export it and at which opset, and how each
onnxruntime runs the export; an ONNX operator: its node tests per opset × onnxruntime), or the
suites' counts as Markdown (docs/operators.md)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ops", help="one operator across the run's versions (the aten and onnx-node suites)",
                       description="An aten operator (unique, fft.rfft, nn.functional.conv2d) or an ONNX operator "
                                   "(ReduceMax) across a run's torch and onnxruntime releases.")
    p.add_argument("name", nargs="?", help="the operator (omit with --counts)")
    p.add_argument("run", nargs="?", default="results", metavar="RUN",
                   help="a run folder (or a results root: its latest run); default results/")
    p.add_argument("--counts", action="store_true", help="the suites' counts per torch, exporter and onnxruntime")
    p.add_argument("--write", metavar="FILE", help="with --counts: replace the counts between FILE's markers")
    p.set_defaults(main=main)


def main(args: argparse.Namespace) -> int:
    from matrix import markers, operators
    from matrix.errors import UserError
    from matrix.progress import make_console
    from matrix.report.load import load_run

    if args.counts and args.name and args.run == "results":  # `ops --counts RUN`: the name is the run
        args.run, args.name = args.name, None
    if not args.counts and not args.name:
        raise UserError("name an operator (e.g. `python -m matrix ops unique`), or give --counts")
    run = load_run(Path(args.run))
    rows = operators.operator_rows(run.frame)
    if rows.empty:
        raise UserError(f"{run.path}: no results of the aten or onnx-node suites (run with --suite aten,onnx-node)")
    console = make_console()
    if args.counts:
        text = operators.counts(rows, run.run_id)
        if args.write:
            markers.write_into(args.write, operators.START, operators.END, text)
            console.print(f"{args.write}: operator counts written")
        else:
            print(text, end="")
        return 0
    answers = operators.aten_answer(rows, args.name)
    node = operators.node_answer(rows, args.name)
    if not answers and not node["tests"]:
        raise UserError(f"{args.name}: no aten operator or ONNX operator of that name in {run.path}")
    _show(console, answers, node)
    return 0


def _show(console, answers, node) -> None:  # noqa: ANN001 -- rich's console and the domain's dicts
    from rich.table import Table

    for answer in answers:
        table = Table(title=f"aten {answer['operator']} — {answer['exporter']}", title_justify="left")
        table.add_column("torch")
        table.add_column("export")
        for torch_version, said in answer["torch"].items():
            table.add_row(torch_version, said)
        console.print(table)
        if answer["first_exports"] and answer["last_does_not"]:
            console.print(f"first exported by torch {answer['first_exports']}; "
                          f"torch {answer['last_does_not']} does not")
        for runtime, said in sorted(answer["runtimes"].items()):
            console.print(f"  onnxruntime {runtime}: {said}")
    if node["tests"]:
        runtimes = sorted({r for by in node["by_opset"].values() for r in by})
        table = Table(title=f"ONNX {node['operator']}: {len(node['tests'])} node tests of onnx "
                            f"{', '.join(node['onnx'])}; results per opset × onnxruntime", title_justify="left")
        table.add_column("opset")
        for runtime in runtimes:
            table.add_column(f"onnxruntime {runtime}")
        for opset, by in sorted(node["by_opset"].items(), key=lambda item: int(item[0])):
            table.add_row(opset, *(by.get(r, "—") for r in runtimes))
        console.print(table)
    failures = [f for a in answers for f in a["failures"]] + node["failures"]
    for failure in failures[:10]:
        console.print(f"  {failure['case']} ({failure['made_by']}, onnxruntime {failure['onnxruntime']}): "
                      f"{failure['status']} — {failure['message']}"
                      + (f" [bundle: {failure['bundle']}]" if failure.get("bundle") else ""))
