"""What every kind of cell run shares: its tasks (one per case × exporter × opset × device, with
why one is skipped or reused), the events the orchestrator reads, and the loop that writes a
result record per task."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional

from matrix.probe import PROBE_VERSION, environment, frontier, isolation, records, results
from matrix.probe.corpus import BadInput
from matrix.probe.exporters import EXPORTERS, for_torch
from matrix.probe.versions import name_of, unmet


def emit(event: str, **fields: Any) -> None:
    print(json.dumps({"event": event, **fields}, default=str), flush=True)


def requirements(requires: Any, versions: Dict[str, Optional[str]], side: str,
                 unpaired: Optional[Dict[str, str]] = None) -> Optional[str]:
    """The first unmet requirement this side can judge: the runtime side judges onnxruntime's. A
    library the cell's lock left out says why (it does not pair with this torch)."""
    for requirement in requires:
        about_runtime = requirement.strip().lower().startswith("onnxruntime")
        if side == "both" or about_runtime == (side == "runtime"):
            reason = unmet(requirement, versions)
            name = name_of(requirement)
            if reason and unpaired and name in unpaired:
                return f"requires {name}, which does not pair with this cell: {unpaired[name]}"
            if reason:
                return reason
    return None


def skip_reason(case: Any, exporter: str, opset: Optional[int], device: str, api: Any,
                versions: Dict[str, Optional[str]], has_cuda: bool, side: str = "both",
                measured: Optional[Dict[str, Any]] = None,
                unpaired: Optional[Dict[str, str]] = None) -> Optional[str]:
    if device not in case.devices:
        return f"case does not apply to {device}"
    if device == "cuda" and not has_cuda:
        return "no CUDA device"
    if exporter not in EXPORTERS:  # a suite's own (ONNX's node tests): torch does not write it
        return requirements(case.requires, versions, side, unpaired)
    return requirements(case.requires, versions, side, unpaired) or api.unavailable(exporter, opset) \
        or frontier.unwritable(measured, exporter, opset)


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
    run: Optional[Callable[[], Any]]  # None: the caller runs it (cell.export_cell)
    requires: tuple = ()
    case: Any = None

    @property
    def key(self) -> tuple:
        return (self.case_id, self.exporter, self.opset, self.device)


def done_keys(args: Any) -> set:
    """Keys already in --out (with --resume)."""
    if not (os.path.exists(args.out) and os.path.getsize(args.out) > 0):
        return set()
    if not args.resume:
        raise BadInput(f"--out {args.out} already holds results: pass --resume to continue it, or choose another file")
    try:
        return {results.key(r) for r in results.existing(args.out)}
    except (ValueError, KeyError, TypeError) as exc:
        raise BadInput(f"--out {args.out}: cannot resume from it: {exc}") from None


def gpu(has_cuda: bool, isolate: bool) -> Optional[Dict[str, Any]]:
    if not has_cuda:
        return None
    if not isolate:
        return environment.gpu_info()
    with tempfile.TemporaryDirectory(prefix="matrix-gpu-") as tmp:
        found = isolation.forked(lambda enter: environment.gpu_info(), tmp, 60)
    return found if "name" in found else {"error": (found.get("error") or {}).get("message")}


def case_tasks(args: Any, cases: List[Any], versions: Dict[str, Optional[str]], has_cuda: bool, side: str,
                run: Optional[Callable[..., Any]], done: set, earlier: Callable[[tuple, str], Optional[str]],
                measured: Optional[Dict[str, Any]] = None) -> List[Task]:
    """A task per (device, case, exporter, opset), cuda first: their children must be forked
    before the warm-up (see isolation.hide_gpus). `run(case, exporter, opset, device)` runs one;
    None where the caller runs them itself (the export side: several at once)."""
    api = for_torch(versions["torch"] or "0")
    unpaired = dict(item.split("=", 1) for item in getattr(args, "unpaired", None) or [] if "=" in item)
    tasks = []
    for device in sorted(args.devices, key=lambda d: d != "cuda"):
        for case in cases:
            fields = records.case_fields(case)
            exporters = getattr(case, "exporters", None)  # a suite's own, where torch exports nothing
            for exporter in exporters or args.exporters:
                for opset in [None] if exporters else args.opsets:
                    key = (case.id, exporter, opset, device)
                    if key in done or (getattr(args, "keys", None) is not None and key not in args.keys):
                        continue
                    reason = earlier(key, fields["case_hash"]) or skip_reason(
                        case, exporter, opset, device, api, versions, has_cuda, side, measured, unpaired)
                    tasks.append(Task(case.id, exporter, opset, device, fields, reason,
                                      run and (lambda c=case, e=exporter, o=opset, d=device: run(c, e, o, d)),
                                      tuple(case.requires), case))
    return tasks


def earlier_results(args: Any, versions: Dict[str, Optional[str]]) -> tuple:
    """(results of an earlier run that still hold, the test: "reused" for a key and case hash)."""
    earlier = reusable(args.reuse, versions)

    def test(key: tuple, case_hash: Optional[str]) -> Optional[str]:
        old = earlier.get(key)
        return "reused" if old is not None and old.get("case_hash") == case_hash else None

    return earlier, test


def write_results(args: Any, tasks: List[Task], resumed: int, earlier: Dict[tuple, Dict[str, Any]],
                   versions: Callable[[Task], Dict[str, Optional[str]]] | Dict[str, Optional[str]],
                   env: Dict[str, Any], cell_of: Callable[[str], str], warm: Callable[[List[str], List[str]], None],
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
                                                                               or not isolate)}),
                     isolation.libraries(tasks))
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
                export_call=outcome.get("export_call"), remedy=outcome.get("remedy"), blame=outcome.get("blame"),
                started_at=started, seconds=round(time.time() - started, 4))
            writer.write(result)
            emit("result", index=index, **where, status=result["status"], stage=result["stage"],
                 seconds=result["seconds"])
    finally:
        writer.close()
    emit("done", run_id=run_id, out=args.out)
    return 0


def cell_id(versions: Dict[str, Optional[str]], device: str) -> str:
    """The cell this interpreter is, when the orchestrator did not name it (run --here)."""
    return records.cell_id(versions["python"] or "", versions["torch"], versions["onnx"], versions["onnxruntime"],
                           device)


def reusable(path: Optional[str], versions: Dict[str, Optional[str]]) -> Dict[tuple, Dict[str, Any]]:
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
