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

    # Each job runs one export side and every onnxruntime of its cells with the plan's run id, from
    # the saved locks; its bundles stay on the machine, its results and failing bundles' zips travel.
    (run,) = [s for s in nightly["jobs"]["export"]["steps"] if "python -m matrix run" in s.get("run", "")]
    assert run["env"] == {"EXPORT": "${{ matrix.export }}", "RUN_ID": "${{ needs.plan.outputs.run_id }}"}
    assert '--side "$EXPORT" --run-id "$RUN_ID"' in run["run"] and "--locked locks" in run["run"]
    assert nightly["jobs"]["export"]["strategy"]["matrix"]["include"] == "${{ fromJSON(needs.plan.outputs.exports) }}"
    (upload,) = [s for s in nightly["jobs"]["export"]["steps"] if "upload-artifact" in s.get("uses", "")]
    assert upload["with"]["path"].splitlines() == ["results/${{ needs.plan.outputs.run_id }}/",
                                              "!results/${{ needs.plan.outputs.run_id }}/bundles/"]
    assert "runtime" not in nightly["jobs"] and nightly["jobs"]["report"]["needs"] == ["plan", "export"]


def test_the_report_job_carries_the_history_from_one_night_to_the_next(tmp_path):
    """The report job's own steps, over HTTP from a real server standing in for GitHub Pages: the
    history database and the newest 20 nights' Parquet files come down, the site takes them up
    again, and the report's trend spans every night."""
    import functools
    import http.server
    import threading

    from matrix.bench.report_history import write_history

    published = tmp_path / "published"
    write_history(published / "results", nights=23, cells=2, results_per_cell=4)
    (published / "data").mkdir()
    os.replace(published / "results" / "history.sqlite", published / "data" / "history.sqlite")
    os.replace(published / "results" / "history", published / "data" / "history")
    tonight = sorted(p for p in (published / "results").iterdir() if p.is_dir() and not p.is_symlink())[-1]

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(published)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    nightly = yaml.safe_load((ROOT / ".github" / "workflows" / "nightly.yml").read_text())
    steps = {s.get("name"): s["run"] for s in nightly["jobs"]["report"]["steps"] if "run" in s}
    env = dict(os.environ, PYTHONPATH=str(ROOT), PATH=f"{BIN}:{os.environ['PATH']}",
               PAGES_URL=f"http://127.0.0.1:{server.server_address[1]}")
    try:
        done = subprocess.run(["bash", "-e", "-c", steps["the history so far, from the published site"]],
                              cwd=tmp_path, env=env, capture_output=True, text=True)
    finally:
        server.shutdown()
    assert done.returncode == 0, done.stderr
    nights = sorted(p.stem for p in (published / "data" / "history").glob("*.parquet"))
    assert sorted(p.stem for p in (tmp_path / "results" / "history").glob("*.parquet")) == nights[-20:]

    # tonight's run (the newest night, taken out of the download to stand in for the merge)
    os.replace(tonight, tmp_path / "results" / tonight.name)
    (tmp_path / "results" / "latest").symlink_to(tonight.name)
    recorded = run_module("matrix", "history", "--results", tmp_path / "results", "--add",
                          tmp_path / "results" / tonight.name)
    assert recorded.returncode == 0, recorded.stderr
    done = subprocess.run(["bash", "-e", "-c", steps["render the report"]], cwd=tmp_path, env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert sorted(p.stem for p in (tmp_path / "site" / "data" / "history").glob("*.parquet")) == nights[-20:]
    assert (tmp_path / "site" / "data" / "history.sqlite").stat().st_size > 0
    # the trend spans every night (from the database), though only 20 nights' results came down
    charts = (tmp_path / "site" / "charts.html").read_text()
    assert "2026-01-01" in charts and "2026-01-23" in charts
