"""Model families: library versions as spec axes paired with torch, cases built offline from
configuration objects, a user's own transformers model, and where the report and docs/families.md show them."""

import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from helpers import CASES, ROOT, read_results, run_module, shown_results
from matrix import constraints
from matrix.index import Index
from matrix.lock import compile_lock
from matrix.plan import Cell, resolve
from matrix.probe import corpus
from matrix.probe.tasks import requirements
from matrix.spec import SpecError, load

INDEX = Index(snapshot=str(ROOT / "tests" / "data" / "index"))
MODELS = [c for c in corpus.builtin() if c.library]


def plan_of(tmp_path, text):
    path = tmp_path / "spec.toml"
    path.write_text(text)
    return resolve(load(str(path)), INDEX)


def test_corpus_has_twenty_architectures_from_three_libraries():
    assert {c.library for c in MODELS} == {"transformers", "torchvision", "timm"}
    architectures = {c.id for c in MODELS} - {"models/llama_kv_cache"}  # a variant of models/llama
    assert len(architectures) >= 20
    assert all(c.requires == (c.library,) and c.category == "models" and c.description for c in MODELS)
    kv = next(c for c in MODELS if c.id == "models/llama_kv_cache")
    assert any(name.startswith("present_") for name in kv.output_names) and "past_key_0" in kv.dynamic


def test_library_axes_are_selectors_and_pair_in_the_export_side(tmp_path):
    plan = plan_of(tmp_path, textwrap.dedent("""
        [matrix]
        torch = ["2.15.0"]
        onnx = ["1.23.2"]
        onnxruntime = ["1.32.0"]
        transformers = ["auto", "5.24.0"]
        torchvision = ["auto"]
        timm = ["latest"]
    """))
    assert [c.libraries for c in plan.cells] == [
        (("transformers", None), ("torchvision", None), ("timm", "1.0.31")),
        (("transformers", "5.24.0"), ("torchvision", None), ("timm", "1.0.31"))]
    auto, pinned = plan.cells
    # pinned versions name the cell and its export side; "auto" ones are the lock's choice
    assert "transformers" not in auto.id and "-timm1.0.31-" in auto.id and "-transformers5.24.0-" in pinned.id
    assert pinned.export_side().libraries == pinned.libraries and pinned.runtime_side().libraries == ()
    assert pinned.export_side().requirements()[-3:] == ["transformers[torch]==5.24.0", "torchvision", "timm==1.0.31"]
    assert not any("transformers" in r for r in pinned.runtime_side().requirements())


def test_auto_is_for_libraries_and_onnxscript_only(tmp_path):
    with pytest.raises(SpecError, match=r"\[matrix\] torch\[0\]: 'auto' is only for onnxscript, transformers"):
        plan_of(tmp_path, '[matrix]\ntorch = ["auto"]\nonnx = ["latest"]\nonnxruntime = ["latest"]\n')
    with pytest.raises(SpecError, match="transformers 9.9.9 does not exist on the index"):
        plan_of(tmp_path, '[matrix]\ntorch = ["latest"]\nonnx = ["latest"]\nonnxruntime = ["latest"]\n'
                          'transformers = ["9.9.9"]\n')


def test_torchvision_must_match_the_torch_build():
    reason = constraints.build_mismatch({"torch": "2.13.0+cpu", "torchvision": "0.28.0"})
    assert reason.startswith("torchvision 0.28.0 (a CUDA build) does not run beside torch 2.13.0+cpu (a CPU build)")
    assert "torchvision::nms does not exist" in reason
    assert constraints.build_mismatch({"torch": "2.15.0", "torchvision": "0.29.2"}) is None
    assert constraints.build_mismatch({"torch": "2.13.0+cpu", "torchvision": "0.28.0+cpu"}) is None
    assert constraints.build_mismatch({"torch": "2.11.0+cu130", "torchvision": "0.26.0"}) is None  # both CUDA
    assert "0.29.2+cpu (a CPU build) does not run beside torch 2.15.0 (a CUDA build)" in \
        constraints.build_mismatch({"torch": "2.15.0", "torchvision": "0.29.2+cpu"})


def test_a_library_that_does_not_pair_is_left_out_with_uvs_reason():
    """The real index: transformers 5.24 states torch>=2.6 in its `torch` extra, so beside torch 2.4.1
    it is unpaired (and the cell is not an env_error); torchvision and timm pair (0.19.1 is built
    for torch 2.4.1); "auto" picks the newest transformers that pairs.

    The reason is uv's sentence, whose wording is uv's and changes with the index (a newer
    transformers turned "transformers[torch]>=5.24.0" into "==5.24.0"): what the project decides is
    checked — which library, and a reason that names it, its torch requirement and the cell's torch."""
    cell = Cell("3.11", "2.4.1", "1.16.2", None, None, "cpu", side="export",
                libraries=(("transformers", "5.24.0"), ("torchvision", None), ("timm", None)))
    lock = compile_lock(cell, {})
    unpaired = lock.unpaired()
    assert list(unpaired) == ["transformers"]
    why = unpaired["transformers"]
    assert why.startswith("transformers") and "5.24.0" in why, why
    assert "torch>=2.6" in why and "torch==2.4.1" in why, why
    pins = lock.pinned()
    assert pins["torch"] == "2.4.1" and pins["torchvision"] == "0.19.1" and "timm" in pins
    assert "transformers" not in pins
    auto = compile_lock(Cell("3.11", "2.4.1", "1.16.2", None, None, "cpu", side="export",
                             libraries=(("transformers", None),)), {})
    assert auto.unpaired() == {} and "transformers" in auto.pinned() and "accelerate" in auto.pinned()


