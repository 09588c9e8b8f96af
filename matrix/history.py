"""The history of runs: an SQLite file beside the results (`<results>/history.sqlite`),
holding runs, cells, results and bisect findings; readable with pandas
(`pd.read_sql("select * from results", sqlite3.connect(path))`).

Two kinds of regression are told apart:
  cell     -- the same cell (same versions) passed a result last run and fails it now:
              something in the environment, the corpus or the probe moved;
  version  -- a release of a package fails a case that the previous release of that package
              passes in this run, every other version the same: what an upgrade would break.
A failure that was already failing in the same cell last run is known, not a regression.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pandas as pd
from packaging.version import InvalidVersion, Version

from matrix import formats, runfolder
from matrix.errors import HistoryError
from matrix.probe.status import STATUSES

SCHEMA_VERSION = 1
FILE = "history.sqlite"
FAILING = set(STATUSES) - {"pass", "skipped"}
PACKAGES = ("torch", "onnx", "onnxruntime", "onnxscript")
KEY = ["cell", "case_id", "exporter", "opset"]

TABLES = """
create table runs (run_id text primary key, started_at real, finished_at real, spec_path text, spec_hash text,
                   git_revision text, recorded_at real, meta text);
create table cells (run_id text, cell text, python text, torch text, onnx text, onnxruntime text,
                    onnxscript text, device text, status text, primary key (run_id, cell));
create table results (run_id text, cell text, case_id text, exporter text, opset text, status text, stage text,
                      error_kind text, error_signature text, python text, torch text, onnx text, onnxruntime text,
                      onnxscript text, device text, result text,
                      primary key (run_id, cell, case_id, exporter, opset));
create table bisects (id integer primary key, at real, case_id text, package text, exporter text, opset text,
                      good text, bad text, good_status text, bad_status text, first_changed text,
                      last_unchanged text, environments integer, steps text, fixed text);
