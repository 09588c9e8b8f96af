"""The benchmark runs end to end on a tiny input (its figures go in docs/performance.md, not in assertions)."""

import json

import pytest

from helpers import run_module, spec

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
