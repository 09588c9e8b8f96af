"""Each stage's failure, on a case built to fail exactly there, with the real torch, onnx and onnxruntime."""

import pytest

EXPECTED = {
    "staged/reference": ("reference_error", "reference", None),
    "staged/build_raises": ("reference_error", "reference", None),
    "staged/export": ("export_error", "export", None),
    "staged/check": ("invalid_model", "check", "checker"),
    "staged/load": ("load_error", "load", "unregistered_op"),
    "staged/run": ("run_error", "run", None),
    "staged/parity": ("mismatch", "parity", "value_mismatch"),
    "staged/dynamic": ("dynamic_error", "dynamic", "shape_mismatch"),
    "staged/pass": ("pass", "dynamic", None),
    "staged/segfault": ("crash", "reference", "crash"),
    "staged/abort": ("crash", "reference", "crash"),
    "staged/sleep": ("timeout", "reference", "timeout"),
}


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_stage_classified(staged_results, case):
    status, stage, kind = EXPECTED[case]
    result = staged_results[case]
    assert (result["status"], result["stage"]) == (status, stage), result["error"]
    if kind:
        assert result["error"]["kind"] == kind
    if status == "pass":
        assert result["error"] is None
    else:
        assert result["error"]["message"] and result["error"]["signature"]


def test_crash_records_signal(staged_results):
    assert staged_results["staged/segfault"]["error"]["detail"]["signal"] == "SIGSEGV"
    assert staged_results["staged/abort"]["error"]["detail"]["signal"] == "SIGABRT"
    # faulthandler in the child leaves the Python stack of the crash in the excerpt
    assert "Segmentation fault" in staged_results["staged/segfault"]["error"]["traceback"]


def test_cases_after_a_crash_still_run(staged_results):
    ids = list(staged_results)
    assert ids.index("staged/sleep") > ids.index("staged/abort") > ids.index("staged/segfault")
    assert staged_results["staged/sleep"]["status"] == "timeout"


def test_build_exception_is_the_cases_reference_error(staged_results):
    error = staged_results["staged/build_raises"]["error"]
    assert error["type"] == "ZeroDivisionError" and "division by zero" in error["message"]


def test_unmet_requirement_is_skipped_with_reason(staged_results):
    result = staged_results["staged/needs_future_torch"]
    assert result["status"] == "skipped" and result["reason"].startswith("requires torch>=99")


def test_pass_carries_metrics(staged_results):
    metrics = staged_results["staged/pass"]["metrics"]
    for name in ("max_abs_err", "max_rel_err", "atol", "rtol", "required_atol", "export_s", "eager_ms", "ort_ms",
                 "model_bytes", "nodes", "model_opset", "ir_version", "provider"):
        assert name in metrics, name
    assert metrics["provider"] == "CPUExecutionProvider"
    assert metrics["atol"] == 1e-5 and metrics["rtol"] == 1e-4
    assert metrics["dynamic_checked"] == [{"dim": "batch", "size": 4, "max_abs_err": pytest.approx(0, abs=1e-5)}]


def test_mismatch_reports_the_tolerance_that_would_pass(staged_results):
    metrics = staged_results["staged/parity"]["metrics"]
    assert metrics["required_atol"] > metrics["atol"]
    assert metrics["max_abs_err"] == pytest.approx(metrics["required_atol"], rel=0.01)


def test_result_schema(staged_results):
    result = staged_results["staged/pass"]
    for field in ("schema", "run_id", "cell", "case", "category", "exporter", "opset", "device", "status",
                  "stage", "error", "metrics", "versions", "environment"):
        assert field in result, field
    assert result["schema"] == 1 and result["category"] == "staged" and result["opset"] is None
    assert set(result["versions"]) >= {"python", "torch", "onnx", "onnxruntime", "onnxscript", "numpy"}
    assert "CPUExecutionProvider" in result["environment"]["onnxruntime_providers"]


def test_a_declared_dimension_the_exporter_fixed_is_named(tmp_path):
    """control/python_loop loops over the sequence in Python: dynamo writes the declared `seq` into
    the model's input as the example's 6, which the dynamic stage finds and names; TorchScript
    keeps the input symbolic and unrolls the loop, so its failure stays a shape mismatch."""
    from helpers import read_results, run_module

    out = tmp_path / "loop.jsonl"
    done = run_module("matrix", "run", "--here", "--cases", "control/python_loop", "--out", out)
    assert done.returncode == 0, done.stderr
    found = {r["exporter"]: r for r in read_results(out)}
    dynamo, torchscript = found["dynamo"]["error"], found["torchscript"]["error"]
    assert found["dynamo"]["status"] == "dynamic_error" and dynamo["kind"] == "declared_dim_specialized"
    assert {k: dynamo["detail"][k] for k in ("dim", "fixed_at", "input")} == {"dim": "seq", "fixed_at": 6,
                                                                             "input": "input_0"}
    assert "the declared dynamic dimension 'seq' was exported as the constant 6" in dynamo["message"]
    assert "Dim.AUTO" in dynamo["hint"]
    assert (found["torchscript"]["status"], torchscript["kind"]) == ("dynamic_error", "shape_mismatch")


def test_a_dynamo_export_error_names_the_exporters_step_that_failed(tmp_path):
    """The dynamo exporter says which of its steps failed: control/tensor_if's data-dependent branch
    stops torch.export's capture (step 1/3), dynamic/masked_select has no ONNX translation (step
    3/3). The remedy search reads it: another opset cannot help a capture (remedies.py)."""
    from helpers import read_results, run_module

    out = tmp_path / "steps.jsonl"
    done = run_module("matrix", "run", "--here", "--cases", "control/tensor_if,dynamic/masked_select",
                      "--exporter", "dynamo", "--out", out)
    assert done.returncode == 0, done.stderr
    found = {r["case"]: r for r in read_results(out)}
    assert {case: (r["status"], r["error"]["detail"].get("export_step")) for case, r in found.items()} == {
        "control/tensor_if": ("export_error", "capture"), "dynamic/masked_select": ("export_error", "translate")}