"""


def connect(path: Path) -> sqlite3.Connection:
    """Open (creating if new) a history database this version understands."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(str(path), timeout=60)
    version = db.execute("pragma user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        db.close()
        raise HistoryError(f"{path}: written by a newer version of this tool (history schema {version}, this "
                           f"version knows {SCHEMA_VERSION}); left unaltered")
    if version == 0:
        if db.execute("select count(*) from sqlite_master").fetchone()[0]:
            db.close()
            raise HistoryError(f"{path}: an SQLite file that is not a history database; left unaltered")
        with db:
            db.executescript(TABLES + f"pragma user_version = {SCHEMA_VERSION};")
    return db


def _opset(value: Any) -> str:
    return "default" if value is None else str(value)


def record(db: sqlite3.Connection, folder: Path) -> int:
    """Add (or replace) one run folder's results; returns how many results were recorded."""
    try:  # every row is read and checked before the database is touched
        meta = runfolder.read(folder)
        run_id = meta["run_id"]
        rows = list(_rows(folder, meta))
    except formats.FormatError as exc:
        raise HistoryError(f"{exc}; the history is left unaltered") from None
    with db:
        for table in ("runs", "cells", "results"):
            db.execute(f"delete from {table} where run_id = ?", (run_id,))
        spec = meta.get("spec") or {}
        db.execute("insert into runs values (?,?,?,?,?,?,?,?)",
                   (run_id, meta.get("started_at"), meta.get("finished_at"), spec.get("path"),
                    runfolder.spec_hash(meta), meta.get("git_revision"), time.time(),
                    json.dumps({k: v for k, v in meta.items() if k not in ("cells", "plan")})))
        for c in meta.get("cells", []):
            cell = c.get("cell") or {}
            pinned = c.get("pinned") or {}
            db.execute("insert into cells values (?,?,?,?,?,?,?,?,?)",
                       (run_id, c["id"], cell.get("python"), cell.get("torch"), cell.get("onnx"),
                        cell.get("onnxruntime"), pinned.get("onnxscript") or cell.get("onnxscript"),
                        cell.get("device"), c.get("status")))
        db.executemany("insert or replace into results values (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
    return len(rows)


def _rows(folder: Path, meta: Dict[str, Any]) -> Iterator[tuple]:
    for cell in meta.get("cells", []):
        path = folder / f"{cell['id']}.jsonl"
        for r in formats.read_results(path) if path.exists() else ():
            v = r.get("versions") or {}
            error = r.get("error") or {}
            yield (meta["run_id"], r["cell"], r["case"], r["exporter"], _opset(r.get("opset")), r["status"],
                   r.get("stage"), error.get("kind"), error.get("signature"), v.get("python"), v.get("torch"),
                   v.get("onnx"), v.get("onnxruntime"), v.get("onnxscript"), r.get("device"), json.dumps(r))


def runs(db: sqlite3.Connection) -> pd.DataFrame:
    return pd.read_sql(
        "select r.run_id, r.started_at, r.spec_path, count(distinct x.cell) as cells, count(x.case_id) as results, "
        "sum(x.status = 'pass') as passed, sum(x.status not in ('pass', 'skipped')) as failing "
        "from runs r left join results x on x.run_id = r.run_id group by r.run_id order by r.started_at", db)


def previous_run_id(db: sqlite3.Connection, run_id: str) -> Optional[str]:
    row = db.execute("select run_id from runs where started_at < (select started_at from runs where run_id = ?) "
                     "order by started_at desc limit 1", (run_id,)).fetchone()
    return row[0] if row else None


def statuses(db: sqlite3.Connection, run_id: str) -> pd.DataFrame:
    """A run's results as the columns a comparison across runs reads (case, cell, exporter, opset,
    status, stage, error kind and signature, versions), without parsing each stored record back:
    a night's records are 3 KB of JSON each, and a report compares with up to 20 nights."""
    frame = pd.read_sql('select run_id, cell, case_id as "case", exporter, opset, device, status, stage, error_kind, '
                        "error_signature, python, torch, onnx, onnxruntime, onnxscript from results where run_id = ?",
                        db, params=(run_id,))
    frame["opset"] = [None if o == "default" else int(o) for o in frame["opset"]]
    return frame


def pass_rates(db: sqlite3.Connection, run_id: str) -> pd.DataFrame:
    """Per run up to this one (every run the history holds), per grid column: how many results
    ran and how many passed (the report's trends)."""
    return pd.read_sql(
        "select r.run_id, r.started_at, x.cell, x.exporter, x.opset, x.torch, sum(x.status = 'pass') as passed, "
        "sum(x.status != 'skipped') as ran from results x join runs r on r.run_id = x.run_id "
        "where r.started_at <= (select started_at from runs where run_id = ?) "
        "group by r.run_id, x.cell, x.exporter, x.opset, x.torch", db, params=(run_id,))


def _results(db: sqlite3.Connection, run_id: str) -> pd.DataFrame:
    return pd.read_sql("select * from results where run_id = ? and case_id != '*'", db, params=(run_id,))


def _version(text: Any) -> Version:
    try:
        return Version(str(text))
    except InvalidVersion:
        return Version("0")


def regressions(db: sqlite3.Connection, run_id: str) -> List[Dict[str, Any]]:
    """Both kinds of regression in `run_id`, each with the evidence."""
    now = _results(db, run_id)
    found: List[Dict[str, Any]] = []
    before_id = previous_run_id(db, run_id)
    if before_id is not None:
        before = _results(db, before_id)[KEY + ["status"]]
        joined = now.merge(before, on=KEY, suffixes=("", "_before"))
        for r in joined[(joined["status_before"] == "pass") & joined["status"].isin(FAILING)].to_dict("records"):
            found.append({"kind": "cell", "case": r["case_id"], "cell": r["cell"], "exporter": r["exporter"],
                          "opset": r["opset"], "status": r["status"], "was": "pass", "since": before_id,
                          "signature": r["error_signature"]})
    seen_before = {p: set(v for (v,) in db.execute(
        f"select distinct {p} from results where run_id in (select run_id from runs where started_at < "
        "(select started_at from runs where run_id = ?))", (run_id,))) for p in PACKAGES}
    for package in PACKAGES:
        # onnxscript follows torch ("auto"), so a torch comparison lets it differ.
        held = [p for p in PACKAGES if p != package and not (package == "torch" and p == "onnxscript")]
        group = ["python", "device", *held, "case_id", "exporter", "opset"]
        # each result beside the next older release's in its group (one sort, no loop per group)
        rank = {v: n for n, v in enumerate(sorted(now[package].dropna().unique(), key=_version))}
        ordered = now.assign(_rank=now[package].map(rank)).sort_values(group + ["_rank"], kind="stable")
        grouped = ordered.groupby(group, dropna=False)
        older = grouped[[package, "status"]].shift(1)
        several = grouped[package].transform("nunique") >= 2
        hits = ordered[several & (older["status"] == "pass") & ordered["status"].isin(FAILING)]
        for r, was in zip(hits.to_dict("records"), older.loc[hits.index, package]):
            found.append({"kind": "version", "case": r["case_id"], "cell": r["cell"], "exporter": r["exporter"],
                          "opset": r["opset"], "package": package, "from": was, "to": r[package],
                          "status": r["status"], "was": "pass", "new_release": r[package] not in seen_before[package],
                          "signature": r["error_signature"]})
    return found


def record_bisect(db: sqlite3.Connection, finding: Dict[str, Any]) -> None:
    with db:
        db.execute("insert into bisects (at, case_id, package, exporter, opset, good, bad, good_status, bad_status, "
                   "first_changed, last_unchanged, environments, steps, fixed) values (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                   (time.time(), finding["case"], finding["package"], finding["exporter"], _opset(finding["opset"]),
                    finding["good"], finding["bad"], finding["good_status"], finding["bad_status"],
                    finding.get("first_changed"), finding.get("last_unchanged"), finding["environments"],
                    json.dumps(finding["steps"]), json.dumps(finding["fixed"])))


def bisects(db: sqlite3.Connection) -> List[Dict[str, Any]]:
    found = pd.read_sql("select * from bisects order by at", db).to_dict("records")
    for b in found:
        b["steps"], fixed = json.loads(b["steps"]), json.loads(b["fixed"])
        b["fixed"] = ", ".join(f"{k} {v or 'auto'}" for k, v in fixed.items())
    return found


def database(results_root: Path) -> Path:
    return results_root / FILE


def describe(r: Dict[str, Any]) -> str:
    """One regression in one line."""
    where = f"{r['case']} ({r['exporter']}, opset {r['opset']})"
    if r["kind"] == "cell":
        return f"cell regression: {where} in {r['cell']}: pass in {r['since']}, now {r['status']}"
    new = " (new release)" if r["new_release"] else ""
    return (f"version regression: {where}: {r['package']} {r['from']} passes, {r['package']} {r['to']}{new} "
            f"{r['status']}")
