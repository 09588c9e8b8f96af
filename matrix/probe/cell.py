"""Run the selected cases on each requested device of this environment: both sides of each result
here (run_cell), or one side: the export side writing bundles (export_cell), the runtime side
checking them (runtime_cell). tasks.py has what the three share, publish.py how bundles are
put in place."""

from __future__ import annotations

import fnmatch
import os
import shutil
import tempfile
import time
from typing import Any, Dict, Iterator, List, Optional

from matrix.probe import PROBE_VERSION, bundle, diagnose, environment, frontier, isolation, search
from matrix.probe.corpus import BadInput
from matrix.probe.publish import keep, meta_of, publish, zipped
from matrix.probe.stages import EXPORT_METRICS, export_only, run_stages, runtime_only
from matrix.probe.status import EXPORT_STAGES
from matrix.probe.tasks import (
    Task,
    case_tasks,
    cell_id,
    determining,
    done_keys,
    earlier_results,
    emit,
    gpu,
    requirements,
    write_results,
)

FRONTIER_TIMEOUT = 600.0  # a dynamo export at each of ~30 opsets: about 20 s here


def run_cell(args: Any, cases: List[Any]) -> int:
    """Both sides of every result in this environment: results in --out."""
    versions = environment.versions(requirements=args.requirements)
    has_cuda = "cuda" in args.devices and environment.cuda_available()
    earlier, test = earlier_results(args, versions)
    isolate = args.isolation == "fork"
    done = done_keys(args)
    measured = _still_holds(args.frontier, versions, args.exporters) or {}  # this cell's, from an earlier run
    # asked for (or needed by the remedy search's opsets): a dynamo export at each opset costs about 20 s
    if not measured and (args.frontier or getattr(args, "remedies", False)):
        with tempfile.TemporaryDirectory(prefix="matrix-stamps-") as stamps:
            frontier.write_stamps(stamps)
            measured = _frontier_out(args, "both", versions, _measured(lambda: {
                **frontier.measure_exporters(versions["torch"], args.exporters),
                "runtime": frontier.measure_runtime(stamps)}, isolate))
    if args.frontier_only:
        return 0
    tasks = case_tasks(args, cases, versions, has_cuda, "both", None, done, test, measured)
    lessons = search.Lessons()  # what each remedy search finds, for the next one of the same failure
    for task in tasks:  # each is kept as a bundle when it fails: it needs its own description
        task.run = lambda t=task, c=task.case: _run_one(c, t.exporter, t.opset, t.device, args, isolate, t, versions,
                                                        measured, lessons)
    isolation.limit_memory(args.memory_limit)
    env = environment.fingerprint(gpu(has_cuda, isolate))
    return write_results(args, tasks, len(done), earlier, versions, env, lambda device: cell_id(versions, device),
                          warm=lambda exporters, libraries: isolation.warm_up(exporters, fork=isolate,
                                                                              libraries=libraries),
                          has_cuda=has_cuda)


