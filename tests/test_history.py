"""The run history (real SQLite): two synthetic nights, the two kinds of regression, known
failures, and a database from a newer version left alone."""

import sqlite3

import pandas as pd

from helpers import run_module
from report_fixtures import result, write_run

OLD_ORT = "torch2.15.0-onnx1.23.2-ort1.31.0-py3.11-cpu"
NEW_ORT = "torch2.15.0-onnx1.23.2-ort1.32.0-py3.11-cpu"


def night(folder, run_id, started, rows):
    write_run(folder / run_id, run_id, rows, started)
    done = run_module("matrix", "history", "--results", folder, "--add", folder / run_id)
    assert done.returncode == 0, done.stderr


def test_cell_and_version_regressions_are_told_apart_and_known_failures_are_not_regressions(tmp_path):
    # Night 1: onnxruntime 1.31.0 only. layers/a passes; layers/known already fails.
    night(tmp_path, "night-1", 1000.0, [
        result(OLD_ORT, "layers/a", "dynamo", "pass"),
        result(OLD_ORT, "layers/b", "dynamo", "pass"),
        result(OLD_ORT, "layers/known", "dynamo", "export_error"),
    ])
    # Night 2: onnxruntime 1.32.0 is released and enters the matrix. In the old cell layers/a
    # now fails (cell regression); layers/b fails only on the new release (version regression);
    # layers/known still fails everywhere (known, not a regression).
    night(tmp_path, "night-2", 2000.0, [
        result(OLD_ORT, "layers/a", "dynamo", "mismatch"),
        result(OLD_ORT, "layers/b", "dynamo", "pass"),
        result(OLD_ORT, "layers/known", "dynamo", "export_error"),
        result(NEW_ORT, "layers/a", "dynamo", "mismatch"),
        result(NEW_ORT, "layers/b", "dynamo", "load_error"),
        result(NEW_ORT, "layers/known", "dynamo", "export_error"),
    ])
    listed = run_module("matrix", "history", "--results", tmp_path)
    assert listed.returncode == 0 and listed.stdout.index("night-1") < listed.stdout.index("night-2")

    done = run_module("matrix", "history", "--results", tmp_path, "--regressions", "--fail-on-regression")
    lines = done.stdout.splitlines()
    assert done.returncode == 1, done.stdout + done.stderr
    assert [line for line in lines if line.startswith("cell regression")] == [
        f"cell regression: layers/a (dynamo, opset default) in {OLD_ORT}: pass in night-1, now mismatch"]
    assert [line for line in lines if line.startswith("version regression")] == [
        "version regression: layers/b (dynamo, opset default): onnxruntime 1.31.0 passes, "
        "onnxruntime 1.32.0 (new release) load_error"]
    assert not any("layers/known" in line for line in lines)
    assert lines[-1] == "night-2: 1 cell regressions, 1 version regressions (1 on new releases)"

    # The data is plain SQLite and Parquet: any tool reads it.
    db = sqlite3.connect(tmp_path / "history.sqlite")
    assert db.execute("select results, passed, failing from runs where run_id = 'night-2'").fetchone() == (6, 1, 5)
    assert db.execute("pragma user_version").fetchone() == (2,)
    night2 = pd.read_parquet(tmp_path / "history" / "night-2.parquet")
    assert sorted(night2["status"]) == sorted(["mismatch", "pass", "export_error", "mismatch", "load_error",
                                               "export_error"])

    # Recording the same night again replaces it; nothing doubles.
    run_module("matrix", "history", "--results", tmp_path, "--add", tmp_path / "night-2")
    assert db.execute("select sum(results), sum(ran) from runs join (select run_id, sum(ran) as ran from rates "
                      "group by run_id) using (run_id)").fetchone() == (9, 9)
    assert len(pd.read_parquet(tmp_path / "history" / "night-2.parquet")) == 6


def test_a_night_without_regressions_passes(tmp_path):
    rows = [result(OLD_ORT, "layers/known", "dynamo", "export_error"), result(OLD_ORT, "layers/a", "dynamo", "pass")]
    night(tmp_path, "night-1", 1000.0, rows)
    night(tmp_path, "night-2", 2000.0, rows)
    done = run_module("matrix", "history", "--results", tmp_path, "--regressions", "--fail-on-regression")
    assert done.returncode == 0 and "0 cell regressions, 0 version regressions" in done.stdout


