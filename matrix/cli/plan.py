"""`python -m matrix plan`: a spec resolved into cells; for a fan-out, with a run id, each
cell's lock and GitHub Actions' job matrix."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Sequence


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plan", help="resolve a spec into cells (and a fan-out's job matrix)",
                       description="Resolve a spec's selectors into cells.")
    p.add_argument("--spec", default=os.environ.get("MATRIX_SPEC", "default"))
    p.add_argument("--json", action="store_true", help="print the plan as JSON (for CI fan-out)")
    p.add_argument("--locks", metavar="DIR",
                   help="also write each export and runtime side's lock to DIR/<side>.txt (for run --locked); "
                        "with --no-split, each cell's")
    p.add_argument("--split", action=argparse.BooleanOptionalAction, default=True,
                   help="the run's environments are the cells' two sides (default), or whole cells")
    p.add_argument("--github-output", metavar="FILE",
                   help="append `exports` and `runtimes` (two stages of jobs: each export side, then each runtime "
                        "side over every export's bundles), `cells` and `run_id` to FILE, GitHub Actions' "
                        "$GITHUB_OUTPUT")
    p.set_defaults(main=main)


def resolve_spec(name: str, cases_from: Sequence[str] = (), suites: Sequence[str] = (),
                 libraries: Sequence[str] = ()) -> Any:
    """The spec's plan, resolved against the indexes it names; the extra requirements of the
    user's cases checked there and local packages built (matrix/extras.py). `libraries`: the model
    libraries the run's --model entries need, added to the export sides ("auto") where the spec
    has no axis for them."""
    from matrix import extras
    from matrix.index import Index, answering
    from matrix.plan import resolve
    from matrix.spec import load, with_suites

    spec = load(name)
    if suites:  # the command line's choice, over the spec's
        spec.run["suites"] = list(suites)
        spec.requirements = with_suites(spec.requirements, list(suites))
    for library in libraries:
        if library not in spec.axes:
            spec.axes[library] = ["auto"]
            print(f"note: {library} = auto added to {spec.path}'s export sides for --model", file=sys.stderr)
    spec.indexes, notes = answering(spec.indexes)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    index = Index.for_spec(spec.indexes)
    extras.prepare(spec, list(cases_from) or spec.run.get("cases_from", []), index)
    plan = resolve(spec, index)
    for warning in index.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return plan


def main(args: argparse.Namespace) -> int:
    from matrix import runfolder
    from matrix.lock import EnvError, compile_lock

    plan = resolve_spec(args.spec)
    # a fresh run id for a fan-out: every machine runs its cell with it, so `merge` joins them
    planned = dict(plan.as_json(), run_id=runfolder.new_run_id())
    if args.locks:
        Path(args.locks).mkdir(parents=True, exist_ok=True)
        for cell in plan.sides() if args.split else plan.cells:
            try:
                (Path(args.locks) / f"{cell.id}.txt").write_text(compile_lock(cell, plan.spec.indexes).text)
            except EnvError as exc:  # the job that needs it records the env_error
                print(f"warning: {cell.id}: no lock: {str(exc).splitlines()[0]}", file=sys.stderr)
    if args.github_output:
        def jobs(kind: str, entries: list) -> str:
            return json.dumps([{kind: c["id"], "device": c["device"], "gpu": c["runner_hints"]["gpu"]}
                               for c in entries])

        sides = planned["sides"]
        with open(args.github_output, "a") as out:
            out.write(f"exports={jobs('export', [s for s in sides if s['side'] == 'export'])}\n"
                      f"runtimes={jobs('runtime', [s for s in sides if s['side'] == 'runtime'])}\n"
                      f"cells={jobs('cell', planned['cells'])}\nrun_id={planned['run_id']}\n")
    if args.json:
        print(json.dumps(planned, indent=1))
    elif not args.github_output:
        for cell in plan.cells:
            print(cell.id)
    return 0
