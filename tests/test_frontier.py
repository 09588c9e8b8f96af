"""The version frontier, measured on real releases: which IR and opset each onnxruntime loads
(checked against onnxruntime's documented rows), which opsets the torch exporters write, the
advice a matrix run gives a too-new model and checks, the versions command and the report's
Versions page."""

import json
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import onnx
import pytest

from helpers import ARTIFACTS, MATRIX, ROOT, open_page, read_results, run_module, spec
from matrix import advice, remedy, runfolder
from matrix.frontier import END, START
from matrix.probe import frontier, results
from matrix.probe.records import cell_id

pytestmark = pytest.mark.network  # onnxruntime releases and torch 2.15 come from the package index (or uv's cache)

# onnxruntime's compatibility table (its documentation stops at 1.20), for the releases with a
# wheel for Python 3.11 (1.14 has none): (newest ai.onnx opset, newest IR).
DOCUMENTED = {"1.15.1": (19, 8), "1.16.3": (19, 9), "1.17.3": (20, 9), "1.18.1": (21, 10), "1.19.2": (21, 10),
              "1.20.1": (21, 10)}
# Where the measurement says otherwise, and why the measurement is right: 1.15.1 loads an IR 9
# model and refuses IR 10 with its own words, "max supported IR version: 9".
MEASURED_OTHERWISE = {("1.15.1", "ir"): 9}
TORCHSCRIPT_2_15 = "Opset 20 is under development and support for this is limited. " \
                   "Current official support for domain ai.onnx is till opset 19."



def minor(version):
    return ".".join(version.split(".")[:2])


# onnx's own table (a patch release keeps its minor release's IR and opset): minor → (IR, opset)
ONNX_TABLE = {minor(release): (ir, opset) for release, ir, opset, *_ in onnx.helper.VERSION_TABLE}


def _venv(folder, *packages):
    subprocess.run(["uv", "venv", "-q", "--python", sys.executable, folder], check=True)
    subprocess.run(["uv", "pip", "install", "-q", "--python", folder / "bin" / "python", *packages], check=True)
    return folder / "bin" / "python"


def test_runtime_frontier_is_onnxruntimes_documented_table(tmp_path):
    stamps = tmp_path / "bundles"
    frontier.write_stamps(str(stamps / frontier.STAMPS))
    measured = {}
    for version in DOCUMENTED:
        python = _venv(tmp_path / version, f"onnxruntime=={version}", "numpy<2")
        out = tmp_path / f"{version}.json"
        done = run_module("matrix.probe", "--side", "runtime", "--bundles", stamps, "--frontier", out,
                          "--frontier-only", executable=python)
        assert done.returncode == 0, done.stderr
        measured[version] = json.loads(out.read_text())["runtime"]
    for version, (opset, ir) in DOCUMENTED.items():
        row = measured[version]
        assert (row["opset"], row["ir"]) == (MEASURED_OTHERWISE.get((version, "opset"), opset),
                                             MEASURED_OTHERWISE.get((version, "ir"), ir)), version
        # the sentences that matter, without onnxruntime's C++ prelude
        assert row["refusal"]["ir"] == f"Unsupported model IR version: {row['ir'] + 1}, " \
                                       f"max supported IR version: {row['ir']}"
        assert row["refusal"]["opset"].startswith(f"Opset {row['opset'] + 1} is under development")
        assert "onnxruntime_src" not in json.dumps(row)


def test_exporters_frontier_and_onnx_row(tmp_path):
    """This environment's torch (the test cell's): what each exporter writes, and onnx's own row
    as onnx.helper.VERSION_TABLE gives it."""
    done = run_module("matrix.probe", "--side", "export", "--bundles", tmp_path, "--frontier-only", timeout=900)
    assert done.returncode == 0, done.stderr
    measured = json.loads((tmp_path / frontier.FILE).read_text())
    row = measured["onnx"]
    assert ONNX_TABLE[minor(row["version"])] == (row["ir"], row["opset"])
    for name, exporter in measured["exporters"].items():
        default = exporter["default"]
        assert exporter["writes"][str(default["opset"])] == default["ir"], name  # the default is one it writes
        assert all(1 <= int(o) <= row["opset"] + 2 for o in exporter["writes"])
    assert frontier.unwritable(measured, "dynamo", 40).startswith("the dynamo exporter of torch ")
    assert frontier.unwritable(measured, "dynamo", measured["exporters"]["dynamo"]["default"]["opset"]) is None
    assert list((tmp_path / frontier.STAMPS).glob("ir*-opset*.onnx"))


