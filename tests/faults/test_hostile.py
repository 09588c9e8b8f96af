"""Hostile text in results: HTML, script, quotes, control characters, invalid UTF-8 and path
separators in cell ids, case ids, versions, messages and model names. Nothing executes in the
report (headless Chromium) and nothing is written outside the results and report folders."""

import json

import pandas as pd

from helpers import MATRIX_CELL, open_page, run_module, shown_results
from report_fixtures import result

SCRIPT = "<script>window.PWNED=1</script>"
CELL = MATRIX_CELL


def hostile_run(folder):
    folder.mkdir(parents=True)
    rows = [
        dict(result(CELL, "../../x/../../escaped-case", "dynamo", "export_error",
               description=f'"><img src=x onerror="window.PWNED=2"> {SCRIPT}\x1b[31m\x07',
               error={"type": SCRIPT, "message": f"../../etc/passwd \x00 {SCRIPT}", "signature": SCRIPT,
                      "kind": "other", "detail": {}, "hint": SCRIPT, "traceback": "\x1b[2J" + SCRIPT},
                    artifacts={"model": "../../../../escaped-model.onnx"}), cell="../../../escaped-cell"),
        result(CELL, "cat/fine", "torchscript", "pass",
               versions={"python": "3.11", "torch": f"2.15.0{SCRIPT}", "onnx": "1.23.2'\"",
                         "onnxruntime": "../1.32.0", "onnxscript": "0.7.2", "numpy": "2"}),
    ]
    lines = [json.dumps(dict(r, run_id="hostile")).encode() for r in rows]
    lines.append(json.dumps(result(CELL, "cat/bytes", "dynamo", "pass", run_id="hostile",
                                   description="PLACEHOLDER")).encode().replace(b"PLACEHOLDER", b"\xff\xfe\xc3("))
    (folder / f"{CELL}.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    (folder / "run.json").write_text(json.dumps({"schema": 1, "run_id": "hostile", "started_at": 1.0,
                                                 "spec": {"path": "default", "text": ""},
                                                 "cells": [{"id": CELL}, {"id": "../../../escaped-cell"}]}))
    (folder / "models").mkdir()
    (folder / "models" / "escaped-model.onnx").write_bytes(b"not really a model")


def tree(root):
    return {p for p in root.rglob("*")}


def test_report_of_hostile_results_runs_nothing_and_writes_only_its_folder(tmp_path, browser, fault):  # noqa: F811
    entries = [fault.inject("hostile_report", expected=3), fault.inject("path_traversal", expected=3)]
    results = tmp_path / "deep" / "er" / "results"  # deep enough that every ../ above still lands in tmp_path
    hostile_run(results / "hostile")
    before = tree(tmp_path)
    site = tmp_path / "deep" / "er" / "site"
    done = run_module("matrix", "report", "--results", results / "hostile", "--out", site)
    assert done.returncode == 0, done.stderr
    assert {p for p in tree(tmp_path) - before if site not in p.parents and p != site} == set()
    for page in [site / "index.html", *sorted((site / "cases").glob("*.html")), *sorted((site / "cells").glob("*"))]:
        assert open_page(browser, page) == []
        browser.execute_script("document.querySelectorAll('td,th,a').forEach(e => e.dispatchEvent("
                               "new MouseEvent('mouseover', {bubbles: true})))")
        assert browser.execute_script("return window.PWNED === undefined"), page
    assert not browser.find_elements("css selector", "img[src='x']")
    open_page(browser, site / "index.html")
    assert "../../x/../../escaped-case" in browser.find_element("tag name", "body").text  # shown, as text
    rows = pd.read_parquet(site / "data" / "results.parquet")
    # every result, the one with invalid UTF-8 included, in the download and on the case pages
    assert len(rows) == 3 and len(shown_results(site)) == 3
    for entry in entries:
        fault.kept(entry, len(rows))


def test_merge_refuses_cell_ids_that_leave_the_folder(tmp_path, fault):
    fault.inject("path_traversal")
    hostile_run(tmp_path / "machine" / "hostile")
    before = tree(tmp_path)
    done = run_module("matrix", "merge", tmp_path / "machine" / "hostile", "--results", tmp_path / "merged")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "cell id '../../../escaped-cell' is not a cell id" in done.stderr
    assert tree(tmp_path) == before  # nothing written at all


def test_history_stores_hostile_text_as_data(tmp_path, fault):
    entry = fault.inject("hostile_report", expected=3)
    hostile_run(tmp_path / "results" / "hostile")
    done = run_module("matrix", "history", "--results", tmp_path / "results", "--add", tmp_path / "results" / "hostile")
    assert done.returncode == 0, done.stderr
    listed = run_module("matrix", "history", "--results", tmp_path / "results")
    assert listed.returncode == 0 and "hostile" in listed.stdout
    import pandas as pd

    cases = sorted(pd.read_parquet(tmp_path / "results" / "history" / "hostile.parquet")["case_id"])
    assert cases == ["../../x/../../escaped-case", "cat/bytes", "cat/fine"]
    fault.kept(entry, len(cases))
