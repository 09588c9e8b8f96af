"""The history of runs, in two parts beside the results:

  <results>/history.sqlite      -- the runs, their cells, each night's pass counts per grid
                                   column (the trend), the package versions each night saw,
                                   bisect findings: small, a few rows per night;
  <results>/history/<run>.parquet -- each night's results as columns (case, cell, exporter, opset,
                                   status, stage, error kind and signature, versions), zstd:
                                   what a comparison between nights reads.

A night of the nightly is ~214,000 results; stored as JSON rows (schema 1) that was ~700 MB a
night in SQLite. A year of nights stays queryable: the trend reads the small table, a
comparison reads two Parquet files; DuckDB or pandas read `history/*.parquet` directly.

Two kinds of regression are told apart:
  cell     -- the same cell (same versions) passed a result last run and fails it now:
              something in the environment, the corpus or the probe moved;
  version  -- a release of a package fails a case that the previous release of that package
              passes in this run, every other version the same: what an upgrade would break.
A failure that was already failing in the same cell last run is known, not a regression.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from packaging.version import InvalidVersion, Version

from matrix import formats, runfolder
from matrix.errors import HistoryError, UserError
from matrix.probe.status import STATUSES

SCHEMA_VERSION = 2
FILE = "history.sqlite"
FAILING = set(STATUSES) - {"pass", "skipped"}
PACKAGES = ("torch", "onnx", "onnxruntime", "onnxscript")
KEY = ["cell", "case_id", "exporter", "opset"]
COLUMNS = ["cell", "case_id", "exporter", "opset", "device", "status", "stage", "error_kind", "error_signature",
           "python", *PACKAGES]

TABLES = """
create table runs (run_id text primary key, started_at real, finished_at real, spec_path text, spec_hash text,
                   git_revision text, recorded_at real, meta text, cells integer, results integer,
                   passed integer, failing integer);
create table cells (run_id text, cell text, python text, torch text, onnx text, onnxruntime text,
                    onnxscript text, device text, status text, primary key (run_id, cell));
create table rates (run_id text, cell text, exporter text, opset text, torch text, passed integer, ran integer);
create index rates_run on rates (run_id);
create table seen (run_id text, package text, version text, primary key (run_id, package, version));
create table bisects (id integer primary key, at real, case_id text, package text, exporter text, opset text,
                      good text, bad text, good_status text, bad_status text, first_changed text,
                      last_unchanged text, environments integer, steps text, fixed text);
"""


def connect(path: Path) -> sqlite3.Connection:
    """Open (creating if new, bringing an older one up to date) a history this version understands."""
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
    elif version == 1:
        _migrate(db)
    return db


def nights(db: sqlite3.Connection) -> Path:
    """The folder of the nights' Parquet files: beside the database, named after it (so `--db`
    elsewhere keeps its nights beside it too)."""
    path = Path(db.execute("pragma database_list").fetchone()[2])
    return path.parent / path.stem


def _opset(value: Any) -> str:
    return "default" if value is None else str(value)


def _frame(folder: Path, meta: Dict[str, Any]) -> pd.DataFrame:
    """A run folder's results as the history's columns (each record is checked as it is read)."""
    rows = []
    for cell in meta.get("cells", []):
        path = folder / f"{cell['id']}.jsonl"
        for r in formats.read_results(path) if path.exists() else ():
            v = r.get("versions") or {}
            error = r.get("error") or {}
            rows.append((r["cell"], r["case"], r["exporter"], _opset(r.get("opset")), r.get("device"), r["status"],
                         r.get("stage"), error.get("kind"), error.get("signature"), v.get("python"),
                         *(v.get(p) for p in PACKAGES)))
    frame = pd.DataFrame.from_records(rows, columns=COLUMNS).astype(object)
    # recorded again, a result replaces itself (the key is unique, as schema 1's primary key made it)
    return frame.drop_duplicates(KEY, keep="last").reset_index(drop=True)


def record(db: sqlite3.Connection, folder: Path) -> int:
    """Add (or replace) one run folder's results; returns how many results were recorded."""
    try:  # every row is read and checked before anything is written
        meta = runfolder.read(folder)
        run_id = runfolder.check_run_id(meta["run_id"], f"{folder / 'run.json'}: run_id")
        frame = _frame(folder, meta)
    except (formats.FormatError, UserError) as exc:
        raise HistoryError(f"{exc}; the history is left unaltered") from None
    store(db, run_id, meta, frame)
    return len(frame)


