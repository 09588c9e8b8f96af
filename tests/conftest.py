import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CASES = Path(__file__).resolve().parent / "cases"


def run_module(module, *args, timeout=600, env_extra=None, **kwargs):
    """Run `python -m module args` from the repository root; returns CompletedProcess."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), **(env_extra or {}))
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], cwd=kwargs.pop("cwd", ROOT),
                          capture_output=True, text=True, timeout=timeout, env=env, **kwargs)


def read_results(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


@pytest.fixture(scope="session")
def staged_results(tmp_path_factory):
    """Every staged fixture case through the TorchScript exporter, once per test session."""
    out = tmp_path_factory.mktemp("staged") / "results.jsonl"
    done = run_module("matrix.probe", "--cases-from", CASES / "staged.py", "--cases", "staged/*",
                      "--exporter", "torchscript", "--timeout", "5", "--out", out)
    assert done.returncode == 0, done.stderr
    return {r["case"]: r for r in read_results(out)}
