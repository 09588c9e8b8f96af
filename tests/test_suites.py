"""The operator suites with the real packages: torch's operator database (`--suite aten`) through
both exporters, ONNX's node tests (`--suite onnx-node`) on two onnxruntimes, each compared with
running the same thing directly. A handful of operators and node tests, not the sweeps."""

import json
import subprocess
import sys

import numpy as np
import pytest

from helpers import read_results, run_module
from matrix import operators

ATEN = "aten/fft.rfft-float32,aten/tril-float32,aten/bernoulli-float32,aten/tril_indices-int64,aten/unique-bool"
# Node tests whose outcomes differ: passing, refused by the older runtime only (Add-14 on uint8 has
# no kernel in onnxruntime 1.16.3), a run error, value and shape checks, skipped kinds of value.
NODE_TESTS = ("test_abs", "test_add_uint8", "test_reduce_max_bool_inputs", "test_det_2d",
              "test_reduce_max_empty_set_bool", "test_dft", "test_bernoulli", "test_unique_sorted_with_axis",
              "test_sequence_insert_at_back", "test_cast_FLOAT_to_FLOAT8E4M3FN", "test_acos")


@pytest.fixture(scope="module")
def aten_file(tmp_path_factory):
    out = tmp_path_factory.mktemp("aten") / "aten.jsonl"
    done = run_module("matrix", "run", "--here", "--suite", "aten", "--cases", ATEN, "--opset", "13,14,default",
                      "--out", out)
    assert done.returncode == 0, done.stdout + done.stderr
    return out


@pytest.fixture(scope="module")
def aten(aten_file):
    return {(r["case"], r["exporter"], r["opset"]): r for r in read_results(aten_file)}


def test_an_operator_torchscript_has_no_entry_for_exports_with_dynamo(aten):
    refused = aten[("aten/fft.rfft-float32", "torchscript", None)]
    assert (refused["status"], refused["error"]["kind"]) == ("export_error", "unsupported_operator")
    assert "Exporting the operator 'aten::fft_rfft'" in refused["error"]["message"]
    assert refused["error"]["detail"]["registered"] is False
    assert refused["error"]["hint"].startswith("TorchScript's symbolic registry has no entry for aten::fft_rfft")
    exported = aten[("aten/fft.rfft-float32", "dynamo", None)]  # its complex output as (real, imaginary) pairs
    assert exported["status"] == "pass", exported["error"]
    assert exported["suite"] == "aten" and "first float32 sample" in exported["description"]


def test_an_operator_exports_only_from_the_opset_that_has_it(aten):
    before = aten[("aten/tril-float32", "torchscript", 13)]
    assert before["status"] == "export_error"
    assert "Support for this operator was added in version 14" in before["error"]["message"]
    assert before["error"]["detail"]["registered"] is False
    assert aten[("aten/tril-float32", "torchscript", 14)]["status"] == "pass"


def test_a_sample_that_cannot_be_a_model_is_skipped_with_why(aten):
    for exporter in ("torchscript", "dynamo"):
        assert aten[("aten/bernoulli-float32", exporter, None)]["reason"].startswith("random operator")
        no_tensor = aten[("aten/tril_indices-int64", exporter, None)]
        assert (no_tensor["status"], no_tensor["reason"]) == ("skipped", "the sample has no tensor input: nothing "
                                                                         "to feed a model")


def test_a_sample_drawn_from_a_set_is_the_same_in_every_interpreter(tmp_path):
    """torch's meshgrid OpInfo draws its indexing from a set ({'xy', 'ij'}), whose order is a str
    hash's, random per interpreter: with the first "xy" sample TorchScript fails (its symbolic swaps
    two outputs of one), with "ij" it passes. The runners fix the probe's hash seed, so the answer
    does not depend on the seed of the process that started it."""
    seeds = {}
    for seed in range(1, 30):
        first = subprocess.run([sys.executable, "-c", "print(next(iter({'xy', 'ij'})))"], capture_output=True,
                               text=True, env={"PYTHONHASHSEED": str(seed)}, check=True).stdout.strip()
        seeds.setdefault(first, seed)
    assert set(seeds) == {"xy", "ij"}
    found = set()
    for first, seed in seeds.items():
        out = tmp_path / f"{first}.jsonl"
        done = run_module("matrix", "run", "--here", "--suite", "aten", "--cases",
                          "aten/meshgrid.variadic_tensors-float32", "--exporter", "torchscript", "--out", out,
                          env_extra={"PYTHONHASHSEED": str(seed)})
        assert done.returncode == 0, done.stderr
        found |= {(r["status"], r["stage"]) for r in read_results(out)}
    assert len(found) == 1, found


