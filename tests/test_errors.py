"""A pasted error finds its answer: three real messages from a run (TorchScript's unsupported
`aten::fft_rfft`, onnxruntime 1.16.3 refusing torch 2.15's opset, a parity mismatch), pasted as a
person meets them, find their own signature first — on the report's Errors page (from file://,
by keyboard, axe clean) and in `python -m matrix explain`. And the same run's old runtime gets
its checked fix in the upgrade advisor."""

import json
import shutil

import pytest

from helpers import MATRIX, choose, open_page, read_results, run_module, spec

pytestmark = [pytest.mark.network, pytest.mark.slow, pytest.mark.browser]


@pytest.fixture(scope="module")
def errors_run(tmp_path_factory):
    """torch 2.15, both exporters, on onnxruntime 1.32.0 and 1.16.3 (venv runner, split)."""
    tmp = tmp_path_factory.mktemp("errors")
    (tmp / "spec.toml").write_text(spec(onnxruntime=[MATRIX["onnxruntime"], "1.16.3"]))
    done = run_module("matrix", "run", "--spec", tmp / "spec.toml", "--runner", "venv", "--results", tmp / "results",
                      "--cases", "operators/fft,numerics/cumsum_long", timeout=1800)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    site = tmp / "site"
    assert run_module("matrix", "report", "--results", tmp / "results", "--out", site).returncode == 0
    results = [r for f in (tmp / "results" / "latest").glob("*.jsonl") for r in read_results(f)]
    by_key = {(r["case"], r["cell"], r["exporter"]): r for r in results}
    return {"results": tmp / "results", "site": site, "by_key": by_key}


def pasted(errors_run):
    """(what a person pastes, the signature it must find): the messages as the tools print them."""
    by_case = {}
    for (case, cell, exporter), result in errors_run["by_key"].items():
        if exporter == "torchscript":
            by_case[(case, "1.16.3" in cell)] = result
    fft = by_case[("operators/fft", False)]["error"]
    refused = by_case[("numerics/cumsum_long", True)]["error"]
    mismatch = by_case[("numerics/cumsum_long", False)]["error"]
    assert (fft["kind"], refused["kind"], mismatch["kind"]) == ("unsupported_operator", "opset_too_new",
                                                               "value_mismatch")
    return [
        # torch's own sentence, at another opset than the run's
        ("torch.onnx.errors.UnsupportedOperatorError: Exporting the operator 'aten::fft_rfft' to ONNX opset version "
         "17 is not supported. Please feel free to request support", fft["signature"]),
        # onnxruntime's whole refusal, with its prelude, the C++ place and another file name
        ("[ONNXRuntimeError] : 1 : FAIL : Load model from /home/me/model.onnx failed:/onnxruntime_src/onnxruntime/"
         "core/graph/model_load_utils.h:46 void onnxruntime::model_load_utils::ValidateOpsetForDomain(const "
         "std::unordered_map<std::basic_string<char>, int>&, const onnxruntime::logging::Logger&, bool, const "
         "string&, int) ONNX Runtime only *guarantees* support for models stamped with official released onnx "
         "opset versions. Opset 20 is under development and support for this is limited. The operator schemas and "
         "or other functionality may change before next ONNX release and in this case ONNX Runtime will not "
         "guarantee backward compatibility. Current official support for domain ai.onnx is till opset 19.",
         refused["signature"]),
        # the matrix's own mismatch line, with other numbers
        ("output 0: max abs error 0.0031 > atol 1e-05 + rtol 0.0001*|eager|", mismatch["signature"]),
    ]


def test_explain_finds_each_pasted_message_first(errors_run):
    for text, signature in pasted(errors_run):
        done = run_module("matrix", "explain", text, errors_run["results"], "-n", "1")
        assert done.returncode == 0, done.stderr
        message = next(r["error"]["message"] for r in errors_run["by_key"].values()
                       if r["error"] and r["error"]["signature"] == signature)
        assert message in done.stdout.replace("\n", " "), (text, done.stdout)
    fft = run_module("matrix", "explain", pasted(errors_run)[0][0], errors_run["results"])
    # TorchScript has no translation for aten::fft_rfft; dynamo's export of the same case runs
    assert "the same cases pass with: torch 2.15.0" in fft.stdout and "onnxruntime 1.32.0, dynamo" in fft.stdout
    assert "hint: rewrite the construct with supported ops" in fft.stdout.replace("\n", " ")
    nothing = run_module("matrix", "explain", "   ", errors_run["results"])
    assert nothing.returncode == 2 and "no words to match" in nothing.stderr


def test_the_errors_page_finds_them_from_a_paste_by_keyboard(errors_run, browser):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    from matrix.bench.axe import violations

    page = errors_run["site"] / "errors.html"
    assert open_page(browser, page) == []  # from file://, no console error
    for _ in range(12):  # the box is reached from the keyboard
        ActionChains(browser).send_keys(Keys.TAB).perform()
        if browser.switch_to.active_element.get_attribute("id") == "err-search":
            break
    assert browser.switch_to.active_element.get_attribute("id") == "err-search"
    for text, signature in pasted(errors_run):
        box = browser.find_element("id", "err-search")
        box.clear()
        browser.execute_script("arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('input'))",
                               box, text)  # a paste: the whole text at once
        first = next(s for s in browser.find_elements("css selector", "section.err") if s.is_displayed())
        assert first.get_attribute("data-signature") == signature, (text, first.text)
        assert "closest: " in browser.find_element("id", "err-count").text
    assert violations(browser) == []
    # the data the page reads is the report's own: the same expressions explain.py applies
    data = (errors_run["site"] / "data" / "errors.js").read_text()
    assert json.loads(data.split("=", 1)[1].rstrip().rstrip(";"))["patterns"]


