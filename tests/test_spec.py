"""Spec parsing and resolution against a recorded index answer (tests/data/index, PyPI as
recorded on 2026-11-26: the live index is the one thing a test may not depend on)."""

from pathlib import Path

import pytest

from helpers import MATRIX_CELL, ROOT, run_module
from matrix import constraints
from matrix.index import Index, fits
from matrix.plan import resolve
from matrix.spec import SpecError, load

INDEX = Index(snapshot=str(ROOT / "tests" / "data" / "index"))


def spec_file(tmp_path, text, name="spec.toml"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def plan_of(tmp_path, text):
    return resolve(load(spec_file(tmp_path, text)), INDEX)


def test_builtin_specs_load():
    assert load("default").axes["exporter"] == ["torchscript", "dynamo"]
    nightly = load("nightly")
    assert nightly.axes["device"] == ["cpu", "cuda"] and nightly.axes["torch"] == ["latest-minors:6"]


@pytest.mark.parametrize("selector, expected", [
    ("latest", ["2.15.0"]),
    ("2.4.1", ["2.4.1"]),
    ("~=2.4.0", ["2.4.1"]),
    (">=2.4,<2.7", ["2.4.1", "2.5.1", "2.6.0"]),
    ("latest-minors:3", ["2.13.0", "2.14.1", "2.15.0"]),
])
def test_torch_selectors(tmp_path, selector, expected):
    plan = plan_of(tmp_path, f'[matrix]\ntorch = ["{selector}"]\nonnx = ["1.23.2"]\nonnxruntime = ["1.32.0"]\n')
    assert [c.torch for c in plan.cells] == expected


def test_every_minor_goes_back_to_the_oldest_release_with_a_wheel_for_the_python(tmp_path):
    plan = plan_of(tmp_path, '[matrix]\ntorch = ["2.15.0"]\nonnx = ["1.23.2"]\nonnxruntime = ["every-minor"]\n'
                             'python = ["3.11"]\n')
    versions = [c.onnxruntime for c in plan.cells]
    assert versions[0] == "1.15.1" and versions[-1] == "1.32.0"  # 1.14 has no wheel for Python 3.11
    assert len({v.rsplit(".", 1)[0] for v in versions}) == len(versions) == 18  # one per minor release


def test_pre_selects_the_newest_pre_release(tmp_path):
    plan = plan_of(tmp_path, '[matrix]\ntorch = ["2.15.0"]\nonnx = ["latest"]\nonnxruntime = ["latest"]\n'
                             'onnxscript = ["pre"]\n')
    (cell,) = plan.cells
    assert "dev" in cell.onnxscript or "rc" in cell.onnxscript or "a" in cell.onnxscript


def test_axes_multiply_and_ids_are_readable(tmp_path):
    plan = plan_of(tmp_path, '[matrix]\ntorch = ["latest", "~=2.11.0"]\nonnx = ["latest"]\n'
                             'onnxruntime = ["latest", "~=1.20.0"]\ndevice = ["cpu", "cuda"]\npython = ["3.11"]\n')
    assert len(plan.cells) == 8
    assert MATRIX_CELL in [c.id for c in plan.cells]


def test_exclude_and_include(tmp_path):
    plan = plan_of(tmp_path, '''
[matrix]
torch = ["latest", "~=2.11.0"]
onnx = ["latest"]
onnxruntime = ["latest", "~=1.20.0"]
python = ["3.11"]

[[exclude]]
torch = "~=2.11.0"
onnxruntime = "latest"

[[include]]
torch = "2.4.1"
onnx = "1.16.2"
onnxruntime = "1.19.2"
''')
    ids = [c.id for c in plan.cells]
    assert "torch2.11.0-onnx1.23.2-ort1.32.0-py3.11-cpu" not in ids
    assert "torch2.11.0-onnx1.23.2-ort1.20.1-py3.11-cpu" in ids
    assert ids[-1] == "torch2.4.1-onnx1.16.2-ort1.19.2-py3.11-cpu" and len(ids) == 4


def test_constraints():
    assert constraints.requirements("3.11", "2.4.1", "1.16.2", "1.19.2", None, "cpu") == [
        "torch==2.4.1", "onnx==1.16.2", "onnxruntime==1.19.2", "onnxscript<0.4.0"]
    assert "numpy<2" in constraints.requirements("3.11", "2.2.2", "1.16.2", "1.19.2", None, "cpu")
    assert "numpy<2" in constraints.requirements("3.11", "2.15.0", "1.23.2", "1.16.3", None, "cpu")  # onnxruntime's
    assert "numpy<2" in constraints.requirements("3.11", "2.15.0", "1.23.2", "1.18.1", None, "cpu")
    assert "onnxruntime-gpu==1.32.0" in constraints.requirements("3.11", "2.15.0", "1.23.2", "1.32.0", None, "cuda")
    assert constraints.onnxscript_requirement("2.11.0", None) == "onnxscript>=0.6.0"
    assert constraints.onnxscript_requirement("2.10.0", None) == "onnxscript>=0.4.0"
    assert constraints.onnxscript_requirement("2.7.1", None) == "onnxscript>=0.2.2"
    assert constraints.onnxscript_requirement("2.0.1", None) is None
    assert constraints.onnxscript_requirement("2.11.0", "0.5.0") == "onnxscript==0.5.0"


def test_wheel_fits_python_and_platform():
    assert fits("torch-2.15.0-cp311-cp311-manylinux_2_28_x86_64.whl", "3.11")
    assert not fits("torch-2.15.0-cp312-cp312-manylinux_2_28_x86_64.whl", "3.11")
    assert not fits("onnxruntime-1.9.0-cp39-cp39-win_amd64.whl", "3.9")
    assert fits("onnxscript-0.7.2-py3-none-any.whl", "3.13")
    assert fits("x-1.0-cp38-abi3-manylinux2014_x86_64.whl", "3.11")


BASE = '[matrix]\ntorch=["latest"]\nonnx=["latest"]\nonnxruntime=["latest"]\n'
BAD = {
    "malformed TOML": ("[matrix\ntorch = 1", "malformed TOML"),
    "unknown table": (BASE + '[extra]\n', "unknown table 'extra'"),
    "unknown package": (BASE + 'tensorflow=["2.0"]\n', "[matrix] tensorflow: unknown axis"),
    "empty axis": ('[matrix]\ntorch=[]\nonnx=["latest"]\nonnxruntime=["latest"]\n', "[matrix] torch: empty axis"),
    "bad selector": (BASE.replace('"latest"', '"newest"', 1), "[matrix] torch[0]: expected a version"),
    "missing axis": ('[matrix]\ntorch=["latest"]\nonnx=["latest"]\n', "[matrix] onnxruntime: missing"),
    "bad device": (BASE + 'device=["tpu"]\n', "[matrix] device[0]: expected one of cpu, cuda"),
    "auto torch": (BASE.replace('"latest"', '"auto"', 1), "'auto' is only for onnxscript"),
    "exporter in exclude": (BASE + '[[exclude]]\nexporter="dynamo"\n', "[[exclude]] #1: unknown axis 'exporter'"),
    "bad opset": (BASE + 'opset=["17"]\n', "[matrix] opset[0]: expected 'default' or an opset number"),
    "bad run key": (BASE + '[run]\ntimeout="soon"\n', "[run] timeout"),
    "no matrix": ('description = "x"\n', "[matrix]: missing"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_spec_is_one_clear_line(tmp_path, name):
    text, expected = BAD[name]
    path = spec_file(tmp_path, text)
    with pytest.raises(SpecError) as raised:
        resolve(load(path), INDEX)
    message = str(raised.value)
    assert message.startswith(path) and expected in message and "\n" not in message


@pytest.mark.parametrize("text, expected", [
    ('[matrix]\ntorch=["9.9.9"]\nonnx=["latest"]\nonnxruntime=["latest"]\n', "torch 9.9.9 does not exist on the index"),
    (BASE + '[[exclude]]\ndevice="cpu"\n', "leave no cell"),
])
def test_resolution_errors(tmp_path, text, expected):
    with pytest.raises(SpecError, match=expected):
        resolve(load(spec_file(tmp_path, text)), INDEX)


def test_cli_bad_spec_exit_2_no_traceback(tmp_path):
    path = spec_file(tmp_path, "[matrix\n")
    done = run_module("matrix", "run", "--spec", path, env_extra={"MATRIX_INDEX_SNAPSHOT": str(Path(INDEX.snapshot))})
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "malformed TOML" in done.stderr and "Traceback" not in done.stderr


def test_plan_json_lists_cells(tmp_path):
    done = run_module("matrix", "plan", "--json", env_extra={"MATRIX_INDEX_SNAPSHOT": INDEX.snapshot})
    assert done.returncode == 0, done.stderr
    assert f'"id": "{MATRIX_CELL}"' in done.stdout


def test_per_package_indexes_become_uv_options_for_the_cells_they_serve(tmp_path):
    from dataclasses import replace

    from matrix.lock import index_options

    (cell,) = plan_of(tmp_path, '[matrix]\ntorch = ["2.15.0"]\nonnx = ["1.23.2"]\nonnxruntime = ["1.32.0"]\n'
                                'python = ["3.11"]\n').cells
    indexes = {"torch": {"url": "https://example.invalid/whl/cpu", "find-links": ["/wheels"], "devices": ["cpu"]}}
    assert index_options(indexes, cell.export_side()) == [
        "--extra-index-url", "https://example.invalid/whl/cpu", "--find-links", "/wheels",
        "--index-strategy", "unsafe-best-match", "--emit-index-url"]
    assert index_options(indexes, replace(cell.export_side(), device="cuda")) == []  # a cuda cell: PyPI's build
    assert index_options(indexes, cell.runtime_side()) == ["--find-links", "/wheels"]  # no torch to take from the URL
    assert index_options({"torch": {"find-links": ["/wheels"]}}, cell) == ["--find-links", "/wheels"]


def test_weekly_selects_onnx_weekly_and_keeps_plain_onnx_out(tmp_path):
    plan = plan_of(tmp_path, '[matrix]\ntorch = ["2.15.0"]\nonnx = ["weekly", "1.23.2"]\nonnxruntime = ["1.32.0"]\n'
                             'python = ["3.11"]\n')
    weekly, release = plan.cells
    assert weekly.onnx == "1.24.0.dev20261026" and release.onnx == "1.23.2"
    assert "onnx-weekly==1.24.0.dev20261026" in weekly.requirements()
    assert weekly.overrides() == [constraints.DROP_ONNX] and release.overrides() == []
    assert "onnx==1.23.2" in release.requirements()


def test_weekly_is_only_for_onnx(tmp_path):
    with pytest.raises(SpecError, match=r"\[matrix\] torch\[0\]: 'weekly' is only for onnx"):
        plan_of(tmp_path, '[matrix]\ntorch = ["weekly"]\n')


def test_torch_nightlies_from_an_html_index(tmp_path):
    """A PEP 503 index (what download.pytorch.org serves), unreachable here: a hand-written page in its format
    stands in for it (tests/data/index/https_download_pytorch_org_whl_nightly_cpu/torch.html)."""
    from matrix.lock import index_options

    spec = load(spec_file(tmp_path, '[matrix]\ntorch = ["pre"]\nonnx = ["1.23.2"]\nonnxruntime = ["1.32.0"]\n'
                                    'python = ["3.11"]\n\n[index.torch]\nurl = "https://download.pytorch.org/whl/nightly/cpu"\n'))
    plan = resolve(spec, Index(urls={"torch": spec.indexes["torch"]["url"]}, snapshot=INDEX.snapshot))
    (cell,) = plan.cells
    assert cell.torch == "2.16.0.dev20261125+cpu"  # newest; the win_amd64-only build does not fit Linux
    assert "torch==2.16.0.dev20261125+cpu" in cell.requirements()
    assert index_options(plan.spec.indexes, cell.export_side())[:2] == ["--extra-index-url",
                                                                "https://download.pytorch.org/whl/nightly/cpu"]


def test_release_days_come_from_the_index_upload_times(tmp_path):
    """PEP 700's upload-time, as PyPI's JSON pages give it: the earliest wheel's day is the
    release's, kept in the cache, and a plan records the days of the releases it chose."""
    import json

    from matrix.index import index_page

    body = json.dumps({"files": [
        {"filename": "onnx-1.23.2-cp311-cp311-manylinux_2_17_x86_64.whl", "upload-time": "2026-10-02T10:00:00.1Z"},
        {"filename": "onnx-1.23.2-cp312-cp312-manylinux_2_17_x86_64.whl", "upload-time": "2026-10-01T23:59:00.0Z"},
        {"filename": "onnx-1.23.1-cp311-cp311-manylinux_2_17_x86_64.whl"}]})
    answer = index_page("onnx", "https://pypi.org/simple", body, html=False)
    assert answer["uploaded"] == {"1.23.2": "2026-10-01"}
    (tmp_path / "onnx.json").write_text(json.dumps(answer))
    releases = Index(snapshot=str(tmp_path)).releases("onnx")
    assert [(str(r.version), r.uploaded) for r in releases] == [("1.23.1", None), ("1.23.2", "2026-10-01")]


@pytest.mark.network
def test_a_plan_from_pypi_records_when_its_releases_came_out(tmp_path):
    spec = load(spec_file(tmp_path, '[matrix]\ntorch = ["2.11.0"]\nonnx = ["1.23.2"]\nonnxruntime = ["1.16.3"]\n'
                                    'python = ["3.11"]\n'))
    plan = resolve(spec, Index(cache=tmp_path / "cache"))
    days = plan.as_json()["released"]
    assert set(days) == {"torch", "onnx", "onnxruntime"}
    assert days["onnxruntime"]["1.16.3"].startswith("2023-")  # onnxruntime 1.16.3: November 2023


@pytest.mark.parametrize("run, said", [
    ('requirements = ["einops>>0.8"]', "[run] requirements[0]: 'einops>>0.8' is not a requirement"),
    ('requirements = ["torch>=2.5"]', "[run] requirements[0]: torch is an axis of the matrix"),
    ('requirements = ["--index-url x"]', "pip options are not requirements"),
    ('requirements = ["./nowhere"]', "nowhere: no pyproject.toml with [project] name"),
    ('requirements_file = "missing.txt"', "[run] requirements_file: cannot read"),
    ("requirements = \"einops\"", "[run] requirements: unknown key or wrong type"),
])
def test_bad_requirements_are_one_line_naming_the_place(tmp_path, run, said):
    with pytest.raises(SpecError) as caught:
        load(spec_file(tmp_path, '[matrix]\ntorch = ["2.15.0"]\nonnx = ["1.23.2"]\nonnxruntime = ["1.32.0"]\n'
                                 f"[run]\n{run}\n"))
    assert said in str(caught.value) and "\n" not in str(caught.value)


def test_requirements_from_the_spec_and_its_file_with_local_paths_made_absolute(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "pyproject.toml").write_text('[project]\nname = "my-pkg"\nversion = "1.0"\n')
    (tmp_path / "requirements.txt").write_text("# what the models need\neinops>=0.8  # rearrange\n\n./pkg\n")
    spec = load(spec_file(tmp_path, '[matrix]\ntorch = ["2.15.0"]\nonnx = ["1.23.2"]\nonnxruntime = ["1.32.0"]\n'
                                    '[run]\nrequirements = ["safetensors"]\nrequirements_file = "requirements.txt"\n'))
    assert spec.requirements == ["safetensors", "einops>=0.8", f"my-pkg @ {(tmp_path / 'pkg').as_uri()}"]


def test_a_suite_table_keeps_the_suite_to_the_cells_it_names(tmp_path):
    """[suites.aten] and [suites.onnx-node] name cells as [[include]] does: the nightly's bounded axes."""
    plan = plan_of(tmp_path, '''
[matrix]
torch = ["latest", "~=2.11.0"]
onnx = ["latest", "~=1.17.0"]
onnxruntime = ["latest", "~=1.16.0"]
python = ["3.11"]
[run]
suites = ["cases", "aten", "onnx-node"]
[suites.aten]
onnx = "latest"
onnxruntime = "latest"
[suites.onnx-node]
torch = "latest"
''')
    chosen = ["cases", "aten", "onnx-node"]
    ran = {c.id: plan.suites_for(c, chosen) for c in plan.cells}
    assert ran["torch2.15.0-onnx1.23.2-ort1.32.0-py3.11-cpu"] == chosen
    assert ran["torch2.11.0-onnx1.23.2-ort1.32.0-py3.11-cpu"] == ["cases", "aten"]
    assert ran["torch2.11.0-onnx1.17.0-ort1.16.3-py3.11-cpu"] == ["cases"]
    assert ran["torch2.15.0-onnx1.17.0-ort1.16.3-py3.11-cpu"] == ["cases", "onnx-node"]
    assert sum("aten" in s for s in ran.values()) == 2 and sum("onnx-node" in s for s in ran.values()) == 4
    side = next(c for c in plan.cells if c.id == "torch2.11.0-onnx1.23.2-ort1.16.3-py3.11-cpu").export_side()
    assert plan.suites_for(side, chosen) == ["cases", "aten"]  # the side exports for any of its cells
    assert plan.suites_for(side, ["onnx-node"]) == []
    cells = {c["id"]: c["suites"] for c in plan.as_json()["cells"]}
    assert cells == ran


@pytest.mark.parametrize("text, said", [
    ('[suites.cases]\ntorch = "latest"\n', "[suites.cases]: not an operator suite"),
    ('[suites.aten]\nexporter = "dynamo"\n', "[suites.aten]: unknown axis 'exporter'"),
    ('[suites.aten]\ntorch = "newest"\n', "[suites.aten] torch: expected a version"),
    ('[suites]\naten = 1\n', "[suites.aten]: expected a table of cell axes"),
])
def test_bad_suite_tables_are_one_line(tmp_path, text, said):
    path = spec_file(tmp_path, BASE + text)
    with pytest.raises(SpecError) as raised:
        load(path)
    assert str(raised.value).startswith(path) and said in str(raised.value) and "\n" not in str(raised.value)


def test_the_nightly_runs_the_operator_suites_on_bounded_axes():
    plan = resolve(load("nightly"), INDEX)
    chosen = plan.spec.run["suites"]
    assert chosen == ["cases", "aten", "onnx-node"]
    aten = [c for c in plan.cells if "aten" in plan.suites_for(c, chosen)]
    node = [c for c in plan.cells if "onnx-node" in plan.suites_for(c, chosen)]
    torches = sorted({c.torch for c in plan.cells})
    assert sorted(c.torch for c in aten) == torches and {c.device for c in aten} == {"cpu"}  # one cell per torch
    assert len({c.onnxruntime for c in aten}) == 1
    onnxes = {c.onnx for c in plan.cells if c.device == "cpu"}
    runtimes = {c.onnxruntime for c in plan.cells if c.device == "cpu"}
    assert len(node) == len(onnxes) * len(runtimes) - (len(runtimes) - 1)  # the weekly onnx: its one cell
    assert all(c.torch == torches[-1] and c.device == "cpu" for c in node)
    assert all(plan.suites_for(c, chosen)[0] == "cases" for c in plan.cells)  # the corpus everywhere


def test_a_suite_no_cell_runs_is_one_line(tmp_path):
    path = spec_file(tmp_path, BASE + "[suites.onnx-node]\nonnxruntime = \"1.16.3\"\n")
    done = run_module("matrix", "run", "--spec", path, "--suite", "onnx-node", "--results", tmp_path / "results",
                      env_extra={"MATRIX_INDEX_SNAPSHOT": INDEX.snapshot})
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].endswith("[suites] tables leave no cell to run it in")
    assert not (tmp_path / "results").exists()