@pytest.fixture(scope="module")
def frontier_run(tmp_path_factory):
    """torch 2.15.0 on onnxruntime 1.16.3 (older than its exports) and 1.20.1, as a new user
    would meet them: once with opsets 19 and 40 on the axis, once with the default only (the
    run then checks its advice itself)."""
    tmp = tmp_path_factory.mktemp("frontier")
    root = tmp / "results"
    runs = {}
    for name, opsets in (("axis", ["default", 19, 40]), ("default", ["default"])):
        (tmp / f"{name}.toml").write_text(spec(onnxruntime=["1.16.3", "1.20.1"], opset=opsets))
        done = run_module("matrix", "run", "--spec", tmp / f"{name}.toml", "--runner", "venv", "--results", root,
                          "--cases", "operators/tril", "-j", "2", timeout=1800)
        assert done.returncode == 0, done.stdout + done.stderr
        runs[name] = (root / "latest").resolve()
    return {"root": root, "specs": tmp, **runs}


def _cell(run, onnxruntime):
    cell = cell_id("3.11", MATRIX["torch"], MATRIX["onnx"], onnxruntime, "cpu")
    return {(r["exporter"], r["opset"]): r for r in read_results(run / f"{cell}.jsonl")}


def test_torch_2_15_on_onnxruntime_1_16_gets_exact_checked_advice(frontier_run):
    old, new = _cell(frontier_run["axis"], "1.16.3"), _cell(frontier_run["axis"], "1.20.1")
    torchscript = old[("torchscript", None)]
    assert (torchscript["status"], torchscript["error"]["kind"]) == ("load_error", "opset_too_new")
    assert torchscript["error"]["message"] == TORCHSCRIPT_2_15
    assert torchscript["error"]["detail"]["export_opset"] == 19
    assert "export with opset_version=19" in torchscript["error"]["hint"]
    assert old[("torchscript", 19)]["status"] == "pass"  # the advice, in the same cell
    assert "verified: exported at opset_version=19, this case loads and matches on onnxruntime 1.16.3" \
        in torchscript["error"]["hint"]
    dynamo = old[("dynamo", None)]
    assert (dynamo["status"], dynamo["error"]["kind"]) == ("load_error", "ir_too_new")
    assert dynamo["error"]["message"] == "Unsupported model IR version: 10, max supported IR version: 9"
    assert "no opset helps" in dynamo["error"]["hint"]
    # the runtime side converted the exported file itself and checked it: the hint and the fix say so
    assert ("convert the exported file: model = onnx.version_converter.convert_version(model, 19); "
            "model.ir_version = 9 (checked here") in dynamo["error"]["hint"]
    assert dynamo["remedy"]["fixed_by"]["remedy"] == "version_convert" and dynamo["remedy"]["searched"] == "advice"
    assert "onnxruntime 1.20.1, the oldest of this run that loads it" in dynamo["error"]["hint"]
    assert new[("dynamo", None)]["status"] == new[("torchscript", None)]["status"] == "pass"
    for exporter in ("torchscript", "dynamo"):
        skipped = old[(exporter, 40)]
        assert skipped["status"] == "skipped" and "exporter of torch 2.15.0" in skipped["reason"]
        assert "writes opsets" in skipped["reason"]


def test_advice_is_checked_by_the_run_when_its_opset_is_not_on_the_axis(frontier_run):
    run = frontier_run["default"]
    torchscript = _cell(run, "1.16.3")[("torchscript", None)]
    assert "verified: exported at opset_version=19" in torchscript["error"]["hint"]
    cell = cell_id("3.11", MATRIX["torch"], MATRIX["onnx"], "1.16.3", "cpu")
    (checked,) = read_results(run / advice.ADVICE / f"{cell}.jsonl")
    assert (checked["exporter"], checked["opset"], checked["status"]) == ("torchscript", 19, "pass")
    before = (run / f"{cell}.jsonl").read_bytes()
    advice.annotate(run)  # again, as a merge does: the same words
    assert (run / f"{cell}.jsonl").read_bytes() == before


