"""The user's cases bring their dependencies: the spec's [run] requirements and a package folder
given with --cases-from are locked (hashes) and installed in every cell, a conflict is that cell's
env_error, a missing module says missing_dependency. Real index, real uv, both runners."""

import json
import re
import shutil
import time

import pytest

from helpers import CASES, MATRIX, cell_id, read_results, run_module, spec

pytestmark = [pytest.mark.network, pytest.mark.slow]

EXTRAS = CASES / "extras"
OLD_ORT = "1.16.3"  # needs numpy < 2 (matrix/constraints.py): "numpy>=2" cannot join it


def matrix(tmp_path, text, *extra, runner="venv"):
    (tmp_path / "spec.toml").write_text(text)
    done = run_module("matrix", "run", "--spec", tmp_path / "spec.toml", "--results", tmp_path / "results",
                      "--runner", runner, "-j", "2", *extra, timeout=1800)
    latest = tmp_path / "results" / "latest"
    run = json.loads((latest / "run.json").read_text()) if (latest / "run.json").exists() else None
    return done, run, latest


def test_a_named_requirement_is_locked_and_installed_and_a_conflict_is_only_its_cells_env_error(tmp_path):
    shutil.copy(EXTRAS / "einops_cases.py", tmp_path / "einops_cases.py")
    text = spec(onnxruntime=[MATRIX["onnxruntime"], OLD_ORT], exporter="torchscript",
                run='cases = "extras/*"\nrequirements = ["einops>=0.8", "numpy>=2"]')
    done, run, latest = matrix(tmp_path, text, "--cases-from", tmp_path / "einops_cases.py", "--no-split")
    assert done.returncode == 0, done.stderr + done.stdout
    good, bad = (cell_id("3.11", MATRIX["torch"], MATRIX["onnx"], ort, "cpu")
                 for ort in (MATRIX["onnxruntime"], OLD_ORT))
    cells = {c["id"]: c for c in run["cells"]}
    # the conflict: uv's reason, on the first line, for that cell alone
    assert cells[bad]["status"] == "env_error"
    first = cells[bad]["error"].splitlines()[0]
    assert first.startswith("cannot resolve the cell's requirements: ") and "numpy" in first
    (result,) = read_results(latest / f"{good}.jsonl")
    assert result["status"] == "pass", result.get("error")
    assert result["versions"]["einops"].startswith("0.")
    lock = (latest / "lock" / f"{good}.txt").read_text()
    assert re.search(r"^einops==[0-9.]+ \\\n\s+--hash=sha256:[0-9a-f]{64}", lock, re.M), lock
    assert cells[good]["cell"]["extras"] == ["einops>=0.8", "numpy>=2"]
    # the report's cell page lists them, each with the version its lock pinned
    site = tmp_path / "site"
    assert run_module("matrix", "report", "--results", latest, "--out", site).returncode == 0
    page = (site / "cells" / f"{good}.html").read_text()
    assert f"<code>einops&gt;=0.8</code> → einops {result['versions']['einops']}" in page


def test_without_the_requirement_the_case_says_missing_dependency_with_the_hint(tmp_path):
    shutil.copy(EXTRAS / "einops_cases.py", tmp_path / "einops_cases.py")
    done, run, latest = matrix(tmp_path, spec(exporter="torchscript", run='cases = "extras/*"'),
                               "--cases-from", tmp_path / "einops_cases.py")
    assert done.returncode == 0, done.stderr + done.stdout
    (result,) = read_results(next(latest.glob("*.jsonl")))
    assert (result["status"], result["error"]["kind"]) == ("reference_error", "missing_dependency")
    assert result["error"]["detail"]["module"] == "einops"
    assert "[run] requirements" in result["error"]["hint"] and "einops" in result["error"]["hint"]


def test_a_requirement_that_does_not_exist_is_one_line_at_plan_time(tmp_path):
    (tmp_path / "spec.toml").write_text(spec(run='requirements = ["no-such-package-xq7z>=1"]'))
    done = run_module("matrix", "plan", "--spec", tmp_path / "spec.toml")
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "no-such-package-xq7z" in done.stderr
    assert "no such package on the index" in done.stderr and "Traceback" not in done.stderr


def test_a_package_folder_is_installed_with_its_own_dependencies(tmp_path):
    folder = tmp_path / "pkgproject"
    shutil.copytree(EXTRAS / "pkgproject", folder)
    done, run, latest = matrix(tmp_path, spec(exporter="torchscript", run='cases = "extras/*"'), "--cases-from",
                               folder)
    assert done.returncode == 0, done.stderr + done.stdout
    (result,) = read_results(next(latest.glob("*.jsonl")))
    assert result["status"] == "pass", result.get("error")
    assert result["versions"]["mt-userpkg"] == "0.3.1"  # installed, not only importable from its folder
    export_lock = (latest / "lock" / f"{run['cells'][0]['export']}.txt").read_text()
    assert "mt-userpkg==0.3.1" in export_lock and "einops==" in export_lock  # its own dependency, locked


@pytest.mark.parametrize("backend", ["hatchling", "setuptools"])
def test_a_package_builds_into_the_same_wheel_every_time(tmp_path, backend):
    """Same sources, same wheel bytes: its hash in the lock, and so the cell's image, do not change
    from one run to the next (setuptools stamps the build's time unless told otherwise)."""
    from matrix.extras import build_wheel

    folder = tmp_path / "pkg"
    (folder / "stamped").mkdir(parents=True)
    (folder / "stamped" / "__init__.py").write_text("X = 1\n")
    (folder / "pyproject.toml").write_text(f'[build-system]\nrequires = ["{backend}"]\nbuild-backend = "'
                                           + ("hatchling.build" if backend == "hatchling" else "setuptools.build_meta")
                                           + '"\n[project]\nname = "stamped"\nversion = "1.0"\n')
    first = build_wheel("stamped", folder).read_bytes()
    time.sleep(1.5)  # the zip's times have a two-second grain: let the clock move past one
    shutil.rmtree(folder / "build", ignore_errors=True)
    assert build_wheel("stamped", folder).read_bytes() == first
