"""The run itself killed: the orchestrator, or one cell's probe, with SIGKILL part-way; then the
same command again. And two runs started at once on one results folder. Real uv environments
(torch 2.15.0, the same cell tests/test_matrix_run.py builds), real processes and signals."""

import collections
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from helpers import CASES, MATRIX_CELL, ROOT, read_results, run_module, spec

pytestmark = [pytest.mark.network, pytest.mark.slow]

SPEC = spec(exporter="torchscript", run='cases = "slow/*"')
CELL = MATRIX_CELL
ALL = {f"slow/case_{i}": 1 for i in range(8)}


def command(tmp_path):
    return [sys.executable, "-m", "matrix", "run", "--spec", str(tmp_path / "spec.toml"), "--results",
            str(tmp_path / "results"), "--cases-from", str(CASES / "slow.py"), "--runner", "venv"]


def start(tmp_path):
    (tmp_path / "spec.toml").write_text(SPEC)
    return subprocess.Popen(command(tmp_path), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))


def cell_file(tmp_path):
    found = list((tmp_path / "results").glob(f"*/{CELL}.jsonl"))
    return found[0] if found else None


def wait_for_results(tmp_path, count, timeout=300):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        path = cell_file(tmp_path)
        if path is not None and len(read_results(path)) >= count:
            return path
        time.sleep(0.05)
    raise AssertionError("the run produced no results in time")


def probes(run_id):
    done = subprocess.run(["pgrep", "-f", f"matrix.probe .*--run-id {run_id}"], capture_output=True, text=True)
    return [int(p) for p in done.stdout.split()]


def again(tmp_path):
    done = subprocess.run(command(tmp_path), cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def test_orchestrator_killed_mid_matrix_then_the_same_command_completes_the_run(tmp_path, fault):
    process = start(tmp_path)
    path = wait_for_results(tmp_path, 3)
    process.send_signal(signal.SIGKILL)
    process.wait()
    run_id = path.parent.name
    before = read_results(path)
    entry = fault.inject("kill_orchestrator", expected=len(before))
    assert 3 <= len(before) < 8, "the kill should land part-way"
    deadline = time.monotonic() + 10
    while probes(run_id) and time.monotonic() < deadline:  # the probe ends with its orchestrator
        time.sleep(0.1)
    assert probes(run_id) == []

    done = again(tmp_path)
    assert f"continuing run {run_id}" in done.stdout
    assert (tmp_path / "results" / "latest").resolve().name == run_id
    after = read_results(path)
    assert collections.Counter(r["case"] for r in after) == ALL
    assert after[:len(before)] == before  # what was finished is kept as it was
    assert json.loads((path.parent / "run.json").read_text())["finished_at"]
    fault.kept(entry, sum(1 for r in before if r in after))


def test_cell_killed_mid_case_then_the_same_command_completes_it(tmp_path, fault):
    process = start(tmp_path)
    path = wait_for_results(tmp_path, 3)
    run_id = path.parent.name
    killed = 0
    for pid in probes(run_id):  # the probe and the child running its current result
        try:
            os.kill(pid, signal.SIGKILL)
            killed += 1
        except ProcessLookupError:  # a result's child that finished between pgrep and the kill
            pass
    assert killed, "no probe process was running"
    out, _ = process.communicate(timeout=300)
    assert process.returncode == 0, out
    before = [r for r in read_results(path) if r["case"] != "*"]
    entry = fault.inject("kill_cell", expected=len(before))
    cell = json.loads((path.parent / "run.json").read_text())["cells"][0]
    assert cell["status"] == "env_error" and "the probe exited with code -9" in cell["error"]
    assert 3 <= len(before) < 8

    again(tmp_path)
    latest = tmp_path / "results" / "latest"
    assert latest.resolve().name != run_id  # a new run, reusing what the killed cell finished
    after = read_results(latest / f"{CELL}.jsonl")
    assert collections.Counter(r["case"] for r in after) == ALL
    reused = [r for r in after if r.get("reused_from") == run_id]
    assert sorted(r["case"] for r in reused) == sorted(r["case"] for r in before)
    fault.kept(entry, len(reused))


def test_two_runs_on_one_results_folder_one_is_refused(tmp_path, fault):
    entry = fault.inject("concurrent_runs", expected=8)
    first = start(tmp_path)
    wait_for_results(tmp_path, 1)
    second = run_module("matrix", "run", "--spec", tmp_path / "spec.toml", "--results", tmp_path / "results",
                        "--cases-from", CASES / "slow.py", "--runner", "venv")
    assert second.returncode == 2 and "Traceback" not in second.stderr
    (line,) = second.stderr.strip().splitlines()
    assert line.startswith(f"matrix run: error: {tmp_path / 'results'} is in use by another run (pid {first.pid}")
    out, _ = first.communicate(timeout=300)
    assert first.returncode == 0, out
    found = read_results(tmp_path / "results" / "latest" / f"{CELL}.jsonl")
    assert collections.Counter(r["case"] for r in found) == ALL
    fault.kept(entry, len(found))