def test_an_unknown_suite_is_one_line():
    done = run_module("matrix", "run", "--here", "--suite", "aten,nodes")
    assert done.returncode == 2 and done.stderr.strip().count("\n") == 0, done.stderr
    assert "--suite 'nodes': no such suite; choose from cases, aten, onnx-node" in done.stderr


# Running a node test directly: onnxruntime and numpy, with the data ONNX's loader gives (saved by
# the test environment, which has onnx), compared as ONNX's runner compares.
DIRECT = """
import json, sys, numpy as np, onnxruntime
statuses = {}
for name, test in json.load(open(sys.argv[1])).items():
    data = np.load(test["data"])
    try:
        session = onnxruntime.InferenceSession(test["model"], providers=["CPUExecutionProvider"])
    except Exception:
        statuses[name] = "load_error"; continue
    try:
        got = session.run(None, {k[3:]: data[k] for k in data.files if k.startswith("in:")})
    except Exception:
        statuses[name] = "run_error"; continue
    want = [data[f"out:{i}"] for i in range(test["outputs"])]
    same = all(np.shape(g) == w.shape and np.allclose(g, w, rtol=test["rtol"], atol=test["atol"], equal_nan=True)
               for g, w in zip(got, want))
    statuses[name] = "pass" if same else "mismatch"
print(json.dumps(statuses))
"""


def _direct_inputs(folder):
    """Each sample test's model and data as ONNX's loader builds them, for the direct runs."""
    import onnx
    from onnx.backend.test.loader import load_model_tests

    tests = {t.name: t for t in load_model_tests(kind="node") if t.name in NODE_TESTS}
    listed = {}
    for name, test in tests.items():
        graph = test.model.graph
        fed = [i.name for i in graph.input if i.name not in {x.name for x in graph.initializer}]
        inputs, outputs = test.data_sets[0]
        try:
            arrays = {f"in:{n}": np.asarray(a) for n, a in zip(fed, inputs)}
            arrays.update({f"out:{i}": np.asarray(a) for i, a in enumerate(outputs)})
        except ValueError:
            continue  # a sequence: the suite skips those
        if any(a.dtype.kind not in "biufc" for a in arrays.values()):
            continue  # float8 and the like (TensorProto objects here): the suite skips those too
        np.savez(folder / f"{name}.npz", **arrays)
        onnx.save(test.model, folder / f"{name}.onnx")
        listed[name] = {"model": str(folder / f"{name}.onnx"), "data": str(folder / f"{name}.npz"),
                        "outputs": len(outputs), "rtol": test.rtol, "atol": test.atol}
    (folder / "tests.json").write_text(json.dumps(listed))
    return folder / "tests.json"


@pytest.fixture(scope="module")
def node_tests(tmp_path_factory):
    """The sample's bundles written once by an export side (this onnx, 1.23: built in memory),
    checked by onnxruntime 1.32.0 (this environment) and 1.16.3 (a venv of its own)."""
    tmp = tmp_path_factory.mktemp("node")
    cases = ",".join(f"onnx-node/{name}" for name in NODE_TESTS)
    done = run_module("matrix.probe", "--side", "export", "--suite", "onnx-node", "--cases", cases,
                      "--bundles", tmp / "bundles")
    assert done.returncode == 0, done.stderr
    old = tmp / "ort1.16.3"
    subprocess.run(["uv", "venv", "-q", "--python", sys.executable, old], check=True)
    subprocess.run(["uv", "pip", "install", "-q", "--python", old / "bin" / "python", "onnxruntime==1.16.3",
                    "numpy<2"], check=True)
    listed = _direct_inputs(tmp)
    (tmp / "direct.py").write_text(DIRECT)
    found = {}
    for version, python in (("1.32.0", sys.executable), ("1.16.3", old / "bin" / "python")):
        out = tmp / f"{version}.jsonl"
        done = run_module("matrix.probe", "--side", "runtime", "--bundles", tmp / "bundles", "--out", out,
                          executable=python)
        assert done.returncode == 0, done.stderr
        direct = subprocess.run([str(python), str(tmp / "direct.py"), str(listed)], capture_output=True, text=True,
                                check=True)
        found[version] = ({r["case"].split("/", 1)[1]: r for r in read_results(out)}, json.loads(direct.stdout), out)
    return found


@pytest.mark.network  # onnxruntime 1.16.3 from the package index (or uv's cache)
def test_node_tests_answer_as_onnxruntime_does_directly(node_tests):
    for version, (results, direct, _) in node_tests.items():
        assert set(results) == set(NODE_TESTS)
        assert {r["exporter"] for r in results.values()} == {"onnx"}
        assert len(direct) >= 6, direct  # every sample test numpy can hold
        for name, status in direct.items():
            assert results[name]["status"] == status, (version, name, results[name]["error"])
        for name in set(results) - set(direct):
            assert results[name]["status"] == "skipped" and "holds" in results[name]["reason"]


