"""Run the selected cases on each requested device of this environment: both sides of each result
here (run_cell), or one side: the export side writing bundles (export_cell), the runtime side
checking them (runtime_cell)."""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional

from matrix.probe import PROBE_VERSION, bundle, environment, export_repro, isolation, records, results
from matrix.probe.corpus import BadInput
from matrix.probe.exporters import for_torch
from matrix.probe.stages import EXPORT_METRICS, export_only, run_stages, runtime_only
from matrix.probe.status import EXPORT_STAGES
from matrix.probe.versions import unmet


def emit(event: str, **fields: Any) -> None:
    print(json.dumps({"event": event, **fields}, default=str), flush=True)


def _requirements(requires: Any, versions: Dict[str, Optional[str]], side: str) -> Optional[str]:
    """The first unmet requirement this side can judge: the runtime side judges onnxruntime's."""
    for requirement in requires:
        about_runtime = requirement.strip().lower().startswith("onnxruntime")
        if side == "both" or about_runtime == (side == "runtime"):
            reason = unmet(requirement, versions)
            if reason:
                return reason
    return None


def skip_reason(case: Any, exporter: str, opset: Optional[int], device: str, api: Any,
                versions: Dict[str, Optional[str]], has_cuda: bool, side: str = "both") -> Optional[str]:
    if device not in case.devices:
        return f"case does not apply to {device}"
    if device == "cuda" and not has_cuda:
        return "no CUDA device"
    return _requirements(case.requires, versions, side) or api.unavailable(exporter, opset)


@dataclass
class Task:
    """One result to produce: its key, its case's fields, why it is not run (None: it is run;
    "reused": copied from an earlier run) and how it is run."""

    case_id: str
    exporter: str
    opset: Optional[int]
    device: str
    fields: Dict[str, Any]
    reason: Optional[str]
    run: Callable[[], Any]
    requires: tuple = ()
    case: Any = None

    @property
    def key(self) -> tuple:
        return (self.case_id, self.exporter, self.opset, self.device)


def _done(args: Any) -> set:
    """Keys already in --out (with --resume)."""
    if not (os.path.exists(args.out) and os.path.getsize(args.out) > 0):
        return set()
    if not args.resume:
        raise BadInput(f"--out {args.out} already holds results: pass --resume to continue it, or choose another file")
    try:
        return {results.key(r) for r in results.existing(args.out)}
    except (ValueError, KeyError, TypeError) as exc:
        raise BadInput(f"--out {args.out}: cannot resume from it: {exc}") from None


def _gpu(has_cuda: bool, isolate: bool) -> Optional[Dict[str, Any]]:
    if not has_cuda:
        return None
    if not isolate:
        return environment.gpu_info()
    with tempfile.TemporaryDirectory(prefix="matrix-gpu-") as tmp:
        found = isolation.forked(lambda enter: environment.gpu_info(), tmp, 60)
    return found if "name" in found else {"error": (found.get("error") or {}).get("message")}


def _case_tasks(args: Any, cases: List[Any], versions: Dict[str, Optional[str]], has_cuda: bool, side: str,
                run: Any, done: set, earlier: Callable[[tuple, str], Optional[str]]
                ) -> List[Task]:
    """A task per (device, case, exporter, opset), cuda first: their children must be forked
    before the warm-up (see isolation.hide_gpus)."""
    api = for_torch(versions["torch"] or "0")
    tasks = []
    for device in sorted(args.devices, key=lambda d: d != "cuda"):
        for case in cases:
            fields = records.case_fields(case)
            for exporter in args.exporters:
                for opset in args.opsets:
                    key = (case.id, exporter, opset, device)
                    if key in done:
                        continue
                    reason = earlier(key, fields["case_hash"]) or skip_reason(
                        case, exporter, opset, device, api, versions, has_cuda, side)
                    tasks.append(Task(case.id, exporter, opset, device, fields, reason,
                                      lambda c=case, e=exporter, o=opset, d=device: run(c, e, o, d),
                                      tuple(case.requires), case))
    return tasks


def _earlier_results(args: Any, versions: Dict[str, Optional[str]]) -> tuple:
    """(results of an earlier run that still hold, the test: "reused" for a key and case hash)."""
    earlier = _reusable(args.reuse, versions)

    def test(key: tuple, case_hash: Optional[str]) -> Optional[str]:
        old = earlier.get(key)
        return "reused" if old is not None and old.get("case_hash") == case_hash else None

    return earlier, test


