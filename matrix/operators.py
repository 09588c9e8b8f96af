"""Per operator, what a run's operator suites say: for an aten operator and each exporter, the
torch releases that export it (at which opset) and those that do not, and per onnxruntime
whether it runs the export and matches; for an ONNX operator, its node tests' statuses per opset
× onnxruntime. `python -m matrix ops NAME [RUN]` prints it; `--write docs/operators.md` writes
the suites' counts between the page's markers."""

from __future__ import annotations

import re
from typing import Any, Dict, List, Optional

import pandas as pd

from matrix.report.aggregate import parse_version

START = "<!-- operator-counts:start (written by `python -m matrix ops --counts RUN --write docs/operators.md`) -->"
END = "<!-- operator-counts:end -->"
# Statuses whose export side produced a model the checker accepted: the runtime side decides the rest.
EXPORTED = ("pass", "mismatch", "dynamic_error", "load_error", "run_error")
_DTYPE = re.compile(r"-(float32|float16|int64|bool)$")


def operator_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The results of the operator suites, with the operator (and, for aten, the sample's dtype)."""
    rows = frame[frame["suite"].isin(["aten", "onnx-node"])].copy()
    if rows.empty:
        return rows.assign(operator=[], dtype=[])
    names = rows["case"].str.split("/", n=1).str[1]
    rows["dtype"] = names.str.extract(_DTYPE, expand=False)
    rows["operator"] = names.str.replace(_DTYPE, "", regex=True)
    return rows


def _torch_key(version: Any) -> Any:
    return parse_version(version)


def aten_answer(rows: pd.DataFrame, name: str) -> List[Dict[str, Any]]:
    """The answers for the OpInfos matching NAME exactly, or its variants NAME.*"""
    aten = rows[(rows["suite"] == "aten") & ((rows["operator"] == name) | rows["operator"].str.startswith(name + "."))]
    return aten_answers(aten)


def aten_answers(aten: pd.DataFrame) -> List[Dict[str, Any]]:
    """Per OpInfo and exporter: what each torch release of the run does with its samples (exports
    every one, at which opset; some; none), the first that exports it after one that did not,
    and per onnxruntime the statuses of what was exported."""
    answers: List[Dict[str, Any]] = []
    for (operator, exporter), part in aten.groupby(["operator", "exporter"], sort=True):
        exports: Dict[str, str] = {}
        for torch_version, by_torch in sorted(part.groupby("torch"), key=lambda item: _torch_key(item[0])):
            ran = by_torch[by_torch["status"] != "skipped"].drop_duplicates(["case", "opset"])
            if ran.empty:
                exports[torch_version] = "skipped"
                continue
            exported = ran["status"].isin(EXPORTED)
            opsets = sorted({int(o) for o in ran.loc[exported, "model_opset"].dropna()})
            where = f" at opset {', '.join(map(str, opsets))}" if opsets else ""
            exports[torch_version] = ("exports" + where if exported.all() else
                                      "does not export" if not exported.any() else
                                      f"exports {int(exported.sum())} of {len(ran)} samples{where}")
        order = list(exports)
        first = next((t for i, t in enumerate(order) if exports[t].startswith("exports")
                      and all(not exports[o].startswith("exports") for o in order[:i])), None)
        last_not = next((t for t in reversed(order) if exports[t] == "does not export"), None)
        runtimes = {}
        for runtime, by_runtime in part[part["status"] != "skipped"].groupby("onnxruntime"):
            counts = by_runtime["status"].value_counts()
            runtimes[runtime] = ", ".join(f"{status} {count}" for status, count in counts.items())
        answers.append({"operator": operator, "exporter": exporter, "torch": exports, "first_exports": first,
                        "last_does_not": last_not, "runtimes": runtimes,
                        "failures": _failures(part)})
    return answers


def node_answer(rows: pd.DataFrame, op_type: str) -> Dict[str, Any]:
    """An ONNX operator's node tests: per (opset, onnxruntime) the count of each status."""
    return node_answers(rows, [op_type])[0]


def node_answers(rows: pd.DataFrame, op_types: Optional[List[str]] = None) -> List[Dict[str, Any]]:
    """Per ONNX operator (those given, or every one the node tests use): its node tests' statuses."""
    nodes = rows[rows["suite"] == "onnx-node"].copy()
    nodes["op_type"] = nodes["op_types"].fillna("").str.split(",")
    nodes = nodes.explode("op_type")
    wanted = op_types if op_types is not None else sorted(t for t in nodes["op_type"].unique() if t)
    by_type = dict(list(nodes.groupby("op_type")))
    return [_node_answer(by_type.get(op_type, nodes.iloc[0:0]), op_type) for op_type in wanted]


def _node_answer(nodes: pd.DataFrame, op_type: str) -> Dict[str, Any]:
    table: Dict[str, Dict[str, str]] = {}
    for (opset, runtime), part in nodes.groupby(["model_opset", "onnxruntime"]):
        counts = part["status"].value_counts()
        table.setdefault(str(int(opset)), {})[runtime] = ", ".join(f"{s} {c}" for s, c in counts.items())
    return {"operator": op_type, "tests": sorted(nodes["case"].unique()), "by_opset": table,
            "onnx": sorted(nodes["onnx"].dropna().unique(), key=parse_version),
            "failures": _failures(nodes)}


def _failures(part: pd.DataFrame) -> List[Dict[str, Any]]:
    failing = part[~part["status"].isin(["pass", "skipped"])]
    return [{"case": r["case"], "torch": r["torch"], "onnx": r["onnx"], "onnxruntime": r["onnxruntime"],
             "made_by": f"onnx {r['onnx']}" if r["suite"] == "onnx-node" else f"torch {r['torch']}",
             "status": r["status"],
             "kind": r.get("error_kind"), "message": r.get("error_message"), "bundle": r.get("model_file"),
             "link": r.get("model_link")}  # the bundle as the report's site links it
            for _, r in failing.head(20).iterrows()]


def counts(rows: pd.DataFrame, run_id: str) -> str:
    """The suites' figures as Markdown: OpInfos and samples per torch, each status per exporter and
    onnxruntime; node tests per onnx and onnxruntime."""
    lines = [f"Run `{run_id}`."]
    aten = rows[rows["suite"] == "aten"]
    if not aten.empty:
        lines += ["", "| torch | exporter | OpInfos | samples | onnxruntime | " + " | ".join(_STATUSES) + " |",
                  "|---|---|---|---|---|" + "---|" * len(_STATUSES)]
        groups = sorted(aten.groupby(["torch", "exporter", "onnxruntime"]), key=lambda item: item[0][1:])
        for (torch_version, exporter, runtime), part in sorted(groups, key=lambda item: _torch_key(item[0][0]),
                                                               reverse=True):
            found = part["status"].value_counts()
            lines.append(f"| {torch_version} | {exporter} | {part['operator'].nunique()} | {part['case'].nunique()} "
                         f"| {runtime} | " + " | ".join(str(int(found.get(s, 0))) for s in _STATUSES) + " |")
    nodes = rows[rows["suite"] == "onnx-node"]
    if not nodes.empty:
        lines += ["", "| onnx | onnxruntime | node tests | " + " | ".join(_STATUSES) + " |",
                  "|---|---|---|" + "---|" * len(_STATUSES)]
        for (onnx_version, runtime), part in sorted(nodes.groupby(["onnx", "onnxruntime"])):
            found = part["status"].value_counts()
            lines.append(f"| {onnx_version} | {runtime} | {part['case'].nunique()} | "
                         + " | ".join(str(int(found.get(s, 0))) for s in _STATUSES) + " |")
    return "\n".join(lines) + "\n"


_STATUSES = ("pass", "mismatch", "reference_error", "export_error", "invalid_model", "load_error", "run_error",
             "crash", "timeout", "skipped")
