"""A real matrix run: uv resolves and builds venvs from the package index, the probe runs in
each. (Needs the package index, as the product does; the first run downloads torch.)"""

import json
import os
import shutil
import subprocess
import sys

import pytest

from helpers import CASES, MATRIX, MATRIX_CELL, ROOT, cell_id, read_results, run_module, shown_results, spec

pytestmark = [pytest.mark.network, pytest.mark.slow]

SPEC = spec(onnxruntime=[MATRIX["onnxruntime"], "1.9.0"],  # 1.9.0 has no wheel for this Python: not resolvable
            exporter="torchscript", run='cases = "staged/pass,staged/parity"')
GOOD = MATRIX_CELL
BAD = cell_id("3.11", MATRIX["torch"], MATRIX["onnx"], "1.9.0", "cpu")


def matrix(tmp_path, *extra, traced=None):
    """The matrix run; with traced, under `strace -f` writing every program it starts there."""
    argv = ["matrix", "run", "--spec", tmp_path / "spec.toml", "--results", tmp_path / "results",
            "--cases-from", tmp_path / "staged.py", "-j", "2", "--runner", "venv", *extra]
    if traced:
        strace = ["strace", "-f", "-qq", "-s", "300", "-e", "trace=execve", "-e", "signal=none", "-o", str(traced)]
        done = subprocess.run([*strace, sys.executable, "-m", *map(str, argv)], cwd=ROOT, capture_output=True,
                              text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=600)
    else:
        done = run_module(*argv)
    assert done.returncode == 0, done.stderr + done.stdout
    latest = tmp_path / "results" / "latest"
    return done, json.loads((latest / "run.json").read_text()), latest


def probes_started(trace):
    """The cell processes a traced run started: every successful exec of the probe, in any side's
    environment (the venv runner starts `python -m matrix.probe …` with an interpreter under the
    cache's envs/; a self-check is one too)."""
    return [line for line in trace.read_text().splitlines() if "execve(" in line and line.rstrip().endswith("= 0")
            and ("matrix.probe" in line or "/envs/" in line)]


