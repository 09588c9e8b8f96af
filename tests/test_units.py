"""The probe's pure parts: signatures, classification, parity arithmetic, requirements, case declarations."""

import numpy as np
import pytest

from matrix import Case, case
from matrix.probe import errors, parity
from matrix.probe.errors import CheckFailed
from matrix.probe.exporters import for_torch
from matrix.probe.versions import satisfies, unmet


def test_signature_groups_the_same_failure_across_versions():
    a = errors.signature("Exporting the operator 'aten::tril' to ONNX opset version 13 is not supported.")
    b = errors.signature("Exporting the operator 'aten::tril' to ONNX opset version 9 is not supported.")
    assert a == b and "aten::tril" in a
    c = errors.signature("Load model from /tmp/matrix-case-abc/model.onnx failed at 0x7f3a2b1c, shape [2, 3, 4]")
    d = errors.signature("Load model from /tmp/matrix-case-xyz/model.onnx failed at 0x55aa00ff, shape [8, 1]")
    assert c == d and "/tmp" not in c and "0x" not in c


@pytest.mark.parametrize("message, kind, detail", [
    ("Exporting the operator 'aten::tril' to ONNX opset version 13 is not supported.", "unsupported_operator",
     {"op": "aten::tril", "opset": "13"}),
    ("Unsupported model IR version: 10, max supported IR version: 9", "ir_too_new", {"ir": "10", "max_ir": "9"}),
    ("Could not find an implementation for LayerNormalization(17) node with name 'n'", "missing_kernel",
     {"op": "LayerNormalization", "opset": "17"}),
    ("Unexpected input data type. Actual: (tensor(float16)) , expected: (tensor(float))", "dtype_binding", {}),
    ("Could not guard on data-dependent expression Eq(u0, 1)", "data_dependent_guard", {}),
    ("No module named 'onnxscript'", "missing_dependency", {"module": "onnxscript"}),
    ("Support for dynamo_export has been dropped since onnxscript 0.4.0.", "incompatible_versions",
     {"package": "onnxscript", "version": "0.4.0"}),
    ("No ONNX function found for <OpOverload(op='aten.masked_select', overload='default')>. Failure message",
     "unsupported_operator", {"op": "aten.masked_select"}),
    ("Unsupported: ONNX export of operator adaptive_avg_pool2d, output size that are not factor of input size",
     "unsupported_operator", {"op": "adaptive_avg_pool2d"}),
    ("something nobody has seen", None, {}),
])
def test_classify_known_patterns(message, kind, detail):
    found, groups = errors.classify(message)
    assert found == kind
    assert {k: groups[k] for k in detail} == detail


# onnxruntime's words, as it raised them (1.16.3 and 1.32.0 here): a prelude, then the sentence
_PRELUDE = ("[ONNXRuntimeError] : 1 : FAIL : Load model from /tmp/x/model.onnx failed:/onnxruntime_src/onnxruntime/"
            "core/graph/model_load_utils.h:46 void onnxruntime::model_load_utils::ValidateOpsetForDomain(const std::"
            "unordered_map<std::__cxx11::basic_string<char>, int>&, const onnxruntime::logging::Logger&, bool, const "
            "std::string&, int) ")


@pytest.mark.parametrize("message, said", [
    ("[ONNXRuntimeError] : 1 : FAIL : Load model from /tmp/x/model.onnx failed:/onnxruntime_src/onnxruntime/core/"
     "graph/model.cc:149 onnxruntime::Model::Model(onnx::ModelProto&&, const PathString&, const "
     "IOnnxRuntimeOpSchemaRegistryList*, const onnxruntime::logging::Logger&, const onnxruntime::ModelOptions&) "
     "Unsupported model IR version: 10, max supported IR version: 9",
     "Unsupported model IR version: 10, max supported IR version: 9"),
    (_PRELUDE + "ONNX Runtime only *guarantees* support for models stamped with official released onnx opset "
     "versions. Opset 20 is under development and support for this is limited. The operator schemas and or other "
     "functionality may change before next ONNX release and in this case ONNX Runtime will not guarantee backward "
     "compatibility. Current official support for domain ai.onnx is till opset 19.",
     "Opset 20 is under development and support for this is limited. Current official support for domain ai.onnx "
     "is till opset 19."),
    ("[ONNXRuntimeError] : 10 : INVALID_GRAPH : Load model from /tmp/a.onnx failed:This is an invalid model. "
     "Error No Op registered for Foo with domain_version of 1", "This is an invalid model. Error No Op registered "
                                                                 "for Foo with domain_version of 1"),
])
def test_message_is_the_sentence_after_onnxruntimes_prelude(message, said):
    error = errors.from_exception(RuntimeError(message))
    assert error["message"] == said
    assert "onnxruntime_src" in error["traceback"] or "Load model from" in error["traceback"]  # the whole text stays


def test_first_line_skips_blank_and_markdown():
    assert errors.first_line("\n\n## Real cause here\nmore") == "Real cause here"


def _expected(array):
    return [(np.asarray(array), str(np.asarray(array).dtype))]


def test_parity_passes_within_tolerance_and_measures():
    figures = parity.compare(_expected([1.0, 2.0]), [np.array([1.0, 2.0000001], dtype=np.float64)])
    assert figures["max_abs_err"] == pytest.approx(1e-7)