def export_cell(args: Any, cases: List[Any]) -> int:
    """The export side of every result: a bundle each under --bundles, kept where one of these
    versions, this probe and this case's hash is already there."""
    versions = environment.versions("export", args.requirements)
    has_cuda = "cuda" in args.devices and environment.cuda_available()
    isolate = args.isolation == "fork"

    def kept(key: tuple, case_hash: Optional[str]) -> Optional[str]:
        try:
            meta = bundle.read_meta(os.path.join(args.bundles, bundle.folder_name(*key)))
        except bundle.BundleError:
            return None
        same = (meta.get("case_hash") == case_hash and meta.get("probe_version") == PROBE_VERSION
                and determining(meta.get("versions") or {}) == determining(versions))
        return "kept" if same else None

    os.makedirs(args.bundles, exist_ok=True)
    measured = _export_frontier(args, versions, isolate)
    if args.frontier_only:
        return 0
    tasks = case_tasks(args, cases, versions, has_cuda, "export", None, set(), kept, measured)
    isolation.limit_memory(args.memory_limit)
    env = environment.fingerprint(gpu(has_cuda, isolate), side="export")
    emit("start", run_id=args.run_id, total=len(tasks), resumed=0, cells=[])
    started: Dict[int, float] = {}

    def finish(index: int, task: Task, outcome: Dict[str, Any], workdir: Optional[str]) -> None:
        folder = os.path.join(args.bundles, bundle.folder_name(*task.key))
        where = dict(case=task.case_id, exporter=task.exporter, opset=task.opset, device=task.device)
        if task.reason == "kept":
            emit("result", index=index, **where, status=outcome["status"], stage=outcome["stage"], seconds=0.0,
                 reused=True)
            return
        data = outcome.pop("data")
        meta = dict(meta_of(task, versions, data, outcome, started[index]), environment=env)
        publish(workdir, folder, meta, task.case)
        emit("result", index=index, **where, status=outcome["status"], stage=outcome["stage"],
             seconds=meta["outcome"]["seconds"])

    def begin(index: int, task: Task) -> None:
        started[index] = time.time()
        emit("case", index=index, case=task.case_id, exporter=task.exporter, opset=task.opset, device=task.device)

    exports = []
    for index, task in enumerate(tasks, 1):
        if task.reason is None:
            exports.append((index, task))
            continue
        begin(index, task)
        kept_outcome = bundle.read_meta(os.path.join(args.bundles, bundle.folder_name(*task.key)))["outcome"] \
            if task.reason == "kept" else {"status": "skipped", "stage": None, "error": None, "metrics": {}, "data": {}}
        finish(index, task, kept_outcome, None)
    if exports and (exports[0][1].device == "cpu" or not isolate):  # an export side has one device
        if isolate and has_cuda:
            isolation.hide_gpus()
        isolation.warm_up(sorted({t.exporter for _, t in exports}), fork=isolate, side="export",
                          libraries=isolation.libraries([t for _, t in exports]))
    for (index, task), outcome, workdir in _exported(exports, args, isolate, begin):
        finish(index, task, outcome, workdir)
    emit("done", run_id=args.run_id, out=args.bundles)
    return 0


def _exported(exports: List[tuple], args: Any, isolate: bool, begin: Any) -> Iterator[tuple]:
    """((index, task), the export side's outcome, the folder holding what it wrote) for each export,
    as each ends: --workers of them at once, each in its own child (a cuda side: one at a time)."""
    workdirs: Dict[int, str] = {}

    def jobs() -> Iterator[tuple]:
        for index, task in exports:
            begin(index, task)
            workdir = workdirs[index] = tempfile.mkdtemp(prefix="matrix-export-")

            def work(enter: Any, t: Task = task, w: str = workdir) -> Dict[str, Any]:
                return export_only(t.case, t.exporter, t.opset, t.device, w, enter)

            yield (index, task), work, workdir, args.timeout, task.device == "cpu"

    if isolate:
        workers = args.workers if all(t.device == "cpu" for _, t in exports) else 1
        for key, outcome in isolation.concurrently(jobs(), workers):
            outcome.setdefault("data", {})  # a crash or timeout brings none back
            yield key, outcome, workdirs.pop(key[0])
        return
    for key, work, workdir, _, _ in jobs():
        yield key, dict({"data": {}}, **isolation.in_process(work, workdir)), workdir