def test_unresolvable_cell_is_env_error_the_rest_run_and_unchanged_results_are_reused(tmp_path):
    (tmp_path / "spec.toml").write_text(SPEC)
    shutil.copy(CASES / "staged.py", tmp_path / "staged.py")

    done, run, latest = matrix(tmp_path)
    cells = {c["id"]: c for c in run["cells"]}
    assert cells[BAD]["status"] == "env_error" and "cannot resolve" in cells[BAD]["error"]
    (bad,) = read_results(latest / f"{BAD}.jsonl")
    assert (bad["status"], bad["case"], bad["error"]["type"]) == ("env_error", "*", "EnvError")
    good = {r["case"]: r for r in read_results(latest / f"{GOOD}.jsonl")}
    assert {c: r["status"] for c, r in good.items()} == {"staged/pass": "pass", "staged/parity": "mismatch"}
    # a split run locks each side: the export side (torch) and the runtime side (onnxruntime)
    assert cells[GOOD]["pinned"]["torch"] == "2.15.0" and cells[GOOD]["pinned"]["onnxruntime"]
    assert (latest / "lock" / f"{cells[GOOD]['export']}.txt").read_text().count("--hash")
    assert "onnxruntime==" in (latest / "lock" / f"{cells[GOOD]['runtime']}.txt").read_text()
    assert "runner: venv" in done.stdout

    # The failing result's bundle is kept with the run, and the report links it.
    site = tmp_path / "site"
    assert run_module("matrix", "report", "--results", tmp_path / "results", "--out", site).returncode == 0
    (kept,) = (site / "models").glob("*.zip")
    assert kept.name.startswith("staged__parity--torchscript")
    assert {r["case"] for r in shown_results(site) if r["model_link"] == f"../models/{kept.name}"} == {"staged/parity"}

    # Nothing changed: every result comes from the previous run, and so does every bundle (linked,
    # not copied) and the failing result's zip; no cell process starts (counted from the kernel's
    # side, by strace: the first run, traced the same way, starts some).
    first = sorted((latest.resolve() / "bundles" / cells[GOOD]["export"]).glob("*/model.onnx"))  # this run's
    assert len(first) == 2  # staged/pass and staged/parity, torchscript
    assert shutil.which("strace"), "strace counts the processes a run starts (.ci/run installs it)"
    trace = tmp_path / "second.trace"
    _, again_run, latest = matrix(tmp_path, traced=trace)
    assert probes_started(trace) == [], probes_started(trace)[:3]
    again = read_results(latest / f"{GOOD}.jsonl")
    assert len(again) == len(good) and all(r["reused_from"] == good[r["case"]]["run_id"] for r in again)
    assert {c["id"]: c.get("reused_from") for c in again_run["cells"]}[GOOD] == run["run_id"]
    linked = sorted((latest / "bundles" / cells[GOOD]["export"]).glob("*/model.onnx"))
    assert [p.stat().st_ino for p in linked] == [p.stat().st_ino for p in first]
    assert [p.name for p in (latest / "models").glob("*.zip")] == [kept.name]
    assert (latest / "frontier" / f"{cells[GOOD]['runtime']}.json").is_file()

    # The case file changed: its cases run again, in processes of their own.
    (tmp_path / "staged.py").write_text((tmp_path / "staged.py").read_text() + "\n# edited\n")
    trace = tmp_path / "edited.trace"
    _, _, latest = matrix(tmp_path, traced=trace)
    assert len(probes_started(trace)) >= 2  # the export side and the runtime side at least
    assert not any(r.get("reused_from") for r in read_results(latest / f"{GOOD}.jsonl"))

    # --fresh reruns everything; --locked installs exactly what an earlier run's locks say.
    first_locks = tmp_path / "locks"
    shutil.copytree(latest / "lock", first_locks)
    _, run, latest = matrix(tmp_path, "--fresh", "--locked", first_locks)
    assert not any(r.get("reused_from") for r in read_results(latest / f"{GOOD}.jsonl"))
    cells = {c["id"]: c for c in run["cells"]}
    for side in (cells[GOOD]["export"], cells[GOOD]["runtime"]):
        assert (latest / "lock" / f"{side}.txt").read_text() == (first_locks / f"{side}.txt").read_text()


def test_users_case_file_and_its_package_run_in_a_matrix_cell_and_get_their_own_report_section(tmp_path):
    """The README's example: a case file importing the user's own package beside it."""
    (tmp_path / "spec.toml").write_text(SPEC.replace('"1.32.0", "1.9.0"', '"1.32.0"').replace(
        'cases = "staged/pass,staged/parity"', 'cases = "mine/*,layers/custom_norm"'))
    shutil.copytree(CASES / "user", tmp_path / "mine", ignore=shutil.ignore_patterns("__pycache__"))
    done = run_module("matrix", "run", "--spec", tmp_path / "spec.toml", "--results", tmp_path / "results",
                      "--cases-from", tmp_path / "mine" / "my_cases.py", "--runner", "venv")
    assert done.returncode == 0, done.stderr + done.stdout
    found = {r["case"]: r for r in read_results(tmp_path / "results" / "latest" / f"{GOOD}.jsonl")}
    assert {c: (r["status"], r["origin"]) for c, r in found.items()} == {
        "mine/encoder": ("pass", "user"), "mine/head": ("pass", "user"), "layers/custom_norm": ("pass", "builtin")}
    site = tmp_path / "site"
    assert run_module("matrix", "report", "--results", tmp_path / "results", "--out", site).returncode == 0
    index = (site / "index.html").read_text()
    # Built-in categories first, then the users' section holding only their cases.
    section = index.index('id="user-cases"')
    assert index.index("layers/custom_norm") < section < index.index("mine/encoder")
