"""The remedy search and the blame, with the real torch, onnx and onnxruntime: for each family of
remedies a failure it fixes and the search naming it; a failure none fixes; who is to blame."""

import json
import shutil

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from helpers import CASES, MATRIX, read_results, run_module, shown_results, spec
from matrix.probe import remedies
from matrix.probe.records import cell_id


def _by_key(path):
    return {(r["case"], r["exporter"], r["opset"]): r for r in read_results(path)}


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    """This interpreter's torch and onnxruntime, both sides here, with --remedies."""
    tmp = tmp_path_factory.mktemp("remedies")
    out = tmp / "results.jsonl"
    for cases, opset, extra in (("operators/fft,dtypes/bfloat16,numerics/amax_nan,remedies/counter", "default", []),
                                ("operators/tril", "13", ["--exporter", "torchscript"]),
                                ("numerics/amax_nan", "default", ["--exporter", "dynamo", "--remedy-budget", "1,300"])):
        target = out if not extra or "--remedy-budget" not in extra else tmp / "budget.jsonl"
        done = run_module("matrix.probe", "--cases-from", CASES / "remedies.py", "--cases", cases, "--opset", opset,
                          "--out", target, "--remedies", "--resume", *extra, timeout=1200)
        assert done.returncode == 0, done.stderr[-3000:]
    return {"results": _by_key(out), "budget": _by_key(tmp / "budget.jsonl")}


def _fixed(result):
    assert result["status"] not in ("pass", "skipped"), result["status"]
    return (result["remedy"]["fixed_by"] or {}).get("remedy")


def test_the_other_exporter_fixes_what_torchscript_cannot_export(searched):
    fft = searched["results"][("operators/fft", "torchscript", None)]
    assert (fft["status"], fft["error"]["kind"]) == ("export_error", "unsupported_operator")
    assert _fixed(fft) == "other_exporter"
    assert fft["remedy"]["summary"] == "fixed by other_exporter: dynamo=True"
    assert "dynamo=True" in fft["remedy"]["fixed_by"]["snippet"]
    # opsets came first (a smaller change) and did not help: the search says so
    assert [t["remedy"] for t in fft["remedy"]["tried"]][-1] == "other_exporter"
    assert all(t["status"] == "export_error" for t in fft["remedy"]["tried"][:-1])


def test_another_opset_fixes_an_operator_the_requested_opset_lacks(searched):
    tril = searched["results"][("operators/tril", "torchscript", 13)]
    assert tril["status"] == "export_error" and "opset version 13" in tril["error"]["message"]
    assert _fixed(tril) == "opset"
    opset = tril["remedy"]["fixed_by"]["params"]["opset"]
    assert opset > 13 and f"opset_version={opset}" in tril["remedy"]["fixed_by"]["snippet"]


def test_fp32_fixes_a_bfloat16_model_onnxruntime_has_no_kernel_for(searched):
    for exporter in ("torchscript", "dynamo"):
        bf16 = searched["results"][("dtypes/bfloat16", exporter, None)]
        assert (bf16["status"], bf16["error"]["kind"]) == ("load_error", "missing_kernel")
        assert _fixed(bf16) == "model_fp32"
        assert bf16["remedy"]["fixed_by"]["snippet"].startswith("model = model.float()")


def test_a_runtime_bug_no_remedy_fixes_is_said_and_blamed_on_the_runtime(searched):
    for exporter in ("torchscript", "dynamo"):
        amax = searched["results"][("numerics/amax_nan", exporter, None)]
        assert (amax["status"], amax["error"]["kind"]) == ("mismatch", "nan_mismatch")
        tried = amax["remedy"]["tried"]
        assert amax["remedy"]["fixed_by"] is None and tried and all(t["status"] != "pass" for t in tried)
        assert amax["remedy"]["summary"] == f"none of {len(tried)} tried helped"
        # onnxruntime's ReduceMax skips the NaN; the ONNX reference propagates it, as torch does
        assert amax["blame"]["verdict"] == "runtime"
        assert amax["blame"]["reference_vs_eager"]["matches"] is True
        assert amax["blame"]["sentence"].startswith("onnxruntime disagrees with the ONNX reference")


def test_the_budget_stops_the_search_and_says_how_much_was_left(searched):
    amax = searched["budget"][("numerics/amax_nan", "dynamo", None)]
    searched_once = amax["remedy"]
    assert len(searched_once["tried"]) == 1 and searched_once["stopped"] == "count"
    assert searched_once["candidates"] > 1
    assert searched_once["summary"] == (f"none of 1 tried helped (the count budget stopped it; "
                                        f"{searched_once['candidates'] - 1} more applied)")


