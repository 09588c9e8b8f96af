"""`python -m matrix run --here`: the user-facing command over the probe."""

from conftest import CASES, read_results, run_module


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
