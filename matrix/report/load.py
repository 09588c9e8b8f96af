"""Read runs from disk into one table (a pandas DataFrame, one row per result)."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pandas as pd

from matrix import formats, history, runfolder
from matrix.errors import HistoryError, ReportError
from matrix.probe import own_models
from matrix.probe.errors import scrub

VERSION_KEYS = ("torch", "onnx", "onnxruntime", "onnxscript", "python", "transformers", "torchvision", "timm")
CASE_FIELDS = ("case", "category", "description", "fixes", "origin", "library", "suite")
SCRUBBED = ("message", "signature", "traceback")  # texts that may name the folders of the machine that ran
SHARED_TEXTS = ("error_traceback", "error_message", "error_signature", "error_hint", "fix_tried", "fix_snippet",
                "fix", "export_call", "environment", "description", "blame_sentence", "reason")


@dataclass
class Run:
    path: Path
    meta: Dict[str, Any]
    frame: pd.DataFrame
    warnings: List[str] = field(default_factory=list)

    @property
    def run_id(self) -> str:
        return self.meta.get("run_id") or self.path.name


def run_dir(path: Path) -> Path:
    """A run folder: the path itself, or the `latest` run of a results root."""
    if not path.exists():
        raise ReportError(f"{path}: no such results directory (run the matrix first: nox -s matrix)")
    return runfolder.resolve(path)


def flatten(result: Dict[str, Any]) -> Dict[str, Any]:
    error = result.get("error") or {}
    metrics = result.get("metrics") or {}
    versions = result.get("versions") or {}
    row = {k: result.get(k) for k in ("run_id", "cell", *CASE_FIELDS, "exporter", "opset", "device", "status",
                                      "stage", "reason", "seconds", "reused_from", "export_call")}
    row.update({f"error_{k}": error.get(k) for k in ("type", "kind", "hint", *SCRUBBED)})
    row.update({k: metrics.get(k) for k in ("max_abs_err", "max_rel_err", "atol", "rtol", "required_atol",
                                            "export_s", "eager_ms", "ort_ms", "model_bytes", "nodes",
                                            "model_opset", "ir_version", "provider")})
    row.update({k: versions.get(k) for k in VERSION_KEYS})
    row["origin"] = result.get("origin") or "builtin"  # results from before the field was added
    row["suite"] = result.get("suite") or "cases"  # likewise
    row["model_source"] = own_models.describe(result.get("source")) or None  # a model named with --model
    row["model_weights"] = (result.get("source") or {}).get("weights")
    row["model_loading"] = own_models.loading(result.get("source")) or None
    row["op_types"] = ",".join(metrics.get("op_types") or []) or None  # a node test's ONNX operators
    artifacts = result.get("artifacts") or {}
    row["model_file"] = artifacts.get("bundle") or artifacts.get("model")  # a bundle (.zip), or a bare .onnx
    row["environment"] = json.dumps(result.get("environment") or {}, sort_keys=True)
    row.update(remedy_fields(result))
    return row


def remedy_fields(result: Dict[str, Any]) -> Dict[str, Any]:
    """The remedy search's and the blame's outcome as columns: fix (its sentence), fix_remedy
    (the remedy that passed), fix_snippet (what to copy), fix_tried, fix_source, blame and
    blame_sentence."""
    searched = result.get("remedy") or {}
    fixed = searched.get("fixed_by") or {}
    blame = result.get("blame") or {}
    return {"fix": searched.get("summary"), "fix_remedy": fixed.get("remedy"), "fix_change": fixed.get("change"),
            "fix_snippet": fixed.get("snippet"), "fix_tried": json.dumps(searched.get("tried") or []),
            "fix_source": searched.get("searched"),  # "advice": the advice's own check, not the search
            "blame": blame.get("verdict"), "blame_sentence": blame.get("sentence")}


def load_run(path: Path) -> Run:
    folder = run_dir(path)
    files = sorted(folder.glob("*.jsonl"))
    if not files:
        raise ReportError(f"{folder}: no results (*.jsonl) in it")
    warnings: List[str] = []
    parts: List[pd.DataFrame] = []
    shared: Dict[str, str] = {}
    try:
        meta = formats.read_run(folder) if (folder / "run.json").exists() else {}
        for f in files:  # a table per file: a night's results as one list of dicts would be gigabytes
            parts.append(_part([flatten(r) for r in formats.read_results(f, warn=warnings.append)], shared))
    except formats.FormatError as exc:
        raise ReportError(str(exc)) from None
    parts = [p for p in parts if not p.empty]
    if not parts:
        raise ReportError(f"{folder}: the results files hold no results")
    return Run(folder, meta, _table(pd.concat(parts, ignore_index=True)), warnings)


def _part(rows: List[Dict[str, Any]], shared: Dict[str, str]) -> pd.DataFrame:
    """One file's rows as a table. The long texts that repeat across cells (an export's traceback
    is every runtime's of its side) stay Python strings, one object for each distinct text: as
    Arrow strings each row held its own copy, 380 MB of tracebacks in a night of 214,000."""
    columns = {k: [r.get(k) for r in rows] for k in (rows[0] if rows else ())}
    for k in SHARED_TEXTS:
        if k in columns:
            columns[k] = pd.Series([shared.setdefault(v, v) if isinstance(v, str) else v for v in columns[k]],
                                   dtype=object)
    return pd.DataFrame(columns)


def _table(flat: pd.DataFrame) -> pd.DataFrame:
    frame = _expand_env_errors(flat)
    # Results from elsewhere (older versions, other tools) may still name their machine's folders.
    # Each distinct text is scrubbed once: one export's traceback is every runtime's of its side.
    for column in (f"error_{k}" for k in SCRUBBED if f"error_{k}" in frame):
        texts = frame[column].dropna().unique()
        clean = dict(zip(texts, map(scrub, texts)))  # objects again, not Arrow strings: one copy per text
        frame[column] = pd.Series([clean.get(v) for v in frame[column]], index=frame.index, dtype=object)
    frame["opset"] = frame["opset"].astype("object").where(frame["opset"].notna(), None)
    return frame


def _expand_env_errors(frame: pd.DataFrame) -> pd.DataFrame:
    """An env_error result stands for every case of its cell (case "*") that has no result of
    its own (a cell whose environment failed part-way keeps what it finished): give each its row."""
    whole = frame[frame["case"] == "*"]
    if whole.empty:
        return frame
    rest = frame[frame["case"] != "*"]
    cases = rest[list(CASE_FIELDS)].drop_duplicates("case")
    if cases.empty:
        return frame
    expanded = whole.drop(columns=list(CASE_FIELDS)).merge(cases, how="cross")
    key = ["cell", "case", "exporter", "opset"]
    have = set(map(tuple, rest[key].astype(str).values))
    expanded = expanded[[tuple(k) not in have for k in expanded[key].astype(str).values]]
    return pd.concat([rest, expanded[frame.columns]], ignore_index=True)


def previous_runs(folder: Path, limit: int = 20) -> List[Path]:
    """Earlier runs beside this one in the same results root, newest first."""
    root = folder.parent
    runs = [p for p in root.iterdir() if p.is_dir() and p != folder and (p / "run.json").exists()
            and p.name < folder.name]
    return sorted(runs, key=lambda p: p.name, reverse=True)[:limit]


@dataclass
class Context:
    """What the report sets a run against: earlier runs, this run's regressions, bisect findings."""

    earlier: List[Run]
    regressions: List[Dict[str, Any]]
    bisects: List[Dict[str, Any]]
    warnings: List[str]
    rates: Optional[pd.DataFrame] = None  # per run and grid column, from the history (all its runs)


