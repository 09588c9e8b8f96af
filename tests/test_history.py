"""The run history (real SQLite): two synthetic nights, the two kinds of regression, known
failures, and a database from a newer version left alone."""

import sqlite3

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

    # The data is plain SQLite: any tool reads it.
    db = sqlite3.connect(tmp_path / "history.sqlite")
    assert db.execute("select count(*) from results where run_id = 'night-2'").fetchone() == (6,)
    assert db.execute("pragma user_version").fetchone() == (1,)

    # Recording the same night again replaces it; nothing doubles.
    run_module("matrix", "history", "--results", tmp_path, "--add", tmp_path / "night-2")
    assert db.execute("select count(*) from results").fetchone() == (9,)


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
        "this version knows 1); left unaltered"]
    assert path.read_bytes() == before