def test_a_graph_the_exporter_changed_is_blamed_on_the_exporter(searched):
    for exporter in ("torchscript", "dynamo"):
        counter = searched["results"][("remedies/counter", exporter, None)]
        assert (counter["status"], counter["error"]["kind"]) == ("mismatch", "value_mismatch")
        assert counter["blame"]["verdict"] == "exporter"
        assert counter["blame"]["reference_vs_runtime"]["matches"] is True
        assert counter["blame"]["reference_vs_eager"]["matches"] is False


def _break_for_onnxruntime(path):
    """Route the model's first input through Identity and a Mul by Div(1, 1): a valid model
    (onnx.checker) that onnxruntime's graph optimisations turn invalid (microsoft/onnxruntime#32413:
    DivMulFusion with Identity elimination), while it loads with them off."""
    model = onnx.load(path)
    graph = model.graph
    source = graph.input[0].name
    graph.initializer.append(numpy_helper.from_array(np.array(1.0, np.float32), "one"))
    nodes = [helper.make_node("Identity", [source], ["mid"]), helper.make_node("Div", ["one", "one"], ["folded_one"]),
             helper.make_node("Mul", ["mid", "folded_one"], ["wrapped"])]
    for node in graph.node:
        node.input[:] = ["wrapped" if name == source else name for name in node.input]
    rest = list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes + rest)
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, path)


def test_onnxruntime_options_fix_a_model_its_optimiser_breaks(tmp_path):
    bundles = tmp_path / "bundles"
    done = run_module("matrix.probe", "--side", "export", "--bundles", bundles, "--cases", "blocks/mlp_layernorm_gelu",
                      "--exporter", "torchscript")
    assert done.returncode == 0, done.stderr[-3000:]
    folder = next(p for p in bundles.iterdir() if p.name.startswith("blocks"))
    _break_for_onnxruntime(str(folder / "model.onnx"))
    out = tmp_path / "results.jsonl"
    done = run_module("matrix.probe", "--side", "runtime", "--bundles", bundles, "--out", out, "--remedies")
    assert done.returncode == 0, done.stderr[-3000:]
    [result] = read_results(out)
    assert result["status"] == "load_error" and "Node input 'mid'" in result["error"]["message"]
    assert _fixed(result) == "session_no_optimizations"
    assert "ORT_DISABLE_ALL" in result["remedy"]["fixed_by"]["snippet"]
    assert result["remedy"]["partial"]  # the runtime side tries no export change: it has no torch


def test_candidates_follow_the_failure_and_what_this_torch_offers():
    too_new = remedies.Situation(status="load_error", kind="ir_too_new", exporter="dynamo", opset=None,
                                 device="cpu", runtime=(9, 19), advised_opset=None, other_exporter="torchscript")
    assert [t["remedy"] for t in remedies.candidates(too_new)] == ["ir_downgrade", "version_convert",
                                                                   "other_exporter"]
    # a refused version is answered by a change of version only: not by dynamo's options or a dtype,
    # and not by the other exporter where it too writes what this runtime refuses unasked (measured)
    options = dict(export_keywords=("optimize", "fallback"), dims_styles=("auto",), param_dtypes=("float16",))
    for other_default, other in (((20, 9), []), ((17, 8), ["other_exporter"])):
        situation = remedies.Situation(**{**too_new.__dict__, **options,
                                          "defaults": (("torchscript", other_default), ("dynamo", (20, 10)))})
        assert [t["remedy"] for t in remedies.candidates(situation)] == ["ir_downgrade", "version_convert", *other]
    export_error = remedies.Situation(status="export_error", kind="other", exporter="dynamo", opset=18,
                                      device="cpu", dynamic=True, input_dtypes=("float16",),
                                      writes=(("dynamo", ((18, 10), (20, 10))),), export_keywords=("optimize",),
                                      dims_styles=("auto", "dynamic"), other_exporter="torchscript")
    names = [t["remedy"] for t in remedies.candidates(export_error)]
    assert names == ["opset", "dynamo_optimize", "dynamo_dims_auto", "dynamo_dims_dynamic", "inputs_fp32",
                     "other_exporter"]
    assert remedies.candidates(export_error)[0]["params"] == {"opset": 20}
    # where dynamo named the step that failed, only what changes that step or one before it
    by_step = {step: [t["remedy"] for t in remedies.candidates(remedies.Situation(**{**export_error.__dict__,
                                                                                     "export_step": step}))]
               for step in ("capture", "decompose", "translate")}
    assert by_step["capture"] == by_step["decompose"] == [n for n in names if n not in ("opset", "dynamo_optimize")]
    assert by_step["translate"] == [n for n in names if n != "dynamo_optimize"]
    assert not remedies.candidates(remedies.Situation(status="reference_error", kind=None, exporter="dynamo",
                                                      opset=None, device="cpu"))


