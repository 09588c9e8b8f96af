"""Cells in two halves: the export side writes bundles, the runtime side (an environment with no
torch) checks them, and the results are the ones a single environment gives, result by result."""

import json
import subprocess
import sys
from importlib import metadata

import numpy as np
import pytest

from helpers import CASES, read_results, run_module

pytestmark = pytest.mark.network  # the runtime-side venvs come from the package index (or uv's cache)

# Every stage's failure, crash and timeout (staged/*), and a sample of the corpus with every dtype.
SELECTION = ["--cases-from", CASES / "staged.py", "--cases", "staged/*,dtypes/*,dynamic/item,operators/tril",
             "--timeout", "5"]


def _venv(folder, *packages):
    subprocess.run(["uv", "venv", "-q", "--python", sys.executable, folder], check=True)
    subprocess.run(["uv", "pip", "install", "-q", "--python", folder / "bin" / "python", *packages], check=True)
    return folder / "bin" / "python"


def torch_version():
    """torch.__version__, as results record it (a PyPI build says 2.13.0+cu130 where its
    distribution says 2.13.0)."""
    import torch

    return torch.__version__


def _pinned(*names):
    return [f"{name}=={metadata.version(name)}" for name in names]  # this test environment's own


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    """Both ways over the same versions: one environment, and export side → bundles → a runtime
    side in a venv holding onnxruntime and what it brings (numpy; no torch, no onnx)."""
    tmp = tmp_path_factory.mktemp("split")
    runtime = _venv(tmp / "runtime", *_pinned("onnxruntime", "numpy"))
    bundles = tmp / "bundles"
    one = run_module("matrix.probe", *SELECTION, "--out", tmp / "one.jsonl", timeout=900)
    assert one.returncode == 0, one.stderr
    exported = run_module("matrix.probe", *SELECTION, "--side", "export", "--bundles", bundles, timeout=900)
    assert exported.returncode == 0, exported.stderr
    checked = run_module("matrix.probe", "--side", "runtime", "--bundles", bundles, "--out", tmp / "split.jsonl",
                         "--timeout", "5", executable=runtime)
    assert checked.returncode == 0, checked.stderr
    return {"one": read_results(tmp / "one.jsonl"), "split": read_results(tmp / "split.jsonl"),
            "bundles": bundles, "runtime": runtime, "tmp": tmp}


def _by_key(results):
    return {(r["case"], r["exporter"], r["opset"], r["device"]): r for r in results}


def test_split_gives_the_same_results(split):
    one, two = _by_key(split["one"]), _by_key(split["split"])
    assert set(one) == set(two) and len(one) >= 2 * 20
    for key, result in one.items():
        other = two[key]
        assert (other["status"], other["stage"], other["reason"]) == (result["status"], result["stage"],
                                                                       result["reason"]), key
        if result["error"]:
            assert (other["error"]["kind"], other["error"]["message"]) == (result["error"]["kind"],
                                                                           result["error"]["message"]), key
        assert set(other["metrics"]) == set(result["metrics"]), key
        assert other["cell"] == result["cell"] and other["case_hash"] == result["case_hash"]
    statuses = {r["status"] for r in one.values()}
    assert statuses >= {"pass", "reference_error", "export_error", "invalid_model", "load_error", "run_error",
                        "mismatch", "dynamic_error", "crash", "timeout", "skipped"}


def test_export_side_workers_give_the_same_bundles(split, tmp_path):
    """--workers 2: two exports at once, each in its own child; every bundle's outcome is the one
    exported alone, crashes and the timeout included, and the exports did overlap in time."""
    import json

    bundles = tmp_path / "bundles"
    done = run_module("matrix.probe", "--cases-from", CASES / "staged.py", "--cases", "staged/*", "--timeout", "20",
                      "--side", "export", "--bundles", bundles, "--workers", "2", timeout=900)
    assert done.returncode == 0, done.stderr

    def outcomes(folder):
        found = {}
        for meta_file in folder.glob("staged__*/bundle.json"):
            meta = json.loads(meta_file.read_text())
            error = meta["outcome"]["error"] or {}
            found[meta_file.parent.name] = (meta["outcome"]["status"], meta["outcome"]["stage"], error.get("kind"))
        return found

    together, alone = outcomes(bundles), outcomes(split["bundles"])
    assert len(together) >= 2 * 13 and together == {k: v for k, v in alone.items() if k in together}
    assert together["staged__sleep--torchscript--default--cpu"][0] == "timeout"
    spans = sorted((m["started_at"], m["started_at"] + m["outcome"]["seconds"])
                   for m in (json.loads(f.read_text()) for f in bundles.glob("*/bundle.json")))
    assert any(b[0] < a[1] for a, b in zip(spans, spans[1:])), "no two exports overlapped"


