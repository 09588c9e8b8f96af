"""The CI workflows: valid against GitHub's workflow schema, clean under zizmor, and the
nightly's job matrix is exactly what `python -m matrix plan` resolves."""

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from helpers import ROOT, run_module

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
BIN = Path(sys.executable).parent


def test_workflows_match_githubs_schema():
    done = subprocess.run([BIN / "check-jsonschema", "--builtin-schema", "vendor.github-workflows", *WORKFLOWS],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_zizmor_finds_nothing_medium_or_high():
    done = subprocess.run([BIN / "zizmor", "--offline", "--min-severity", "medium", "--format", "json",
                           ROOT / ".github" / "workflows"], capture_output=True, text=True)
    assert json.loads(done.stdout) == [], done.stdout
    assert done.returncode == 0


def test_nightly_job_matrix_is_the_plan(tmp_path):
    nightly = yaml.safe_load((ROOT / ".github" / "workflows" / "nightly.yml").read_text())
    (step,) = [s for s in nightly["jobs"]["plan"]["steps"] if s.get("id") == "plan"]
    output = tmp_path / "github_output"
    # The step exactly as the workflow runs it, on the default spec (4 cells, so the locks are quick).
    done = subprocess.run(["bash", "-e", "-c", step["run"]], cwd=tmp_path, capture_output=True, text=True,
                          env=dict(os.environ, SPEC="default", GITHUB_OUTPUT=str(output), PYTHONPATH=str(ROOT)))
    assert done.returncode == 0, done.stderr
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines())
    exports, runtimes = json.loads(outputs["exports"]), json.loads(outputs["runtimes"])

    planned = run_module("matrix", "plan", "--spec", "default", "--json")
    plan = json.loads(planned.stdout)
    assert [j["export"] for j in exports] == sorted({c["export"] for c in plan["cells"]}, key=[
        c["export"] for c in plan["cells"]].index)
    assert [j["runtime"] for j in runtimes] == sorted({c["runtime"] for c in plan["cells"]}, key=[
        c["runtime"] for c in plan["cells"]].index)
    assert len(exports) == 2 and len(runtimes) == 2  # the default spec: 2 torch × 2 onnxruntime = 4 cells
    assert [j["gpu"] for j in exports + runtimes] == [j["device"] == "cuda" for j in exports + runtimes]
    assert sorted(p.stem for p in (tmp_path / "locks").glob("*.txt")) == sorted(
        [j["export"] for j in exports] + [j["runtime"] for j in runtimes])
    assert outputs["run_id"]

    # Each export job runs its side with the plan's run id, from the saved locks; each runtime job
    # its side over every export job's run folder.
    (run,) = [s for s in nightly["jobs"]["export"]["steps"] if "python -m matrix run" in s.get("run", "")]
    assert run["env"] == {"EXPORT": "${{ matrix.export }}", "RUN_ID": "${{ needs.plan.outputs.run_id }}"}
    assert '--export "$EXPORT" --run-id "$RUN_ID"' in run["run"] and "--locked locks" in run["run"]
    assert nightly["jobs"]["export"]["strategy"]["matrix"]["include"] == "${{ fromJSON(needs.plan.outputs.exports) }}"
    (run,) = [s for s in nightly["jobs"]["runtime"]["steps"] if "python -m matrix run" in s.get("run", "")]
    assert '--runtime "$RUNTIME" --run-id "$RUN_ID"' in run["run"] and '--bundles-from "$folder"' in run["run"]
    assert nightly["jobs"]["runtime"]["needs"] == ["plan", "export"]
    assert nightly["jobs"]["runtime"]["strategy"]["matrix"]["include"] == \
        "${{ fromJSON(needs.plan.outputs.runtimes) }}"
