"""`python -m matrix plan` and `python -m matrix run` (the spec's matrix)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from matrix.index import Index, IndexUnavailable
from matrix.plan import Plan, resolve
from matrix.probe import results
from matrix.probe.corpus import BadInput
from matrix.progress import MatrixProgress, cell_summary, make_console
from matrix.run import MatrixRun, default_jobs
from matrix.spec import SpecError, load


def _plan(args: argparse.Namespace) -> Plan:
    spec = load(args.spec)
    return resolve(spec, Index(urls={p: o["url"] for p, o in spec.indexes.items() if o.get("url")}))


def plan_command(args: argparse.Namespace) -> int:
    try:
        plan = _plan(args)
    except (SpecError, IndexUnavailable) as exc:
        print(f"matrix plan: error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(plan.as_json(), indent=1))
    else:
        for cell in plan.cells:
            print(cell.id)
    return 0


def run_command(args: argparse.Namespace) -> int:
    console = make_console()
    try:
        plan = _plan(args)
    except (SpecError, IndexUnavailable) as exc:
        print(f"matrix run: error: {exc}", file=sys.stderr)
        return 2
    if args.resume or args.out:
        print("matrix run: error: --out and --resume are for --here; a matrix run reuses unchanged results itself",
              file=sys.stderr)
        return 2
    if args.cell:
        plan.cells = [c for c in plan.cells if c.id == args.cell]
        if not plan.cells:
            print(f"matrix run: error: --cell {args.cell}: no such cell in {plan.spec.path} "
                  "(see python -m matrix plan)", file=sys.stderr)
            return 2
    args.timeout = args.timeout or plan.spec.run.get("timeout", 120)
    args.cases = args.cases or plan.spec.run.get("cases", "")
    args.cases_from = args.cases_from or plan.spec.run.get("cases_from", [])
    jobs = args.jobs or default_jobs(len(plan.cells))
    console.print(f"spec {plan.spec.path}: {len(plan.cells)} cells × exporters {', '.join(plan.exporters)}; "
                  f"runner: venv (container images are not built by this version); {jobs} at a time")
    run = MatrixRun(plan, Path(args.results), args, None)
    try:
        with MatrixProgress(console, len(plan.cells)) as progress:
            run.progress = progress
            cells = run.execute(jobs)
    except BadInput as exc:
        print(f"matrix run: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        console.print(f"interrupted; finished results are kept under {run.dir}")
        return 130
    by_cell = {cid: list(results.read(str(run.dir / f"{cid}.jsonl"))) for cid in cells
               if (run.dir / f"{cid}.jsonl").exists()}
    cell_summary(console, by_cell)
    reused = sum(1 for rs in by_cell.values() for r in rs if r.get("reused_from"))
    console.print(f"results: {run.dir} ({reused} results reused from the previous run; --fresh reruns them)")
    return 0
