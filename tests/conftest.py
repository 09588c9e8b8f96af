import functools
import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CASES = Path(__file__).resolve().parent / "cases"
TORCH = "2.13.0"  # the test cell's torch (noxfile.TEST_CELL)
PYTORCH_CPU_INDEX = os.environ.get("MATRIX_TORCH_CPU_INDEX", "https://download.pytorch.org/whl/cpu")


@functools.lru_cache(maxsize=1)
def torch_source():
    """(torch version, the spec's [index.torch] table, local wheel folders) for tests that build
    environments: a local CPU wheel where pip is configured with one (PIP_FIND_LINKS), PyTorch's
    CPU index where it answers, and otherwise the package index's default build (on Linux a
    CUDA build: larger, and it runs on the CPU all the same)."""
    folders = [d for d in os.environ.get("PIP_FIND_LINKS", "").split() if os.path.isdir(d)]
    if any(next(Path(d).glob(f"torch-{TORCH}+cpu-*.whl"), None) for d in folders):
        return f"{TORCH}+cpu", f"[index.torch]\nfind-links = {json.dumps(folders)}\n", folders
    try:
        with urllib.request.urlopen(urllib.request.Request(f"{PYTORCH_CPU_INDEX}/torch/", method="HEAD"), timeout=5):
            return f"{TORCH}+cpu", f'[index.torch]\nurl = "{PYTORCH_CPU_INDEX}"\n', []
    except OSError:
        return TORCH, "", []


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


# The fault-injection ledger: tests that inject a fault (ids in fault_registry.FAULTS) record
# it, with how many results should survive it and how many did; the session ends with one line.
_FAULTS = []


class _Fault:
    def __init__(self, nodeid):
        self.nodeid = nodeid

    def inject(self, fault_id, expected=0):
        from fault_registry import FAULTS

        assert fault_id in FAULTS, f"unknown fault {fault_id!r}: add it to tests/fault_registry.py"
        entry = {"id": fault_id, "nodeid": self.nodeid, "expected": expected, "kept": None}
        _FAULTS.append(entry)
        return entry

    @staticmethod
    def kept(entry, count):
        entry["kept"] = count


@pytest.fixture
def fault(request):
    return _Fault(request.node.nodeid)


_OUTCOMES = {}


def pytest_runtest_logreport(report):
    if report.when == "call" or report.outcome != "passed":
        _OUTCOMES[report.nodeid] = _OUTCOMES.get(report.nodeid, "passed") if report.passed else report.outcome


def pytest_terminal_summary(terminalreporter):
    if not _FAULTS:
        return
    survived = sum(1 for f in _FAULTS if _OUTCOMES.get(f["nodeid"]) == "passed")
    lost = sum(f["expected"] - (f["kept"] if f["kept"] is not None else 0) for f in _FAULTS)
    terminalreporter.write_line(f"faults: {len(_FAULTS)} injected, {survived} survived, {lost} results lost")
