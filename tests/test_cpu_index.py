"""CPU cells take torch from PyTorch's CPU index where it answers, and PyPI's build where it does
not, said in one line. PyTorch's real CPU index cannot be reached from the machines these tests
run on (download.pytorch.org does not resolve there), so a local PEP 503 index stands in for it:
Python's http.server on the loopback serving one small wheel, `torch 2.15.0+cpu`. The rest of
each lock comes from the real package index through the real uv."""

import hashlib
import http.server
import socket
import threading
import zipfile
from pathlib import Path

import pytest

from helpers import MATRIX, run_module, spec

pytestmark = [pytest.mark.network]

VERSION = f"{MATRIX['torch']}+cpu"
WHEEL = f"torch-{VERSION}-py3-none-any.whl"


def _wheel(folder: Path) -> Path:
    """A wheel that is a torch by name and version only: enough for a resolver to choose it."""
    path = folder / WHEEL
    info = f"torch-{VERSION}.dist-info"
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr("torch/__init__.py", f"__version__ = '{VERSION}'\n")
        wheel.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: torch\nVersion: {VERSION}\n")
        wheel.writestr(f"{info}/WHEEL",
                       "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        wheel.writestr(f"{info}/RECORD", "")
    return path


@pytest.fixture(scope="module")
def cpu_index(tmp_path_factory):
    """A PEP 503 index at http://127.0.0.1:PORT/simple/ holding the wheel: (its URL, the wheel's sha256)."""
    root = tmp_path_factory.mktemp("index")
    wheel = _wheel(root)
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    (root / "simple" / "torch").mkdir(parents=True)
    (root / "simple" / "torch" / "index.html").write_text(
        f'<!DOCTYPE html><html><body><a href="../../{WHEEL.replace("+", "%2B")}#sha256={digest}">{WHEEL}</a>'
        "</body></html>\n")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/simple", digest
    server.shutdown()


def _locks(folder, url, devices="cpu"):
    """{"export"/"runtime": the lock of the spec's side} and what the plan said."""
    folder.mkdir(exist_ok=True)
    (folder / "spec.toml").write_text(spec(exporter="torchscript", index=(
        f'[index.torch]\nurl = "{url}"\ndevices = ["{devices}"]\nfallback = true\n')))
    done = run_module("matrix", "plan", "--spec", folder / "spec.toml", "--locks", folder / "locks")
    assert done.returncode == 0, done.stderr
    return {p.stem.split("-")[0]: p.read_text() for p in (folder / "locks").glob("*.txt")}, done.stderr


def _pinned(lock, package):
    return next(line.split("==")[1].split()[0] for line in lock.splitlines() if line.startswith(f"{package}=="))


def test_a_cpu_cell_takes_torch_from_the_cpu_index(cpu_index, tmp_path):
    url, digest = cpu_index
    locks, said = _locks(tmp_path / "cpu", url)
    assert _pinned(locks["export"], "torch") == VERSION
    assert digest in locks["export"] and f"--extra-index-url {url}" in locks["export"]
    assert url not in locks["runtime"]  # the runtime side has no torch to take: its lock is as it was
    assert "note:" not in said
    # an index for cuda cells only leaves a cpu cell with the default index's build
    locks, _ = _locks(tmp_path / "cuda", url, devices="cuda")
    assert _pinned(locks["export"], "torch") == MATRIX["torch"] and url not in locks["export"]


def test_an_unanswering_cpu_index_falls_back_to_the_default_build_in_one_line(tmp_path):
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}/simple"
    locks, said = _locks(tmp_path, url)
    assert _pinned(locks["export"], "torch") == MATRIX["torch"]
    assert all(url not in lock for lock in locks.values())
    notes = [line for line in said.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and url in notes[0] and "torch from the default index instead" in notes[0], said


def test_an_images_torch_layer_names_the_index_its_build_comes_from(cpu_index, tmp_path):
    """The layer files pip installs in a cell image carry the lock's index lines, so the image's
    `pip install --require-hashes -r 1-torch.txt` finds `2.15.0+cpu` where the lock found it.
    (Building the image is not tried: a container cannot reach this loopback index.)"""
    from matrix import image
    from matrix.index import Index
    from matrix.lock import compile_lock
    from matrix.plan import resolve
    from matrix.spec import load

    url, digest = cpu_index
    (tmp_path / "spec.toml").write_text(spec(exporter="torchscript", index=(
        f'[index.torch]\nurl = "{url}"\ndevices = ["cpu"]\nfallback = true\n')))
    loaded = load(str(tmp_path / "spec.toml"))
    (cell,) = resolve(loaded, Index.for_spec(loaded.indexes)).cells
    side = cell.export_side()
    layers = image.layers(side, compile_lock(side, loaded.indexes), loaded.indexes)
    torch_layer = layers["1-torch.txt"]
    assert f"--extra-index-url {url}" in torch_layer and f"torch=={VERSION}" in torch_layer and digest in torch_layer
