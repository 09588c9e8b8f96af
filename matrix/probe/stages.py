"""The stages one result goes through: reference → export → check on the export side, then
load → run → parity → dynamic on the runtime side, with a bundle between them.

`run_stages` runs both sides in one environment (a cell with every package); `export_only` and
`runtime_only` run one side each (cells in two halves). Each is called in a forked child by
`isolation`, or in-process for the benchmark floor.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional

from matrix.probe import errors
from matrix.probe.case import NotAModel
from matrix.probe.export_side import export_stages
from matrix.probe.runtime_side import RecordedFailure, runtime_stages
from matrix.probe.status import FAILURE_STATUS, STAGES

EXPORT_METRICS = ("eager_ms", "export_s", "model_bytes", "nodes", "model_opset", "ir_version")


class Stages:
    """Where a result has got to, what it measured, and its outcome once it passes or raises."""

    def __init__(self, enter: Callable[[str], None], workdir: str, metrics: Optional[Dict[str, Any]] = None) -> None:
        self.stage = STAGES[0]
        self.enter = enter
        self.workdir = workdir  # written as <workdir> in messages: results stay comparable
        self.metrics: Dict[str, Any] = dict(metrics or {})
        self.meta: Dict[str, Any] = {}

    def __call__(self, name: str) -> None:
        self.stage = name
        self.enter(name)

    def passed(self) -> Dict[str, Any]:
        return {"status": "pass", "stage": self.stage, "error": None, "metrics": self.metrics}

    def failed(self, exc: BaseException) -> Dict[str, Any]:
        if isinstance(exc, NotAModel):
            return {"status": "skipped", "stage": None, "error": None, "reason": str(exc), "metrics": self.metrics}
        if isinstance(exc, RecordedFailure):
            error = exc.error
        else:
            error = errors.from_exception(exc, self.workdir)
            error["detail"].update(getattr(exc, "matrix_detail", {}))
            if error["detail"].get("registry"):  # an operator's export: whose entry failed, said first
                error["hint"] = error["detail"]["registry"] + (f"; {error['hint']}" if error["hint"] else "")
        return {"status": FAILURE_STATUS[self.stage], "stage": self.stage, "error": error, "metrics": self.metrics}


def run_stages(case: Any, exporter: str, opset: Optional[int], device: str, workdir: str,
               enter: Callable[[str], None], remedy: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """Outcome of one result, both sides in this environment: status, stage, error, metrics (with a
    remedy's changes, when one is tried)."""
    stages = Stages(enter, workdir)
    try:
        meta = export_stages(case, exporter, opset, device, workdir, stages, remedy)
        runtime_stages(workdir, meta, device, stages, remedy)
        outcome = stages.passed()
    except Exception as exc:  # noqa: BLE001 -- every failure is data, classified by stage
        outcome = stages.failed(exc)
    return dict(outcome, data=stages.meta)  # for the bundle a failing result is kept as


def export_only(case: Any, exporter: str, opset: Optional[int], device: str, workdir: str,
                enter: Callable[[str], None]) -> Dict[str, Any]:
    """The export side's outcome ("pass" once checked) with the bundle's description of its data."""
    stages = Stages(enter, workdir)
    try:
        export_stages(case, exporter, opset, device, workdir, stages)
        outcome = stages.passed()
    except Exception as exc:  # noqa: BLE001 -- every failure is data, classified by stage
        outcome = stages.failed(exc)
    return dict(outcome, data=stages.meta)


def runtime_only(folder: str, meta: Dict[str, Any], device: str, enter: Callable[[str], None],
                 remedy: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """The outcome of a bundle whose export passed, checked by this environment's onnxruntime."""
    stages = Stages(enter, folder, metrics=meta["outcome"]["metrics"])
    try:
        runtime_stages(folder, meta["data"], device, stages, remedy)
        return stages.passed()
    except Exception as exc:  # noqa: BLE001 -- every failure is data, classified by stage
        return stages.failed(exc)
