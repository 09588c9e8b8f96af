"""`python -m matrix bisect`: the first release of one package where a case's status changed,
recorded in the history for the report's case page."""

from __future__ import annotations

import argparse
import json
import platform
import sys
from contextlib import closing
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
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
    p.set_defaults(main=main)


def main(args: argparse.Namespace) -> int:
    from matrix import history
    from matrix.bisect import held_versions, releases_between, search
    from matrix.errors import HistoryError
    from matrix.index import Index

    python = args.python or ".".join(platform.python_version_tuple()[:2])
    index = Index()
    sequence = releases_between(index, args.package, args.good, args.bad, python)
    pins = held_versions(index, args.package, args.held, python)
    for warning in index.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    held = ", ".join(f"{k} {v or 'auto'}" for k, v in pins.items())
    print(f"bisecting {args.case} ({args.exporter}) over {len(sequence)} {args.package} releases "
          f"{sequence[0]} … {sequence[-1]}; held: {held}; python {python}")
    finding = search(args.case, args.package, sequence, pins, args.exporter, args.opset, python, args.cases_from,
                     lambda line: print(line, flush=True))
    if finding["first_changed"] is None:
        print(f"{args.case} is {finding['good_status']} at both {args.package} {sequence[0]} and {sequence[-1]}: "
              f"nothing to bisect ({finding['environments']} environments)")
        return 1
    print(f"first {args.package} release where {args.case} ({args.exporter}) is no longer "
          f"{finding['good_status']}: {finding['first_changed']} ({finding['changed_to']}); last "
          f"{finding['good_status']}: {finding['last_unchanged']}. {finding['environments']} environments for "
          f"{len(sequence)} releases.")
    try:
        with closing(history.connect(history.database(Path(args.results)))) as db:
            history.record_bisect(db, finding)
        print(f"recorded in {history.database(Path(args.results))}")
    except (HistoryError, OSError) as exc:
        print(f"warning: finding not recorded: {exc}", file=sys.stderr)
    print(json.dumps({k: finding[k] for k in ("case", "package", "first_changed", "last_unchanged",
                                              "good_status", "changed_to", "environments")}))
    return 0
