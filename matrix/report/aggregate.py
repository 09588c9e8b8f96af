"""What the pages show, computed with pandas: grid columns and rows, scores, changes
since the previous run, per-case history and the upgrade advisor's data."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import pandas as pd
from packaging.version import InvalidVersion, Version

from matrix.probe.status import STATUSES
from matrix.report.load import CASE_FIELDS, Run

# Worst first: what an upgrade advisor lists first when a case changes.
SEVERITY = {s: i for i, s in enumerate(["crash", "timeout", "env_error", "export_error", "invalid_model",
                                       "load_error", "run_error", "mismatch", "dynamic_error", "reference_error",
                                       "skipped", "pass"])}
FAILING = set(STATUSES) - {"pass", "skipped"}
KEY = ["cell", "case", "exporter", "opset_label"]


def parse_version(text: Any) -> Any:
    try:
        return Version(str(text))
    except InvalidVersion:
        return Version("0")


def prepare(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    for column in ("model_source", "model_weights", "model_loading"):  # tables from before --model
        if column not in frame:
            frame[column] = None
    frame["opset_label"] = frame["opset"].map(lambda o: "default" if o is None or pd.isna(o) else str(int(o)))
    frame["column"] = frame["cell"] + "|" + frame["exporter"] + "|" + frame["opset_label"]
    return frame.reset_index(drop=True)


def columns(frame: pd.DataFrame) -> List[Dict[str, Any]]:
    """Grid columns grouped by torch, then onnxruntime, then onnx, then device (newest first),
    one per exporter × opset, each with its score and counts."""
    cols = frame.drop_duplicates("column")[["column", "cell", "torch", "onnxruntime", "onnx", "device",
                                            "exporter", "opset_label", "python", "onnxscript"]]
    cols = sorted(cols.to_dict("records"), key=lambda c: (
        [-x for x in parse_version(c["torch"]).release], [-x for x in parse_version(c["onnxruntime"]).release],
        [-x for x in parse_version(c["onnx"]).release], c["device"], c["cell"], c["exporter"], c["opset_label"]))
    counts = frame.groupby(["column", "status"]).size().unstack(fill_value=0)
    for n, col in enumerate(cols):
        row = counts.loc[col["column"]] if col["column"] in counts.index else pd.Series(dtype=int)
        counted = {s: int(row.get(s, 0)) for s in STATUSES if int(row.get(s, 0))}
        applicable = sum(v for s, v in counted.items() if s != "skipped")
        col.update(index=n, counts=counted,
                   score=round(100 * counted.get("pass", 0) / applicable) if applicable else None)
    return cols


def groups(cols: List[Dict[str, Any]], keys: List[str]) -> List[Dict[str, Any]]:
    """Header spans: consecutive columns sharing the values of `keys`."""
    spans: List[Dict[str, Any]] = []
    for col in cols:
        label = tuple(col[k] for k in keys)
        if spans and spans[-1]["label"] == label:
            spans[-1]["span"] += 1
        else:
            spans.append({"label": label, "span": 1, "first": col})
    return spans


def rows(frame: pd.DataFrame) -> List[Dict[str, Any]]:
    """Cases grouped by category, the model families (cases from a library) on top, the rest of
    the built-in corpus next and users' own cases after it, each with its description and
    workaround link."""
    cases = frame.drop_duplicates("case")[list(CASE_FIELDS)]
    cases = cases.assign(user=cases["origin"] != "builtin", building_block=cases["library"].isna())
    cases = cases.sort_values(["user", "building_block", "category", "case"])
    cases = cases.drop(columns=["user", "building_block"]).astype(object)
    return cases.where(cases.notna(), None).to_dict("records")


EXPORT_SIDE = ("reference", "export", "check")  # a failure there: the model did not export


def own_models(frame: pd.DataFrame, page_of: Dict[str, int]) -> List[Dict[str, Any]]:
    """The models named with --model: where each comes from, how many of its results pass, where
    it fails, and the export call to copy (the newest torch's passing one, else its first)."""
    found = []
    for case, part in frame[frame["model_source"].notna()].groupby("case"):
        ran = part[part["status"] != "skipped"]
        newest = max(part["torch"].dropna().unique(), key=parse_version, default=None)
        best = part[(part["torch"] == newest) & (part["status"] == "pass")]
        call = (best if not best.empty else part)["export_call"].dropna()
        failing = ran[ran["status"].isin(FAILING)]
        found.append({"case": case, "page": page_of.get(case), "source": part["model_source"].iloc[0],
                      "weights": part["model_weights"].iloc[0], "passed": int((ran["status"] == "pass").sum()),
                      "total": len(ran), "failing": sorted({f"{r.status} with {r.exporter} on torch {r.torch}, "
                                                            f"onnxruntime {r.onnxruntime}"
                                                            for r in failing.itertuples()})[:5],
                      "export_call": part["model_loading"].iloc[0] + call.iloc[0] if not call.empty else None})
    return found


def families(frame: pd.DataFrame) -> List[Dict[str, Any]]:
    """Per library version × torch × exporter (newest torch first): how many of its model cases
    export, and how many pass every stage on the newest onnxruntime that ran them, with the
    sentence the report and docs/families.md show."""
    models = frame[frame["library"].notna() & frame["model_source"].isna() & (frame["status"] != "skipped")]
    summary = []
    for (library, torch, exporter), part in models.groupby(["library", "torch", "exporter"]):
        version = part[library].dropna().iloc[0] if library in part and part[library].notna().any() else "?"
        newest = max(part["onnxruntime"].dropna().unique(), key=parse_version, default=None)
        latest = part[part["onnxruntime"] == newest] if newest else part
        per_case = latest.groupby("case")["status"].agg(lambda s: "pass" if (s == "pass").all() else "fail")
        exported = part[~(part["status"].isin(FAILING) & part["stage"].isin(EXPORT_SIDE))]["case"].nunique()
        total = part["case"].nunique()
        summary.append({"library": library, "version": version, "torch": torch, "exporter": exporter,
                        "exported": exported, "passed": int((per_case == "pass").sum()), "total": total,
                        "onnxruntime": newest,
                        "sentence": f"{library} {version}: {exported}/{total} export with {exporter} on torch {torch}"
                                    f", {int((per_case == 'pass').sum())}/{total} match on onnxruntime {newest}"})
    return sorted(summary, key=lambda s: (s["library"], [-x for x in parse_version(s["torch"]).release], s["exporter"]))


# What a workaround case's status next to its problem case's says, per column.
VERDICTS = {"helps": "the problem fails, the workaround passes",
            "not needed": "both pass",
            "does not help": "both fail",
            "worse": "the problem passes, the workaround fails"}


def _verdict(problem: Optional[str], workaround: Optional[str]) -> Optional[str]:
    if problem not in STATUSES or workaround not in STATUSES or "skipped" in (problem, workaround):
        return None
    return {(True, True): "does not help", (True, False): "helps", (False, False): "not needed",
            (False, True): "worse"}[(problem in FAILING, workaround in FAILING)]


def workarounds(frame: pd.DataFrame, cols: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Each problem/workaround pair side by side in every column, with a verdict per column."""
    status = frame.set_index(["case", "column"])["status"].to_dict()
    found = frame.set_index(["case", "column"])[["fix", "fix_remedy"]].to_dict("index") \
        if "fix" in frame else {}
    pairs = frame.drop_duplicates("case")
    pairs = pairs[pairs["fixes"].notna() & pairs["fixes"].isin(set(frame["case"]))].sort_values("case")
    out = []
    for workaround, problem in zip(pairs["case"], pairs["fixes"]):
        per_column = []
        for c in cols:
            p, w = status.get((problem, c["column"])), status.get((workaround, c["column"]))
            searched = {k: v for k, v in (found.get((problem, c["column"])) or {}).items() if isinstance(v, str)}
            remedy = searched.get("fix_remedy") or ("none" if searched.get("fix") else None)
            verdict = _verdict(p, w)
            per_column.append({"problem": p, "workaround": w, "verdict": verdict, "remedy": remedy,
                               "agree": None if remedy is None or verdict not in ("helps", "does not help")
                               else (remedy != "none") == (verdict == "helps")})
        tally = pd.Series([c["verdict"] for c in per_column if c["verdict"]], dtype=object).value_counts()
        judged = [c for c in per_column if c["agree"] is not None]
        out.append({"problem": problem, "workaround": workaround, "columns": per_column,
                    "tally": {v: int(tally.get(v, 0)) for v in VERDICTS if int(tally.get(v, 0))},
                    "searched": any(c["remedy"] for c in per_column),
                    "agreement": f"the search agrees with the workaround in {sum(c['agree'] for c in judged)} of "
                                 f"{len(judged)} columns where the problem fails" if judged else None})
    return out


def remedies(frame: pd.DataFrame) -> Dict[str, Any]:
    """The remedy search over the run: failing results, how many were searched, fixed (by which
    remedy) or not, how many too-new models the advice's own check fixed; and the blame's verdicts."""
    failing = frame[frame["status"].isin(FAILING - {"env_error", "reference_error", "crash", "timeout"})]
    fixes = failing[failing["fix"].notna()] if "fix" in failing else failing.iloc[0:0]
    checked = fixes["fix_source"].eq("advice") if "fix_source" in fixes else pd.Series(False, index=fixes.index)
    searched = fixes[~checked]  # the advice's own check of a too-new model is not a search
    fixed = searched[searched["fix_remedy"].notna()]
    blamed = frame[frame["blame"].notna()] if "blame" in frame else frame.iloc[0:0]
    return {"failing": len(failing), "searched": len(searched), "fixed": len(fixed), "advice": int(checked.sum()),
            "by_remedy": {k: int(v) for k, v in fixed["fix_remedy"].value_counts().items()},
            "blame": {k: int(v) for k, v in blamed["blame"].value_counts().items()}}


def changes(current: pd.DataFrame, previous: Optional[Run]) -> Dict[str, Any]:
    """New failures, fixes, changed error signatures, and cells new in this run."""
    if previous is None:
        return {"previous": None}
    before = prepare(previous.frame)
    merged = current.merge(before[KEY + ["status", "error_signature"]], on=KEY, how="left", suffixes=("", "_before"))
    was_ok = merged["status_before"] == "pass"
    is_failing = merged["status"].isin(FAILING)
    return {
        "previous": previous.run_id,
        "new_failures": merged[was_ok & is_failing].to_dict("records"),
        "fixes": merged[merged["status_before"].isin(FAILING) & (merged["status"] == "pass")].to_dict("records"),
        "changed_signatures": merged[is_failing & merged["status_before"].isin(FAILING)
                                     & (merged["error_signature"] != merged["error_signature_before"])
                                     ].to_dict("records"),
        "new_cells": sorted(set(current["cell"]) - set(before["cell"])),
    }


def history(runs: List[Run]) -> Dict[str, List[Dict[str, Any]]]:
    """Per case, oldest run first: how many of its results passed, and the worst status."""
    out: Dict[str, List[Dict[str, Any]]] = {}
    for run in reversed(runs):
        for case, part in run.frame.groupby("case"):
            worst = min(part["status"], key=lambda s: SEVERITY.get(s, 0))
            out.setdefault(case, []).append({"run": run.run_id, "passed": int((part["status"] == "pass").sum()),
                                             "total": len(part), "worst": worst})
    return out


COLUMN_KEYS = ("torch", "onnx", "onnxruntime", "device", "exporter", "opset_label", "cell")


def _base36(number: int, width: int) -> str:
    digits = ""
    while number:
        number, digit = divmod(number, 36)
        digits = "0123456789abcdefghijklmnopqrstuvwxyz"[digit] + digits
    return digits.rjust(width, "0")


def advisor_data(frame: pd.DataFrame, cols: List[Dict[str, Any]]) -> Dict[str, Any]:
    """Compact tables the front page's and the advisor's scripts compare, packed for the front
    page's download (a night: 1.1 MB as plain JSON, see below); reports/assets/advisor-data.js
    unpacks them, as `unpack` does here.

    columns: each key a list over the columns. grid: a string per case, `width` base-36 digits
    per column, each number its status and verified fix — status + len(statuses) × fix, fix
    being 1 + an index into fix_texts, 0 for none — and dots where the column did not run it."""
    position = {c["column"]: c["index"] for c in cols}
    cases = sorted(frame["case"].unique())
    case_index = {c: i for i, c in enumerate(cases)}
    statuses = list(STATUSES)
    grid: List[List[Optional[int]]] = [[None] * len(cols) for _ in cases]
    for rec in frame[["case", "column", "status"]].itertuples(index=False):
        grid[case_index[rec.case]][position[rec.column]] = statuses.index(rec.status)
    libraries = frame.drop_duplicates("case").set_index("case")["library"]
    fix_texts: Dict[str, int] = {}
    if "fix_remedy" in frame:
        for rec in frame[frame["fix_remedy"].notna()][["case", "column", "fix"]].itertuples(index=False):
            fix = fix_texts.setdefault(rec.fix, len(fix_texts) + 1)
            grid[case_index[rec.case]][position[rec.column]] += len(statuses) * fix
    width = len(_base36(len(statuses) * (len(fix_texts) + 1), 1))
    return {"cases": cases, "fix_texts": list(fix_texts), "statuses": statuses,
            "severity": [SEVERITY.get(s, 0) for s in statuses],
            "models": [1 if isinstance(libraries.get(c), str) else 0 for c in cases],
            "columns": {k: [c[k] for c in cols] for k in COLUMN_KEYS}, "width": width,
            "grid": ["".join("." * width if n is None else _base36(n, width) for n in row) for row in grid]}


def unpack(advisor: Dict[str, Any]) -> Dict[str, Any]:
    """What advisor-data.js makes of `advisor_data`: columns as records, and per case and column
    the status (an index into statuses, None where not run) and the fix (0, or 1 + an index)."""
    n, width = len(advisor["statuses"]), advisor["width"]
    numbers = [[None if row[i:i + width].startswith(".") else int(row[i:i + width], 36)
                for i in range(0, len(row), width)] for row in advisor["grid"]]
    keys = list(advisor["columns"])
    return dict(advisor, columns=[dict(zip(keys, values)) for values in zip(*advisor["columns"].values())],
                grid=[[None if v is None else v % n for v in row] for row in numbers],
                fixes=[[0 if v is None else v // n for v in row] for row in numbers])