def test_the_remedies_pass_leaves_alone_what_the_advice_verified(frontier_run, tmp_path):
    """The remedies pass comes before annotate() puts the advice's fix into the results: it asks
    the advice which of them are fixed, and searches only the others."""
    run = tmp_path / "run"
    shutil.copytree(frontier_run["default"], run, symlinks=True)
    cell = cell_id("3.11", MATRIX["torch"], MATRIX["onnx"], "1.16.3", "cpu")
    found = read_results(run / f"{cell}.jsonl")
    for result in found:  # as the pass finds them: no fix from the advice yet
        if (result.get("remedy") or {}).get("searched") == "advice":
            del result["remedy"]
    runfolder.rewrite_results(run / f"{cell}.jsonl", found)
    assert advice.verified(run, cell, found) == {("operators/tril", "torchscript", None, "cpu")}
    unchecked = {results.key(r) for r in remedy.unfixed(found)}
    assert unchecked >= {("operators/tril", "torchscript", None, "cpu"), ("operators/tril", "dynamo", None, "cpu")}
    wanted = remedy.wanted(run, [SimpleNamespace(id=cell)])
    assert {results.key(r) for r in wanted[cell][1]} == unchecked - {("operators/tril", "torchscript", None, "cpu")}


def test_a_rerun_with_nothing_changed_takes_the_checks_it_made(frontier_run, tmp_path):
    root = tmp_path / "results"
    shutil.copytree(frontier_run["root"], root, symlinks=True)
    again = run_module("matrix", "run", "--spec", frontier_run["specs"] / "default.toml", "--runner", "venv",
                       "--results", root, "--cases", "operators/tril", timeout=1800)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "(advice)" not in again.stdout  # nothing exported or checked for it again
    run = (root / "latest").resolve()
    cell = cell_id("3.11", MATRIX["torch"], MATRIX["onnx"], "1.16.3", "cpu")
    assert read_results(run / advice.ADVICE / f"{cell}.jsonl") == read_results(
        frontier_run["default"] / advice.ADVICE / f"{cell}.jsonl")
    assert "verified: exported at opset_version=19" in _cell(run, "1.16.3")[("torchscript", None)]["error"]["hint"]


def test_versions_command_tables_write_and_check(frontier_run, tmp_path):
    shown = run_module("matrix", "versions", frontier_run["axis"], "--json")
    assert shown.returncode == 0, shown.stderr
    tables = json.loads(shown.stdout)
    assert {k: tables["runtimes"]["1.16.3"][k] for k in ("ir", "opset")} == {"ir": 9, "opset": 19}
    answer = next(a for a in tables["joined"] if a["exporter"] == "torchscript")
    assert (answer["torch"], answer["loads_from"], answer["advice"]) == ("2.15.0", "1.20.1", {"1.16.3": 19})
    page = tmp_path / "versions.md"
    page.write_text(f"# Versions\n\nby hand\n\n{START}\n{END}\n\nafter\n")
    written = run_module("matrix", "versions", frontier_run["axis"], "--write", page)
    assert written.returncode == 0, written.stderr
    text = page.read_text()
    assert "by hand" in text and "after" in text and "| 1.16.3 | 9 | 19 |" in text
    assert run_module("matrix", "versions", "--check", page).returncode == 0
    page.write_text(text.replace("| 1.16.3 | 9 | 19 |", "| 1.16.3 | 9 | 20 |"))
    assert run_module("matrix", "versions", "--check", page).returncode == 1
    broken = tmp_path / "run"
    shutil.copytree(frontier_run["axis"], broken, ignore=shutil.ignore_patterns("bundles", "advice"))
    (broken / "frontier" / "runtime-ort1.16.3-py3.11-cpu.json").write_text("{not json")
    bad = run_module("matrix", "versions", broken)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "not a frontier" in bad.stderr


