"""The benchmark runs end to end on a tiny input (its figures go in docs/performance.md, not in assertions)."""

import json

import pytest

from helpers import ROOT, run_module, spec

pytestmark = [pytest.mark.network, pytest.mark.slow]

SPEC = spec()


def test_bench_smoke(tmp_path):
    (tmp_path / "spec.toml").write_text(SPEC)
    out = tmp_path / "bench.json"
    done = run_module("matrix", "bench", "isolation", "report", "scaling", "--spec", tmp_path / "spec.toml",
                      "--cases", "operators/tril", "--exporter", "torchscript", "--repeat", "1",
                      "--synthetic-cells", "2", "--synthetic-cases", "3", "--scaling-cases", "operators/tril",
                      "--jobs", "1", "--case-counts", "1", "--json", out, timeout=900)
    assert done.returncode == 0, done.stderr
    figures = json.loads(out.read_text())
    assert figures["machine"]["cores"] >= 1 and done.stdout.startswith("machine: ")
    assert figures["isolation"]["results_per_run"] == 1 and figures["isolation"]["same_statuses"] is True
    assert figures["report"]["results"] == 2 * 3 * 2
    assert set(figures["scaling"]["by_jobs"]) == {"1"} and set(figures["scaling"]["by_cases"]) == {"1"}
    table = (tmp_path / "bench.md").read_text()
    assert table.count("\n| ") == 4  # header + isolation, report, scaling


def test_bench_unknown_figure_is_one_line():
    done = run_module("matrix", "bench", "speed")
    assert done.returncode == 2 and done.stderr.startswith("matrix bench: error: unknown figure 'speed'")


def test_performance_table_is_current():
    """docs/performance.md's table is what `bench --write` renders from docs/bench.json."""
    done = run_module("matrix", "bench", "--check", "docs/performance.md")
    assert done.returncode == 0, done.stderr


def test_the_cold_runs_breakdown_shows_every_phase_the_bench_timed():
    """Each phase of the published cold run (docs/bench.json) is a row of its breakdown: the phases'
    walls add up to the run, so a phase left out hides where the time went."""
    from matrix.bench import cold_breakdown

    split = json.loads((ROOT / "docs" / "bench.json").read_text())["matrix"]["split"]
    phases = split["breakdown"]["phases_s"]
    rows = cold_breakdown(split["breakdown"], split["cold"]["run_s"])
    assert {"exports", "advice", "remedies"} <= set(phases)
    for wall in phases.values():
        assert sum(line.startswith("| ") and f"| {wall} s |" in line for line in rows) == 1, (wall, rows)
    assert sum(phases.values()) <= split["cold"]["run_s"]


def test_bench_write_replaces_only_the_table(tmp_path):
    page = tmp_path / "performance.md"
    (tmp_path / "bench.json").write_text(json.dumps({"machine": {"cpu": "x", "cores": 2}, "report": {
        "results": 12, "seconds": 1.5, "index_mib": 0.1, "site_mib": 0.2}}))
    page.write_text("before\n<!-- bench:start (written by `python -m matrix bench --write docs/performance.md` "
                    "from docs/bench.json) -->\nold\n<!-- bench:end -->\nafter\n")
    stale = run_module("matrix", "bench", "--check", page)
    assert stale.returncode == 1 and "is not what" in stale.stderr
    written = run_module("matrix", "bench", "report", "--synthetic-cells", "1", "--synthetic-cases", "2",
                         "--write", page)
    assert written.returncode == 0, written.stderr
    text = page.read_text()
    assert text.startswith("before\n") and text.endswith("<!-- bench:end -->\nafter\n") and "old" not in text
    assert "| report of 4 synthetic results (" in text  # the new figure, from this run
    assert run_module("matrix", "bench", "--check", page).returncode == 0
    (tmp_path / "bench.json").write_text("{not json")
    bad = run_module("matrix", "bench", "--check", page)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "not benchmark figures" in bad.stderr
