"""`python -m matrix run`: every cell of a spec, each in its own environment (or, with --here,
the cases against this interpreter's own torch, onnx and onnxruntime)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import List, Optional

HERE_RESULTS = os.path.join("results", "here")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run the matrix of a spec (or, with --here, this interpreter)",
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
    p.add_argument("--side", default=None, metavar="SIDE",
                   help="fan-out in one stage (the nightly's): every cell of this export side, exported once and "
                        "checked on each of their onnxruntimes here, so bundles never leave the machine")
    p.add_argument("--export", default=None, metavar="SIDE",
                   help="fan-out, first stage: only this export side, writing its bundles (see `plan --json`)")
    p.add_argument("--runtime", default=None, metavar="SIDE",
                   help="fan-out, second stage: only the cells of this runtime side, over --bundles-from")
    p.add_argument("--bundles-from", action="append", default=[], metavar="DIR",
                   help="run folders of export jobs (their run.json and bundles/) to check instead of exporting "
                        "(repeatable)")
    p.add_argument("--run-id", default=None, metavar="ID",
                   help="name the run (fan-out: every machine gets the id from `plan --json`, then `merge`)")
    p.add_argument("--fresh", action="store_true", help="rerun everything; reuse nothing from the previous run")
    p.add_argument("--split", action=argparse.BooleanOptionalAction, default=True,
                   help="export once per torch × onnx × device and check the bundles on every onnxruntime "
                        "(default); --no-split: each cell exports and checks in one environment of its own")
    p.add_argument("--frontier-only", action="store_true",
                   help="measure each environment's version frontier (see `python -m matrix versions`), run no case")
    p.add_argument("--locked", default=None, metavar="DIR",
                   help="install each cell from DIR/<cell>.txt (a run's lock folder) instead of resolving anew")
    p.add_argument("--results", default="results", help="results root (default: results/)")
    p.add_argument("--cases", default="", help="comma-separated glob patterns over case ids, e.g. 'dynamic/*'")
    p.add_argument("--suite", default=None, metavar="SUITE,…",
                   help="what to run: cases (the case corpus and --cases-from), aten (every operator of torch's "
                        "operator database), onnx-node (ONNX's node tests); default: the spec's [run] suites, "
                        "else cases")
    p.add_argument("--cases-from", action="append", default=[], metavar="PATH_OR_MODULE",
                   help="also load your own cases from a .py file, a folder or a module (repeatable)")
    p.add_argument("--model", action="append", default=[], metavar="FOLDER_OR_ID",
                   help="your model by name: a checkpoint folder (save_pretrained), a Hugging Face hub id (org/name, "
                        "fetched once into the hub's cache; HF_HUB_OFFLINE honoured), timm:NAME or torchvision:NAME "
                        "(repeatable); runs these models only unless --cases is also given")
    p.add_argument("--task", default=None, help="--model's task (default: from its config's architectures, said): "
                                                "feature-extraction, text-classification, token-classification, "
                                                "fill-mask, text-generation, text-generation-with-past, "
                                                "text2text-generation, image-classification, "
                                                "automatic-speech-recognition")
    p.add_argument("--revision", default=None, help="--model hub id: a branch, tag or commit")
    p.add_argument("--random-weights", action="store_true",
                   help="--model: build from the config with seeded random weights (timm and torchvision names "
                        "need it: cells have no network to fetch pretrained weights)")
    p.add_argument("--dtype", default="float32", help="--model: float32 (default), float16 or bfloat16")
    p.add_argument("--exporter", default="torchscript,dynamo", help="comma-separated: torchscript,dynamo")
    p.add_argument("--opset", default="default", help="comma-separated opsets, 'default' for the exporter's own")
    p.add_argument("--device", default=None, help="cpu, cuda or cpu,cuda (--here: default cpu; a matrix run: only "
                                                   "the spec's cells of these devices)")
    p.add_argument("--timeout", default=None, help="seconds per result before it is killed (default 120)")
    p.add_argument("--out", default=None, metavar="FILE.jsonl",
                   help=f"results file (default: a new file under {HERE_RESULTS}/)")
    p.add_argument("--resume", action="store_true", help="continue --out, skipping results already in it")
    p.add_argument("--keep-failed", default=None, metavar="DIR", help="keep failing models' .onnx files here")
    p.add_argument("--remedies", action=argparse.BooleanOptionalAction, default=None,
                   help="for each failing result, search the smallest change to the export call, the exported file "
                        "or the session that makes it pass every stage (default: the spec's [run] remedies)")
    p.add_argument("--remedy-budget", default=None, metavar="COUNT,SECONDS",
                   help="per failing result: at most COUNT tries and SECONDS (default: the spec's, else 8,300)")
    p.add_argument("--isolation", choices=("fork", "none"), default="fork", help=argparse.SUPPRESS)
    p.add_argument("--strict", action="store_true", help="exit 1 when any result is not pass or skipped")
    p.set_defaults(main=main)


def main(args: argparse.Namespace) -> int:
    return here(args) if args.here else matrix(args)


def matrix(args: argparse.Namespace) -> int:
    from matrix import runfolder
    from matrix.cli import history as history_command
    from matrix.cli.plan import resolve_spec
    from matrix.errors import UserError
    from matrix.models import libraries as own_libraries
    from matrix.probe import results
    from matrix.progress import MatrixProgress, cell_summary, make_console
    from matrix.run import MatrixRun, RunOptions, choose_runner, default_jobs
    from matrix.spec import load

    console = make_console()
    named, cases = models(args, load(args.spec).models, args.cases, console)  # before the plan: their libraries
    plan = resolve_spec(args.spec, args.cases_from, chosen_suites(args.suite), own_libraries(named))
    if args.resume or args.out:
        raise UserError("--out and --resume are for --here; a matrix run reuses unchanged results itself")
    if args.run_id:
        runfolder.check_run_id(args.run_id)
        if (Path(args.results) / args.run_id).exists():
            raise UserError(f"{Path(args.results) / args.run_id} exists: a run id names one run")
    for flag, wanted, of in (("--cell", args.cell, lambda c: c.id),
                             ("--side", args.side, lambda c: c.export_side().id),
                             ("--export", args.export, lambda c: c.export_side().id),
                             ("--runtime", args.runtime, lambda c: c.runtime_side().id)):
        if wanted:
            plan.cells = [c for c in plan.cells if of(c) == wanted]
            if not plan.cells:
                raise UserError(f"{flag} {wanted}: no such {flag[2:]} in {plan.spec.path} (see python -m matrix plan)")
    if args.device:
        devices = split(args.device)
        plan.cells = [c for c in plan.cells if c.device in devices]
        if not plan.cells:
            raise UserError(f"--device {args.device}: no cell of {plan.spec.path} is on it")
    chosen = plan.spec.run.get("suites", ["cases"])
    plan.cells = [c for c in plan.cells if plan.suites_for(c, chosen)]  # [suites.X] keeps a suite to some cells
    if not plan.cells:
        raise UserError(f"--suite {','.join(chosen)}: {plan.spec.path}'s [suites] tables leave no cell to run it in")
    if (args.side or args.export or args.runtime or args.bundles_from) and not args.split:
        raise UserError("--side, --export, --runtime and --bundles-from are parts of a split run: drop --no-split")
    if args.side and (args.export or args.runtime or args.bundles_from):
        raise UserError("--side runs both stages of its export side: give it without --export, --runtime or "
                        "--bundles-from")
    if args.export and args.bundles_from:
        raise UserError("--export writes bundles; --bundles-from reads them: give one")
    for folder in args.bundles_from:  # before anything is written: a bad folder leaves no run behind
        runfolder.read(Path(folder))
    _check_budget(args.remedy_budget)
    try:
        timeout = float(args.timeout or plan.spec.run.get("timeout", 120))
    except ValueError:
        raise UserError(f"--timeout {args.timeout}: expected a number of seconds") from None
    options = RunOptions(timeout=timeout, cases=cases or plan.spec.run.get("cases", ""), models=named,
                         suites=plan.spec.run.get("suites", ["cases"]),
                         cases_from=args.cases_from or plan.spec.run.get("cases_from", []), fresh=args.fresh,
                         locked=args.locked, run_id=args.run_id, split=args.split, exports_only=bool(args.export),
                         bundles_from=args.bundles_from, frontier_only=args.frontier_only,
                         remedies=plan.spec.run.get("remedies", False) if args.remedies is None else args.remedies,
                         remedy_budget=args.remedy_budget or plan.spec.run.get("remedy_budget"))
    jobs = args.jobs or default_jobs(len(plan.cells))
    runner, why = choose_runner(args.runner, plan, options.cases_from, args.base_image, args.ca_bundle,
                                [m["path"] for m in options.models if m.get("path")])
    held = runfolder.claim(Path(args.results))  # noqa: F841 -- held until this process exits
    console.print(f"spec {plan.spec.path}: {len(plan.cells)} cells × exporters {', '.join(plan.exporters)}; "
                  f"runner: {runner.name} ({why}); {jobs} at a time")
    run = MatrixRun(plan, Path(args.results), options, None, runner)
    if run.continued:
        console.print(f"continuing run {run.run_id}, killed before it finished (--fresh starts anew)")
    if run.not_reused:
        console.print(f"not reusing the previous run's results: {run.not_reused}")
    try:
        with MatrixProgress(console, len(plan.cells)) as progress:
            run.progress = progress
            cells = run.execute(jobs)
    except KeyboardInterrupt:
        console.print(f"interrupted; finished results are kept under {run.dir}")
        return 130
    except OSError as exc:  # the results disk is full or gone: say so; what was written stays
        print(f"matrix run: error: {exc.filename or run.dir}: {exc.strerror or exc}; finished results are kept "
              f"under {run.dir} (make room, then run the same command again to continue)", file=sys.stderr)
        return 1
    if args.frontier_only:
        console.print(f"version frontier measured: python -m matrix versions {run.dir}")
        return 0
    by_cell = {cid: list(results.read(str(run.dir / f"{cid}.jsonl"))) for cid in cells
               if (run.dir / f"{cid}.jsonl").exists()}
    cell_summary(console, by_cell)
    reused = sum(1 for rs in by_cell.values() for r in rs if r.get("reused_from"))
    console.print(f"results: {run.dir} ({reused} results reused from the previous run; --fresh reruns them)")
    history_command.record(Path(args.results), run.dir)
    return 0


def models(args: argparse.Namespace, from_spec: List[dict], cases: str, console) -> tuple:
    """--model (else the spec's [[models]]) resolved before anything runs, and the case selection:
    the models alone when no --cases was given."""
    from matrix import models as own

    options = {"task": args.task, "revision": args.revision, "random_weights": args.random_weights,
               "dtype": args.dtype}
    wanted = [dict(options, model=m) for m in args.model] or from_spec
    if not wanted:
        return [], cases
    resolved, said = own.resolve_all(wanted)
    for line in said:
        console.print(line)
    return resolved, cases or ",".join(m["case"] for m in resolved)


def _check_budget(text: str) -> None:
    """--remedy-budget, checked before anything runs (the probe checks it again, for itself)."""
    from matrix.errors import UserError
    from matrix.probe.search import parse_budget

    try:
        parse_budget(text)
    except ValueError as exc:
        raise UserError(f"--remedy-budget {exc}") from None


def chosen_suites(text: Optional[str]) -> List[str]:
    """--suite, checked before anything runs; [] where not given (the spec's choice stands)."""
    from matrix.errors import UserError
    from matrix.probe import suites

    chosen = split(text or "")
    bad = suites.unknown(chosen) or ([] if chosen or text is None else [text])
    if bad:
        raise UserError(f"--suite {bad[0]!r}: no such suite; choose from {', '.join(suites.SUITES)}")
    return chosen


def split(text: str) -> list:
    """A comma-separated option as the probe reads it (the probe checks each part)."""
    return [part.strip() for part in text.split(",") if part.strip()]


def here(args: argparse.Namespace) -> int:
    from matrix import runfolder
    from matrix.errors import UserError
    from matrix.probe import results, selfcheck
    from matrix.probe.arguments import ProbeArgs
    from matrix.progress import RunProgress, make_console, summary
    from matrix.runners.host import HostRunner

    console = make_console()
    if args.resume and not args.out:
        raise UserError("--resume needs --out FILE.jsonl (the results to continue)")
    entries, cases = models(args, [], args.cases, console)  # a bad --model is said before torch is imported
    # This interpreter first: a missing or broken torch, onnx or onnxruntime is one line, not a traceback.
    problem = selfcheck.check(require=("onnxscript",) if "dynamo" in split(args.exporter) else ())
    if problem:
        raise UserError(f"this interpreter cannot run the cases: {problem}; install what they need with "
                        f'pip install "onnx-compat-matrix[probe]" (or your own versions of torch, onnx, '
                        f"onnxruntime and onnxscript)")
    _check_budget(args.remedy_budget)
    run_id = runfolder.new_run_id()
    out = args.out or os.path.join(HERE_RESULTS, f"{run_id}.jsonl")
    probe = ProbeArgs(out=out, exporters=split(args.exporter), opsets=split(args.opset),
                      devices=split(args.device or "cpu"),
                      timeout=args.timeout or 120, cases=cases, cases_from=args.cases_from, models=entries,
                      resume=args.resume,
                      suites=chosen_suites(args.suite) or ["cases"],
                      isolation=args.isolation, run_id=run_id, keep_failed=args.keep_failed,
                      remedies=bool(args.remedies), remedy_budget=args.remedy_budget)
    try:
        with RunProgress(console) as progress:
            code = HostRunner().run(sys.executable, None, probe, progress)
    except KeyboardInterrupt:
        console.print(f"interrupted; finished results are kept in {out} (continue with --resume --out {out})")
        return 130
    if code != 0:
        return code  # the probe has said why on stderr
    recorded = list(results.read(out))
    summary(console, recorded)
    console.print(f"results: {out}")
    if args.strict and any(r["status"] not in ("pass", "skipped") for r in recorded):
        return 1
    return 0