def test_versions_page_in_chromium(frontier_run, browser, tmp_path):
    out = tmp_path / "site"
    done = run_module("matrix", "report", "--results", frontier_run["root"], "--out", out)
    assert done.returncode == 0, done.stderr
    assert open_page(browser, out / "versions.html") == []
    newest = browser.find_element("id", "newest").text
    assert "torch 2.15.0's torchscript exporter writes opset 20 / IR 9 by default → loads on onnxruntime ≥ 1.20.1" \
        in newest and "for onnxruntime 1.16.3 export with opset_version ≤ 19" in newest
    squares = browser.find_elements("css selector", "svg#frontier g")
    assert len(squares) == 4  # torch 2.15.0 × 2 exporters, onnxruntime × 2
    kinds = sorted(s.get_attribute("class") for s in squares)
    assert kinds == ["sq-loads", "sq-loads", "sq-lower", "sq-none"]
    assert browser.find_element("css selector", "svg#frontier g.sq-lower text").text == "≤19"
    rows = browser.find_elements("css selector", "#runtimes tbody tr")
    assert [r.find_elements("tag name", "td")[0].text for r in rows] == ["1.16.3", "1.20.1"]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(ARTIFACTS / "report-versions.png"))


def test_published_version_tables_are_current_and_agree_with_onnx():
    done = run_module("matrix", "versions", "--check", ROOT / "docs" / "versions.md")
    assert done.returncode == 0, done.stdout + done.stderr
    published = json.loads((ROOT / "docs" / "versions.json").read_text())
    for version, row in published["onnx"].items():
        if minor(version) in ONNX_TABLE:  # releases newer than this onnx's table are measured only
            assert ONNX_TABLE[minor(version)] == (row["ir"], row["opset"]), version
    for version, (opset, ir) in DOCUMENTED.items():
        row = published["runtimes"].get(version)
        if row:
            assert (row["opset"], row["ir"]) == (opset, MEASURED_OTHERWISE.get((version, "ir"), ir)), version


@pytest.fixture(scope="module")
def default_report(tmp_path_factory):
    """The default spec as `nox -s matrix` runs it (its releases from the recorded index: torch
    2.15.0 and 2.11.0, onnxruntime 1.32.0 and 1.16.3), on one case, and its report."""
    tmp = tmp_path_factory.mktemp("default-spec")
    done = run_module("matrix", "run", "--spec", "default", "--runner", "venv", "--results", tmp / "results",
                      "--cases", "operators/tril", timeout=1800,
                      env_extra={"MATRIX_INDEX_SNAPSHOT": str(ROOT / "tests" / "data" / "index")})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    shown = run_module("matrix", "report", "--results", tmp / "results", "--out", tmp / "report")
    assert shown.returncode == 0, shown.stderr
    return tmp / "report"


def test_the_default_reports_advisor_names_the_verified_fix_for_an_older_runtime(default_report, browser):
    """Moving torch 2.15's dynamo exports from onnxruntime 1.32.0 to 1.16.3, the advisor's "what to
    change (verified)" names the conversion the run checked there, as a person reads it."""
    assert open_page(browser, default_report / "advisor.html") == []
    for side, onnxruntime in (("from", "1.32.0"), ("to", "1.16.3")):
        for key, value in (("torch", "2.15.0"), ("exporter", "dynamo"), ("onnxruntime", onnxruntime)):
            # the torch label is the build's (2.15.0+cu132 from PyPI): the option for that release
            chosen = browser.execute_script(
                "var s = document.getElementById(arguments[0]), want = arguments[1];"
                "var o = Array.prototype.find.call(s.options, function (o) {"
                "  return o.value === want || o.value.indexOf(want + '+') === 0; });"
                "s.value = o.value; s.dispatchEvent(new Event('change')); return s.value;", f"{side}-{key}", value)
            assert chosen.split("+")[0] == value
    rows = {tr.find_element("css selector", "td").text: tr for tr in
            browser.find_elements("css selector", "#advice tbody tr")}
    fix = rows["operators/tril"].find_element("css selector", "td.remedy-fix").text
    assert fix.startswith("breaks, fixed by version_convert") and "convert_version(model, 19)" in fix
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(ARTIFACTS / "report-advisor-default.png"))