def test_parity_required_atol_is_the_smallest_that_passes():
    want = np.array([1.0, 100.0], dtype=np.float32)
    got = np.array([1.1, 100.0], dtype=np.float32)
    figures, failure = parity.measure(_expected(want), [got])
    assert failure.kind == "value_mismatch"
    required = figures["required_atol"]
    assert required == pytest.approx(0.1 - 1e-4 * 1.0, rel=1e-4)
    assert parity.compare(_expected(want), [got], atol=required * 1.001)


@pytest.mark.parametrize("got, kind", [
    ([np.zeros(3, np.float32)] * 2, "output_count"),
    ([np.zeros(4, np.float32)], "shape_mismatch"),
    ([np.zeros(3, np.float64)], "dtype_mismatch"),
    ([np.array([0, 0, np.nan], np.float32)], "nan_mismatch"),
])
def test_parity_structural_failures(got, kind):
    with pytest.raises(CheckFailed) as raised:
        parity.compare(_expected(np.zeros(3, np.float32)), got)
    assert raised.value.kind == kind


def test_parity_integers_are_exact():
    with pytest.raises(CheckFailed):
        parity.compare(_expected(np.array([1, 2], np.int64)), [np.array([1, 3], np.int64)])


def test_parity_fp16_tolerances():
    figures = parity.compare(_expected(np.array([1.0], np.float16)), [np.array([1.005], np.float16)])
    assert (figures["rtol"], figures["atol"]) == (1e-2, 1e-3)


@pytest.mark.parametrize("version, clauses, ok", [
    ("2.5.1+cu121", ">=2.5", True), ("2.4.1", ">=2.5", False), ("2.5.0rc1", ">=2.5,<2.6", True),
    ("1.16.2", "==1.16.2", True), ("2.10.0", ">2.9", True), ("2.10.0", "~=2.9", True),
])
def test_version_clauses(version, clauses, ok):
    assert satisfies(version, clauses) is ok


def test_unmet_names_the_requirement():
    assert unmet("torch>=2.5", {"torch": "2.4.1"}) == "requires torch>=2.5 (have torch 2.4.1)"
    assert unmet("onnxscript>=0.2", {"onnxscript": None}).endswith("(onnxscript is not installed)")
    assert unmet("torch>=2.0", {"torch": "2.13.0"}) is None


def test_exporter_availability_per_torch_version():
    assert for_torch("2.0.1").unavailable("dynamo") == "torch < 2.1 has no dynamo-based ONNX exporter"
    assert for_torch("2.4.1").unavailable("dynamo", 17).startswith("torch < 2.5's dynamo_export")
    assert for_torch("2.4.1").unavailable("dynamo") is None
    assert for_torch("2.13.0").unavailable("dynamo", 17) is None


def test_case_declaration_is_validated():
    with pytest.raises(ValueError, match="category/name"):
        Case(id="no-slash", build=lambda: None)
    with pytest.raises(ValueError, match="unknown device"):
        Case(id="a/b", build=lambda: None, devices=("tpu",))
    with pytest.raises(ValueError, match="undeclared dimension"):
        Case(id="a/b", build=lambda: None, dynamic=({0: "batch"},), dynamic_sizes={"seq": [3]})
    c = Case(id="a/b", build=lambda: None, dynamic=({0: "batch"}, {0: "batch", 1: "seq"}))
    assert c.category == "a" and c.dim_names == ("batch", "seq")


def test_case_decorator_takes_description_from_docstring():
    @case("a/decorated")
    def build():
        """What this stands for."""

    assert isinstance(build, Case) and build.description == "What this stands for."


def test_a_search_told_of_a_sibling_tries_its_fix_first_and_does_not_repeat_its_export_failures():
    """The same export's search in another cell (diagnose._from_sibling): the try that fixed it
    there goes first; one that failed there at export is recorded from it, not made again; one
    that failed at a runtime stage is made again (this cell's onnxruntime may differ)."""
    from matrix.probe import diagnose, search

    def one(remedy, **params):
        return {"remedy": remedy, "family": "x", "side": "export", "params": params, "change": remedy}

    tries = [one("opset", opset=18), one("dynamo_optimize", optimize=False), one("other_exporter", exporter="ts")]
    said = {"opset": ("export_error", "export"), "dynamo_optimize": ("mismatch", "parity"),
            "other_exporter": ("pass", None)}
    sibling = {"cell": "cell-a", "tried": [dict(t, status=said[t["remedy"]][0], stage=said[t["remedy"]][1], kind=None,
                                               message=None) for t in tries]}
    made = []

    def whole(try_, left, passes=("other_exporter",)):
        made.append(try_["remedy"])
        return {"status": "pass" if try_["remedy"] in passes else "mismatch", "stage": None, "error": None}

    attempt, ordered = diagnose._from_sibling(sibling, whole, tries)
    assert [t["remedy"] for t in ordered] == ["other_exporter", "opset", "dynamo_optimize"]
    record = search.search(ordered, attempt)
    assert record["fixed_by"]["remedy"] == "other_exporter" and made == ["other_exporter"]

    made.clear()  # here the sibling's fix does not hold: the rest are searched, the export failure not made
    attempt, ordered = diagnose._from_sibling(sibling, lambda t, left: whole(t, left, passes=()), tries)
    record = search.search(ordered, attempt)
    assert made == ["other_exporter", "dynamo_optimize"] and record["fixed_by"] is None
    shared = next(t for t in record["tried"] if t["remedy"] == "opset")
    assert shared["from"] == "cell-a" and shared["status"] == "export_error"
    assert all("from" not in t for t in record["tried"] if t["remedy"] != "opset")
