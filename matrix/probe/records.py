"""The records of a cell's results file, each built in one place: a result (one case × exporter ×
opset × device), and the env_error that stands for every case of a cell whose environment
failed (case "*"). Their format is matrix/schemas/result.schema.json; cell ids have one form.

Standard library only: the probe builds results inside cells, the orchestrator env_errors.
"""

from __future__ import annotations

import hashlib
import inspect
import time
import uuid
from typing import Any, Dict, List, Optional

from matrix.probe import PROBE_VERSION, SCHEMA

# The case fields of the stand-in for every case of a cell that has no results of its own.
EVERY_CASE = {"case": "*", "category": "*", "description": "", "fixes": None, "origin": None, "case_hash": None,
              "suite": None}


def cell_id(python: str, torch: Optional[str], onnx: Optional[str], onnxruntime: Optional[str], device: str,
            onnxscript: Optional[str] = None, libraries: Any = ()) -> str:
    """torch2.15.0-onnx1.23.2-ort1.32.0-py3.11-cpu (-onnxscriptX and -transformersY before -py where
    they are pinned; "auto" ones are the lock's choice and not part of the name)."""
    python = ".".join(python.split(".")[:2])
    pinned = f"-onnxscript{onnxscript}" if onnxscript else ""
    pinned += "".join(f"-{name}{version}" for name, version in libraries if version)
    return f"torch{torch}-onnx{onnx}-ort{onnxruntime}{pinned}-py{python}-{device}"


def side_id(side: str, python: str, device: str, **versions: Optional[str]) -> str:
    """export-torch2.15.0-onnx1.23.2-py3.11-cpu, runtime-ort1.32.0-py3.11-cpu: one side
    of the cells that share it (onnxscript only where it is pinned)."""
    python = ".".join(python.split(".")[:2])
    named = "".join(f"-{name}{version}" for name, version in versions.items() if version)
    return f"{side}{named}-py{python}-{device}"


def new_run_id() -> str:
    """A run's id: when it started (UTC), and a few random characters so that two never meet."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + uuid.uuid4().hex[:6]


_source_hashes: Dict[str, str] = {}


def case_hash(case: Any) -> str:
    """Changes when the case's module source or its declaration changes."""
    try:
        path = inspect.getsourcefile(case.build) or ""
    except TypeError:
        path = ""
    if path not in _source_hashes:
        try:
            with open(path, "rb") as f:
                _source_hashes[path] = hashlib.sha256(f.read()).hexdigest()
        except OSError:
            _source_hashes[path] = ""
    fields = {k: v for k, v in vars(case).items() if not callable(v)}
    return hashlib.sha256((_source_hashes[path] + repr(sorted(fields.items()))).encode()).hexdigest()[:16]


def origin(case: Any) -> str:
    """"builtin" for the corpus shipped here, "user" for cases loaded with --cases-from."""
    return "builtin" if getattr(case.build, "__module__", "").startswith("matrix.probe.cases.") else "user"


def case_fields(case: Any) -> Dict[str, Any]:
    return {"case": case.id, "category": case.category, "description": case.description, "fixes": case.fixes,
            "origin": origin(case), "case_hash": case_hash(case), "library": getattr(case, "library", None),
            "suite": getattr(case, "suite", "cases"), "source": getattr(case, "source", None)}


def result(*, run_id: str, cell: str, case: Dict[str, Any], exporter: str, opset: Optional[int], device: str,
           status: str, stage: Optional[str] = None, reason: Optional[str] = None,
           error: Optional[Dict[str, Any]] = None, metrics: Optional[Dict[str, Any]] = None,
           artifacts: Optional[Dict[str, str]] = None, versions: Optional[Dict[str, Optional[str]]] = None,
           environment: Optional[Dict[str, Any]] = None, started_at: Optional[float] = None,
           seconds: float = 0.0, export_call: Optional[str] = None, remedy: Optional[Dict[str, Any]] = None,
           blame: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """A result record; `case` holds the case fields (case_fields(case), or EVERY_CASE); a failing
    one may hold its remedy search and, for a mismatch or run_error, the blame's verdict."""
    described = {k: case.get(k) for k in ("category", "description", "fixes", "origin", "library")}
    described["suite"] = case.get("suite") or "cases"
    if case.get("source"):
        described["source"] = case["source"]
    return {"schema": SCHEMA, "run_id": run_id, "cell": cell, "case": case["case"], **described,
            "exporter": exporter, "opset": opset, "device": device, "status": status, "stage": stage,
            "reason": reason, "error": error, "metrics": metrics or {}, "artifacts": artifacts or {},
            "versions": versions or {}, "environment": environment or {}, "case_hash": case.get("case_hash"),
            "probe_version": PROBE_VERSION, "started_at": time.time() if started_at is None else started_at,
            "seconds": seconds, "export_call": export_call,
            **({"remedy": remedy} if remedy else {}), **({"blame": blame} if blame else {})}


def env_errors(run_id: str, cell: str, device: str, exporters: List[str], opsets: List[Optional[int]],
               versions: Dict[str, Optional[str]], message: str, requirements: List[str]) -> List[Dict[str, Any]]:
    """A cell whose environment could not be built: one env_error per exporter × opset, standing
    for every case. `message` is the tool's own (uv's, docker's, the self-check's), paths scrubbed."""
    from matrix.probe.errors import scrub

    message = scrub(message)
    first = message.strip().splitlines()[0] if message.strip() else "environment error"
    error = {"type": "EnvError", "message": first, "signature": first[:300], "kind": "environment",
             "detail": {"requirements": requirements}, "hint": None, "traceback": message[-4000:]}
    return [result(run_id=run_id, cell=cell, case=EVERY_CASE, exporter=exporter, opset=opset, device=device,
                   status="env_error", error=error, versions=versions) for exporter in exporters for opset in opsets]