def test_frontier_file_of_a_path_outside_is_refused_in_one_line(tmp_path):
    """Bad input: a run folder with no measurement."""
    (tmp_path / "run.json").write_text("{}")
    done = run_module("matrix", "versions", tmp_path)
    assert done.returncode == 2 and "no version frontier measured" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert Path(tmp_path / "run.json").read_text() == "{}"


def lock_of(*pins):
    """A lock as uv writes one (hashes left out): the packages pinned one per line."""
    from matrix.lock import Lock

    return Lock("cell", "".join(f"{pin} \\\n    --hash=sha256:00\n" for pin in pins))


def test_a_frontier_measured_once_holds_for_environments_that_differ_only_in_model_libraries(tmp_path,
                                                                                               monkeypatch):
    """The measurement depends on Python's minor release and the exporting and loading packages:
    an export side with transformers takes the one measured without it (in the orchestrator, by
    the lock; in the probe, by the versions it reads), another torch or onnxscript does not."""
    from matrix import reuse

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    stack = ("torch==2.15.0", "onnx==1.23.2", "onnxscript==0.7.2", "onnx-ir==0.2.0", "numpy==2.3.5")
    plain, libraries = lock_of(*stack), lock_of(*stack, "transformers==5.24.0", "tokenizers==0.22.1")
    measured = tmp_path / "measured.json"
    measured.write_text('{"format": 1}')
    reuse.keep_frontier(plain, "3.11", ["dynamo"], measured)
    assert reuse.seed_frontier(libraries, "3.11", ["dynamo"], tmp_path / "with-libraries" / "frontier.json")
    for other, python, exporters in ((lock_of(*stack[1:], "torch==2.11.0"), "3.11", ["dynamo"]),
                                     (lock_of(*stack[:2], *stack[3:], "onnxscript==0.6.0"), "3.11", ["dynamo"]),
                                     (libraries, "3.12", ["dynamo"]), (libraries, "3.11", ["torchscript"])):
        assert not reuse.seed_frontier(other, python, exporters, tmp_path / "other" / "frontier.json")
    here = {"python": "3.11.7", "torch": "2.15.0", "onnx": "1.23.2", "onnxscript": "0.7.2", "numpy": "2.3.5",
            "onnxruntime": None}
    assert frontier.holds_for(dict(here, python="3.11.2"), dict(here, transformers="5.24.0", einops="0.8.1"))
    assert not frontier.holds_for(here, dict(here, onnxscript="0.6.0"))
    assert not frontier.holds_for(here, dict(here, python="3.12.1"))


def test_run_here_on_an_old_runtime_gets_the_advice_its_refusal_gives_checked(tmp_path):
    """torch 2.15 with onnxruntime 1.16.3 in one interpreter, as a person debugging a deployment has
    them: no frontier is measured; onnxruntime's own refusal names its limit, and the advice is
    tried there and then — TorchScript's default export at opset_version=19, dynamo's IR 10 file
    through onnx.version_converter."""
    python = _venv(tmp_path / "venv", f"torch=={MATRIX['torch']}", f"onnx=={MATRIX['onnx']}", "onnxscript==0.7.2",
                   "onnxruntime==1.16.3", "numpy<2", "-e", ROOT)
    out = tmp_path / "here.jsonl"
    done = run_module("matrix", "run", "--here", "--cases", "operators/tril", "--out", out, executable=python,
                      timeout=900)
    assert done.returncode == 0, done.stderr
    found = {r["exporter"]: r for r in read_results(out)}
    torchscript, dynamo = found["torchscript"], found["dynamo"]
    assert (torchscript["status"], torchscript["error"]["kind"]) == ("load_error", "opset_too_new")
    assert torchscript["error"]["hint"].startswith("export with opset_version=19: onnxruntime reads opset ≤ 19 (its "
                                                   "own message); checked here")
    assert torchscript["remedy"]["fixed_by"]["remedy"] == "opset"
    assert (dynamo["status"], dynamo["error"]["kind"]) == ("load_error", "ir_too_new")
    assert dynamo["error"]["hint"].startswith("convert the exported file: model = onnx.version_converter."
                                              "convert_version(model, 19); model.ir_version = 9")
    assert "checked here" in dynamo["error"]["hint"] and dynamo["error"]["detail"]["runtime_opset"] == 19
    assert "→ export with opset_version=19" in done.stdout  # said where the person reads it