def runtime_cell(args: Any) -> int:
    """The runtime side: every bundle under --bundles that the selection names, checked here;
    results in --out for the cell (export side's torch and onnx, this onnxruntime)."""
    here = environment.versions("runtime")
    metas = []
    try:
        for folder in bundle.find(args.bundles):
            meta = bundle.read_meta(folder)
            if _selected(meta, args):
                metas.append((folder, meta))
    except bundle.BundleError as exc:
        raise BadInput(str(exc)) from None

    def versions_of(meta: Dict[str, Any]) -> Dict[str, Optional[str]]:
        exported = meta.get("versions") or {}
        return dict(exported, onnxruntime=here["onnxruntime"], numpy=here["numpy"])

    exported = versions_of(metas[0][1]) if metas else here
    isolate = args.isolation == "fork"
    stamps = os.path.join(args.bundles, frontier.STAMPS)
    before = _still_holds(args.frontier, here)  # another cell of this runtime side measured it
    if before:
        runtime = before.get("runtime")
    else:
        runtime = _frontier_out(args, "runtime", here, {"runtime": _measured(
            lambda: frontier.measure_runtime(stamps), isolate)})["runtime"] if os.path.isdir(stamps) else None
    measured = {"export": frontier.read(os.path.join(args.bundles, frontier.FILE)), "runtime": runtime}
    if args.frontier_only:
        return 0
    earlier, test = earlier_results(args, exported)
    done = done_keys(args)
    tasks = []
    for folder, meta in sorted(metas, key=lambda fm: fm[1]["device"] != "cuda"):
        task = Task(meta["case"], meta["exporter"], meta["opset"], meta["device"],
                    {k: meta.get(k) for k in ("case", "category", "description", "fixes", "origin", "case_hash",
                                              "library", "suite", "source")},
                    None, lambda f=folder, m=meta: _check_one(f, m, args, isolate, measured))
        if task.key in done:
            continue
        task.reason = test(task.key, task.fields["case_hash"]) or meta["outcome"].get("reason") or \
            requirements(meta.get("requires") or (), versions_of(meta), "runtime")
        tasks.append(task)
    isolation.limit_memory(args.memory_limit)
    env = environment.fingerprint(side="runtime")
    by_key = {(m["case"], m["exporter"], m["opset"], m["device"]): m for _, m in metas}
    return write_results(args, tasks, len(done), earlier, lambda task: versions_of(by_key[task.key]), env,
                          lambda device: cell_id(exported, device),
                          warm=lambda exporters, libraries: isolation.warm_up(exporters, fork=isolate, side="runtime",
                                                                              model=_first_model(metas)),
                          has_cuda=False)


def _first_model(metas: List[tuple]) -> Optional[str]:
    """A cpu bundle's model to warm the runtime side up with."""
    return next((os.path.join(f, bundle.MODEL) for f, m in metas
                 if m["outcome"]["status"] == "pass" and m["device"] == "cpu"), None)


def _selected(meta: Dict[str, Any], args: Any) -> bool:
    patterns = [p.strip() for p in (args.cases or "").split(",") if p.strip()]
    node_test = meta.get("suite") == "onnx-node"  # neither exported nor at an opset the run asked for
    chosen = [s.strip() for s in (args.suite or "").split(",") if s.strip()]  # none given: every bundle's suite
    return ((node_test or meta["exporter"] in args.exporters and meta.get("opset") in args.opsets)
            and meta["device"] in args.devices and (not chosen or (meta.get("suite") or "cases") in chosen)
            and (not patterns or any(fnmatch.fnmatchcase(meta["case"], p) for p in patterns)))


def _check_one(folder: str, meta: Dict[str, Any], args: Any, isolate: bool,
               measured: Dict[str, Any]) -> Dict[str, Any]:
    """A bundle's result: the export side's outcome where it failed, else this runtime's."""
    if meta["outcome"]["status"] != "pass":
        outcome = dict(meta["outcome"], export_call=(meta.get("data") or {}).get("call"))
    else:
        workdir = tempfile.mkdtemp(prefix="matrix-runtime-")
        try:
            def work(enter: Any) -> Dict[str, Any]:
                return runtime_only(folder, meta, meta["device"], enter)

            outcome = isolation.forked(work, workdir, args.timeout, limit=meta["device"] == "cpu") if isolate \
                else isolation.in_process(work, workdir)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        diagnose.blamed(outcome, folder, meta["data"], meta["device"], isolate)
        _advise(outcome, measured["export"], measured["runtime"], meta["exporter"])
        if getattr(args, "remedies", False):
            outcome["remedy"] = diagnose.search_bundle(folder, meta, outcome, args, isolate, measured)
            _advise(outcome, measured["export"], measured["runtime"], meta["exporter"], outcome["remedy"])
        else:
            _converted(outcome, folder, meta, args, isolate, measured["export"], measured["runtime"])
        outcome["export_call"] = (meta.get("data") or {}).get("call")
    if args.keep_failed and outcome["status"] not in ("pass", "skipped"):
        outcome["artifacts"] = {"bundle": zipped(folder, args.keep_failed, os.path.basename(args.bundles))}
    return outcome


