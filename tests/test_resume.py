"""A run killed with SIGKILL keeps what it finished; --resume completes it, each result once."""

import collections
import os
import signal
import subprocess
import sys
import time

from helpers import CASES, ROOT, read_results, run_module

PROBE = ["--cases-from", str(CASES / "slow.py"), "--cases", "slow/*", "--exporter", "torchscript"]


def test_sigkill_then_resume_records_every_result_once(tmp_path):
    out = tmp_path / "r.jsonl"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    process = subprocess.Popen([sys.executable, "-m", "matrix.probe", *PROBE, "--out", str(out)], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not out.exists() or len(read_results(out)) < 3):
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    before = read_results(out)
    assert 3 <= len(before) < 8, "the kill should land part-way through the run"

    done = run_module("matrix.probe", *PROBE, "--out", out, "--resume")
    assert done.returncode == 0, done.stderr
    after = read_results(out)
    counts = collections.Counter(r["case"] for r in after)
    assert counts == {f"slow/case_{i}": 1 for i in range(8)}
    assert after[: len(before)] == before  # finished results are kept as they were


def test_truncated_last_line_is_skipped_with_warning_and_redone(tmp_path, fault):
    entry = fault.inject("truncated_line", expected=2)
    out = tmp_path / "r.jsonl"
    assert run_module("matrix.probe", *PROBE, "--cases", "slow/case_0,slow/case_1", "--out", out).returncode == 0
    with open(out, "ab") as f:
        f.write(b'{"schema": 1, "case": "slow/case_2", "exp')  # a write cut off by a kill
    done = run_module("matrix.probe", *PROBE, "--cases", "slow/case_[0-3]", "--out", out, "--resume")
    assert done.returncode == 0, done.stderr
    assert "skipped a truncated last line" in done.stderr
    assert [r["case"] for r in read_results(out)] == [f"slow/case_{i}" for i in range(4)]
    fault.kept(entry, 2)


def test_existing_results_need_resume(tmp_path):
    out = tmp_path / "r.jsonl"
    assert run_module("matrix.probe", *PROBE, "--cases", "slow/case_0", "--out", out).returncode == 0
    kept = out.read_bytes()
    done = run_module("matrix.probe", *PROBE, "--out", out)
    assert done.returncode == 2 and "--resume" in done.stderr
    assert out.read_bytes() == kept
