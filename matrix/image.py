"""Cell images: Dockerfiles rendered from images/*.j2 per locked cell, built with the Docker SDK.

Rendering is pure (same lock → byte-identical files); building streams the log, tags the
image by the lock's hash and reuses it; a failed build is the cell's EnvError with the log's tail.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

import jinja2
from packaging.requirements import Requirement
from packaging.version import Version

from matrix import constraints
from matrix.lock import PLATFORM, EnvError, Lock, index_options, tail, uv_bin
from matrix.plan import Cell
from matrix.probe import selfcheck

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT / "images"
BUILD = ROOT / "build" / "images"
DEFAULT_BASE = {"cpu": "python:3.11-slim", "cuda": "python:3.11-slim"}
LOCAL_BASE = "onnx-matrix-base:bookworm"
HOST_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
LABEL = "io.onnx-matrix"
SHARED = "onnx-matrix-layer"  # images of the steps up to the torch layer, shared by the cells built from them
# What the image carries of the project, and all that ever runs inside a cell: the cell-side
# package and the package's __init__ (the public Case API). tests/test_architecture.py holds
# these files to an allow-list of imports.
CELL_SIDE = ["__init__.py", "probe"]


def tag(lock: Lock, context: Path) -> str:
    """Named by the lock and by the recipe (Dockerfile, CA bundle, the probe's own code): same
    inputs, same image; a changed probe gets a new image rather than running stale code."""
    recipe = hashlib.sha256()
    for name in ("Dockerfile", "ca.crt"):
        if (context / name).exists():
            recipe.update((context / name).read_bytes())
    for path in sorted((context / "matrix").rglob("*.py")):
        recipe.update(str(path.relative_to(context)).encode() + b"\0" + path.read_bytes())
    return f"onnx-matrix-cell:{lock.hash}-{recipe.hexdigest()[:8]}"


def layers(cell: Cell, lock: Lock, indexes: Dict[str, Dict]) -> Dict[str, str]:
    """The lock split into install steps (torch, then onnx + onnxscript, then onnxruntime, then the
    model libraries, then the user's own requirements), each pinned to the lock's own versions so
    that cells sharing a torch version share its layer, and cells that differ only in a library
    share all the others."""
    # Names only (and extras): the lock is the truth, the pins come from it as constraints (a lock
    # given with --locked may pin what today's requirements would not choose). A library the lock
    # left out (unpaired) is not installed.
    users = [Requirement(r).name for r in cell.extras]  # what the user's cases need: the last layer
    parsed = [Requirement(r) for r in cell.matrix_requirements() if Requirement(r).name not in lock.unpaired()]
    wanted = [r.name for r in parsed]
    libraries = [r.name + (f"[{','.join(sorted(r.extras))}]" if r.extras else "") for r in parsed
                 if r.name in constraints.LIBRARIES]
    # numpy joins torch's layer only when torch itself needs numpy 1.x; when onnxruntime does, it
    # comes with the onnx layer, so the torch layer stays shared with the cells of newer runtimes.
    with_torch = {"torch", "numpy"} if cell.torch and Version(cell.torch) < constraints.NUMPY_2_FROM_TORCH \
        else {"torch"}
    steps = [("1-torch.txt", [r for r in wanted if r in with_torch]),
             ("2-onnx.txt", [r for r in wanted if r.startswith("onnx") and not r.startswith("onnxruntime")]),
             ("3-onnxruntime.txt", [r for r in wanted if r.startswith("onnxruntime")]),
             ("4-libraries.txt", libraries), ("5-requirements.txt", users)]
    done: set = set()
    files: Dict[str, str] = {}
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as pins:
        pins.write(lock.text)
        pins.flush()
        for name, requirements in steps:
            if not requirements:  # a side of a cell has no torch or no onnxruntime layer
                continue
            text = _compile(requirements + sorted(done), pins.name, cell, indexes)
            kept = _without(text, done)
            done |= {line.split("==")[0] + "==" + line.split("==")[1].split()[0]
                     for line in text.splitlines() if "==" in line and not line.startswith((" ", "#"))}
            files[name] = kept
    return files


def _compile(requirements: List[str], constraints: str, cell: Cell, indexes: Dict[str, Dict]) -> str:
    done = subprocess.run([uv_bin(), "pip", "compile", "-", "-c", constraints, "--python-version", cell.python,
                           "--python-platform", PLATFORM, "--generate-hashes", "--no-header", "--quiet",
                           "--no-annotate", *index_options(indexes, cell)],
                          input="\n".join(requirements) + "\n", capture_output=True, text=True)
    if done.returncode != 0:
        raise EnvError(f"cannot split the lock into layers:\n{tail(done.stderr)}")
    return done.stdout


def _without(text: str, installed: set) -> str:
    """Drop the entries (with their hash lines) already installed by an earlier layer."""
    out: List[str] = []
    skipping = False
    for line in text.splitlines():
        if line and not line.startswith((" ", "#")):
            pin = line.split()[0]
            skipping = pin in installed
        if not skipping:
            out.append(line)
    return "\n".join(out) + "\n"


def render(cell: Cell, lock: Lock, indexes: Dict[str, Dict], base_image: Optional[str] = None,
           ca_bundle: Optional[str] = None, wheelhouse: Sequence[str] = ()) -> Path:
    """Write the build context for one cell under build/images/<cell>/ and return it."""
    context = BUILD / cell.id
    shutil.rmtree(context, ignore_errors=True)
    (context / "layers").mkdir(parents=True)
    split = layers(cell, lock, indexes)
    for name, text in split.items():
        (context / "layers" / name).write_text(text)
    # Local wheels (a wheelhouse, the user's own package) travel in the build context, each with
    # the layer that pins it: a user's package changing then rebuilds its layer alone, not torch's.
    wheels = set()
    for name, text in split.items():
        pins = set(Lock(cell.id, text).pinned().items())
        for folder in wheelhouse:
            for wheel in sorted(Path(folder).glob("*.whl")):
                package, version = wheel.name.split("-")[:2]
                if (package.lower().replace("_", "-"), version) in pins:
                    (context / "wheels" / Path(name).stem).mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(wheel, context / "wheels" / Path(name).stem / wheel.name)
                    wheels.add(name)
    if ca_bundle:
        shutil.copyfile(ca_bundle, context / "ca.crt")
    shutil.copytree(ROOT / "matrix", context / "matrix",
                    ignore=lambda folder, names: [n for n in names if Path(folder) == ROOT / "matrix"
                                                  and n not in CELL_SIDE or n == "__pycache__"])
    variant = "cuda" if cell.device == "cuda" else "cpu"
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(IMAGES), autoescape=False, trim_blocks=True,
                             lstrip_blocks=True, keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
    script = cell.onnxscript or ("auto" if cell.torch else None)  # auto: the lock chose it
    labels = [(f"{LABEL}.{k}", v) for k, v in (("cell", cell.id), ("lock", lock.hash), ("side", cell.side),
                                               ("torch", cell.torch), ("onnx", cell.onnx),
                                               ("onnxruntime", cell.onnxruntime), ("onnxscript", script),
                                               ("python", cell.python), ("device", cell.device)) if v]
    text = env.get_template(f"{variant}.Dockerfile.j2").render(
        template=f"{variant}.Dockerfile.j2", cell=cell, lock_hash=lock.hash, labels=labels,
        base_image=base_image or DEFAULT_BASE[variant], ca_bundle=bool(ca_bundle),
        layers=[(name, Path(name).stem if name in wheels else None) for name in sorted(split)])
    (context / "Dockerfile").write_text(text)
    for n, prefix in enumerate(shared_prefixes(text)):
        (context / f"Dockerfile.shared-{n}").write_text(prefix)
    return context


def shared_prefixes(dockerfile: str) -> List[str]:
    """The Dockerfile cut after each RUN step up to the first layer's install (torch): the steps
    every cell shares (the venv), then those that cells with one torch share. Without comments,
    which name the cell."""
    steps = [line for line in dockerfile.splitlines(keepends=True) if not line.startswith("#")]
    torch = next(n for n, line in enumerate(steps) if line.startswith("RUN pip install"))
    header = "# Generated with Dockerfile: steps that other cells' images share.\n"
    return [header + "".join(steps[:n + 1]) for n, line in enumerate(steps[:torch + 1]) if line.startswith("RUN ")]


_prefix_locks: Dict[str, threading.Lock] = {}
_prefix_guard = threading.Lock()


def _prefix_key(context: Path, name: str) -> str:
    """Names shared steps by what they are made of: their instructions and the files they copy."""
    text = (context / name).read_text()
    digest = hashlib.sha256(text.encode())
    for line in text.splitlines():
        if line.startswith("COPY "):
            source = context / line.split()[1]
            for path in sorted(source.rglob("*")) if source.is_dir() else [source]:
                if path.is_file():
                    digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def build_shared(client: Any, context: Path, on_line: Callable[[str], None], made: List[str]) -> None:
    """Build the shared steps as images of their own, shortest prefix first, one build at a time
    per prefix. Docker's classic builder finds a cached step only once the build that makes it
    has finished, so cells built at once would each make their own venv and torch layers (and
    a later build may then continue from either); built first, each prefix has one image that
    every cell starting with it finds in the cache."""
    for dockerfile in sorted(p.name for p in context.glob("Dockerfile.shared-*")):
        key = _prefix_key(context, dockerfile)
        with _prefix_guard:
            held = _prefix_locks.setdefault(key, threading.Lock())
        with held:
            if not _exists(client, f"{SHARED}:{key}"):
                _stream(client, on_line, path=str(context), dockerfile=dockerfile, tag=f"{SHARED}:{key}",
                        labels={f"{LABEL}.layer": key})
                made.append(f"{SHARED}:{key}")


def build(client: Any, context: Path, lock: Lock, on_line: Callable[[str], None], nocache: bool = False,
          share: bool = True) -> str:
    """Build (or reuse) the image; the log streams line by line into `on_line`. nocache: reuse
    no layer of earlier builds (the benchmark's baseline); share: build the steps shared with
    other cells first (see build_shared; off only for the benchmark's baseline)."""
    name = tag(lock, context)
    if _exists(client, name):
        return name
    made: List[str] = []
    try:
        if share and not nocache:
            build_shared(client, context, on_line, made)
        _stream(client, on_line, path=str(context), tag=name, labels={f"{LABEL}.lock": lock.hash}, nocache=nocache)
    except EnvError:
        # nothing half-built stays: the shared steps this build made go too, unless another
        # build already stands on them (the engine refuses to remove an image with children)
        for shared in reversed(made):
            try:
                client.images.remove(shared)
            except Exception:  # noqa: BLE001 -- docker.errors.APIError (in use): it stays, as it should
                pass
        raise
    return name


def _exists(client: Any, name: str) -> bool:
    try:
        client.images.get(name)
        return True
    except Exception:  # noqa: BLE001 -- docker.errors.ImageNotFound
        return False


def _stream(client: Any, on_line: Callable[[str], None], **build_args: Any) -> None:
    """One build, its log streamed; a failure removes the step images it made and raises
    EnvError whose first line is the self-check's own when that is the step that failed."""
    log: List[str] = []
    before = {i.id for i in client.images.list(all=True)}
    for chunk in client.api.build(rm=True, forcerm=True, network_mode="host", decode=True, **build_args):
        line = (chunk.get("stream") or chunk.get("status") or "").rstrip()
        if line:
            log.append(line)
            on_line(line)
        if "error" in chunk:
            log.append(chunk["error"])
            _remove_new_images(client, before, log)
            checked = [line for line in log if line.startswith(selfcheck.FAILED)]
            first = checked[-1] if checked else f"image build failed: {chunk['error'].strip()}"
            raise EnvError(first + "\n" + "\n".join(log[-15:]))


def _remove_new_images(client: Any, before: set, log: List[str]) -> None:
    """The step images this failed build made (newest first), so that nothing half-built
    remains; steps taken from the cache, and other builds' images, are left alone."""
    made = [m.group(1) for m in (re.match(r"^ ---> ([0-9a-f]{12})$", line) for line in log) if m]
    for short in reversed(made):
        try:
            found = client.images.get(short)
            if found.id not in before:
                client.images.remove(found.id, force=True)
        except Exception:  # noqa: BLE001 -- already gone with its child
            pass


def prune(client: Any) -> int:
    """Remove every cell image and shared-steps image (they are rebuilt from their locks when needed)."""
    gone = 0
    for label in (f"{LABEL}.lock", f"{LABEL}.layer"):
        for found in client.images.list(filters={"label": label}):
            client.images.remove(found.id, force=True)
            gone += 1
    return gone


def local_base_exists(client: Any) -> bool:
    return _exists(client, LOCAL_BASE)


def build_base(client: Any, workdir: Path, name: str = LOCAL_BASE) -> str:
    """A Python base image from Debian packages (debootstrap + docker import), for places
    with no registry to pull from. Debian bookworm's python3 is 3.11."""
    rootfs = workdir / "rootfs"
    shutil.rmtree(rootfs, ignore_errors=True)
    done = subprocess.run(["debootstrap", "--variant=minbase", "--include=python3,python3-venv,ca-certificates",
                           "bookworm", str(rootfs), "http://deb.debian.org/debian"], capture_output=True, text=True)
    if done.returncode != 0:
        raise EnvError(f"debootstrap failed:\n{tail(done.stdout + done.stderr)}")
    # debootstrap leaves the .debs it installed (about 95 MB) and apt's lists; no cell reads
    # them, nor the documentation: every image built on this base is that much smaller.
    for leftover in ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc", "usr/share/man",
                     "usr/share/info"):
        for path in (rootfs / leftover).glob("*"):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
    archive = workdir / "rootfs.tar"
    done = subprocess.run(["tar", "-C", str(rootfs), "-cf", str(archive), "."], capture_output=True, text=True)
    shutil.rmtree(rootfs, ignore_errors=True)
    if done.returncode != 0:
        raise EnvError(f"cannot archive the root filesystem:\n{tail(done.stderr)}")
    # The high-level client.images has no import; the low-level API's import_image is `docker import`.
    repository, tag_name = name.rsplit(":", 1)
    try:
        client.api.import_image(src=str(archive), repository=repository, tag=tag_name)
    finally:
        archive.unlink(missing_ok=True)
    return name
