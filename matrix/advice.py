"""Advice for a model a runtime finds too new, checked against the run itself.

The cell side measured both halves and named the opset to export with (the error's
detail.export_opset). Here that advice is verified, and joined with the rest of the run:
- verified: the same case, exported at that opset, checked on that runtime. The result is
  looked up in the cell (a spec with that opset on its axis has it) or run for the purpose
  (matrix/phases/advice_check.py: export side and runtime side again, for those cases and that opset only,
  into advice/), and named in the hint with its status;
- the oldest onnxruntime of the run that loads the same export (results of the other cells of
  the same export side).
annotate() rewrites the cells' results files in place (whole files, replaced atomically) and can
run again (after a merge) with the same outcome: it starts each time from the cell side's words.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Tuple

from packaging.version import Version

from matrix import runfolder
from matrix.probe import results, search
from matrix.probe.frontier import KINDS

ADVICE = "advice"  # a run folder's advice/<cell>.jsonl and advice/bundles/<export side>/


def too_new(result: Dict[str, Any]) -> bool:
    error = result.get("error") or {}
    return result.get("status") == "load_error" and error.get("kind") in KINDS


def advised(result: Dict[str, Any]) -> Optional[int]:
    """The opset the cell side advised for this result, where it is a too-new load error."""
    opset = ((result.get("error") or {}).get("detail") or {}).get("export_opset") if too_new(result) else None
    return opset if isinstance(opset, int) and opset != result.get("opset") else None


def pending(folder: Path, cells: Iterable[str]) -> Dict[str, List[Tuple[str, str, int, str]]]:
    """Per cell, the (case, exporter, opset, device) to check that its results do not hold. The
    case corpus only: an operator suite's sweep would double its exports for an advice that its
    own results at other opsets answer (its advice says it was not checked)."""
    wanted: Dict[str, List[Tuple[str, str, int, str]]] = {}
    for cell, found in runfolder.cell_results(folder, cells).items():
        have = {results.key(r) for r in found}
        keys = sorted({(r["case"], r["exporter"], opset, r["device"]) for r in found
                       for opset in [advised(r)] if opset is not None
                       and (r.get("suite") or "cases") == "cases"} - have)
        if keys:
            wanted[cell] = keys
    return wanted


def still_holds(earlier: Path, current: Path, keys: Iterable[Tuple[str, str, int, str]]) -> bool:
    """Whether an earlier run's checks (its advice/<cell>.jsonl) answer these keys for a cell
    whose environment is unchanged: every key there, of the same case code as now."""
    now = {r["case"]: r.get("case_hash") for r in runfolder.read_results(current)}
    found = {results.key(r): r.get("case_hash") for r in runfolder.read_results(earlier)}
    return all(key in found and found[key] == now.get(key[0]) for key in keys)


def _export_of(result: Dict[str, Any]) -> tuple:
    """What made a result's model: the export side's versions, and the case, exporter, opset."""
    versions = result.get("versions") or {}
    return (tuple(versions.get(p) for p in ("python", "torch", "onnx", "onnxscript")), result["case"],
            result["exporter"], result.get("opset"), result["device"])


def _sentence(check: Optional[Dict[str, Any]], opset: int, runtime: str) -> str:
    if check is None:
        return f"not verified in this run (no result at opset_version={opset} on onnxruntime {runtime})"
    if check["status"] == "pass":
        return f"verified: exported at opset_version={opset}, this case loads and matches on onnxruntime {runtime}"
    message = (check.get("error") or {}).get("message") or check.get("reason") or ""
    return (f"checked: exported at opset_version={opset} it is {check['status']} on onnxruntime {runtime}"
            + (f" ({message[:160]})" if message else ""))


def _verified(opset: int, check: Dict[str, Any]) -> Dict[str, Any]:
    """The checked advice as the result's fix, in the remedy search's words (search.py)."""
    entry = {"remedy": "opset", "family": "opset", "side": "export", "params": {"opset": opset},
             "change": f"opset_version={opset}", "status": "pass", "stage": check.get("stage"), "kind": None,
             "message": None, "seconds": check.get("seconds")}
    record = {"candidates": 1, "tried": [entry], "stopped": None, "searched": "advice",
              "fixed_by": dict(entry, snippet=search.snippet(entry, check.get("export_call")))}
    return dict(record, summary=search.summary(record))


def _check(result: Dict[str, Any], checks: Dict[tuple, Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    """The result at the opset advised for this one (the cell's own, or the advice's check), if any."""
    opset = advised(result)
    return checks.get((result["case"], result["exporter"], opset, result["device"])) if opset else None


def _checks(folder: Path, cell: str, found: List[Dict[str, Any]]) -> Dict[tuple, Dict[str, Any]]:
    return {results.key(r): r for r in (*found, *runfolder.read_results(folder / ADVICE / f"{cell}.jsonl"))}


def verified(folder: Path, cell: str, found: List[Dict[str, Any]]) -> set:
    """The keys of a cell's results that its advice fixes, checked: the advised opset passes. The
    remedies pass leaves them alone — the run already has their verified fix (annotate)."""
    checks = _checks(folder, cell, found)
    return {results.key(r) for r in filter(too_new, found) if (_check(r, checks) or {}).get("status") == "pass"}


def annotate(folder: Path) -> int:
    """Verified advice and the run's oldest loading onnxruntime in each too-new load error's hint;
    returns how many results were annotated."""
    by_cell = runfolder.cell_results(folder)
    loads: Dict[tuple, List[str]] = defaultdict(list)
    for result in (r for found in by_cell.values() for r in found):
        runtime = (result.get("versions") or {}).get("onnxruntime")
        if runtime and result.get("stage") not in (None, "reference", "export", "check", "load"):
            loads[_export_of(result)].append(runtime)
    annotated = 0
    for cell, found in by_cell.items():
        checks = _checks(folder, cell, found)
        changed = False
        for result in filter(too_new, found):
            error = result["error"]
            detail = error.setdefault("detail", {})
            measured = detail.setdefault("measured_hint", error.get("hint") or "")
            runtime = (result.get("versions") or {}).get("onnxruntime") or "?"
            opset, check = advised(result), _check(result, checks)
            oldest = min(loads.get(_export_of(result), []), key=Version, default=None)
            detail.update(verified=check["status"] if check else None, loads_from=oldest)
            if check and check["status"] == "pass" and not (result.get("remedy") or {}).get("fixed_by"):
                result["remedy"] = _verified(opset, check)  # the advisor's "what to change" has it
            error["hint"] = "; ".join(part for part in (
                measured, opset and _sentence(check, opset, runtime),
                oldest and f"the same export loads on onnxruntime {oldest}, the oldest of this run that loads it")
                if part)
            changed, annotated = True, annotated + 1
        if changed:
            runfolder.rewrite_results(folder / f"{cell}.jsonl", found)
    return annotated