def test_a_runtime_side_checks_the_suites_it_is_given(split, tmp_path):
    """A cell runs only its own suites ([suites.X] in a spec) over its export side's bundles, which
    hold those of every cell of the side; unasked, a runtime side checks every bundle."""
    counts = {}
    for suite in ("cases", "aten"):
        out = tmp_path / f"{suite}.jsonl"
        done = run_module("matrix.probe", "--side", "runtime", "--bundles", split["bundles"], "--out", out,
                          "--suite", suite, "--timeout", "5", executable=split["runtime"])
        assert done.returncode == 0, done.stderr
        counts[suite] = len(read_results(out)) if out.exists() else 0
    assert counts == {"cases": len(split["split"]), "aten": 0}


def test_runtime_side_has_no_torch(split):
    for module in ("torch", "onnx"):
        done = subprocess.run([split["runtime"], "-c", f"import {module}"], capture_output=True, text=True)
        assert done.returncode == 1 and f"No module named '{module}'" in done.stderr
    result = next(r for r in split["split"] if r["case"] == "staged/pass")
    assert result["environment"]["versions"]["torch"] is None  # where it ran
    assert result["versions"]["torch"] == torch_version()  # what exported the model it checked


def test_runtime_side_times_out_and_goes_on(split, tmp_path):
    """The runtime side forks a child per result too: a model that never finishes running (a Loop
    of 2**62 turns in place of staged/pass's model) is a timeout at the run stage, and the next
    bundle is still checked."""
    import shutil

    import onnx
    from onnx import TensorProto, helper

    bundles = tmp_path / "bundles"
    for name in ("staged__pass--torchscript--default--cpu", "staged__parity--torchscript--default--cpu"):
        shutil.copytree(split["bundles"] / name, bundles / name)
    endless = bundles / "staged__pass--torchscript--default--cpu"
    model = onnx.load(endless / "model.onnx")
    x, y = model.graph.input[0], model.graph.output[0]
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond"], ["cond_out"]), helper.make_node("Identity", ["v"], ["v_out"])], "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
         helper.make_tensor_value_info("v", TensorProto.FLOAT, None)],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("v_out", TensorProto.FLOAT, None)])
    graph = helper.make_graph(
        [helper.make_node("Constant", [], ["turns"], value=helper.make_tensor("t", TensorProto.INT64, [], [2**62])),
         helper.make_node("Constant", [], ["go"], value=helper.make_tensor("g", TensorProto.BOOL, [], [True])),
         helper.make_node("Loop", ["turns", "go", x.name], [y.name], body=body)], "endless", [x], [y])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8),
              endless / "model.onnx")
    (endless / "model.onnx.data").unlink(missing_ok=True)
    out = tmp_path / "r.jsonl"
    done = run_module("matrix.probe", "--side", "runtime", "--bundles", bundles, "--out", out, "--timeout", "3",
                      executable=split["runtime"])
    assert done.returncode == 0, done.stderr
    outcomes = {r["case"]: (r["status"], r["stage"]) for r in read_results(out)}
    assert outcomes == {"staged/pass": ("timeout", "run"), "staged/parity": ("mismatch", "parity")}


def test_bundle_is_onnx_backend_test_data(split):
    """model.onnx + test_data_set_N/{input,output}_M.pb: read back with onnx.numpy_helper, the
    arrays are the case's inputs and eager's outputs, and ONNX's reference runtime agrees."""
    import onnx
    from onnx import numpy_helper
    from onnx.reference import ReferenceEvaluator

    from matrix.probe import corpus, export_side

    folder = split["bundles"] / "staged__pass--torchscript--default--cpu"
    case = next(c for c in corpus.collect([str(CASES / "staged.py")], ["staged/pass"]))
    model, args = export_side.build_case(case, "cpu")
    eager = export_side.eager(model, args, "cpu")
    proto = onnx.load(folder / "model.onnx")
    onnx.checker.check_model(proto)

    def read(path):
        tensor = onnx.TensorProto()
        tensor.ParseFromString(path.read_bytes())
        return tensor.name, numpy_helper.to_array(tensor)

    name, given = read(folder / "test_data_set_0" / "input_0.pb")
    _, wanted = read(folder / "test_data_set_0" / "output_0.pb")
    assert name == proto.graph.input[0].name
    np.testing.assert_array_equal(given, args.args[0].numpy())
    np.testing.assert_array_equal(wanted, eager[0][0])
    np.testing.assert_allclose(ReferenceEvaluator(proto).run(None, {name: given})[0], wanted, rtol=1e-5, atol=1e-6)
    # the dynamic stage's other batch size, with eager's outputs there
    _, bigger = read(folder / "test_data_set_1" / "input_0.pb")
    assert bigger.shape[0] != given.shape[0] and (folder / "test_data_set_1" / "output_0.pb").exists()
    meta = json.loads((folder / "bundle.json").read_text())
    assert meta["case"] == "staged/pass" and meta["outcome"]["status"] == "pass"
    assert meta["versions"]["torch"] == torch_version() and meta["versions"]["onnxruntime"] is None