def context(folder: Path, run: Run) -> Context:
    """From the history database when it knows this run; else the run folders beside it."""
    warnings: List[str] = []
    recorded = _from_history(folder.parent, run.run_id, warnings)
    if recorded is not None:
        return Context(*recorded[:3], warnings, rates=recorded[3])
    earlier = []
    for path in previous_runs(folder):
        try:
            earlier.append(load_run(path))
        except ReportError as exc:
            warnings.append(f"skipping {path}: {exc}")
    return Context(earlier, [], [], warnings)


def _from_history(root: Path, run_id: str, warnings: List[str]) -> Optional[Tuple[List[Run], list, list, Any]]:
    path = history.database(root)
    if not path.exists():
        return None
    try:
        with closing(history.connect(path)) as db:
            if run_id not in set(history.runs(db)["run_id"]):
                return None
            earlier, before = [], history.previous_run_id(db, run_id)
            # a published history carries only the recent nights' results (the trend reads its summary rows)
            while before is not None and len(earlier) < 20 and history.has_night(db, before):
                stored = history.statuses(db, before)
                if not stored.empty:
                    meta = json.loads(db.execute("select meta from runs where run_id = ?", (before,)).fetchone()[0])
                    earlier.append(Run(Path(before), meta, _table(stored.assign(
                        **{k: None for k in CASE_FIELDS if k not in stored}))))
                before = history.previous_run_id(db, before)
            return earlier, history.regressions(db, run_id), history.bisects(db), history.pass_rates(db, run_id)
    except (HistoryError, sqlite3.Error) as exc:
        warnings.append(f"history not read: {exc}")
        return None
