"""The probe's results agree with what a person gets running the same export by hand."""

import contextlib
import io

import numpy as np
import onnxruntime
import pytest
import torch

from helpers import read_results, run_module
from matrix.probe.corpus import builtin

CASES = {c.id: c for c in builtin()}


def by_hand(case_id, exporter, opset, path):
    torch.manual_seed(0)
    model, args = CASES[case_id].build()
    model.eval()
    with torch.no_grad():
        want = model(*args).numpy()
    with contextlib.redirect_stdout(io.StringIO()):
        torch.onnx.export(model, args, str(path), dynamo=exporter == "dynamo", opset_version=opset)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: args[0].numpy()})[0]
    return float(np.abs(want.astype(np.float64) - got.astype(np.float64)).max())


@pytest.mark.parametrize("case_id, exporter", [
    ("layers/custom_norm", "torchscript"),
    ("blocks/mlp_layernorm_gelu", "dynamo"),
    ("dtypes/fp16_model", "torchscript"),
])
def test_max_error_matches_a_manual_export(tmp_path, case_id, exporter):
    out = tmp_path / "r.jsonl"
    done = run_module("matrix.probe", "--cases", case_id, "--exporter", exporter, "--out", out)
    assert done.returncode == 0, done.stderr
    (result,) = read_results(out)
    assert result["status"] == "pass"
    assert result["metrics"]["max_abs_err"] == pytest.approx(by_hand(case_id, exporter, None, tmp_path / "m.onnx"),
                                                            rel=1e-6, abs=1e-12)


def test_unsupported_opset_fails_by_hand_as_the_probe_says(tmp_path):
    out = tmp_path / "r.jsonl"
    run_module("matrix.probe", "--cases", "operators/tril", "--exporter", "torchscript", "--opset", "13", "--out", out)
    (result,) = read_results(out)
    with pytest.raises(Exception) as raised:
        by_hand("operators/tril", "torchscript", 13, tmp_path / "m.onnx")
    assert result["status"] == "export_error"
    assert result["error"]["type"] == type(raised.value).__name__
    assert result["error"]["message"] == str(raised.value).splitlines()[0]
    assert result["error"]["detail"] == {"op": "aten::tril", "opset": "13"}
