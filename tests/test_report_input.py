"""Bad input to the report: a clear message, never a traceback or a half-written site."""

import json

import pytest

from helpers import run_module, shown_results
from report_fixtures import NEW, result, write_run


def report(results, out):
    return run_module("matrix", "report", "--results", results, "--out", out)


@pytest.fixture
def old_site(tmp_path):
    out = tmp_path / "site"
    out.mkdir()
    (out / "index.html").write_text("the previous report")
    return out


def assert_one_line_and_site_kept(done, expected, site):
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and expected in done.stderr and "Traceback" not in done.stderr
    assert (site / "index.html").read_text() == "the previous report"


def test_missing_results_directory(tmp_path, old_site):
    assert_one_line_and_site_kept(report(tmp_path / "nothing", old_site), "no such results directory", old_site)


def test_empty_results_directory(tmp_path, old_site):
    (tmp_path / "empty").mkdir()
    assert_one_line_and_site_kept(report(tmp_path / "empty", old_site), "no results (*.jsonl)", old_site)


def test_other_schema_version(tmp_path, old_site):
    run = tmp_path / "run"
    write_run(run, "r", [result(NEW, "blocks/mlp", "dynamo", "pass", schema=2)], 1.0)
    assert_one_line_and_site_kept(report(run, old_site), "results schema 2, this version reads schema 1", old_site)


def test_truncated_last_line_is_skipped_with_a_warning(tmp_path, old_site):
    run = tmp_path / "run"
    write_run(run, "r", [result(NEW, "blocks/mlp", "dynamo", "pass"), result(NEW, "blocks/lstm", "dynamo", "pass")],
              1.0)
    path = run / f"{NEW}.jsonl"
    path.write_text(path.read_text() + json.dumps(result(NEW, "dtypes/x", "dynamo", "pass"))[:60])
    done = report(run, old_site)
    assert done.returncode == 0, done.stderr
    assert "skipped a truncated last line" in done.stderr
    index = (old_site / "index.html").read_text()
    assert "blocks/lstm" in index and "dtypes/x" not in index and "the previous report" not in index


def test_invalid_utf8_is_shown_replaced(tmp_path):
    run = tmp_path / "run"
    write_run(run, "r", [result(NEW, "blocks/mlp", "dynamo", "export_error")], 1.0)
    path = run / f"{NEW}.jsonl"
    path.write_bytes(path.read_bytes().replace(b"blocks/mlp failed", b"bad \xff\xfe bytes"))
    done = report(run, tmp_path / "site")
    assert done.returncode == 0, done.stderr
    assert ["bad \ufffd\ufffd bytes" in r["error_message"] for r in shown_results(tmp_path / "site")] == [True]


def test_env_error_covers_only_the_cases_a_cell_did_not_finish(tmp_path):
    from matrix.report.load import load_run
    from report_fixtures import OLD

    broken = result(NEW, "*", "dynamo", "env_error", category="*")
    run = tmp_path / "run"
    rows = [result(NEW, "blocks/mlp", "dynamo", "pass"), broken,
            result(OLD, "blocks/mlp", "dynamo", "pass"), result(OLD, "blocks/lstm", "dynamo", "pass")]
    write_run(run, "r", rows, 1.0)
    frame = load_run(run).frame
    statuses = {(r.cell, r.case): r.status for r in frame.itertuples()}
    assert statuses[(NEW, "blocks/mlp")] == "pass"
    assert statuses[(NEW, "blocks/lstm")] == "env_error"
    assert len(frame) == 4
