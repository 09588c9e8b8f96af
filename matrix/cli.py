"""python -m matrix: the orchestrator's command line."""

from __future__ import annotations

import argparse
import importlib
import os
from typing import List, Optional

HERE_RESULTS = os.path.join("results", "here")


def _run_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run the matrix (or, with --here, this interpreter)",
                       description="Run the case corpus through export and parity, in every cell of a spec.")
    p.add_argument("--here", action="store_true",
                   help="run against this interpreter's own torch, onnx and onnxruntime instead of a spec")
    p.add_argument("--spec", default=os.environ.get("MATRIX_SPEC", "default"),
                   help="spec name (default, nightly) or TOML file; also $MATRIX_SPEC")
    p.add_argument("-j", "--jobs", type=int, default=None,
                   help="cells run concurrently (default: from cores and memory)")
    p.add_argument("--runner", choices=("auto", "venv", "docker"), default="auto",
                   help="where cells run: venv (uv environments) or docker (an image per cell); auto picks docker "
                        "when a daemon answers and a base image is available, else venv")
    p.add_argument("--base-image", default=os.environ.get("MATRIX_BASE_IMAGE"),
                   help="docker: the base image (default: the locally built onnx-matrix-base, else python:X-slim)")
    p.add_argument("--ca-bundle", default=os.environ.get("MATRIX_CA_BUNDLE"),
                   help="docker: an extra CA bundle for image builds behind a TLS-inspecting proxy")
    p.add_argument("--cell", default=None, metavar="ID", help="run only this cell of the spec (see `plan`)")
    p.add_argument("--run-id", default=None, metavar="ID",
                   help="name the run (fan-out: every machine gets the id from `plan --json`, then `merge`)")
    p.add_argument("--fresh", action="store_true", help="rerun everything; reuse nothing from the previous run")
    p.add_argument("--locked", default=None, metavar="DIR",
                   help="install each cell from DIR/<cell>.txt (a run's lock folder) instead of resolving anew")
    p.add_argument("--results", default="results", help="results root (default: results/)")
    p.add_argument("--cases", default="", help="comma-separated glob patterns over case ids, e.g. 'dynamic/*'")
    p.add_argument("--cases-from", action="append", default=[], metavar="PATH_OR_MODULE",
                   help="also load your own cases from a .py file, a folder or a module (repeatable)")
    p.add_argument("--exporter", default="torchscript,dynamo", help="comma-separated: torchscript,dynamo")
    p.add_argument("--opset", default="default", help="comma-separated opsets, 'default' for the exporter's own")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cpu,cuda")
    p.add_argument("--timeout", default=None, help="seconds per result before it is killed (default 120)")
    p.add_argument("--out", default=None, metavar="FILE.jsonl",
                   help=f"results file (default: a new file under {HERE_RESULTS}/)")
    p.add_argument("--resume", action="store_true", help="continue --out, skipping results already in it")
    p.add_argument("--keep-failed", default=None, metavar="DIR", help="keep failing models' .onnx files here")
    p.add_argument("--isolation", choices=("fork", "none"), default="fork", help=argparse.SUPPRESS)
    p.add_argument("--strict", action="store_true", help="exit 1 when any result is not pass or skipped")


def _plan_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plan", help="resolve a spec into cells", description="Resolve a spec's selectors into cells.")
    p.add_argument("--spec", default=os.environ.get("MATRIX_SPEC", "default"))
    p.add_argument("--json", action="store_true", help="print the plan as JSON (for CI fan-out)")
    p.add_argument("--locks", metavar="DIR", help="also write each cell's lock to DIR/<cell>.txt (for run --locked)")
    p.add_argument("--github-output", metavar="FILE",
                   help="append `cells` (a job matrix) and `run_id` to FILE, GitHub Actions' $GITHUB_OUTPUT")


def _report_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="write the HTML compatibility report",
                       description="Write the static HTML report of a run (and its changes since the previous one).")
    p.add_argument("--results", default="results", help="a results root (its latest run) or one run's folder")
    p.add_argument("--out", default="report", help="where the site is written (replaced whole)")


