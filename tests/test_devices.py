"""Devices: cuda results are skipped without a GPU, never failures; with one they run on it."""

import pytest
import torch

from helpers import CASES, read_results, run_module

HAS_CUDA = torch.cuda.is_available()


@pytest.mark.skipif(HAS_CUDA, reason="this machine has a GPU: see test_cuda_results_run_on_the_gpu")
def test_cuda_without_gpu_is_skipped_not_failed(tmp_path):
    out = tmp_path / "r.jsonl"
    done = run_module("matrix.probe", "--cases-from", CASES / "staged.py", "--cases", "staged/pass,staged/parity",
                      "--device", "cpu,cuda", "--exporter", "torchscript", "--out", out)
    assert done.returncode == 0, done.stderr
    by_device = {(r["case"], r["device"]): r for r in read_results(out)}
    assert by_device[("staged/pass", "cpu")]["status"] == "pass"
    for case in ("staged/pass", "staged/parity"):
        result = by_device[(case, "cuda")]
        assert (result["status"], result["reason"]) == ("skipped", "no CUDA device")
        assert result["cell"].endswith("-cuda")


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA GPU (none on this machine)")
def test_cuda_results_run_on_the_gpu(tmp_path):
    out = tmp_path / "r.jsonl"
    done = run_module("matrix.probe", "--cases", "blocks/*,dynamic/*,dtypes/fp16_model", "--device", "cuda",
                      "--out", out)
    assert done.returncode == 0, done.stderr
    results = read_results(out)
    assert results and all(r["status"] != "skipped" for r in results)
    assert all(r["environment"]["gpu"].get("name") for r in results), results[0]["environment"]["gpu"]
    import onnxruntime

    expected = "CUDAExecutionProvider" if "CUDAExecutionProvider" in onnxruntime.get_available_providers() \
        else "CPUExecutionProvider"
    assert {r["metrics"].get("provider") for r in results if r["stage"] not in ("reference", "export", "check")} \
        == {expected}


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA GPU (none on this machine)")
def test_cuda_export_side_writes_bundles_the_runtime_side_checks(tmp_path):
    """In two halves on a GPU: eager and the export on cuda into bundles, then the runtime side
    over them; the same statuses, stages and error kinds as both sides in one process."""
    selection = ["--cases-from", CASES / "staged.py", "--cases", "staged/pass,staged/parity,staged/dynamic,"
                 "blocks/*,dtypes/*", "--device", "cuda", "--timeout", "120"]
    one = run_module("matrix.probe", *selection, "--out", tmp_path / "one.jsonl", timeout=1800)
    assert one.returncode == 0, one.stderr
    exported = run_module("matrix.probe", *selection, "--side", "export", "--bundles", tmp_path / "b", timeout=1800)
    assert exported.returncode == 0, exported.stderr
    checked = run_module("matrix.probe", "--side", "runtime", "--bundles", tmp_path / "b", "--device", "cuda",
                         "--out", tmp_path / "split.jsonl", timeout=1800)
    assert checked.returncode == 0, checked.stderr

    def outcomes(path):
        return {(r["case"], r["exporter"]): (r["status"], r["stage"], (r["error"] or {}).get("kind"))
                for r in read_results(path)}

    both, split = outcomes(tmp_path / "one.jsonl"), outcomes(tmp_path / "split.jsonl")
    assert both == split and len(both) > 20
    assert ("pass", "dynamic", None) in both.values()
    exported_on = {(r["environment"]["gpu"] or {}).get("name") for r in read_results(tmp_path / "one.jsonl")}
    assert None not in exported_on