@pytest.mark.network
def test_an_operator_the_older_onnxruntime_refuses_runs_on_the_newer(node_tests):
    old, new = node_tests["1.16.3"][0]["test_add_uint8"], node_tests["1.32.0"][0]["test_add_uint8"]
    assert (old["status"], old["error"]["kind"]) == ("load_error", "missing_kernel")
    assert "Could not find an implementation for Add(14)" in old["error"]["message"]
    assert new["status"] == "pass"
    assert new["versions"]["onnx"] == old["versions"]["onnx"]  # the same bundle, two runtimes


# --- the answers: `python -m matrix ops` and the report's Operators page ---------------------------

@pytest.fixture(scope="module")
def operators_run(tmp_path_factory, aten_file, node_tests):
    """A results folder holding the aten results and the node tests' on both onnxruntimes, and
    its report."""
    folder = tmp_path_factory.mktemp("operators-run")
    for path in (aten_file, *(found[2] for found in node_tests.values())):
        (folder / path.name).write_bytes(path.read_bytes())
    site = folder.parent / "operators-site"
    done = run_module("matrix", "report", "--results", folder, "--out", site)
    assert done.returncode == 0, done.stderr
    return folder, site


@pytest.mark.network
def test_ops_answers_an_aten_and_an_onnx_operator_in_a_terminal(operators_run, tmp_path):
    folder, _ = operators_run
    done = run_module("matrix", "ops", "unique", folder)
    assert done.returncode == 0, done.stderr
    assert "aten unique — dynamo" in done.stdout and "aten unique — torchscript" in done.stdout
    assert "onnxruntime 1.32.0: load_error 3" in done.stdout  # no Unique kernel for bool, at each opset
    assert "Could not find an implementation for Unique(11)" in done.stdout
    done = run_module("matrix", "ops", "ReduceMax", folder)
    assert done.returncode == 0, done.stderr
    assert "ONNX ReduceMax: 2 node tests of onnx 1.23.2" in done.stdout
    assert "onnxruntime 1.16.3" in done.stdout and "onnxruntime 1.32.0" in done.stdout
    page = tmp_path / "operators.md"
    page.write_text(f"# Operators\n\n{operators.START}\n{operators.END}\n")
    done = run_module("matrix", "ops", "--counts", folder, "--write", page)
    assert done.returncode == 0, done.stderr
    assert f"| 1.23.2 | 1.16.3 | {len(NODE_TESTS)} |" in page.read_text()
    missing = run_module("matrix", "ops", "nosuchop", folder)
    assert missing.returncode == 2 and "nosuchop: no aten operator or ONNX operator" in missing.stderr


@pytest.mark.network  # axe-core from the npm registry, once (then cached)
def test_the_operators_page_answers_a_search_from_the_keyboard(browser, operators_run):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    from helpers import open_page
    from matrix.bench.axe import violations

    _, site = operators_run
    assert open_page(browser, site / "operators.html") == []  # from file://, no console error

    def shown():
        return {s.find_element("tag name", "h2").text: s for s in browser.find_elements("css selector", "section.op")
                if s.is_displayed()}

    assert shown() == {}  # nothing until asked
    for _ in range(30):  # the search box is reached with Tab alone
        ActionChains(browser).send_keys(Keys.TAB).perform()
        if browser.switch_to.active_element.get_attribute("id") == "op-search":
            break
    assert browser.switch_to.active_element.get_attribute("id") == "op-search"
    ActionChains(browser).send_keys("unique").perform()
    assert set(shown()) == {"aten unique", "ONNX Unique"}  # torch's operator and ONNX's of that name
    section = shown()["aten unique"]
    assert "onnxruntime 1.32.0: load_error 3" in section.text
    assert {c.text for c in section.find_elements("tag name", "caption")} >= {"dynamo", "torchscript"}
    browser.execute_script("document.querySelectorAll('details').forEach(d => d.open = true)")
    assert violations(browser) == []
    box = browser.find_element("id", "op-search")
    box.clear()
    box.send_keys("ReduceMax")
    (heading,) = shown()
    assert heading == "ONNX ReduceMax"
    table = shown()[heading].find_element("tag name", "table")
    assert "onnxruntime 1.16.3" in table.text and "onnxruntime 1.32.0" in table.text
    assert "1 operators match" in browser.find_element("id", "op-count").text
    assert violations(browser) == []