def _images_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("images", help="render, build or prune cell images",
                       description="Render the spec's cell Dockerfiles (and build them), build the offline base "
                                   "image, or sweep what killed runs left behind.")
    p.add_argument("--spec", default=os.environ.get("MATRIX_SPEC", "default"))
    p.add_argument("--render-only", action="store_true", help="write build/images/<cell>/Dockerfile and stop")
    p.add_argument("--base", action="store_true", help="build the base image from Debian packages (debootstrap)")
    p.add_argument("--prune", action="store_true", help="remove leftover cell containers and cell images")
    p.add_argument("--base-image", default=os.environ.get("MATRIX_BASE_IMAGE"))
    p.add_argument("--ca-bundle", default=os.environ.get("MATRIX_CA_BUNDLE"))


def _bench_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="benchmarks, each beside its baseline (figures for the README)",
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


def _cases_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cases", help="list the corpus, or write its table into the README",
                       description="List the built-in corpus (and --cases-from cases) as a Markdown table.")
    p.add_argument("--cases-from", action="append", default=[], metavar="PATH_OR_MODULE")
    action = p.add_mutually_exclusive_group()
    action.add_argument("--write", metavar="FILE", help="replace the table between the corpus markers in FILE")
    action.add_argument("--check", metavar="FILE", help="exit 1 when FILE's table is not what the code says")


def _service_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("merge", help="merge per-cell results of many machines into one run",
                       description="Merge the run folders (or results roots) of machines that each ran some cells "
                                   "of one run into a single run, and record it in the history.")
    p.add_argument("sources", nargs="+", metavar="DIR")
    p.add_argument("--results", required=True, help="results root the merged run is written into")
    p = sub.add_parser("history", help="list recorded runs, or a run's regressions",
                       description="The run history (SQLite, <results>/history.sqlite).")
    p.add_argument("--results", default="results", help="results root holding history.sqlite")
    p.add_argument("--db", default=None, help="the history database (default: <results>/history.sqlite)")
    p.add_argument("--add", action="append", metavar="RUN_DIR", help="record a run folder first")
    p.add_argument("--regressions", nargs="?", const="latest", default=None, metavar="RUN",
                   help="list a run's regressions (default: the latest run)")
    p.add_argument("--fail-on-regression", action="store_true",
                   help="exit 1 when a result regressed in its cell, or on a package release new in this run")
    p = sub.add_parser("bisect", help="find the release where a case changed status",
                       description="Binary-search the releases of one package between a good and a bad version "
                                   "(other packages held fixed) for the first release where a case's status changes.")
    p.add_argument("--case", required=True)
    p.add_argument("--package", required=True, choices=("torch", "onnx", "onnxruntime", "onnxscript"))
    p.add_argument("--good", required=True, metavar="VERSION")
    p.add_argument("--bad", required=True, metavar="VERSION")
    p.add_argument("--exporter", default="torchscript", choices=("torchscript", "dynamo"))
    p.add_argument("--opset", default="default")
    p.add_argument("--with", dest="held", action="append", default=[], metavar="PACKAGE==VERSION",
                   help="hold another package at this version (default: its newest release that fits)")
    p.add_argument("--python", default=None, help="python of the environments (default: this one)")
    p.add_argument("--cases-from", action="append", default=[], metavar="PATH")
    p.add_argument("--results", default="results", help="results root whose history records the finding")


def parse(argv: Optional[List[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m matrix", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    _run_parser(sub)
    _plan_parser(sub)
    _report_parser(sub)
    _images_parser(sub)
    _bench_parser(sub)
    _cases_parser(sub)
    _service_parsers(sub)
    return parser.parse_args(argv)


# Where each command lives, imported only when it runs: `--help` and the light commands
# never pay for pandas, docker or jinja2.
COMMANDS = {"run": "matrix.commands:run_command", "plan": "matrix.commands:plan_command",
            "images": "matrix.commands:images_command", "report": "matrix.report.command:report_command",
            "merge": "matrix.merge:merge_command", "history": "matrix.history:history_command",
            "bisect": "matrix.bisect:bisect_command", "cases": "matrix.catalogue:cases_command",
            "bench": "matrix.bench:bench"}


def main(argv: Optional[List[str]] = None) -> int:
    args = parse(argv)
    where = "matrix.here:run_here" if args.command == "run" and args.here else COMMANDS[args.command]
    module, function = where.split(":")
    return getattr(importlib.import_module(module), function)(args)
