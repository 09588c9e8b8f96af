"""Results and run files from elsewhere (other tools, older versions, a hand edit) against the
published JSON Schemas: every reader says what is wrong in one line, exits 2 and overwrites nothing."""

import json

import pytest

from helpers import run_module
from matrix import formats
from matrix.probe.status import STAGES, STATUSES
from report_fixtures import NEW, OLD, result, write_run

RUN_SHAPES = {  # what is done to run.json → what the line must say
    "cells as strings": (lambda m: dict(m, cells=[c["id"] for c in m["cells"]]), "run.json: cells/"),
    "spec as a string": (lambda m: dict(m, spec="default.toml"), "run.json: spec: 'default.toml' is not of type"),
    "no run id": (lambda m: {k: v for k, v in m.items() if k != "run_id"}, "'run_id' is a required property"),
    "finished_at a string": (lambda m: dict(m, finished_at="yesterday"), "finished_at: 'yesterday' is not of type"),
    "a list, not an object": (lambda m: [m], "run.json: the record: [{"),
}
RESULT_SHAPES = {  # what is done to the second result → what the line must say
    "error as a string": (lambda r: dict(r, error="boom"), ".jsonl:2: error: 'boom' is not of type"),
    "no status": (lambda r: {k: v for k, v in r.items() if k != "status"}, ":2: the record: 'status' is a required"),
    "opset as text": (lambda r: dict(r, opset="17"), ":2: opset: '17' is not of type"),
    "an unknown status": (lambda r: dict(r, status="passed"), ":2: status: 'passed' is not one of"),
    "versions as a list": (lambda r: dict(r, versions=["2.15"]), ":2: versions: ['2.15'] is not of type"),
}


def a_run(folder, run_id="night", mutate_run=None, mutate_result=None):
    rows = [result(NEW, "blocks/mlp", "dynamo", "pass"), result(NEW, "blocks/lstm", "dynamo", "export_error"),
            result(OLD, "blocks/mlp", "dynamo", "pass")]
    write_run(folder, run_id, rows, 1.0)
    if mutate_run:
        (folder / "run.json").write_text(json.dumps(mutate_run(json.loads((folder / "run.json").read_text()))))
    if mutate_result:
        path = folder / f"{NEW}.jsonl"
        first, second = [json.loads(line) for line in path.read_text().splitlines()]
        path.write_text(json.dumps(first) + "\n" + json.dumps(mutate_result(second)) + "\n")
    return folder


def one_line(done, expected):
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    assert expected in done.stderr, done.stderr


SHAPES = [("run", *v, k) for k, v in RUN_SHAPES.items()] + [("result", *v, k) for k, v in RESULT_SHAPES.items()]


@pytest.mark.parametrize("file,mutate,expected,name", SHAPES, ids=[s[-1] for s in SHAPES])
def test_every_reader_refuses_a_foreign_shape_in_one_line_and_keeps_what_it_had(tmp_path, file, mutate, expected,
                                                                               name):
    bad = a_run(tmp_path / "bad", **{f"mutate_{file}": mutate})

    site = tmp_path / "site"  # report: the site from before stays as it was
    site.mkdir()
    (site / "index.html").write_text("the previous report")
    one_line(run_module("matrix", "report", "--results", bad, "--out", site), expected)
    assert (site / "index.html").read_text() == "the previous report"

    history = tmp_path / "history"  # history: a database with one good night stays byte for byte
    a_run(history / "good", run_id="good")
    assert run_module("matrix", "history", "--results", history, "--add", history / "good").returncode == 0
    before = (history / "history.sqlite").read_bytes()
    one_line(run_module("matrix", "history", "--results", history, "--add", bad), expected)
    assert (history / "history.sqlite").read_bytes() == before

    other = a_run(tmp_path / "other")  # merge: nothing is created
    cells = json.loads((other / "run.json").read_text())
    (other / "run.json").write_text(json.dumps(dict(cells, cells=[])))
    one_line(run_module("matrix", "merge", other, bad, "--results", tmp_path / "merged"), expected)
    assert not (tmp_path / "merged").exists()


def test_the_published_schemas_are_valid_and_speak_the_vocabulary():
    result_schema = formats.validator("result").schema
    assert set(result_schema["properties"]["status"]["enum"]) == set(STATUSES)
    assert set(result_schema["properties"]["stage"]["enum"]) == {*STAGES, None}
    assert formats.problem("result", result(NEW, "blocks/mlp", "dynamo", "pass")) is None
    assert formats.problem("run", {"schema": 1, "run_id": "r", "cells": []}) is None