def run_cell(args: Any, cases: List[Any]) -> int:
    """Both sides of every result in this environment: results in --out."""
    versions = environment.versions()
    has_cuda = "cuda" in args.devices and environment.cuda_available()
    earlier, test = _earlier_results(args, versions)
    isolate = args.isolation == "fork"
    done = _done(args)
    tasks = _case_tasks(args, cases, versions, has_cuda, "both", None, done, test)
    for task in tasks:  # each is kept as a bundle when it fails: it needs its own description
        task.run = lambda t=task, c=task.case: _run_one(c, t.exporter, t.opset, t.device, args, isolate, t, versions)
    isolation.limit_memory(args.memory_limit)
    env = environment.fingerprint(_gpu(has_cuda, isolate))
    return _write_results(args, tasks, len(done), earlier, versions, env, lambda device: _cell_id(versions, device),
                          warm=lambda exporters: isolation.warm_up(exporters, fork=isolate), has_cuda=has_cuda)


def _write_results(args: Any, tasks: List[Task], resumed: int, earlier: Dict[tuple, Dict[str, Any]],
                   versions: Callable[[Task], Dict[str, Optional[str]]] | Dict[str, Optional[str]],
                   env: Dict[str, Any], cell_of: Callable[[str], str], warm: Callable[[List[str]], None],
                   has_cuda: bool) -> int:
    """Run the tasks in order, a result record each into --out, with the events the orchestrator reads."""
    run_id = args.run_id or records.new_run_id()
    isolate = args.isolation == "fork"
    versions_of = versions if callable(versions) else (lambda task: versions)
    emit("start", run_id=run_id, total=len(tasks), resumed=resumed,
         cells=[cell_of(d) for d in args.devices])
    writer = results.Writer(args.out)
    warmed = False
    try:
        for index, task in enumerate(tasks, 1):
            if task.reason is None and not warmed and (task.device == "cpu" or not isolate):
                if isolate and has_cuda:
                    isolation.hide_gpus()
                warm(sorted({t.exporter for t in tasks if t.reason is None and (t.device == task.device
                                                                               or not isolate)}))
                warmed = True
            where = dict(case=task.case_id, exporter=task.exporter, opset=task.opset, device=task.device)
            emit("case", index=index, **where)
            if task.reason == "reused":
                old = earlier[task.key]
                result = dict(old, run_id=run_id, reused_from=old.get("reused_from") or old["run_id"])
                writer.write(result)
                emit("result", index=index, **where, status=result["status"], stage=result["stage"], seconds=0.0,
                     reused=True)
                continue
            started = time.time()
            outcome = {"status": "skipped", "stage": None, "error": None, "metrics": {}} \
                if task.reason is not None else task.run()
            result = records.result(
                run_id=run_id, cell=args.cell or cell_of(task.device), case=task.fields, exporter=task.exporter,
                opset=task.opset, device=task.device, status=outcome["status"], stage=outcome["stage"],
                reason=outcome.get("reason", task.reason), error=outcome["error"], metrics=outcome["metrics"],
                artifacts=outcome.get("artifacts", {}), versions=versions_of(task), environment=env,
                started_at=started, seconds=round(time.time() - started, 4))
            writer.write(result)
            emit("result", index=index, **where, status=result["status"], stage=result["stage"],
                 seconds=result["seconds"])
    finally:
        writer.close()
    emit("done", run_id=run_id, out=args.out)
    return 0


def export_cell(args: Any, cases: List[Any]) -> int:
    """The export side of every result: a bundle each under --bundles, kept where one of these
    versions, this probe and this case's hash is already there."""
    versions = environment.versions("export")
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

    tasks = _case_tasks(args, cases, versions, has_cuda, "export",
                        lambda c, e, o, d: _export_one(c, e, o, d, args, isolate), set(), kept)
    isolation.limit_memory(args.memory_limit)
    env = environment.fingerprint(_gpu(has_cuda, isolate), side="export")
    os.makedirs(args.bundles, exist_ok=True)
    emit("start", run_id=args.run_id, total=len(tasks), resumed=0, cells=[])
    warmed = False
    for index, task in enumerate(tasks, 1):
        if task.reason is None and not warmed and (task.device == "cpu" or not isolate):
            if isolate and has_cuda:
                isolation.hide_gpus()
            isolation.warm_up(sorted({t.exporter for t in tasks if t.reason is None}), fork=isolate, side="export")
            warmed = True
        where = dict(case=task.case_id, exporter=task.exporter, opset=task.opset, device=task.device)
        emit("case", index=index, **where)
        folder = os.path.join(args.bundles, bundle.folder_name(*task.key))
        if task.reason == "kept":
            outcome = bundle.read_meta(folder)["outcome"]
            emit("result", index=index, **where, status=outcome["status"], stage=outcome["stage"], seconds=0.0,
                 reused=True)
            continue
        started = time.time()
        outcome, workdir = ({"status": "skipped", "stage": None, "error": None, "metrics": {}, "data": {}}, None) \
            if task.reason is not None else task.run()
        data = outcome.pop("data")
        meta = dict(_meta(task, versions, data, outcome, started), environment=env)
        _publish(workdir, folder, meta, task.case)
        emit("result", index=index, **where, status=outcome["status"], stage=outcome["stage"],
             seconds=meta["outcome"]["seconds"])
    emit("done", run_id=args.run_id, out=args.bundles)
    return 0


