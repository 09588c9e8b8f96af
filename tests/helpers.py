"""What tests share: the pinned versions (read from one place each), spec and command builders,
and the result reader. conftest.py holds only fixtures and hooks."""

import ast
import functools
import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from matrix.probe.records import cell_id

ROOT = Path(__file__).resolve().parent.parent
CASES = Path(__file__).resolve().parent / "cases"


def _test_cell():
    """noxfile.TEST_CELL, the versions the suite itself runs with, without importing nox."""
    for node in ast.parse((ROOT / "noxfile.py").read_text()).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "TEST_CELL":
            return dict(pin.split("==") for pin in ast.literal_eval(node.value))
    raise LookupError("noxfile.py has no TEST_CELL")


TEST_CELL = _test_cell()
TORCH = TEST_CELL["torch"]  # the probe side's torch (this interpreter's)
# The matrix tests' cell: PyPI's newest torch with the test cell's onnx and onnxruntime (the
# recorded index in tests/data/index answers for the same releases).
MATRIX = {"python": "3.11", "torch": "2.15.0", "onnx": TEST_CELL["onnx"], "onnxruntime": TEST_CELL["onnxruntime"]}
MATRIX_CELL = cell_id(MATRIX["python"], MATRIX["torch"], MATRIX["onnx"], MATRIX["onnxruntime"], "cpu")
ARTIFACTS = Path(os.environ.get("MATRIX_ARTIFACTS", ROOT / "test-artifacts"))  # screenshots CI keeps
PYTORCH_CPU_INDEX = os.environ.get("MATRIX_TORCH_CPU_INDEX", "https://download.pytorch.org/whl/cpu")


def spec(run="", index="", **axes):
    """A spec's TOML: the matrix cell's versions, any axis replaced (a value or a list), then
    [index.*] tables and a [run] table's lines as given."""
    values = {**MATRIX, **axes}
    lines = ["[matrix]"] + [f"{axis} = {json.dumps(v if isinstance(v, list) else [v])}" for axis, v in values.items()]
    return "\n".join(lines) + "\n" + index + (f"\n[run]\n{run}\n" if run else "")


def run_module(module, *args, timeout=600, env_extra=None, executable=None, **kwargs):
    """Run `python -m module args` (with this interpreter, or `executable`) from the repository
    root; returns CompletedProcess."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), **(env_extra or {})}
    return subprocess.run([str(executable or sys.executable), "-m", module, *map(str, args)],
                          cwd=kwargs.pop("cwd", ROOT),
                          capture_output=True, text=True, timeout=timeout, env=env, **kwargs)


def write_checkpoints(folder):
    """A tiny BERT, GPT-2 and ViT as the model families' cases build them (seeded random weights),
    saved as a person's checkpoints are (save_pretrained); {name: folder}."""
    import torch
    import transformers

    tiny = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
                max_position_embeddings=64)
    torch.manual_seed(0)
    transformers.BertModel(transformers.BertConfig(vocab_size=99, **tiny)).save_pretrained(folder / "bert-tiny")
    transformers.GPT2LMHeadModel(transformers.GPT2Config(vocab_size=99, n_embd=32, n_layer=2, n_head=4,
                                                         n_positions=64)).save_pretrained(folder / "gpt2-tiny")
    transformers.ViTModel(transformers.ViTConfig(image_size=32, patch_size=8, **tiny)).save_pretrained(
        folder / "vit-tiny")
    return {name: folder / name for name in ("bert-tiny", "gpt2-tiny", "vit-tiny")}


def read_results(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


@functools.lru_cache(maxsize=1)
def torch_source():
    """(torch version, the spec's [index.torch] table, local wheel folders) for tests that build
    environments with the test cell's torch: a local CPU wheel where pip is configured with one
    (PIP_FIND_LINKS), PyTorch's CPU index where it answers, and otherwise the package index's
    default build (on Linux a CUDA build: larger, and it runs on the CPU all the same)."""
    folders = [d for d in os.environ.get("PIP_FIND_LINKS", "").split() if os.path.isdir(d)]
    if any(next(Path(d).glob(f"torch-{TORCH}+cpu-*.whl"), None) for d in folders):
        return f"{TORCH}+cpu", f"[index.torch]\nfind-links = {json.dumps(folders)}\n", folders
    try:
        with urllib.request.urlopen(urllib.request.Request(f"{PYTORCH_CPU_INDEX}/torch/", method="HEAD"), timeout=5):
            return f"{TORCH}+cpu", f'[index.torch]\nurl = "{PYTORCH_CPU_INDEX}"\n', []
    except OSError:
        return TORCH, "", []


def ensure_chromium():
    """Installed by the test setup where missing (Debian packages; we run as root in CI)."""
    if shutil.which("chromium") and shutil.which("chromedriver"):
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.fail("chromium and chromedriver are needed: apt-get install chromium chromium-driver")
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", "chromium", "chromium-driver"], check=True,
                   env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))


def open_page(browser, path):
    browser.get(path.as_uri())
    return [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]


def choose(browser, select_id, value):
    from selenium.webdriver.support.ui import Select

    Select(browser.find_element("id", select_id)).select_by_value(value)


def shown_results(site):
    """Every result as a case page's script draws it (from data/cases/*.js, data/texts/ and data/cells.js), with
    the commands that reproduce it filled in: [record, ...]."""
    from matrix.report import shards

    cells = shards.read((Path(site) / "data" / "cells.js").read_text())
    out = []
    for path in sorted((Path(site) / "data" / "cases").glob("*.js")):
        shard = shards.read(path.read_text())
        texts = shards.read((Path(site) / "data" / "texts" / f"{shard['texts']}.js").read_text())
        for record in shards.records(shard, texts):
            out.append(dict(record, reproduce=shards.expand(cells["commands"].get(record["cell"], []), record),
                            page=f"cases/{path.stem}.html"))
    return out