def _run_one(case: Any, exporter: str, opset: Optional[int], device: str, args: Any, isolate: bool,
             task: Task, versions: Dict[str, Optional[str]], measured: Dict[str, Any],
             lessons: Optional[search.Lessons] = None) -> Dict[str, Any]:
    known = args.keys.get(task.key) if isinstance(getattr(args, "keys", None), dict) else None
    if known and getattr(args, "remedies", False):
        return _searched_on(case, exporter, opset, device, args, isolate, versions, measured, known, lessons)
    workdir = tempfile.mkdtemp(prefix="matrix-case-")
    try:
        started = time.time()

        def work(enter: Any) -> Dict[str, Any]:
            return run_stages(case, exporter, opset, device, workdir, enter)

        # A CUDA context maps large private regions of its own: the limit is for cpu results.
        outcome = isolation.forked(work, workdir, args.timeout, limit=device == "cpu") if isolate \
            else isolation.in_process(work, workdir)
        data = outcome.pop("data", None) or {}
        outcome["export_call"] = data.get("call")
        _advise(outcome, measured, measured.get("runtime"), exporter)
        diagnose.blamed(outcome, workdir, data, device, isolate)
        if getattr(args, "remedies", False):
            outcome["remedy"] = diagnose.search_here(case, exporter, opset, device, outcome, data, args, isolate,
                                                     measured, versions["torch"], lessons=lessons)
            _advise(outcome, measured, measured.get("runtime"), exporter, outcome["remedy"])
        elif not measured.get("runtime"):  # no frontier to advise from: the runtime's refusal, checked here
            diagnose.checked_advice(case, exporter, opset, device, outcome, args, isolate)
        elif os.path.exists(os.path.join(workdir, bundle.MODEL)):  # as a runtime side does (_check_one)
            _converted(outcome, workdir, meta_of(task, versions, data, _export_outcome(outcome), started), args,
                       isolate, measured, measured.get("runtime"))
        exported = os.path.exists(os.path.join(workdir, bundle.MODEL))
        if args.keep_failed and outcome["status"] not in ("pass", "skipped") \
                and (exported or outcome["stage"] in ("export", "check")):
            meta = meta_of(task, versions, data, _export_outcome(outcome), started)
            meta["result"] = {k: outcome[k] for k in ("status", "stage", "error")}  # what this cell's runtime said
            outcome["artifacts"] = {"bundle": keep(workdir, meta, args.keep_failed, task.key,
                                                    args.cell or cell_id(versions, device), case)}
        return outcome
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _searched_on(case: Any, exporter: str, opset: Optional[int], device: str, args: Any, isolate: bool,
                 versions: Dict[str, Optional[str]], measured: Dict[str, Any], known: Dict[str, Any],
                 lessons: Optional[search.Lessons]) -> Dict[str, Any]:
    """A result a split run measured, and whose runtime side tried the session's and the file's
    remedies (`known`: its outcome, its export's data, those tries): the export's remedies are
    searched here, the rest is not done again — neither the result (whose export and check the
    split run made) nor the tries."""
    outcome = dict(known["outcome"])
    outcome["remedy"] = diagnose.search_here(case, exporter, opset, device, outcome, known.get("data") or {}, args,
                                             isolate, measured, versions["torch"], done=known.get("tried") or [],
                                             sibling=known.get("sibling"), other=known.get("other"),
                                             lessons=lessons)
    return outcome


def _export_outcome(outcome: Dict[str, Any]) -> Dict[str, Any]:
    """The export side's part of a both-sides outcome: its failure, or a pass with its metrics."""
    if outcome["stage"] in EXPORT_STAGES:
        return outcome
    metrics = {k: v for k, v in outcome["metrics"].items() if k in EXPORT_METRICS}
    return {"status": "pass", "stage": "check", "error": None, "metrics": metrics}


