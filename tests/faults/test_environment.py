"""The environment fails: the package index unreachable, the results disk full, the Docker
daemon stopping mid-run. Real network sockets, a real tmpfs, the real Docker engine."""

import collections
import json
import os
import subprocess
import time

import pytest

from helpers import CASES, MATRIX_CELL, ROOT, read_results, run_module, spec

DEAD_INDEX = "http://127.0.0.1:9/simple"  # the discard port: connections are refused at once
PACKAGES = ("torch", "onnx", "onnxruntime", "onnxscript")
SPEC = spec(index="".join(f'\n[index.{p}]\nurl = "{DEAD_INDEX}"\n' for p in PACKAGES))


def test_index_unreachable_uses_the_cached_answer(tmp_path, fault):
    entry = fault.inject("index_unreachable", expected=1)
    (tmp_path / "spec.toml").write_text(SPEC)
    cache = tmp_path / "cache" / "onnx-compat-matrix" / "index" / "http_127_0_0_1_9_simple"
    cache.mkdir(parents=True)
    for package in PACKAGES:  # an answer cached a day ago, from the recorded PyPI answer
        answer = json.loads((ROOT / "tests" / "data" / "index" / f"{package}.json").read_text())
        (cache / f"{package}.json").write_text(json.dumps(dict(answer, fetched_at=time.time() - 86400)))
    done = run_module("matrix", "plan", "--spec", tmp_path / "spec.toml",
                      env_extra={"XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [MATRIX_CELL]
    assert f"warning: {DEAD_INDEX} unreachable" in done.stderr and "using the answer cached 24.0 h ago" in done.stderr
    fault.kept(entry, 1)


def test_index_unreachable_with_nothing_cached_is_one_line(tmp_path, fault):
    fault.inject("index_unreachable_cold")
    (tmp_path / "spec.toml").write_text(SPEC)
    done = run_module("matrix", "run", "--spec", tmp_path / "spec.toml", "--results", tmp_path / "results",
                      env_extra={"XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert done.returncode == 2 and "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"matrix run: error: torch: the package index {DEAD_INDEX} cannot be reached")
    assert line.endswith("and nothing is cached")
    assert not (tmp_path / "results").exists()


@pytest.fixture
def small_disk(tmp_path):
    """A 16 KiB tmpfs: room for a few results, not for sixteen."""
    if os.geteuid() != 0:
        pytest.fail("mounting a tmpfs needs root (CI runs the tests as root)")
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(disk)], check=True)
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=False)


def test_disk_full_mid_run_keeps_what_was_written_and_resume_completes(small_disk, fault):
    out = small_disk / "results.jsonl"
    probe = ["--cases-from", CASES / "slow.py", "--cases", "slow/*", "--exporter", "torchscript,dynamo",
             "--isolation", "none", "--out", out]
    done = run_module("matrix.probe", *probe, timeout=600)
    assert done.returncode == 3 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert done.stderr.strip().splitlines()[-1].startswith(
        f"matrix.probe: error: cannot write results to {out}: No space left on device; the results written before")
    lines = out.read_bytes().split(b"\n")
    complete = [json.loads(line) for line in lines[:-1]]  # a last line cut short by the full disk is dropped
    entry = fault.inject("disk_full", expected=len(complete))
    assert 0 < len(complete) < 16

    subprocess.run(["mount", "-o", "remount,size=1m", str(small_disk)], check=True)  # room made
    done = run_module("matrix.probe", *probe, "--resume", timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    after = read_results(out)
    assert collections.Counter((r["case"], r["exporter"]) for r in after) == {
        (f"slow/case_{i}", e): 1 for i in range(8) for e in ("torchscript", "dynamo")}
    assert after[:len(complete)] == complete
    fault.kept(entry, len(complete))
