"""The version tables, from what each environment of a run measured (frontier/*.json, written by
matrix/probe/frontier.py): which IR and opset each onnxruntime loads, which opsets each torch
exporter writes, what each onnx knows, and the answer joined from them: "torch X's exporter
writes opset A / IR B by default → loads on onnxruntime ≥ Z; for onnxruntime W export with
opset_version ≤ K".
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional

from packaging.version import Version

from matrix.errors import UserError
from matrix.probe.frontier import FORMAT, best_opset, opset_range

FRONTIER = "frontier"  # a run folder's frontier/<side or cell id>.json
START = "<!-- versions:start (written by `python -m matrix versions RUN --write docs/versions.md`) -->"
END = "<!-- versions:end -->"


def _release(version: str) -> str:
    return Version(version).base_version  # 2.15.0+cu132 and 2.15.0+cpu are one torch release


def collect(files: Iterable[Path]) -> Dict[str, Any]:
    """The tables, from frontier files of one or more runs; a file that is not one is one line."""
    runtimes: Dict[str, Any] = {}
    onnx: Dict[str, Any] = {}
    exporters: Dict[tuple, Dict[str, Any]] = {}
    for path in files:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UserError(f"{path}: not a frontier measurement ({exc})") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise UserError(f"{path}: not a frontier measurement of format {FORMAT}")
        runtime = data.get("runtime")
        if isinstance(runtime, dict) and runtime.get("ir") is not None:
            runtimes[runtime["onnxruntime"]] = {k: runtime.get(k) for k in
                                                ("ir", "opset", "opset_unreleased", "refusal", "tried")}
        if isinstance(data.get("onnx"), dict):
            onnx[data["onnx"]["version"]] = {"ir": data["onnx"]["ir"], "opset": data["onnx"]["opset"]}
        torch = (data.get("versions") or {}).get("torch")
        for name, row in (data.get("exporters") or {}).items():
            if torch and isinstance(row, dict) and row.get("writes"):
                key = (_release(torch), name, json.dumps(row["writes"], sort_keys=True), json.dumps(row["default"]))
                entry = exporters.setdefault(key, {"torch": _release(torch), "exporter": name, "onnx": [],
                                                   "default": row["default"], "writes": row["writes"]})
                if data["onnx"]["version"] not in entry["onnx"]:
                    entry["onnx"].append(data["onnx"]["version"])
    by_version = {"key": lambda v: Version(v)}
    return {
        "runtimes": {v: runtimes[v] for v in sorted(runtimes, **by_version)},
        "onnx": {v: onnx[v] for v in sorted(onnx, **by_version)},
        "exporters": sorted((dict(e, onnx=sorted(e["onnx"], **by_version)) for e in exporters.values()),
                            key=lambda e: (Version(e["torch"]), e["exporter"], e["onnx"])),
    }


def run_files(folder: Path) -> List[Path]:
    found = sorted((folder / FRONTIER).glob("*.json"))
    if not found:
        raise UserError(f"{folder}: no version frontier measured (no {FRONTIER}/*.json; runs before this "
                        "probe version have none: run the matrix again)")
    return found


def loads(row: Dict[str, Any], opset: int, ir: int) -> bool:
    return row["opset"] is not None and opset <= row["opset"] and ir <= row["ir"]


def joined(tables: Dict[str, Any]) -> List[Dict[str, Any]]:
    """Per exporter row: which measured runtimes load its default output, and for each that does
    not, the opset to export with (None: no opset it writes loads there)."""
    answers: Dict[str, Dict[str, Any]] = {}
    for row in tables["exporters"]:
        default = row["default"]
        on = [v for v, rt in tables["runtimes"].items() if loads(rt, default["opset"], default["ir"])]
        advice = {v: best_opset(row, rt) for v, rt in tables["runtimes"].items() if v not in on}
        answer = {"torch": row["torch"], "exporter": row["exporter"], "onnx": [], "default": default,
                  "loads_from": min(on, key=Version) if on else None, "loads_on": on, "advice": advice}
        # rows that differ only beyond every runtime's reach (the highest opset, by onnx) answer alike
        same = answers.setdefault(json.dumps({k: v for k, v in answer.items() if k != "onnx"}), answer)
        same["onnx"] = sorted({*same["onnx"], *row["onnx"]}, key=Version)
    return list(answers.values())


def sentence(answer: Dict[str, Any]) -> str:
    """The joined answer in words."""
    d = answer["default"]
    text = f"torch {answer['torch']}'s {answer['exporter']} exporter writes opset {d['opset']} / IR {d['ir']}"
    text += " by default"
    text += f" → loads on onnxruntime ≥ {answer['loads_from']}" if answer["loads_from"] else \
        " → loads on none of the measured onnxruntime releases"
    runs: List[List[Any]] = []  # neighbouring runtimes with the same advice, said once
    for version, opset in answer["advice"].items():
        if runs and runs[-1][1] == opset:
            runs[-1][0].append(version)
        else:
            runs.append([[version], opset])
    fixes = [f"for onnxruntime {_span(vs)} export with opset_version ≤ {k}" if k
             else f"onnxruntime {_span(vs)}: no opset it writes loads" for vs, k in runs]
    return text + ("; " + "; ".join(fixes) if fixes else "")


def _span(versions: List[str]) -> str:
    return versions[0] if len(versions) == 1 else f"{versions[0]}–{versions[-1]}"


def _cells(values: Iterable[Any]) -> str:
    return "| " + " | ".join(str(v).replace("|", "\\|") for v in values) + " |"


def markdown(tables: Dict[str, Any]) -> str:
    """The three tables and the joined answers, as the docs show them."""
    lines = ["**onnxruntime** (measured: one-node models stamped with each IR and opset, loaded with default "
             "session options)", "", _cells(("onnxruntime", "newest IR", "newest ai.onnx opset",
                                             "with allow_released_opsets_only=0", "refuses the next opset with")),
             "|---|---|---|---|---|"]
    for version, row in tables["runtimes"].items():
        beyond = row["tried"]["opset"][1] == row["opset"]
        lines.append(_cells((version, row["ir"], f"≥ {row['opset']}" if beyond else row["opset"],
                             row["opset_unreleased"] if row["opset_unreleased"] != row["opset"] else "same",
                             (row["refusal"] or {}).get("opset") or (row["refusal"] or {}).get("ir") or "—")))
    lines += ["", "**torch exporters** (measured: a Linear+ReLU exported at each opset; an opset counts when the "
              "file says that opset)", "", _cells(("torch", "exporter", "default opset / IR", "writes opsets",
                                                    "IR written", "measured with onnx")), "|---|---|---|---|---|---|"]
    for row in tables["exporters"]:
        irs = sorted(set(row["writes"].values()))
        lines.append(_cells((row["torch"], row["exporter"], f"{row['default']['opset']} / {row['default']['ir']}",
                             opset_range(row), f"{irs[0]}–{irs[-1]}" if len(irs) > 1 else irs[0],
                             ", ".join(row["onnx"]))))
    lines += ["", "**onnx** (measured: `onnx.IR_VERSION`, `onnx.defs.onnx_opset_version()`)", "",
              _cells(("onnx", "IR", "newest ai.onnx opset")), "|---|---|---|"]
    lines += [_cells((version, row["ir"], row["opset"])) for version, row in tables["onnx"].items()]
    lines += ["", "**Joined**", ""] + [f"- {sentence(a)}" for a in joined(tables)]
    return "\n".join(lines) + "\n"


def newest_torch(tables: Dict[str, Any]) -> Optional[str]:
    return max((e["torch"] for e in tables["exporters"]), key=Version, default=None)