def test_a_database_from_a_newer_version_is_not_altered(tmp_path):
    path = tmp_path / "history.sqlite"
    db = sqlite3.connect(path)
    db.executescript("create table runs (run_id text); pragma user_version = 7;")
    db.close()
    before = path.read_bytes()
    write_run(tmp_path / "night-1", "night-1", [result(OLD_ORT, "layers/a", "dynamo", "pass")], 1000.0)
    done = run_module("matrix", "history", "--results", tmp_path, "--add", tmp_path / "night-1")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        f"matrix history: error: {path}: written by a newer version of this tool (history schema 7, "
        "this version knows 2); left unaltered"]
    assert path.read_bytes() == before


SCHEMA_1 = """
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
pragma user_version = 1;
"""


def test_a_history_of_schema_1_is_brought_up_to_date_with_its_regressions_unchanged(tmp_path):
    """Schema 1 (before issue 30) kept each result's whole JSON in SQLite; opened by this version,
    each night becomes a Parquet file and summary rows, and the JSON's space is given back."""
    path = tmp_path / "history.sqlite"
    db = sqlite3.connect(path)
    db.executescript(SCHEMA_1)
    nights = {"night-1": (1000.0, [("layers/a", "pass"), ("layers/b", "pass")]),
              "night-2": (2000.0, [("layers/a", "mismatch"), ("layers/b", "pass")])}
    for run_id, (started, rows) in nights.items():
        db.execute("insert into runs values (?,?,?,?,?,?,?,?)", (run_id, started, started + 1, "spec.toml", "h",
                                                                 None, started, "{}"))
        for case, status in rows:
            db.execute("insert into results values (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                       (run_id, OLD_ORT, case, "dynamo", "default", status, "parity", None, None, "3.11", "2.15.0",
                        "1.23.2", "1.31.0", "0.7.2", "cpu", "x" * 100_000))
    db.commit()
    db.close()
    before = path.stat().st_size

    done = run_module("matrix", "history", "--results", tmp_path, "--regressions", "--fail-on-regression")
    assert done.returncode == 1, done.stdout + done.stderr
    assert (f"cell regression: layers/a (dynamo, opset default) in {OLD_ORT}: pass in night-1, now mismatch"
            in done.stdout)
    db = sqlite3.connect(path)
    assert db.execute("pragma user_version").fetchone() == (2,)
    assert db.execute("select count(*) from sqlite_master where name = 'results'").fetchone() == (0,)
    assert db.execute("select run_id, results, passed, failing from runs order by run_id").fetchall() == [
        ("night-1", 2, 2, 0), ("night-2", 2, 1, 1)]
    assert sorted(pd.read_parquet(tmp_path / "history" / "night-2.parquet")["status"]) == ["mismatch", "pass"]
    assert path.stat().st_size < before / 10


def test_a_schema_1_history_that_cannot_be_converted_is_left_as_it_was(tmp_path):
    """A run id that would name a file outside the history (schema 1 never checked them): one line,
    and the database byte for byte as it was, not half converted."""
    path = tmp_path / "history.sqlite"
    db = sqlite3.connect(path)
    db.executescript(SCHEMA_1)
    for run_id in ("night-1", "../../escaped"):
        db.execute("insert into runs values (?,?,?,?,?,?,?,?)", (run_id, 1.0, 2.0, "spec.toml", "h", None, 1.0, "{}"))
        db.execute("insert into results values (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                   (run_id, OLD_ORT, "layers/a", "dynamo", "default", "pass", "parity", None, None, "3.11",
                    "2.15.0", "1.23.2", "1.31.0", "0.7.2", "cpu", "{}"))
    db.commit()
    db.close()
    before = path.read_bytes()
    done = run_module("matrix", "history", "--results", tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        "matrix history: error: cannot bring history schema 1 up to date: history run id '../../escaped': use "
        "letters, digits, '.', '_' and '-' only; left unaltered"]
    assert path.read_bytes() == before and not (tmp_path / "history").exists()
