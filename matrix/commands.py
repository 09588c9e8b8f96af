"""`python -m matrix plan` and `python -m matrix run` (the spec's matrix)."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

from matrix import history, image
from matrix.index import Index, IndexUnavailable
from matrix.lock import EnvError, compile_lock
from matrix.plan import Plan, resolve
from matrix.probe import results
from matrix.probe.corpus import BadInput
from matrix.progress import MatrixProgress, cell_summary, make_console
from matrix.run import Busy, MatrixRun, claim, default_jobs, new_run_id
from matrix.runners import docker as docker_runner
from matrix.spec import SpecError, load

RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")


def _plan(args: argparse.Namespace) -> Plan:
    spec = load(args.spec)
    return resolve(spec, Index.for_spec(spec.indexes))


def plan_command(args: argparse.Namespace) -> int:
    try:
        plan = _plan(args)
    except (SpecError, IndexUnavailable) as exc:
        print(f"matrix plan: error: {exc}", file=sys.stderr)
        return 2
    # a fresh run id for a fan-out: every machine runs its cell with it, so `merge` joins them
    planned = dict(plan.as_json(), run_id=new_run_id())
    if args.locks:
        Path(args.locks).mkdir(parents=True, exist_ok=True)
        for cell in plan.cells:
            try:
                (Path(args.locks) / f"{cell.id}.txt").write_text(compile_lock(cell, plan.spec.indexes).text)
            except EnvError as exc:  # the cell's own job records the env_error
                print(f"warning: {cell.id}: no lock: {str(exc).splitlines()[0]}", file=sys.stderr)
    if args.github_output:
        jobs = [{"cell": c["id"], "device": c["device"], "gpu": c["runner_hints"]["gpu"]} for c in planned["cells"]]
        with open(args.github_output, "a") as out:
            out.write(f"cells={json.dumps(jobs)}\nrun_id={planned['run_id']}\n")
    if args.json:
        print(json.dumps(planned, indent=1))
    elif not args.github_output:
        for cell in plan.cells:
            print(cell.id)
    return 0


def choose_runner(args: argparse.Namespace) -> tuple:
    """(runner, docker client, the reason in a few words); runner None when docker was asked for but is missing."""
    if args.runner == "venv":
        return "venv", None, "asked for"
    client = docker_runner.client()
    if client is None:
        if args.runner == "docker":
            return None, None, "--runner docker: no Docker daemon answers (is dockerd running?)"
        return "venv", None, "no Docker daemon answers"
    if not args.base_image:
        if image.local_base_exists(client):
            args.base_image = image.LOCAL_BASE
        elif args.runner == "auto":
            return "venv", None, "a daemon answers but no base image: build one with nox -s base-image"
    if args.ca_bundle is None and os.path.exists(image.HOST_CA_BUNDLE):
        args.ca_bundle = image.HOST_CA_BUNDLE
    return "docker", client, f"base image {args.base_image or 'python:X-slim'}"


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
    if args.run_id and not RUN_ID.match(args.run_id):
        print(f"matrix run: error: --run-id {args.run_id!r}: use letters, digits, '.', '_' and '-' only",
              file=sys.stderr)
        return 2
    if args.run_id and (Path(args.results) / args.run_id).exists():
        print(f"matrix run: error: {Path(args.results) / args.run_id} exists: a run id names one run",
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
    runner, docker_client, why = choose_runner(args)
    if runner is None:
        print(f"matrix run: error: {why}", file=sys.stderr)
        return 2
    try:
        held = claim(Path(args.results))  # noqa: F841 -- held until this process exits
    except Busy as exc:
        print(f"matrix run: error: {exc}", file=sys.stderr)
        return 2
    console.print(f"spec {plan.spec.path}: {len(plan.cells)} cells × exporters {', '.join(plan.exporters)}; "
                  f"runner: {runner} ({why}); {jobs} at a time")
    run = MatrixRun(plan, Path(args.results), args, None, runner=runner, docker_client=docker_client)
    if run.continued:
        console.print(f"continuing run {run.run_id}, killed before it finished (--fresh starts anew)")
    if run.not_reused:
        console.print(f"not reusing the previous run's results: {run.not_reused}")
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
    except OSError as exc:  # the results disk is full or gone: say so; what was written stays
        print(f"matrix run: error: {exc.filename or run.dir}: {exc.strerror or exc}; finished results are kept "
              f"under {run.dir} (make room, then run the same command again to continue)", file=sys.stderr)
        return 1
    by_cell = {cid: list(results.read(str(run.dir / f"{cid}.jsonl"))) for cid in cells
               if (run.dir / f"{cid}.jsonl").exists()}
    cell_summary(console, by_cell)
    reused = sum(1 for rs in by_cell.values() for r in rs if r.get("reused_from"))
    console.print(f"results: {run.dir} ({reused} results reused from the previous run; --fresh reruns them)")
    history.record_from_command(Path(args.results), run.dir)
    return 0


def images_command(args: argparse.Namespace) -> int:
    console = make_console()
    client = None if args.render_only else docker_runner.client()
    if client is None and not args.render_only:
        print("matrix images: error: no Docker daemon answers (is dockerd running?)", file=sys.stderr)
        return 2
    if args.prune:
        console.print(f"removed {docker_runner.sweep(client)} leftover containers, "
                      f"{image.prune(client)} cell images")
        return 0
    if args.base:
        import tempfile

        with tempfile.TemporaryDirectory(prefix="matrix-base-") as tmp:
            console.print(f"built {image.build_base(client, Path(tmp))}")
        return 0
    try:
        plan = _plan(args)
    except (SpecError, IndexUnavailable) as exc:
        print(f"matrix images: error: {exc}", file=sys.stderr)
        return 2
    wheelhouse = [d for o in plan.spec.indexes.values() for d in o.get("find-links", [])]
    if args.ca_bundle is None and os.path.exists(image.HOST_CA_BUNDLE):
        args.ca_bundle = image.HOST_CA_BUNDLE
    if args.base_image is None and client is not None and image.local_base_exists(client):
        args.base_image = image.LOCAL_BASE
    for cell in plan.cells:
        try:
            lock = compile_lock(cell, plan.spec.indexes)
            context = image.render(cell, lock, plan.spec.indexes, base_image=args.base_image,
                                   ca_bundle=args.ca_bundle, wheelhouse=wheelhouse)
            if args.render_only:
                console.print(f"{cell.id}: {context / 'Dockerfile'}")
            else:
                console.print(f"{cell.id}: {image.build(client, context, lock, lambda line: None)}")
        except EnvError as exc:
            console.print(f"{cell.id}: env_error: {str(exc).splitlines()[0]}")
    return 0