def test_an_unpaired_library_is_the_skip_reason_of_its_cases():
    why = "transformers[torch]==5.24.0 depends on torch>=2.6 and you require torch==2.4.1"  # as uv said it
    assert requirements(("transformers",), {"torch": "2.4.1"}, "export", {"transformers": why}) == \
        f"requires transformers, which does not pair with this cell: {why}"
    assert requirements(("transformers",), {"torch": "2.4.1"}, "export") == \
        "requires transformers (transformers is not installed)"


OFFLINE_BUILDS = """
import json, sys, torch
from matrix.probe import corpus, export_side
out = {}
for case in [c for c in corpus.builtin() if c.library]:
    first, inputs = export_side.build_case(case, "cpu")
    second, again = export_side.build_case(case, "cpu")
    state, other = first.state_dict(), second.state_dict()
    same_weights = state.keys() == other.keys() and all(torch.equal(v, other[k]) for k, v in state.items())
    a, b = export_side.eager(first, inputs, "cpu"), export_side.eager(second, again, "cpu")
    same_outputs = len(a) == len(b) > 0 and all((x == y).all() for (x, _), (y, _) in zip(a, b))
    out[case.id] = [same_weights, bool(same_outputs)]
print(json.dumps(out))
"""


def test_every_model_case_builds_offline_and_deterministically(tmp_path):
    """Each model's reference, built twice, has the same weights and outputs, with the network out of
    reach (its own network namespace where `unshare` is allowed, and the hub's offline switches),
    empty hub and torch caches, which stay empty."""
    caches = {name: tmp_path / name for name in ("hf", "torch", "xdg")}
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "HF_HOME": str(caches["hf"]), "TORCH_HOME": str(caches["torch"]), "XDG_CACHE_HOME": str(caches["xdg"])}
    command = [sys.executable, "-c", OFFLINE_BUILDS]
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "-rn", "true"], capture_output=True).returncode == 0:
        command = [unshare, "-rn", *command]  # no network at all: only a loopback that is down
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert sorted(found) == sorted(c.id for c in MODELS)
    assert {case: ok for case, ok in found.items() if ok != [True, True]} == {}
    assert all(not any(p.rglob("*")) for p in caches.values() if p.exists()), "something was downloaded"


def test_users_transformers_model_through_cases_from(tmp_path):
    """docs/families.md's example: a user's BERT classifier, exported both ways with named inputs and
    output, dynamic batch and sequence; each result names transformers' version and the call."""
    out = tmp_path / "mine.jsonl"
    done = run_module("matrix", "run", "--here", "--cases-from", CASES / "my_transformers.py", "--cases",
                      "mine/*", "--out", out)
    assert done.returncode == 0, done.stderr
    results = {r["exporter"]: r for r in read_results(out)}
    assert {e: r["status"] for e, r in results.items()} == {"torchscript": "pass", "dynamo": "pass"}
    for r in results.values():
        assert r["library"] == "transformers" and r["versions"]["transformers"] == "5.24.0"
        assert r["metrics"]["dynamic_checked"], "the dynamic stage ran other batch and sequence sizes"
    assert "kwargs=kwargs, dynamo=True" in results["dynamo"]["export_call"]
    assert "'input_ids': {0: dims['batch'], 1: dims['sequence']}" in results["dynamo"]["export_call"]
    assert "args + (kwargs,)" in results["torchscript"]["export_call"]
    assert "output_names=['logits']" in results["torchscript"]["export_call"]


def test_report_and_docs_show_model_families(tmp_path):
    from matrix import families
    from report_fixtures import write_run

    out = tmp_path / "here.jsonl"
    done = run_module("matrix", "run", "--here", "--cases", "models/bert,models/swin,models/resnet18,blocks/lstm",
                      "--out", out)
    assert done.returncode == 0, done.stderr
    rows = read_results(out)
    write_run(tmp_path / "results" / "run-a", "run-a", rows, 0)
    done = run_module("matrix", "report", "--results", tmp_path / "results" / "run-a", "--out", tmp_path / "report")
    assert done.returncode == 0, done.stderr
    index = (tmp_path / "report" / "index.html").read_text()
    assert '<section class="families" id="families">' in index
    assert index.index("Model families (models)") < index.index(">blocks</th>")  # the families' rows come first
    assert "transformers 5.24.0: " in index and "/2 export with dynamo on torch" in index
    advisor = (tmp_path / "report" / "advisor.html").read_text()
    assert "torchvision 0.28.0: 1/1 export with torchscript on torch" in advisor
    pages = {p.read_text().split("<h1>")[1].split("</h1>")[0]: p.read_text()
             for p in (tmp_path / "report" / "cases").glob("*.html")}
    assert "A model from <b>transformers</b>" in pages["models/bert"]
    bert = {r["exporter"]: r for r in shown_results(tmp_path / "report") if r["case"] == "models/bert"}
    assert sorted(bert) == ["dynamo", "torchscript"] and {r["transformers"] for r in bert.values()} == {"5.24.0"}
    assert "kwargs=kwargs" in bert["dynamo"]["export_call"] and "args + (kwargs,)" in bert["torchscript"]["export_call"]
    page = tmp_path / "families.md"
    page.write_text(f"x\n{families.START}\n{families.END}\ny\n")
    done = run_module("matrix", "families", tmp_path / "results" / "run-a", "--write", page)
    assert done.returncode == 0, done.stderr
    table = page.read_text()
    assert "| `models/bert` | transformers 5.24.0 | ✓ | ✓ |" in table
    statuses = {r["case"] + "/" + r["exporter"]: r for r in rows}
    swin = statuses["models/swin/dynamo"]
    if swin["status"] != "pass":  # the failure kind is named in the table
        assert f"{swin['status']}" in table.split("`models/swin`")[1].splitlines()[0]