def _measured(measure: Any, isolate: bool) -> Dict[str, Any]:
    """A frontier measurement, in a child of its own where results are (a crash ends only it)."""
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="matrix-frontier-") as workdir:
        def work(enter: Any) -> Dict[str, Any]:
            return {"measured": measure()}

        outcome = isolation.forked(work, workdir, FRONTIER_TIMEOUT) if isolate else isolation.in_process(work, workdir)
    found = outcome.get("measured") or {"error": (outcome.get("error") or {}).get("message")}
    return dict(found, seconds=round(time.time() - started, 2))  # what the measurement cost the run


def _frontier_out(args: Any, side: str, versions: Dict[str, Optional[str]], parts: Dict[str, Any]) -> Dict[str, Any]:
    """This side's measurement, written to --frontier when asked for."""
    return frontier.write(args.frontier, side, versions, **parts) if args.frontier \
        else dict(parts, side=side, versions=versions)


def _still_holds(path: Optional[str], versions: Dict[str, Optional[str]],
                 exporters: Any = ()) -> Optional[Dict[str, Any]]:
    """A frontier file measured earlier that holds here: this probe's, with these versions (and
    these exporters); or the join of a split run's two sides' (remedy.py: a whole cell's search of
    that run's results goes by what they were measured with)."""
    found = frontier.read(path) if path else None
    if not found or found.get("probe_version") != PROBE_VERSION \
            or not set(exporters) <= set(found.get("exporters") or {}):
        return None
    if found.get("side") == frontier.SPLIT:  # a split run's two sides': what its results were measured with
        return found
    return found if frontier.holds_for(found.get("versions") or {}, versions) else None


def _export_frontier(args: Any, versions: Dict[str, Optional[str]], isolate: bool) -> Dict[str, Any]:
    """The export side's measurement and stamped models in its bundles folder, kept while these
    versions, this probe and these exporters are the ones it was measured with."""
    path, stamps = os.path.join(args.bundles, frontier.FILE), os.path.join(args.bundles, frontier.STAMPS)
    measured = _still_holds(path, versions, args.exporters)
    if not os.path.isdir(stamps):  # the models runtime sides measure onnxruntime with (a kept measurement has none)
        frontier.write_stamps(stamps)
    if not measured:
        measured = frontier.write(path, "export", versions, **_measured(
            lambda: frontier.measure_exporters(versions["torch"], args.exporters), isolate))
    parts = {k: v for k, v in measured.items() if k in ("onnx", "exporters", "error", "seconds")}
    if measured["versions"] != versions:  # measured where this environment's libraries were not
        measured = frontier.write(path, "export", versions, **parts)
    if args.frontier:
        frontier.write(args.frontier, "export", versions, **parts)
    return measured


def _converted(outcome: Dict[str, Any], folder: str, meta: Dict[str, Any], args: Any, isolate: bool,
               exported: Optional[Dict[str, Any]], runtime: Optional[Dict[str, Any]]) -> None:
    """A too-new model no opset helps, without a search: its file converted and checked here
    (diagnose.checked_conversion); the hint says what that did, and a fix it found is kept."""
    converted = diagnose.checked_conversion(folder, meta, outcome, args, isolate)
    _advise(outcome, exported, runtime, meta["exporter"], converted)
    if (converted or {}).get("fixed_by"):
        outcome["remedy"] = converted


def _advise(outcome: Dict[str, Any], exported: Optional[Dict[str, Any]], runtime: Optional[Dict[str, Any]],
            exporter: str, converted: Optional[Dict[str, Any]] = None) -> None:
    """A model this runtime finds too new gets the opset to export it with, from the measurements
    (and, where no opset helps, what converting its file did: `converted`, a search's record)."""
    error = outcome.get("error")
    if outcome.get("status") == "load_error" and error and error.get("kind") in frontier.KINDS:
        outcome["error"] = frontier.advice(exported, runtime, exporter, error, converted)
