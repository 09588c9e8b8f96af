"""The benchmark runs end to end on a tiny input (its figures go in the README, not in assertions)."""

import json

from conftest import run_module


def test_bench_isolation_smoke(tmp_path):
    out = tmp_path / "bench.json"
    done = run_module("matrix", "bench", "isolation", "--cases", "operators/tril", "--exporter", "torchscript",
                      "--repeat", "1", "--json", out)
    assert done.returncode == 0, done.stderr
    figures = json.loads(out.read_text())["isolation"]
    assert figures["results_per_run"] == 1 and figures["same_statuses"] is True
    assert figures["machine"]["cores"] >= 1
    assert "extra per result" in done.stdout
