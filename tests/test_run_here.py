"""`python -m matrix run --here`: the user-facing command over the probe."""

import os
import subprocess
import sys

import pytest

from helpers import CASES, ROOT, TEST_CELL, read_results, run_module, torch_source
from matrix.lock import uv_bin


def test_run_here_prints_summary_and_writes_results(tmp_path):
    out = tmp_path / "here.jsonl"
    done = run_module("matrix", "run", "--here", "--cases-from", CASES / "staged.py",
                      "--cases", "staged/pass,staged/parity", "--exporter", "torchscript", "--out", out)
    assert done.returncode == 0, done.stderr
    assert "] staged/pass torchscript opset=default cpu: ✓ pass" in done.stdout  # plain lines off a terminal
    assert "✓ pass: 1" in done.stdout and "≠ mismatch: 1" in done.stdout
    assert "value_mismatch" in done.stdout
    assert f"results: {out}" in done.stdout
    assert {r["case"]: r["status"] for r in read_results(out)} == {"staged/pass": "pass", "staged/parity": "mismatch"}


def test_strict_exits_1_on_failures(tmp_path):
    done = run_module("matrix", "run", "--here", "--cases-from", CASES / "staged.py", "--cases", "staged/parity",
                      "--exporter", "torchscript", "--out", tmp_path / "r.jsonl", "--strict")
    assert done.returncode == 1


def test_default_output_goes_under_results_here(tmp_path):
    done = run_module("matrix", "run", "--here", "--cases-from", CASES / "staged.py", "--cases", "staged/pass",
                      "--exporter", "torchscript", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    (written,) = (tmp_path / "results" / "here").glob("*.jsonl")
    assert read_results(written)[0]["status"] == "pass"


def test_list_shows_builtin_corpus():
    done = run_module("matrix.probe", "--list")
    assert done.returncode == 0 and '"case": "operators/tril"' in done.stdout


def test_user_case_file_importing_its_own_package(tmp_path):
    out = tmp_path / "r.jsonl"
    done = run_module("matrix", "run", "--here", "--cases-from", CASES / "user" / "my_cases.py", "--cases", "mine/*",
                      "--out", out, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    results = {(r["case"], r["exporter"]): r for r in read_results(out)}
    assert {r["status"] for r in results.values()} == {"pass"}, {k: r["error"] for k, r in results.items()}
    assert results[("mine/head", "dynamo")]["description"] == "The classification head alone."
    checked = results[("mine/encoder", "torchscript")]["metrics"]["dynamic_checked"]
    assert [(c["dim"], c["size"]) for c in checked] == [("batch", 4), ("seq", 7), ("seq", 64)]


def one_line(done, *expected):
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    for text in expected:
        assert text in done.stderr, done.stderr


@pytest.mark.network
@pytest.mark.slow
def test_an_interpreter_missing_a_package_is_one_line_naming_it(tmp_path):
    """As a new user has it: a venv with the orchestrator only (what `nox -s matrix` makes), then
    each package added in turn; each missing one is named, with the install command."""
    env = tmp_path / "venv"
    python = env / "bin" / "python"
    torch, _, wheels = torch_source()
    links = [arg for folder in wheels for arg in ("--find-links", folder)]
    subprocess.run([uv_bin(), "venv", "--quiet", "--python", sys.executable, str(env)], check=True)

    def install(*packages):
        subprocess.run([uv_bin(), "pip", "install", "--quiet", "--python", str(python), *links, *packages],
                       check=True)

    def here(*args):
        return subprocess.run([str(python), "-m", "matrix", "run", "--here", "--cases", "operators/tril", *args],
                              cwd=tmp_path, capture_output=True, text=True, timeout=600)

    install("-e", str(ROOT))
    one_line(here(), "torch: ModuleNotFoundError: No module named 'torch'", 'pip install "onnx-compat-matrix[probe]"')
    one_line(here("--cases-from", CASES / "staged.py"), "No module named 'torch'")  # before the file is looked at
    install(f"torch=={torch}")
    one_line(here(), "onnx: ModuleNotFoundError: No module named 'onnx'")
    install(f"onnx=={TEST_CELL['onnx']}", f"onnxscript=={TEST_CELL['onnxscript']}")
    one_line(here(), "onnxruntime: ModuleNotFoundError: No module named 'onnxruntime'")
    install(f"onnxruntime=={TEST_CELL['onnxruntime']}")
    subprocess.run([uv_bin(), "pip", "uninstall", "--quiet", "--python", str(python), "onnxscript"], check=True)
    one_line(here("--exporter", "dynamo"), "onnxscript: ModuleNotFoundError: No module named 'onnxscript'")
    done = here("--exporter", "torchscript")  # the TorchScript exporter needs no onnxscript
    assert done.returncode == 0, done.stderr
    assert len(list((tmp_path / "results" / "here").glob("*.jsonl"))) == 1  # its own: the refusals wrote nothing


def test_an_import_that_fails_is_one_line_and_writes_nothing(tmp_path):
    broken = tmp_path / "shadow" / "onnxruntime"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text('raise RuntimeError("this onnxruntime build is broken")\n')
    done = run_module("matrix", "run", "--here", cwd=tmp_path,
                      env_extra={"PYTHONPATH": f"{tmp_path / 'shadow'}{os.pathsep}{ROOT}"})
    one_line(done, "onnxruntime: RuntimeError: this onnxruntime build is broken")
    assert not (tmp_path / "results").exists()


def test_python_m_matrix_lists_the_commands_and_the_two_readme_commands():
    for args in ((), ("--help",)):
        done = run_module("matrix", *args)
        assert done.returncode == (2 if not args else 0)
        for command in ("run", "plan", "report", "images", "merge", "history", "bisect", "cases", "bench"):
            assert f"\n    {command} " in done.stdout, done.stdout
        assert "nox -s matrix" in done.stdout and "nox -s tests" in done.stdout
