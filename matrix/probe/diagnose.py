"""After a result fails: who is to blame (blame.py, for mismatches and run errors) and, when asked
for, the search for its remedy (search.py), each in children of their own so that a hang or a
crash there costs the diagnosis, not the result."""

from __future__ import annotations

import shutil
import tempfile
from typing import Any, Callable, Dict, List, Optional

from matrix.probe import isolation, refusal, remedies, search
from matrix.probe.blame import STATUSES, verdict
from matrix.probe.stages import run_stages, runtime_only
from matrix.probe.status import EXPORT_STAGES

BLAME_TIMEOUT = 120.0
ADVICE_SECONDS = 120.0  # the advice's tries for one refused result, all together


def blame(folder: str, data: Dict[str, Any], device: str, isolate: bool) -> Dict[str, Any]:
    """The verdict for the model and data set 0 in `folder` (data: the bundle's description)."""
    def work(enter: Any) -> Dict[str, Any]:
        return {"blame": verdict(folder, data, device)}

    with tempfile.TemporaryDirectory(prefix="matrix-blame-") as workdir:
        found = isolation.forked(work, workdir, BLAME_TIMEOUT) if isolate else isolation.in_process(work, workdir)
    if "blame" in found:
        return found["blame"]
    message = (found.get("error") or {}).get("message") or found.get("status")
    return {"verdict": "undetermined", "sentence": f"the ONNX reference check did not finish: {message}"}


def blamed(outcome: Dict[str, Any], folder: str, data: Dict[str, Any], device: str, isolate: bool) -> None:
    """Add the verdict to a mismatch or run_error outcome."""
    if outcome.get("status") in STATUSES and data.get("tolerances") is not None:
        outcome["blame"] = blame(folder, data, device, isolate)


def search_here(case: Any, exporter: str, opset: Optional[int], device: str, outcome: Dict[str, Any],
                data: Dict[str, Any], args: Any, isolate: bool, measured: Optional[Dict[str, Any]],
                torch_version: Optional[str], done: Optional[List[Dict[str, Any]]] = None,
                sibling: Optional[Dict[str, Any]] = None, other: Optional[Dict[str, Any]] = None,
                lessons: Optional[search.Lessons] = None) -> Optional[Dict[str, Any]]:
    """The remedy search for a failing result of a whole cell (torch and onnxruntime both here).
    `done`: the tries its runtime side already made (the session's and the file's remedies, on
    the same export): only the export's are left, and the budget is what those left of it.
    `sibling`: the same export's search in another cell of its export side ({cell, tried}): the
    try that fixed it there goes first, and a try that failed there before onnxruntime had a say
    (export or check: the same torch, the same case) is not made again but recorded from it.
    `other`: this cell's own result with the other exporter (same case, opset, device): the
    other_exporter try is that result, recorded from it, not made again.
    `lessons`: what this cell's earlier searches of the same failure found (search.Lessons)."""
    if outcome.get("status") not in search.SEARCHED:
        return None
    sides = ("export",) if done is not None else ("session", "model", "export")
    tries = remedies.candidates(remedies.situation(outcome, exporter, opset, device, data, measured, torch_version),
                                sides)
    failure = search.Lessons.failure(exporter, outcome)
    tries, skipped = lessons.order(failure, tries) if lessons else (tries, [])
    whole = _whole_try(case, exporter, opset, device, args, isolate)
    attempt, tries = _from_sibling(sibling, whole, tries) if sibling else (whole, tries)
    if other:
        attempt = _from_other_exporter(other, exporter, attempt)
    count, seconds = args.remedy_budget
    done = list(done or [])
    record = search.search(tries, attempt, count - len(done), seconds - sum(t.get("seconds") or 0 for t in done))
    if done or skipped:
        record.update(candidates=record["candidates"] + len(done) + len(skipped), tried=done + record["tried"],
                      budget={"count": count, "seconds": seconds}, skipped=skipped)
        record["summary"] = search.summary(record)
    if lessons:
        lessons.learn(failure, case.id, record)
    return record


def _from_sibling(sibling: Dict[str, Any], whole: Callable[[Dict[str, Any], float], Dict[str, Any]],
                  tries: List[Dict[str, Any]]) -> tuple:
    """(the attempt, the tries in order) for a search that a sibling's informs."""
    fixed = {search.identity(t) for t in sibling.get("tried") or () if t["status"] == "pass"}
    failed = {search.identity(t): t for t in sibling.get("tried") or ()
              if t["status"] != "pass" and t.get("stage") in EXPORT_STAGES and t.get("side") == "export"}
    ordered = sorted(tries, key=lambda t: search.identity(t) not in fixed)  # stable: the rest keep their order

    def attempt(one: Dict[str, Any], left: float) -> Dict[str, Any]:
        same = failed.get(search.identity(one))
        if same is None:
            return whole(one, left)
        return {"status": same["status"], "stage": same["stage"], "from": same.get("from") or sibling["cell"],
                "error": {"kind": same.get("kind"), "message": same.get("message")}}

    return attempt, ordered


def _from_other_exporter(other: Dict[str, Any], exporter: str,
                         attempt: Callable[[Dict[str, Any], float], Dict[str, Any]]) -> Callable:
    """The attempt, with the other_exporter try answered by the cell's own result for it."""
    said = "torchscript" if exporter == "dynamo" else "dynamo"

    def answered(one: Dict[str, Any], left: float) -> Dict[str, Any]:
        if one["remedy"] != "other_exporter":
            return attempt(one, left)
        return dict(other, **{"from": f"this cell's {said} result"})

    return answered