@pytest.fixture(scope="module")
def too_new_run(tmp_path_factory):
    """torch 2.15 exports on onnxruntime 1.16.3, which reads IR ≤ 9 and opset ≤ 19: the version
    remedies, in a matrix run (venv runner, split: the runtime side tries them)."""
    tmp = tmp_path_factory.mktemp("too-new")
    (tmp / "spec.toml").write_text(spec(onnxruntime="1.16.3", opset=["default", 18]))
    done = run_module("matrix", "run", "--spec", tmp / "spec.toml", "--runner", "venv", "--results", tmp / "results",
                      "--cases", "numerics/softmax_large_logits,operators/fft", "--remedies", timeout=1800)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    run = (tmp / "results" / "latest").resolve()
    cell = cell_id("3.11", MATRIX["torch"], MATRIX["onnx"], "1.16.3", "cpu")
    return {"run": run, "results": _by_key(run / f"{cell}.jsonl"), "tmp": tmp}


def test_version_remedies_fix_models_too_new_for_the_runtime(too_new_run):
    found = too_new_run["results"]
    dynamo_18 = found[("numerics/softmax_large_logits", "dynamo", 18)]
    assert (dynamo_18["status"], dynamo_18["error"]["kind"]) == ("load_error", "ir_too_new")
    assert _fixed(dynamo_18) == "ir_downgrade" and "model.ir_version = 9" in dynamo_18["remedy"]["fixed_by"]["snippet"]
    torchscript = found[("numerics/softmax_large_logits", "torchscript", None)]
    assert torchscript["error"]["kind"] == "opset_too_new" and _fixed(torchscript) == "version_convert"
    assert "convert_version(model, 19)" in torchscript["remedy"]["fixed_by"]["snippet"]
    # fixed on the runtime side itself: no whole-cell search was needed for these
    assert all(r["remedy"].get("partial") for (case, _, _), r in found.items()
               if r["status"] != "pass" and case == "numerics/softmax_large_logits")


def test_the_whole_cells_search_takes_the_other_exporters_try_from_the_cells_own_result(too_new_run):
    """TorchScript cannot export fft at any opset: its search's last try, the other exporter, is the
    cell's own dynamo result for the same case and opset — told, not exported again; and an opset
    that left the error unchanged for one result is not tried for the next with the same error."""
    found = too_new_run["results"]
    for opset in (None, 18):
        fft, dynamo = found[("operators/fft", "torchscript", opset)], found[("operators/fft", "dynamo", opset)]
        assert (fft["status"], fft["error"]["kind"]) == ("export_error", "unsupported_operator")
        (other,) = [t for t in fft["remedy"]["tried"] if t["remedy"] == "other_exporter"]
        assert other["from"] == "this cell's dynamo result" and other["status"] == dynamo["status"]
        assert other["kind"] == (dynamo["error"] or {}).get("kind")
    # the same operator at the other opset: the opsets the first search tried left the error as it
    # was, so the second skips them and says for which case
    skipped = [s for opset in (None, 18) for s in found[("operators/fft", "torchscript", opset)]["remedy"].get(
        "skipped") or ()]
    assert skipped and {(s["remedy"], s["why"]) for s in skipped} == {
        ("opset", "left the same error unchanged for operators/fft")}
    (keys,) = (too_new_run["run"] / "remedies").glob("*.keys.json")
    told = {tuple(k[:4]): k[4] for k in json.loads(keys.read_text())}
    assert told[("operators/fft", "torchscript", 18, "cpu")]["other"]["status"] == dynamo["status"]


def test_the_run_writes_the_remedies_table_and_the_report_shows_each_fix(too_new_run, tmp_path):
    from matrix import remedy_table

    run = too_new_run["run"]
    table = run_module("matrix", "remedies", run)
    assert table.returncode == 0, table.stderr
    fixed = sum(1 for r in too_new_run["results"].values() if (r.get("remedy") or {}).get("fixed_by"))
    assert f"**{fixed} have a verified remedy**" in table.stdout and "| `version_convert` | version |" in table.stdout
    readme = tmp_path / "remedies.md"
    readme.write_text(f"before\n{remedy_table.START}\nold\n{remedy_table.END}\nafter\n")
    assert run_module("matrix", "remedies", run, "--write", readme).returncode == 0
    assert "old" not in readme.read_text() and table.stdout.strip() in readme.read_text()
    report = tmp_path / "report"
    done = run_module("matrix", "report", "--results", run, "--out", report)
    assert done.returncode == 0, done.stderr
    fixes = [(r["fix"] or "", r["fix_snippet"] or "") for r in shown_results(report)
             if "softmax_large_logits" in r["case"]]
    assert any("fixed by version_convert" in fix and "convert_version(model, 19)" in snippet for fix, snippet in fixes)
    data = (report / "assets" / "data.js").read_text()
    advisor = json.loads(data.split("=", 1)[1].rstrip(";\n"))["advisor"]
    from matrix.report.aggregate import unpack

    unpacked = unpack(advisor)
    assert any("version_convert" in advisor["fix_texts"][n - 1] for row in unpacked["fixes"] for n in row if n)
    assert "Remedies the search verified" in (report / "workarounds.html").read_text()