def _publish(workdir: Optional[str], folder: str, meta: Dict[str, Any], case: Any = None) -> None:
    """Put a bundle in its place whole: built beside it, then swapped in. With it, how to
    reproduce it: with onnxruntime alone when the export passed, with torch when it failed."""
    staging = folder + ".new"
    shutil.rmtree(staging, ignore_errors=True)
    os.makedirs(staging)
    if workdir is not None:
        for name in os.listdir(workdir):
            if name != isolation.LOG_NAME:  # the exporter's chatter is not part of the bundle
                shutil.move(os.path.join(workdir, name), os.path.join(staging, name))
        shutil.rmtree(workdir, ignore_errors=True)
    outcome = meta["outcome"]
    if outcome["status"] == "pass" and os.path.exists(os.path.join(staging, bundle.MODEL)):
        shutil.copyfile(os.path.join(os.path.dirname(__file__), "repro.py"), os.path.join(staging, "repro.py"))
    elif case is not None and outcome["stage"] in ("export", "check") and outcome["status"] != "skipped":
        api = for_torch(meta["versions"].get("torch") or "0")
        count = meta["data"].get("args") or len(case.dynamic or ()) or 1
        export_repro.write(staging, case, meta, api.call(meta["exporter"], meta["opset"], case.dynamic, count))
    bundle.write_meta(staging, meta)
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(staging, folder)


def _export_one(case: Any, exporter: str, opset: Optional[int], device: str, args: Any, isolate: bool) -> tuple:
    """(the export side's outcome, the folder holding what it wrote)."""
    workdir = tempfile.mkdtemp(prefix="matrix-export-")

    def work(enter: Any) -> Dict[str, Any]:
        return export_only(case, exporter, opset, device, workdir, enter)

    outcome = isolation.forked(work, workdir, args.timeout, limit=device == "cpu") if isolate \
        else isolation.in_process(work, workdir)
    outcome.setdefault("data", {})  # a crash or timeout brings none back
    return outcome, workdir


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
    earlier, test = _earlier_results(args, exported)
    done = _done(args)
    isolate = args.isolation == "fork"
    tasks = []
    for folder, meta in sorted(metas, key=lambda fm: fm[1]["device"] != "cuda"):
        task = Task(meta["case"], meta["exporter"], meta["opset"], meta["device"],
                    {k: meta.get(k) for k in ("case", "category", "description", "fixes", "origin", "case_hash")},
                    None, lambda f=folder, m=meta: _check_one(f, m, args, isolate))
        if task.key in done:
            continue
        task.reason = test(task.key, task.fields["case_hash"]) or meta["outcome"].get("reason") or \
            _requirements(meta.get("requires") or (), versions_of(meta), "runtime")
        tasks.append(task)
    isolation.limit_memory(args.memory_limit)
    env = environment.fingerprint(side="runtime")
    by_key = {(m["case"], m["exporter"], m["opset"], m["device"]): m for _, m in metas}
    return _write_results(args, tasks, len(done), earlier, lambda task: versions_of(by_key[task.key]), env,
                          lambda device: _cell_id(exported, device),
                          warm=lambda exporters: isolation.warm_up(exporters, fork=isolate, side="runtime"),
                          has_cuda=False)


def _selected(meta: Dict[str, Any], args: Any) -> bool:
    patterns = [p.strip() for p in (args.cases or "").split(",") if p.strip()]
    return (meta["exporter"] in args.exporters and meta.get("opset") in args.opsets and meta["device"] in args.devices
            and (not patterns or any(fnmatch.fnmatchcase(meta["case"], p) for p in patterns)))


def _check_one(folder: str, meta: Dict[str, Any], args: Any, isolate: bool) -> Dict[str, Any]:
    """A bundle's result: the export side's outcome where it failed, else this runtime's."""
    if meta["outcome"]["status"] != "pass":
        outcome = dict(meta["outcome"])
    else:
        workdir = tempfile.mkdtemp(prefix="matrix-runtime-")
        try:
            def work(enter: Any) -> Dict[str, Any]:
                return runtime_only(folder, meta, meta["device"], enter)

            outcome = isolation.forked(work, workdir, args.timeout, limit=meta["device"] == "cpu") if isolate \
                else isolation.in_process(work, workdir)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    if args.keep_failed and outcome["status"] not in ("pass", "skipped"):
        outcome["artifacts"] = {"bundle": _zip(folder, args.keep_failed, os.path.basename(args.bundles))}
    return outcome


