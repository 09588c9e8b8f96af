"""What is published names no folder of the machine that made it: results and the report carry
places (<site-packages>, <python>, <home>, <tmp>, <project>, <workdir>), never paths."""

import gzip
import os
import sys
import tempfile

import pandas as pd
import pytest

from helpers import CASES, ROOT, TEST_CELL, run_module, spec, torch_source
from matrix.index import cache_dir
from matrix.probe.errors import scrub


def test_scrub_turns_this_machines_folders_into_places():
    home = os.path.expanduser("~")
    text = (f'File "{sys.prefix}/lib/python3.11/site-packages/torch/onnx/x.py", line 3\n'
            f"{home}/models/m.py {tempfile.gettempdir()}/matrix-case-1/model.onnx {ROOT}/matrix/probe/stages.py "
            "/usr/lib/python3.11/concurrent/futures/thread.py /tmp/matrix-case-7/model.onnx")
    assert scrub(text, workdir="/tmp/matrix-case-7") == (
        'File "<site-packages>/torch/onnx/x.py", line 3\n<home>/models/m.py <tmp>/matrix-case-1/model.onnx '
        "<project>/matrix/probe/stages.py <python>/concurrent/futures/thread.py <workdir>/model.onnx")


def readable(path):
    """A published file's text, the compressed downloads decompressed."""
    if path.suffix == ".parquet":
        return pd.read_parquet(path).to_csv()
    if path.suffix == ".gz":
        return gzip.decompress(path.read_bytes()).decode(errors="replace")
    return path.read_text(errors="replace")


@pytest.mark.network
def test_results_and_site_name_no_home_temp_or_environment_folder(tmp_path):
    torch, index, _ = torch_source()
    path = tmp_path / "spec.toml"
    path.write_text(spec(torch=torch, onnx=TEST_CELL["onnx"], onnxruntime=TEST_CELL["onnxruntime"], index=index,
                         run='cases = "staged/*,operators/tril,dtypes/*"\ntimeout = 10'))
    done = run_module("matrix", "run", "--spec", path, "--runner", "venv", "--results", tmp_path / "results",
                      "--cases-from", CASES / "staged.py")
    assert done.returncode == 0, done.stderr + done.stdout
    site = tmp_path / "site"
    assert run_module("matrix", "report", "--results", tmp_path / "results", "--out", site).returncode == 0
    published = [*site.rglob("*"), *(tmp_path / "results" / "latest").glob("*.jsonl")]
    texts = {p: readable(p) for p in published if p.is_file() and p.suffix != ".onnx"}
    assert any("<site-packages>/" in texts[p] for p in texts if p.suffix == ".parquet")  # read, not skipped
    assert any("<site-packages>/" in t for t in texts.values())  # tracebacks are there, as places
    places = {os.path.expanduser("~") + "/", tempfile.gettempdir() + "/", sys.prefix + "/", str(cache_dir()),
              str(ROOT) + "/", str(tmp_path)}
    found = sorted((str(p.relative_to(tmp_path)), place) for p, t in texts.items() for place in places if place in t)
    assert not found, found