def test_the_advisor_names_the_conversion_the_run_checked_for_dynamo_on_the_old_runtime(errors_run, browser):
    """torch 2.15's dynamo writes IR 10 at every opset and onnxruntime 1.16.3 reads IR ≤ 9: no opset
    helps. The runtime side converts the exported file to what it reads and checks it (no search
    asked for): the hint says so, the result carries the fix, and the upgrade advisor's "what to
    change (verified)" for 1.32.0 → 1.16.3 names it."""
    refused = {case: r for (case, cell, exporter), r in errors_run["by_key"].items()
               if "ort1.16.3" in cell and exporter == "dynamo" and r["status"] == "load_error"}
    assert refused, "dynamo's exports of torch 2.15 load on onnxruntime 1.16.3: the premise is gone"
    fixed = {case: r for case, r in refused.items() if (r.get("remedy") or {}).get("fixed_by")}
    for result in refused.values():
        assert result["error"]["kind"] == "ir_too_new" and result["error"]["hint"].startswith("no opset helps")
    assert "operators/fft" in fixed  # DFT at opset 19 is the same operator: the conversion holds
    fft = fixed["operators/fft"]
    assert fft["remedy"]["fixed_by"]["remedy"] == "version_convert" and fft["remedy"]["searched"] == "advice"
    assert ("convert the exported file: model = onnx.version_converter.convert_version(model, 19); "
            "model.ir_version = 9 (checked here") in fft["error"]["hint"]
    assert "onnx.save(model" in fft["remedy"]["fixed_by"]["snippet"]

    assert open_page(browser, errors_run["site"] / "advisor.html") == []
    for key, old, new in (("onnxruntime", MATRIX["onnxruntime"], "1.16.3"), ("exporter", "dynamo", "dynamo"),
                          ("device", "cpu", "cpu")):  # one torch: its release, as the run's build names it
        choose(browser, f"from-{key}", old)
        choose(browser, f"to-{key}", new)
    shown = {tr.find_element("css selector", "td").text: tr.find_element("css selector", "td.remedy-fix").text
             for tr in browser.find_elements("css selector", "#advice tbody tr")}
    assert shown["operators/fft"] == "breaks, " + fft["remedy"]["summary"]
    assert "version_convert" in shown["operators/fft"]


@pytest.fixture(scope="module")
def errors_history(errors_run, tmp_path_factory):
    """The same results root, then a second run of numerics/cumsum_long alone (its results reused):
    TorchScript's aten::fft_rfft failure was met by the first run, not by the latest."""
    root = tmp_path_factory.mktemp("errors-history") / "results"
    shutil.copytree(errors_run["results"], root, symlinks=True)
    first = json.loads((root / "latest" / "run.json").read_text())["run_id"]
    done = run_module("matrix", "run", "--spec", errors_run["results"].parent / "spec.toml", "--runner", "venv",
                      "--results", root, "--cases", "numerics/cumsum_long", timeout=1800)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    site = root.parent / "site"
    assert run_module("matrix", "report", "--results", root, "--out", site).returncode == 0
    return {"results": root, "site": site, "first": first}


def test_a_pasted_error_of_an_earlier_run_finds_its_signature_and_when_it_was_met(errors_run, errors_history,
                                                                                   browser):
    from matrix.bench.axe import violations

    (fft_text, fft), (_, refused), (mismatch_text, mismatch) = pasted(errors_run)
    gone = run_module("matrix", "explain", fft_text, errors_history["results"], "-n", "1")
    assert gone.returncode == 0, gone.stderr
    assert "aten::fft_rfft" in gone.stdout
    assert f"not in this run: last met in run {errors_history['first']}, in 1 of the 2 runs" in gone.stdout
    again = run_module("matrix", "explain", mismatch_text, errors_history["results"], "-n", "1")
    assert f"in 2 of the 2 runs, first in run {errors_history['first']}" in again.stdout

    assert open_page(browser, errors_history["site"] / "errors.html") == []
    assert browser.find_element("tag name", "h1").text.endswith("and of the runs before it")
    box = browser.find_element("id", "err-search")
    browser.execute_script("arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('input'))",
                           box, fft_text)
    first = next(s for s in browser.find_elements("css selector", "section.err") if s.is_displayed())
    assert first.get_attribute("data-signature") == fft
    assert f"Not in this run: last met in run {errors_history['first']}" in first.text
    kept = browser.find_element("css selector", f"section.err[data-signature='{refused}']")
    assert f"In 2 of the 2 runs here, first in run {errors_history['first']}" in kept.text
    assert violations(browser) == []