def test_remedy_command_searches_one_case_here(tmp_path):
    shutil.copytree(CASES, tmp_path / "cases")
    done = run_module("matrix", "remedy", "--case", "operators/fft", "--exporter", "torchscript",
                      cwd=tmp_path, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "fixed by other_exporter: dynamo=True" in done.stdout and "dynamo=True" in done.stdout
    assert "1 of 1 failing results have a verified remedy" in done.stdout


@pytest.mark.parametrize("args, says", [
    (["--remedy-budget", "0,5"], "--remedy-budget 0,5: both must be positive"),
    (["--remedy-budget", "many"], "--remedy-budget many: expected COUNT,SECONDS such as 8,300"),
])
def test_bad_budget_is_one_line(args, says, tmp_path):
    done = run_module("matrix", "run", "--here", "--cases", "blocks/mlp_layernorm_gelu", "--remedies", *args,
                      "--out", tmp_path / "r.jsonl")
    assert done.returncode == 2 and done.stderr.strip().splitlines() == [f"matrix run: error: {says}"]
    assert not (tmp_path / "r.jsonl").exists()


def _remedy(name, **params):
    found = remedies.BY_NAME[name]
    return {"remedy": name, "family": found.family, "side": found.side, "params": params, "change": name}


def test_a_try_that_left_the_same_error_is_not_made_again_for_that_failure():
    """search.Lessons over the records search.search writes: a try that left an error exactly as it
    was (numbers aside, as signatures are normalised) is skipped for the next result with the same
    failure, and said so with the case it was made for; what fixed one goes first; a failure with
    another operator has learnt nothing."""
    from matrix.probe.search import Lessons, summary

    def failed(case_op, opset):
        return {"status": "export_error", "error": {"kind": "unsupported_operator", "message":
                f"Exporting the operator 'aten::{case_op}' to ONNX opset version {opset} is not supported."}}

    tries = [_remedy("opset", opset=19), _remedy("dynamo_optimize", optimize=False), _remedy("other_exporter")]
    for one in tries:
        one["change"] = one["remedy"]
    lessons = Lessons()
    first = Lessons.failure("torchscript", failed("fft_rfft", 17))
    assert lessons.order(first, tries) == (tries, [])
    made = [dict({k: one[k] for k in ("remedy", "family", "side", "change", "params")}, status=o["status"],
                 stage="export", kind=o["error"]["kind"], message=o["error"]["message"])
            for one, o in zip(tries, (failed("fft_rfft", 19), {"status": "export_error", "error": {
                "kind": "unsupported_operator", "message": "another error"}}, failed("fft_rfft", 17)))]
    lessons.learn(first, "operators/fft", {"tried": made})
    again = Lessons.failure("torchscript", failed("fft_rfft", 17))
    order, skipped = lessons.order(again, tries)
    # the opset try and the other exporter left the error as it was; optimize=False changed it
    assert [t["remedy"] for t in order] == ["dynamo_optimize"]
    assert [(s["remedy"], s["why"]) for s in skipped] == [
        ("opset", "left the same error unchanged for operators/fft"),
        ("other_exporter", "left the same error unchanged for operators/fft")]
    record = {"candidates": 3, "tried": made[1:2], "fixed_by": None, "stopped": None, "skipped": skipped}
    assert summary(record) == ("none of 1 tried helped; 2 skipped (they left the same error unchanged for an "
                               "earlier case)")
    assert lessons.order(Lessons.failure("torchscript", failed("stft", 17)), tries) == (tries, [])
    lessons.learn(again, "operators/fft2", {"tried": [dict(made[1], status="pass")]})
    assert [t["remedy"] for t in lessons.order(again, tries)[0]] == ["dynamo_optimize"]  # fixed: first
    other = Lessons.failure("torchscript", {"status": "export_error", "error": {
        "kind": "unsupported_operator", "message": "another error"}})
    assert [t["remedy"] for t in lessons.order(other, tries)[0]][0] == "opset"  # learnt nothing for it


def test_dynamo_options_change_the_export_as_they_say(tmp_path):
    """optimize=, strict capture and Dim.DYNAMIC fixed no failure of the default spec's run (Dim.AUTO
    did, on torch 2.11: above), so this checks what each does to a real export: optimize=False keeps
    the unoptimised graph; strict capture, Dim.AUTO and Dim.DYNAMIC export a model that passes every
    stage, its dimension still dynamic."""
    from matrix.probe import corpus
    from matrix.probe.stages import run_stages

    case = next(c for c in corpus.builtin() if c.id == "blocks/mlp_layernorm_gelu")
    outcomes = {}
    for label, remedy in (("default", None), ("unoptimised", _remedy("dynamo_optimize", optimize=False)),
                          ("strict", _remedy("dynamo_strict", strict=True)),
                          ("auto", _remedy("dynamo_dims_auto", dims="auto")),
                          ("dynamic", _remedy("dynamo_dims_dynamic", dims="dynamic"))):
        workdir = tmp_path / label
        workdir.mkdir()
        outcomes[label] = run_stages(case, "dynamo", None, "cpu", str(workdir), lambda stage: None, remedy=remedy)
        assert outcomes[label]["status"] == "pass", (label, outcomes[label]["error"])
    assert outcomes["unoptimised"]["metrics"]["nodes"] > outcomes["default"]["metrics"]["nodes"]
    assert "optimize=False" in outcomes["unoptimised"]["data"]["call"]
    assert "strict=True" in outcomes["strict"]["data"]["call"]
    assert "torch.export.Dim.AUTO" in outcomes["auto"]["data"]["call"]
    assert outcomes["auto"]["metrics"]["dynamic_checked"]  # the dimension stayed dynamic


@pytest.fixture(scope="module")
def torch_2_11_run(tmp_path_factory):
    """torch 2.11, where dynamo bakes an LSTM's sequence length and cannot export fp16 inputs into
    an fp32 model: a split run (venv runner), --remedies. The runtime side tries the session's
    remedies; the whole cell then tries the export's, told what the split run knows."""
    tmp = tmp_path_factory.mktemp("torch-2.11")
    (tmp / "spec.toml").write_text(spec(torch="2.11.0"))
    done = run_module("matrix", "run", "--spec", tmp / "spec.toml", "--runner", "venv",
                      "--results", tmp / "results", "--exporter", "dynamo", "--remedies",
                      "--cases", "blocks/lstm,dtypes/fp16_input_fp32_model", timeout=2400)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    cell = cell_id("3.11", "2.11.0", MATRIX["onnx"], MATRIX["onnxruntime"], "cpu")
    return _by_key((tmp / "results" / "latest").resolve() / f"{cell}.jsonl")


def test_dim_auto_fixes_a_sequence_length_dynamo_bakes_in(torch_2_11_run):
    lstm = torch_2_11_run[("blocks/lstm", "dynamo", None)]
    assert (lstm["status"], lstm["error"]["kind"]) == ("dynamic_error", "declared_dim_specialized")
    assert lstm["error"]["detail"]["dim"] == "seq" and lstm["error"]["detail"]["fixed_at"] == 7
    assert _fixed(lstm) == "dynamo_dims_auto"
    assert "torch.export.Dim.AUTO" in lstm["remedy"]["fixed_by"]["snippet"]
    # the runtime side's tries first, then the export's: none made twice
    tried = [(t["remedy"], t["side"]) for t in lstm["remedy"]["tried"]]
    assert lstm["remedy"]["searched"] == "whole cell" and tried[0] == ("session_no_optimizations", "session")
    assert len(set(tried)) == len(tried) and [s for _, s in tried].count("session") == 1


def test_the_seeds_fp16_into_fp32_fix_is_found_where_dynamo_fails(torch_2_11_run):
    fp16 = torch_2_11_run[("dtypes/fp16_input_fp32_model", "dynamo", None)]
    assert fp16["status"] == "export_error" and "Expected same OpOverload packet" in fp16["error"]["message"]
    assert _fixed(fp16) == "inputs_fp32"  # the seed's own advice: cast the fp16 inputs to fp32
    assert fp16["remedy"]["fixed_by"]["snippet"].startswith("args = tuple(a.float()")


def test_the_remedies_page_lists_the_remedies_as_the_code_has_them():
    from helpers import ROOT
    from matrix import remedy_table

    assert remedy_table.registry() in (ROOT / "docs" / "remedies.md").read_text()
