"""Run the selected cases on each requested device of this environment."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional

from matrix.probe import PROBE_VERSION, environment, isolation, records, results
from matrix.probe.corpus import BadInput
from matrix.probe.exporters import for_torch
from matrix.probe.stages import run_stages
from matrix.probe.versions import unmet


def emit(event: str, **fields: Any) -> None:
    print(json.dumps({"event": event, **fields}, default=str), flush=True)


def skip_reason(case: Any, exporter: str, opset: Optional[int], device: str, api: Any,
                versions: Dict[str, Optional[str]], has_cuda: bool) -> Optional[str]:
    if device not in case.devices:
        return f"case does not apply to {device}"
    if device == "cuda" and not has_cuda:
        return "no CUDA device"
    for requirement in case.requires:
        reason = unmet(requirement, versions)
        if reason:
            return reason
    return api.unavailable(exporter, opset)


def run_cell(args: Any, cases: List[Any]) -> int:
    versions = environment.versions()
    api = for_torch(versions["torch"] or "0")
    run_id = args.run_id or records.new_run_id()
    done = set()
    if os.path.exists(args.out) and os.path.getsize(args.out) > 0:
        if not args.resume:
            raise BadInput(f"--out {args.out} already holds results: "
                           "pass --resume to continue it, or choose another file")
        try:
            done = {results.key(r) for r in results.existing(args.out)}
        except (ValueError, KeyError, TypeError) as exc:
            raise BadInput(f"--out {args.out}: cannot resume from it: {exc}") from None
    has_cuda = "cuda" in args.devices and environment.cuda_available()
    earlier = _reusable(args.reuse, versions)

    # cuda first: their children must be forked before the warm-up (see isolation.hide_gpus).
    devices = sorted(args.devices, key=lambda d: d != "cuda")
    tasks = []
    for device in devices:
        for case in cases:
            for exporter in args.exporters:
                for opset in args.opsets:
                    key = (case.id, exporter, opset, device)
                    if key in done:
                        continue
                    old = earlier.get(key)
                    if old is not None and old.get("case_hash") == records.case_hash(case):
                        reason = "reused"  # recorded below as the earlier result, not run again
                    else:
                        reason = skip_reason(case, exporter, opset, device, api, versions, has_cuda)
                    tasks.append((device, case, exporter, opset, reason))
    isolate = args.isolation == "fork"
    isolation.limit_memory(args.memory_limit)
    gpu = None
    if has_cuda and not isolate:
        gpu = environment.gpu_info()
    elif has_cuda:
        with tempfile.TemporaryDirectory(prefix="matrix-gpu-") as tmp:
            found = isolation.forked(lambda enter: environment.gpu_info(), tmp, 60)
        gpu = found if "name" in found else {"error": (found.get("error") or {}).get("message")}
    env = environment.fingerprint(gpu)

    emit("start", run_id=run_id, total=len(tasks), resumed=len(done),
         cells=[_cell_id(versions, d) for d in args.devices])
    writer = results.Writer(args.out)
    warm = False
    try:
        for index, (device, case, exporter, opset, reason) in enumerate(tasks, 1):
            if reason is None and not warm and (device == "cpu" or not isolate):
                if isolate and has_cuda:
                    isolation.hide_gpus()
                isolation.warm_up(sorted({t[2] for t in tasks if t[4] is None and (t[0] == device or not isolate)}),
                                  fork=isolate)
                warm = True
            emit("case", index=index, case=case.id, exporter=exporter, opset=opset, device=device)
            if reason == "reused":
                old = earlier[(case.id, exporter, opset, device)]
                result = dict(old, run_id=run_id, reused_from=old.get("reused_from") or old["run_id"])
                writer.write(result)
                emit("result", index=index, case=case.id, exporter=exporter, opset=opset, device=device,
                     status=result["status"], stage=result["stage"], seconds=0.0, reused=True)
                continue
            started = time.time()
            if reason is not None:
                outcome = {"status": "skipped", "stage": None, "error": None, "metrics": {}}
            else:
                outcome = _run_one(case, exporter, opset, device, args, isolate)
            result = records.result(
                run_id=run_id, cell=args.cell or _cell_id(versions, device), case=records.case_fields(case),
                exporter=exporter, opset=opset, device=device, status=outcome["status"], stage=outcome["stage"],
                reason=reason, error=outcome["error"], metrics=outcome["metrics"],
                artifacts=outcome.get("artifacts", {}), versions=versions, environment=env, started_at=started,
                seconds=round(time.time() - started, 4))
            writer.write(result)
            emit("result", index=index, case=case.id, exporter=exporter, opset=opset, device=device,
                 status=result["status"], stage=result["stage"], seconds=result["seconds"])
    finally:
        writer.close()
    emit("done", run_id=run_id, out=args.out)
    return 0


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


def _run_one(case: Any, exporter: str, opset: Optional[int], device: str, args: Any, isolate: bool) -> Dict[str, Any]:
    workdir = tempfile.mkdtemp(prefix="matrix-case-")
    try:
        def work(enter: Any) -> Dict[str, Any]:
            return run_stages(case, exporter, opset, device, workdir, enter)

        # A CUDA context maps large private regions of its own: the limit is for cpu results.
        outcome = isolation.forked(work, workdir, args.timeout, limit=device == "cpu") if isolate \
            else isolation.in_process(work, workdir)
        model = os.path.join(workdir, "model.onnx")
        if args.keep_failed and outcome["status"] not in ("pass", "skipped") and os.path.exists(model):
            outcome["artifacts"] = {"model": _keep(model, args.keep_failed, case.id, exporter, opset, device)}
        return outcome
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _keep(model: str, folder: str, case_id: str, exporter: str, opset: Optional[int], device: str) -> str:
    os.makedirs(folder, exist_ok=True)
    name = f"{case_id.replace('/', '__')}--{exporter}--{opset or 'default'}--{device}.onnx"
    shutil.copyfile(model, os.path.join(folder, name))
    return name
