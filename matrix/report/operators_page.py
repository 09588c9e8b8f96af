"""The Operators page's data: per aten operator (torch's operator database) and exporter, what each
torch release of the run does with it and how each onnxruntime runs the export; per ONNX operator
(ONNX's node tests), its statuses per opset × onnxruntime. Each failing result links its case page
(its repro) and its bundle where the run kept one."""

from __future__ import annotations

from typing import Any, Dict, Optional

import pandas as pd

from matrix import operators


def page(frame: pd.DataFrame, page_of: Dict[str, str]) -> Optional[Dict[str, Any]]:
    """Everything the page shows, or None when the run has no operator suite's results."""
    rows = operators.operator_rows(frame)
    if rows.empty:
        return None
    aten = operators.aten_answers(rows[rows["suite"] == "aten"])
    by_name: Dict[str, list] = {}
    for answer in aten:
        by_name.setdefault(answer["operator"], []).append(answer)
    nodes = [n for n in operators.node_answers(rows) if n["tests"]]
    for answer in [*aten, *nodes]:
        for failure in answer["failures"]:
            failure["page"] = page_of.get(failure["case"])
    runtimes = sorted(rows["onnxruntime"].dropna().unique(), key=operators.parse_version)
    return {"aten": [{"name": name, "answers": answers} for name, answers in sorted(by_name.items())],
            "onnx": nodes, "runtimes": runtimes,
            "torches": sorted(rows.loc[rows["suite"] == "aten", "torch"].dropna().unique(),
                              key=operators.parse_version)}