def test_repro_needs_only_onnxruntime(split):
    """A bundle's repro.py reproduces its runtime result in a venv with onnxruntime and nothing
    it does not bring (no onnx, no torch: see test_runtime_side_has_no_torch)."""
    python = split["runtime"]
    outcomes = {}
    for name in ("staged__pass", "staged__parity", "staged__load", "dtypes__bfloat16"):
        folder = split["bundles"] / f"{name}--torchscript--default--cpu"
        done = subprocess.run([python, folder / "repro.py"], capture_output=True, text=True, cwd=split["tmp"])
        outcomes[name] = (done.returncode, done.stdout + done.stderr)
    assert outcomes["staged__pass"][0] == 0 and "test_data_set_1: 1 outputs match" in outcomes["staged__pass"][1]
    assert outcomes["staged__parity"][0] == 1 and "Mismatched elements" in outcomes["staged__parity"][1]
    assert outcomes["staged__load"][0] == 1 and "com.example" in outcomes["staged__load"][1]
    assert outcomes["dtypes__bfloat16"][0] == 1 and "NOT_IMPLEMENTED" in outcomes["dtypes__bfloat16"][1]
    # an export that failed has no model for a runtime: its repro.py is torch's (see the next test)
    assert "torch.onnx.export(" in (split["bundles"] / "staged__export--torchscript--default--cpu" /
                                    "repro.py").read_text()


def test_export_side_keeps_bundles_that_still_hold(split):
    again = run_module("matrix.probe", *SELECTION, "--side", "export", "--bundles", split["bundles"])
    assert again.returncode == 0, again.stderr
    events = [json.loads(line) for line in again.stdout.splitlines()]
    results = [e for e in events if e["event"] == "result"]
    assert results and all(e.get("reused") for e in results if e["status"] != "skipped")


@pytest.mark.parametrize("argv, says", [
    (["--side", "runtime", "--out", "x.jsonl"], "--side runtime: needs --bundles DIR"),
    (["--side", "runtime", "--bundles", "no-such-folder"], "no such folder of bundles"),
])
def test_runtime_side_bad_input_is_one_line(tmp_path, argv, says):
    done = run_module("matrix.probe", *argv, cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and says in done.stderr


def test_a_damaged_bundle_is_one_line(split, tmp_path):
    import shutil

    bundles = tmp_path / "bundles"
    shutil.copytree(split["bundles"] / "staged__pass--torchscript--default--cpu", bundles / "one")
    (bundles / "one" / "bundle.json").write_text("{")
    done = run_module("matrix.probe", "--side", "runtime", "--bundles", bundles, "--out", tmp_path / "r.jsonl",
                      executable=split["runtime"])
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "one/bundle.json: not a bundle" in done.stderr and not (tmp_path / "r.jsonl").exists()


def test_an_export_failure_bundle_reproduces_it_without_this_project(split, tmp_path):
    """An export that failed leaves the case's source, the exact export call (repro.py), the Case
    API it imports (matrix/__init__.py, first on its path) and the export side's pins; run from
    its folder alone, it fails the same way."""
    import os
    import shutil

    for name, said in (("staged__export", "'NoneType' object has no attribute 'bad'"),
                       ("staged__check", "Unrecognized attribute: bogus for operator Relu")):
        folder = tmp_path / name
        shutil.copytree(split["bundles"] / f"{name}--torchscript--default--cpu", folder)
        assert {"repro.py", "staged.py", "requirements.txt"} <= {p.name for p in folder.iterdir()}
        assert f"torch=={metadata.version('torch')}" in (folder / "requirements.txt").read_text()
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        done = subprocess.run([sys.executable, "repro.py"], cwd=folder, capture_output=True, text=True, env=env)
        assert done.returncode == 1 and said in done.stderr, done.stderr[-2000:]