def store(db: sqlite3.Connection, run_id: str, meta: Dict[str, Any], frame: pd.DataFrame) -> None:
    """One night: its results (the history's COLUMNS) as Parquet, its run and cells and summary rows."""
    _write_night(db, run_id, frame)
    with db:
        spec = meta.get("spec") or {}
        _forget(db, run_id)
        db.execute("insert into runs (run_id, started_at, finished_at, spec_path, spec_hash, git_revision, "
                   "recorded_at, meta) values (?,?,?,?,?,?,?,?)",
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
        _summarise(db, run_id, frame)


def _forget(db: sqlite3.Connection, run_id: str) -> None:
    for table in ("runs", "cells", "rates", "seen"):
        db.execute(f"delete from {table} where run_id = ?", (run_id,))


def _write_night(db: sqlite3.Connection, run_id: str, frame: pd.DataFrame) -> None:
    folder = nights(db)
    folder.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(frame, schema=pa.schema([(c, pa.string()) for c in COLUMNS]), preserve_index=False)
    tmp = folder / f".{run_id}.parquet.tmp"
    pq.write_table(table, tmp, compression="zstd")  # strings dictionary-encoded: a night repeats them
    os.replace(tmp, folder / f"{run_id}.parquet")


def _summarise(db: sqlite3.Connection, run_id: str, frame: pd.DataFrame) -> None:
    """The small rows a year of nights is read from: counts, pass rates per grid column, versions seen."""
    status = frame["status"]
    db.execute("update runs set cells = ?, results = ?, passed = ?, failing = ? where run_id = ?",
               (int(frame["cell"].nunique()), len(frame), int((status == "pass").sum()),
                int(status.isin(FAILING).sum()), run_id))
    rates = (frame.assign(passed=frame["status"] == "pass", ran=frame["status"] != "skipped")
             .groupby(["cell", "exporter", "opset", "torch"], dropna=False)[["passed", "ran"]].sum().reset_index())
    db.executemany("insert into rates values (?,?,?,?,?,?,?)",
                   [(run_id, *row[:4], int(row[4]), int(row[5])) for row in rates.itertuples(index=False)])
    seen = {(p, v) for p in PACKAGES for v in frame[p].dropna().unique()}
    db.executemany("insert into seen values (?,?,?)", [(run_id, p, v) for p, v in sorted(seen)])


def _migrate(db: sqlite3.Connection) -> None:
    """Schema 1 kept each result's JSON in SQLite: each night becomes a Parquet file and its summary
    rows, in one transaction (a migration cut short leaves schema 1 as it was)."""
    db.execute("begin")
    try:
        for column in ("cells", "results", "passed", "failing"):
            db.execute(f"alter table runs add column {column} integer")
        for statement in TABLES.split(";"):
            if "rates" in statement or "seen" in statement:
                db.execute(statement)
        run_ids = [runfolder.check_run_id(r, "history run id") for (r,) in db.execute("select run_id from runs")]
        for run_id in run_ids:  # each names a file now: all checked before one is written
            frame = pd.read_sql(f"select {', '.join(COLUMNS)} from results where run_id = ?", db, params=(run_id,))
            _write_night(db, run_id, frame.astype(object))
            _summarise(db, run_id, frame)
        db.execute("drop table results")
        db.execute(f"pragma user_version = {SCHEMA_VERSION}")
        db.commit()
    except UserError as exc:
        db.rollback()
        raise HistoryError(f"cannot bring history schema 1 up to date: {exc}; left unaltered") from None
    except BaseException:
        db.rollback()
        raise
    db.execute("vacuum")  # give the JSON's space back


def runs(db: sqlite3.Connection) -> pd.DataFrame:
    return pd.read_sql("select run_id, started_at, spec_path, cells, results, passed, failing from runs "
                       "order by started_at", db)


def previous_run_id(db: sqlite3.Connection, run_id: str) -> Optional[str]:
    row = db.execute("select run_id from runs where started_at < (select started_at from runs where run_id = ?) "
                     "order by started_at desc limit 1", (run_id,)).fetchone()
    return row[0] if row else None


def has_night(db: sqlite3.Connection, run_id: str) -> bool:
    return (nights(db) / f"{run_id}.parquet").is_file()


def _night(db: sqlite3.Connection, run_id: str) -> pd.DataFrame:
    path = nights(db) / f"{run_id}.parquet"
    try:
        return pq.read_table(path).to_pandas().astype(object)
    except (OSError, pa.ArrowException) as exc:
        raise HistoryError(f"{path}: the night {run_id} cannot be read ({exc})") from None


def statuses(db: sqlite3.Connection, run_id: str) -> pd.DataFrame:
    """A run's results as the columns a comparison across runs reads (case, cell, exporter, opset,
    status, stage, error kind and signature, versions)."""
    frame = _night(db, run_id).rename(columns={"case_id": "case"}).assign(run_id=run_id)
    frame["opset"] = [None if o == "default" else int(o) for o in frame["opset"]]
    return frame


def pass_rates(db: sqlite3.Connection, run_id: str) -> pd.DataFrame:
    """Per run up to this one (every run the history holds), per grid column: how many results
    ran and how many passed (the report's trends)."""
    return pd.read_sql(
        "select r.run_id, r.started_at, x.cell, x.exporter, x.opset, x.torch, x.passed, x.ran "
        "from rates x join runs r on r.run_id = x.run_id "
        "where r.started_at <= (select started_at from runs where run_id = ?)", db, params=(run_id,))


def _results(db: sqlite3.Connection, run_id: str) -> pd.DataFrame:
    frame = _night(db, run_id)
    return frame[frame["case_id"] != "*"]


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
    seen_before: Dict[str, set] = {p: set() for p in PACKAGES}
    for package, version in db.execute("select distinct package, version from seen where run_id in (select run_id "
                                       "from runs where started_at < (select started_at from runs where run_id = ?))",
                                       (run_id,)):
        seen_before.setdefault(package, set()).add(version)
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