def _whole_try(case: Any, exporter: str, opset: Optional[int], device: str, args: Any,
               isolate: bool) -> Callable[[Dict[str, Any], float], Dict[str, Any]]:
    """One try of a remedy as a whole result again (export and every runtime stage), in a child."""
    def attempt(one: Dict[str, Any], left: float) -> Dict[str, Any]:
        workdir = tempfile.mkdtemp(prefix="matrix-remedy-")
        try:
            def work(enter: Any) -> Dict[str, Any]:
                tried = run_stages(case, exporter, opset, device, workdir, enter, remedy=one)
                tried["export_call"] = (tried.pop("data", None) or {}).get("call")
                return tried

            timeout = max(1.0, min(args.timeout, left))
            return isolation.forked(work, workdir, timeout, limit=device == "cpu") if isolate \
                else isolation.in_process(work, workdir)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    return attempt


def checked_advice(case: Any, exporter: str, opset: Optional[int], device: str, outcome: Dict[str, Any],
                   args: Any, isolate: bool) -> None:
    """A model this onnxruntime refused as too new, where no frontier was measured (run --here):
    the limit the runtime names in its own refusal ("till opset 19", "max supported IR version: 9")
    gives the opset to export with, or — where the exporter writes too new an IR at every opset —
    the conversion of the exported file; each tried here as a whole result, and the hint says
    which passed, checked."""
    error = outcome.get("error") or {}
    limits = refusal.limits(error)
    if outcome.get("status") != "load_error" or limits is None:
        return
    ir, opsets = limits
    written = (outcome.get("metrics") or {}).get("model_opset") or opset
    tries = [{"remedy": "opset", "family": "opset", "side": "export", "params": {"opset": opsets[0]},
              "change": f"opset_version={opsets[0]}"}] if opsets[0] != written else []
    tries += [{"remedy": "version_convert", "family": "version", "side": "model", "params": {"opset": o, "ir": ir},
               "change": f"model = onnx.version_converter.convert_version(model, {o}); model.ir_version = {ir}"}
              for o in opsets]
    record = search.search(tries, _whole_try(case, exporter, opset, device, args, isolate), len(tries),
                           ADVICE_SECONDS)
    fixed = (record.get("fixed_by") or {}).get("params") or {}
    read = fixed.get("opset") or (opsets[0] if error.get("kind") == "opset_too_new" else None)  # known, not guessed
    outcome["error"] = dict(error, hint=refusal.checked_hint(error, record, written),
                            detail=dict(error.get("detail") or {}, runtime_ir=ir, runtime_opset=read))
    if record.get("fixed_by"):
        outcome["remedy"] = record


def search_bundle(folder: str, meta: Dict[str, Any], outcome: Dict[str, Any], args: Any, isolate: bool,
                  measured: Optional[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    """The runtime side's part of the search, for a bundle it checked: the remedies of the session
    and of the exported file (no torch here). A result they do not fix is searched again by a
    whole cell, export changes included (the orchestrator's remedies pass)."""
    if outcome.get("status") not in search.SEARCHED or meta["outcome"]["status"] != "pass":
        return None
    situation = remedies.situation(outcome, meta["exporter"], meta["opset"], meta["device"], meta["data"],
                                   {"exporters": ((measured or {}).get("export") or {}).get("exporters"),
                                    "runtime": (measured or {}).get("runtime")}, None)
    tries = remedies.candidates(situation, sides=("session", "model"))
    count, seconds = args.remedy_budget
    found = search.search(tries, _bundle_try(folder, meta, args, isolate), count, seconds)
    found["partial"] = "session and model remedies only (the runtime side has no torch)"
    return found


def checked_conversion(folder: str, meta: Dict[str, Any], outcome: Dict[str, Any], args: Any,
                       isolate: bool) -> Optional[Dict[str, Any]]:
    """A model too new for this runtime at every opset its exporter writes ("no opset helps", from
    the frontier's advice): the exported file converted to the opset and IR this runtime reads
    (measured), tried as the runtime side tries a remedy — no export again, so the run has it for
    the cost of one check. The record of the try (its fix, when it passes)."""
    error = outcome.get("error") or {}
    detail = error.get("detail") or {}
    ir, opset = detail.get("runtime_ir"), detail.get("runtime_opset")
    if outcome.get("status") != "load_error" or error.get("kind") not in remedies.TOO_NEW \
            or detail.get("export_opset") or ir is None or opset is None:
        return None
    one = {"remedy": "version_convert", "family": "version", "side": "model", "params": {"opset": opset, "ir": ir},
           "change": f"model = onnx.version_converter.convert_version(model, {opset}); model.ir_version = {ir}"}
    record = search.search([one], _bundle_try(folder, meta, args, isolate), 1, ADVICE_SECONDS)
    record["searched"] = "advice"  # the advice's own check, not the remedy search
    return record


def _bundle_try(folder: str, meta: Dict[str, Any], args: Any,
                isolate: bool) -> Callable[[Dict[str, Any], float], Dict[str, Any]]:
    """One try of a session or file remedy on a copy of the bundle, in a child."""
    def attempt(one: Dict[str, Any], left: float) -> Dict[str, Any]:
        workdir = tempfile.mkdtemp(prefix="matrix-remedy-")
        try:
            copy = shutil.copytree(folder, f"{workdir}/bundle")  # a model remedy rewrites the file

            def work(enter: Any) -> Dict[str, Any]:
                return runtime_only(copy, meta, meta["device"], enter, remedy=one)

            timeout = max(1.0, min(args.timeout, left))
            return isolation.forked(work, workdir, timeout, limit=meta["device"] == "cpu") if isolate \
                else isolation.in_process(work, workdir)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    return attempt
