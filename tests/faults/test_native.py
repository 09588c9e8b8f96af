"""A case's native code misbehaves: each becomes the right status and the next case runs.
Real probe, real torch and onnxruntime, real signals and resource limits."""

from helpers import CASES, read_results, run_module

EXPECTED = {
    "faults/segfault": ("crash", "SIGSEGV"),
    "faults/abort": ("crash", "SIGABRT"),
    "faults/loop": ("timeout", "Timeout"),
    "faults/memory": ("reference_error", "out_of_memory"),
    "faults/ort_exception": ("run_error", None),
    "faults/flood": ("pass", None),
    "faults/after": ("pass", None),
}


def test_native_failures_become_statuses_and_the_next_case_runs(tmp_path, fault):
    ledger = {name: fault.inject(name, expected=1) for name in
              ("segfault", "abort", "infinite_loop", "memory_runaway", "ort_exception", "output_flood")}
    out = tmp_path / "results.jsonl"
    # 3 GiB per result: the parent (torch, onnx, onnxruntime imported and warm) already holds about 1.
    done = run_module("matrix.probe", "--cases-from", CASES / "faults.py", "--cases", "faults/*",
                      "--exporter", "torchscript", "--timeout", "10", "--memory-limit", "3072", "--out", out,
                      "--keep-failed", tmp_path / "models", timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    recorded = read_results(out)
    found = {r["case"]: r for r in recorded}
    assert len(recorded) == len(found) and set(found) == set(EXPECTED)  # every case exactly once
    for case, (status, detail) in EXPECTED.items():
        result = found[case]
        assert result["status"] == status, (case, result["status"], result["error"])
        if status == "crash":
            assert result["error"]["type"] == detail and result["error"]["detail"]["signal"] == detail
        elif status == "timeout":
            assert result["error"]["type"] == "Timeout" and "no result after 10 s" in result["error"]["message"]
        elif detail:
            assert result["error"]["kind"] == detail, result["error"]
            assert "--memory-limit" in result["error"]["hint"]
    # onnxruntime's own C++ error text comes through as the message
    assert "Reshape" in found["faults/ort_exception"]["error"]["message"]
    for name, case in zip(ledger, EXPECTED):
        fault.kept(ledger[name], 1 if found.get(case) else 0)
