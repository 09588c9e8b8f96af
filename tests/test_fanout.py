"""Fan-out: in two stages — plan → one `run --export` process per export side, then one `run
--runtime` process per runtime side over the export jobs' bundles — and in one, as the nightly
workflow runs it (`run --side`: an export side and every onnxruntime of its cells on one machine),
each with its own results folder (as on separate CI machines) → merge; the merged run equals one
process running them all. Real uv environments, real probe runs."""

import json
import shutil
import subprocess
import sys

import pandas as pd
import pytest

from helpers import CASES, MATRIX, ROOT, read_results, run_module, spec

pytestmark = [pytest.mark.network, pytest.mark.slow]

SPEC = spec(onnxruntime=[MATRIX["onnxruntime"], "1.31.1", "1.20.1"], exporter="torchscript",
            run='cases = "staged/pass,staged/parity,staged/load"')
# What differs between two honest runs of the same thing: clocks.
VOLATILE = {"seconds", "started_at", "export_s", "eager_ms", "ort_ms", "env_s"}


def _steady(value):
    if isinstance(value, dict):
        return {k: _steady(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_steady(v) for v in value]
    return value


def _run(spec, results, run_id, *extra):
    return [sys.executable, "-m", "matrix", "run", "--spec", str(spec), "--results", str(results),
            "--run-id", run_id, "--runner", "venv", "--cases-from", str(CASES / "staged.py"), *extra]


def test_runs_split_over_processes_and_merged_equal_one_run(tmp_path):
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC)
    planned = run_module("matrix", "plan", "--spec", spec, "--json")
    assert planned.returncode == 0, planned.stderr
    plan = json.loads(planned.stdout)
    cells, run_id = [c["id"] for c in plan["cells"]], plan["run_id"]
    assert len(cells) == 3

    sides = {side["side"]: [s["id"] for s in plan["sides"] if s["side"] == side["side"]] for side in plan["sides"]}
    assert len(sides["export"]) == 1 and len(sides["runtime"]) == 3  # one torch, three onnxruntimes

    def machines(jobs):
        started = [subprocess.Popen(_run(spec, tmp_path / name, run_id, *flags), cwd=ROOT, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True) for name, flags in jobs]
        for machine in started:
            out, _ = machine.communicate(timeout=900)
            assert machine.returncode == 0, out

    machines([("export-0", ["--export", sides["export"][0]])])
    exported = tmp_path / "export-0" / run_id
    assert not [p for p in exported.glob("*.jsonl")] and len(list((exported / "bundles").glob("*/*/bundle.json"))) == 3
    machines([(f"machine-{n}", ["--runtime", side, "--bundles-from", exported])
              for n, side in enumerate(sides["runtime"])])
    assert not (tmp_path / "machine-0" / run_id / "bundles" / sides["export"][0]).exists()  # the export job's
    merged = run_module("matrix", "merge", tmp_path / "export-0", *(tmp_path / f"machine-{n}" for n in range(3)),
                        "--results", tmp_path / "merged")
    assert merged.returncode == 0, merged.stderr

    single = subprocess.run(_run(spec, tmp_path / "single", run_id, "-j", "2"), cwd=ROOT, capture_output=True,
                            text=True, timeout=900)
    assert single.returncode == 0, single.stderr + single.stdout

    one, many = tmp_path / "single" / run_id, tmp_path / "merged" / run_id
    assert (tmp_path / "merged" / "latest").resolve() == many
    for cell in cells:
        assert _steady(read_results(many / f"{cell}.jsonl")) == _steady(read_results(one / f"{cell}.jsonl"))
    locks = sorted(p.name for p in (one / "lock").iterdir())
    assert locks == sorted(f"{side}.txt" for side in sides["export"] + sides["runtime"])
    assert locks == sorted(p.name for p in (many / "lock").iterdir())
    for name in locks:
        assert (many / "lock" / name).read_text() == (one / "lock" / name).read_text()
    statuses = {r["status"] for cell in cells for r in read_results(one / f"{cell}.jsonl")}
    assert {"pass", "mismatch"} <= statuses  # the comparison is over real, differing outcomes
    run_one, run_many = (json.loads((d / "run.json").read_text()) for d in (one, many))
    assert _steady(run_many["cells"]) == _steady(run_one["cells"])
    assert [e["id"] for e in run_many["exports"]] == sides["export"] and "adopted_from" not in run_many["exports"][0]
    assert [c["id"] for c in run_many["plan"]["cells"]] == sorted(cells)

    # In one stage, as the nightly runs it: a machine per export side, its bundles checked on every
    # onnxruntime there; what it hands on is its run folder without bundles/ (the failing results'
    # zips in models/ stay), and the merge of those equals one process too.
    machines([("side-0", ["--side", sides["export"][0]])])
    shutil.rmtree(tmp_path / "side-0" / run_id / "bundles")
    assert list((tmp_path / "side-0" / run_id / "models").glob("*.zip"))  # the mismatch's bundle, for repro
    merged = run_module("matrix", "merge", tmp_path / "side-0", "--results", tmp_path / "sides")
    assert merged.returncode == 0, merged.stderr
    for cell in cells:
        assert _steady(read_results(tmp_path / "sides" / run_id / f"{cell}.jsonl")) == _steady(
            read_results(one / f"{cell}.jsonl"))

    # The same report from either.
    for name in ("single", "merged"):
        assert run_module("matrix", "report", "--results", tmp_path / name, "--out",
                          tmp_path / f"site-{name}").returncode == 0
    rows = [_steady(json.loads(pd.read_parquet(tmp_path / f"site-{n}" / "data" / "results.parquet").to_json(
        orient="records"))) for n in ("single", "merged")]
    assert rows[0] == rows[1] and len(rows[0]) == 9

    # Bad input: another spec's results, or another schema's, are refused in one line.
    other = tmp_path / "other.toml"
    other.write_text(SPEC.replace('"1.20.1"', '"1.30.0"'))
    third = _run(other, tmp_path / "machine-x", run_id, "--cell", cells[0])
    assert subprocess.run(third, cwd=ROOT, capture_output=True, timeout=900).returncode == 0
    refused = run_module("matrix", "merge", tmp_path / "machine-1", tmp_path / "machine-x",
                         "--results", tmp_path / "refused")
    assert refused.returncode == 2 and "results of different specs are not one run" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1 and not (tmp_path / "refused").exists()

    newer = tmp_path / "newer"
    shutil.copytree(tmp_path / "machine-2", newer, symlinks=True)
    meta = json.loads((newer / run_id / "run.json").read_text())
    (newer / run_id / "run.json").write_text(json.dumps(dict(meta, schema=2)))
    refused = run_module("matrix", "merge", tmp_path / "machine-0", newer, "--results", tmp_path / "refused")
    assert refused.returncode == 2 and "results schema 2; this version reads schema 1" in refused.stderr
