"""After a result fails: who is to blame (blame.py, for mismatches and run errors) and, when asked
for, the search for its remedy (search.py), each in children of their own so that a hang or a
crash there costs the diagnosis, not the result."""

from __future__ import annotations

import shutil
import tempfile
from typing import Any, Callable, Dict, Optional

from matrix.probe import isolation, refusal, remedies, search
from matrix.probe.blame import STATUSES, verdict
from matrix.probe.stages import run_stages, runtime_only

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
                torch_version: Optional[str]) -> Optional[Dict[str, Any]]:
    """The remedy search for a failing result of a whole cell (torch and onnxruntime both here)."""
    if outcome.get("status") not in search.SEARCHED:
        return None
    tries = remedies.candidates(remedies.situation(outcome, exporter, opset, device, data, measured, torch_version))
    count, seconds = args.remedy_budget
    return search.search(tries, _whole_try(case, exporter, opset, device, args, isolate), count, seconds)


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

    count, seconds = args.remedy_budget
    found = search.search(tries, attempt, count, seconds)
    found["partial"] = "session and model remedies only (the runtime side has no torch)"
    return found