def _cell_id(versions: Dict[str, Optional[str]], device: str) -> str:
    """The cell this interpreter is, when the orchestrator did not name it (run --here)."""
    return records.cell_id(versions["python"] or "", versions["torch"], versions["onnx"], versions["onnxruntime"],
                           device)


def _reusable(path: Optional[str], versions: Dict[str, Optional[str]]) -> Dict[tuple, Dict[str, Any]]:
    """Results of an earlier run of this same environment that still hold: same versions
    and probe; the case's own hash is compared per task."""
    if not path or not os.path.exists(path):
        return {}
    try:
        earlier = list(results.read(path))
    except ValueError as exc:
        print(f"warning: not reusing {path}: {exc}", file=sys.stderr)
        return {}
    now = determining(versions)
    return {results.key(r): r for r in earlier if determining(r.get("versions") or {}) == now
            and r.get("probe_version") == PROBE_VERSION and r["status"] != "env_error"}


def determining(versions: Dict[str, Optional[str]]) -> Dict[str, Optional[str]]:
    """What of an environment decides a result: every package version, and Python's minor release
    only: a venv's 3.11.7 and the Debian image's 3.11.2 run the same locked wheels, so a result of
    one runner holds for the other."""
    python = ".".join((versions.get("python") or "").split(".")[:2])
    return dict(versions, python=python)


def _run_one(case: Any, exporter: str, opset: Optional[int], device: str, args: Any, isolate: bool,
             task: Task, versions: Dict[str, Optional[str]]) -> Dict[str, Any]:
    workdir = tempfile.mkdtemp(prefix="matrix-case-")
    try:
        started = time.time()

        def work(enter: Any) -> Dict[str, Any]:
            return run_stages(case, exporter, opset, device, workdir, enter)

        # A CUDA context maps large private regions of its own: the limit is for cpu results.
        outcome = isolation.forked(work, workdir, args.timeout, limit=device == "cpu") if isolate \
            else isolation.in_process(work, workdir)
        data = outcome.pop("data", None) or {}
        exported = os.path.exists(os.path.join(workdir, bundle.MODEL))
        if args.keep_failed and outcome["status"] not in ("pass", "skipped") \
                and (exported or outcome["stage"] in ("export", "check")):
            meta = _meta(task, versions, data, _export_outcome(outcome), started)
            meta["result"] = {k: outcome[k] for k in ("status", "stage", "error")}  # what this cell's runtime said
            outcome["artifacts"] = {"bundle": _keep(workdir, meta, args.keep_failed, task.key,
                                                    args.cell or _cell_id(versions, device), case)}
        return outcome
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _export_outcome(outcome: Dict[str, Any]) -> Dict[str, Any]:
    """The export side's part of a both-sides outcome: its failure, or a pass with its metrics."""
    if outcome["stage"] in EXPORT_STAGES:
        return outcome
    metrics = {k: v for k, v in outcome["metrics"].items() if k in EXPORT_METRICS}
    return {"status": "pass", "stage": "check", "error": None, "metrics": metrics}


def _meta(task: Task, versions: Dict[str, Optional[str]], data: Dict[str, Any], outcome: Dict[str, Any],
          started: float) -> Dict[str, Any]:
    """bundle.json: the case, the export side's versions, the data's description and the export's outcome."""
    exported = {k: v for k, v in versions.items() if k != "onnxruntime"}
    return dict(task.fields, requires=list(task.requires), exporter=task.exporter, opset=task.opset,
                device=task.device, versions=dict(exported, onnxruntime=None), probe_version=PROBE_VERSION,
                data=data, started_at=started,
                outcome=dict(outcome, reason=task.reason, seconds=round(time.time() - started, 4)))


def _keep(workdir: str, meta: Dict[str, Any], folder: str, key: tuple, made_by: str, case: Any) -> str:
    """A failing result's bundle, made from its workdir and zipped into folder; the zip's name."""
    staging = tempfile.mkdtemp(prefix=".keep-", dir=_made(folder))  # beside its place: a rename, not a copy
    try:
        made = os.path.join(staging, bundle.folder_name(*key))
        _publish(workdir, made, meta, case)
        return _zip(made, folder, made_by)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _made(folder: str) -> str:
    os.makedirs(folder, exist_ok=True)
    return folder


def _zip(source: str, folder: str, made_by: str) -> str:
    """source (a bundle folder) as a zip in folder, which unzips into a folder of its name; named
    also by what made it (the cell, or the export side), as cells with another torch keep theirs
    beside it."""
    name = os.path.basename(source.rstrip(os.sep))
    zipped = f"{name}--{hashlib.sha256(made_by.encode()).hexdigest()[:8]}.zip"
    staging = tempfile.mkdtemp(prefix=".zip-", dir=_made(folder))
    try:
        archive = shutil.make_archive(os.path.join(staging, name), "zip", os.path.dirname(source), name)
        os.replace(archive, os.path.join(folder, zipped))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return zipped
