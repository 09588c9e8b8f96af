"""Cell images with the real Docker engine: rendering, hadolint, least privilege probed from
inside a container, and the same statuses as the venv runner for the same versions."""

import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid

import docker
import pytest

from helpers import (
    CASES,
    ROOT,
    TEST_CELL,
    read_results,
    run_module,
    shown_results,
    spec,
    torch_source,
    write_checkpoints,
)
from matrix import image
from matrix.index import Index
from matrix.lock import PLATFORM, compile_lock, index_options, uv_bin
from matrix.plan import resolve
from matrix.runners import docker as docker_runner
from matrix.spec import load

pytestmark = [pytest.mark.network, pytest.mark.slow]  # docker: from the engine fixture

RUN = """cases = "operators/*,dtypes/*,blocks/mlp_layernorm_gelu,staged/*"
timeout = 10                 # staged/sleep sleeps 60 s: a timeout either way"""


def spec_text(**axes):
    """The test cell's versions (torch as torch_source() finds it: a CPU build where one can be
    had, so the image needs no CUDA libraries), on the offline base image's Python 3.11."""
    torch, index, _ = torch_source()
    return spec(**{"torch": torch, "onnx": TEST_CELL["onnx"], "onnxruntime": TEST_CELL["onnxruntime"], **axes},
                index=index, run=RUN)


def ensure_engine():
    """Start Debian's dockerd where none answers (installed by .ci/run, or here if missing)."""
    if docker_runner.client() is not None:
        return docker_runner.client()
    if os.geteuid() != 0:
        pytest.fail("a Docker daemon is needed (as root, this test starts Debian's dockerd)")
    if not shutil.which("dockerd"):
        subprocess.run(["apt-get", "install", "-y", "-qq", "docker.io", "debootstrap"], check=True,
                       env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    subprocess.Popen(["dockerd"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    for _ in range(60):
        time.sleep(1)
        if docker_runner.client() is not None:
            return docker_runner.client()
    pytest.fail("dockerd did not start")


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    """The engine, and an offline base image built through the SDK in every run of this module
    (under a temporary tag, so that the path cannot rot unseen while a local base image exists)."""
    client = ensure_engine()
    fresh = f"onnx-matrix-base:test-{uuid.uuid4().hex[:8]}"
    image.build_base(client, tmp_path_factory.mktemp("base"), name=fresh)
    said = client.containers.run(fresh, ["python3", "-c", "import sys, venv; print(sys.version_info[:2])"],
                                 remove=True, network_mode="none")
    assert said.decode().strip() == "(3, 11)"
    if not image.local_base_exists(client):
        client.images.get(fresh).tag(*image.LOCAL_BASE.split(":"))
    client.fresh_base = fresh
    yield client
    client.images.remove(fresh, force=True)  # the tag only, when it is also the local base


@pytest.fixture(scope="module")
def spec_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("spec") / "spec.toml"
    path.write_text(spec_text())
    return path


@pytest.fixture(scope="module")
def cell_and_lock(spec_path):
    spec = load(str(spec_path))
    (cell,) = resolve(spec, Index.for_spec(spec.indexes)).cells
    return spec, cell, compile_lock(cell, spec.indexes)


def render_tree(spec, cell, lock):
    context = image.render(cell, lock, spec.indexes, base_image=image.LOCAL_BASE, ca_bundle=image.HOST_CA_BUNDLE,
                           wheelhouse=torch_source()[2])
    return {str(p.relative_to(context)): p.read_bytes() for p in sorted(context.rglob("*")) if p.is_file()}


def test_same_lock_renders_byte_identical_files_that_pass_hadolint(cell_and_lock):
    spec, cell, lock = cell_and_lock
    first, second = render_tree(spec, cell, lock), render_tree(spec, cell, lock)
    assert first == second
    dockerfile = first["Dockerfile"].decode()
    assert dockerfile.startswith("# Generated from images/cpu.Dockerfile.j2")
    assert dockerfile.index("1-torch.txt") < dockerfile.index("2-onnx.txt") < dockerfile.index("3-onnxruntime.txt") \
        < dockerfile.index("COPY matrix/")
    assert "USER 65534:65534" in dockerfile and f'io.onnx-matrix.torch="{cell.torch}"' in dockerfile
    # the steps other cells share, in the order they are built: every cell's, then one torch's
    venv, torch = (first[name].decode() for name in sorted(first) if name.startswith("Dockerfile.shared-"))
    assert venv.rstrip().endswith("RUN python3 -m venv /opt/cell") and torch.startswith(venv)
    assert torch.rstrip().endswith("-r /tmp/layers/1-torch.txt") and cell.id not in torch
    done = subprocess.run(["hadolint", str(image.BUILD / cell.id / "Dockerfile")], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_cuda_variant_renders_onnxruntime_gpu_and_its_self_check(tmp_path):
    path = tmp_path / "cuda.toml"
    path.write_text(CUDA_SPEC)
    spec = load(str(path))
    (cell,) = resolve(spec, Index(snapshot=str(ROOT / "tests" / "data" / "index"))).cells
    assert cell.onnxruntime == "1.31.1"  # onnxruntime-gpu's newest, not onnxruntime's 1.32.0
    context = image.render(cell, compile_lock(cell, spec.indexes), spec.indexes, base_image=image.LOCAL_BASE)
    dockerfile = (context / "Dockerfile").read_text()
    assert dockerfile.startswith("# Generated from images/cuda.Dockerfile.j2")
    assert "RUN python -m matrix.probe.selfcheck --cuda" in dockerfile  # fails the build without CUDA torch
    assert "onnxruntime-gpu==1.31.1" in (context / "layers" / "3-onnxruntime.txt").read_text()
    # the halves: the export side checks torch's CUDA build, the runtime side onnxruntime-gpu's providers
    selfcheck = "RUN python -m matrix.probe.selfcheck --cuda --side"
    for side, check in ((cell.export_side(), f"{selfcheck} export\n"),
                        (cell.runtime_side(), f"{selfcheck} runtime && python -c")):
        context = image.render(side, compile_lock(side, spec.indexes), spec.indexes, base_image=image.LOCAL_BASE)
        text = (context / "Dockerfile").read_text()
        assert check in text and "\nLABEL org.opencontainers.image.title" in text, text
        done = subprocess.run(["hadolint", str(context / "Dockerfile")], capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr


def layer_made_by(client, name, step):
    """The id of the image layer a Dockerfile step made, from the image's history."""
    return next(h["Id"] for h in client.api.history(name) if step in h["CreatedBy"])


def test_cells_built_in_parallel_share_their_torch_layer(engine, tmp_path):
    """Two whole cells (--no-split) alike but for onnxruntime, built at the same time (-j 2) on a
    base image no build has used yet: one torch layer between them, not one each."""
    (tmp_path / "spec.toml").write_text(spec_text(onnxruntime=["~=1.20.0", "~=1.21.0"]))
    done = run_module("matrix", "run", "--spec", tmp_path / "spec.toml", "--runner", "docker", "-j", "2", "--no-split",
                      "--results", tmp_path / "r", "--base-image", engine.fresh_base, "--cases", "operators/tril",
                      timeout=1800)
    assert done.returncode == 0, done.stderr + done.stdout
    cells = json.loads((tmp_path / "r" / "latest" / "run.json").read_text())["cells"]
    assert [c["status"] for c in cells] == ["ok", "ok"], cells
    torch_layers = {layer_made_by(engine, c["image"], "1-torch.txt") for c in cells}
    runtime_layers = {layer_made_by(engine, c["image"], "3-onnxruntime.txt") for c in cells}
    assert len(torch_layers) == 1 and len(runtime_layers) == 2
    for c in cells:
        engine.images.remove(c["image"], force=True)


def test_results_are_reused_across_runners(engine, venv_run, tmp_path):
    """The venv run's results folder, then a docker run of the same cells on it: the same locked
    packages, so every result holds and no image is built for it."""
    shutil.copytree(venv_run["results"], tmp_path / "results", symlinks=True)
    before = {i.id for i in engine.images.list(all=True)}
    done = run_module("matrix", "run", "--runner", "docker", *venv_run["args"], "--results", tmp_path / "results")
    assert done.returncode == 0, done.stderr + done.stdout
    found = [r for f in (tmp_path / "results" / "latest").glob("*.jsonl") for r in read_results(f)]
    assert len(found) == len(venv_run["statuses"]) and all(r["reused_from"] == venv_run["id"] for r in found), found
    assert f"{len(found)} results reused" in done.stdout
    assert {i.id for i in engine.images.list(all=True)} == before


def broken_numpy_lock(cell, indexes):
    """The lock uv writes for an onnxruntime before 1.19 when nothing keeps numpy below 2 (as
    it did before constraints.py had the rule): the environment the self-check must refuse."""
    wanted = [r for r in cell.requirements() if not r.startswith("numpy")] + ["numpy>=2"]
    command = [uv_bin(), "pip", "compile", "-", "--python-version", cell.python, "--python-platform", PLATFORM,
               "--generate-hashes", "--no-header", "--quiet", *index_options(indexes, cell)]
    done = subprocess.run(command, input="\n".join(wanted) + "\n", capture_output=True, text=True, check=True)
    return done.stdout


def test_numpy_abi_mismatch_is_the_cells_env_error_in_both_runners(engine, tmp_path):
    (tmp_path / "spec.toml").write_text(spec_text(onnxruntime=["1.16.3"]))
    spec = load(str(tmp_path / "spec.toml"))
    (cell,) = resolve(spec, Index.for_spec(spec.indexes)).cells
    runtime = cell.runtime_side()  # the side that holds onnxruntime
    assert "numpy<2" in runtime.requirements()  # the rule: a fresh lock is sound
    (tmp_path / "locks").mkdir()
    (tmp_path / "locks" / f"{runtime.id}.txt").write_text(broken_numpy_lock(runtime, spec.indexes))
    for runner in ("venv", "docker"):
        done = run_module("matrix", "run", "--spec", tmp_path / "spec.toml", "--runner", runner, "--results",
                          tmp_path / runner, "--locked", tmp_path / "locks", "--cases", "operators/tril",
                          "--base-image", image.LOCAL_BASE, timeout=1800)
        assert done.returncode == 0, done.stderr + done.stdout
        (record,) = json.loads((tmp_path / runner / "latest" / "run.json").read_text())["cells"]
        assert record["status"] == "env_error" and record["pinned"]["numpy"].startswith("2."), record
        assert record["error"].startswith("matrix self-check failed: onnxruntime: A module that was compiled "
                                          "using NumPy 1.x cannot be run in"), (runner, record["error"])
        results = [r for f in (tmp_path / runner / "latest").glob("*.jsonl") for r in read_results(f)]
        assert results and all(r["status"] == "env_error" and "NumPy 1.x" in r["error"]["message"] for r in results)


@pytest.fixture(scope="module")
def built(engine, cell_and_lock):
    spec, cell, lock = cell_and_lock
    context = image.render(cell, lock, spec.indexes, base_image=image.LOCAL_BASE, ca_bundle=image.HOST_CA_BUNDLE,
                           wheelhouse=torch_source()[2])
    return image.build(engine, context, lock, lambda line: None)


PROBE_INSIDE = r"""
import json, os, socket
out = {"uid": os.getuid(), "interfaces": sorted(os.listdir("/sys/class/net"))}
# the container's own limits, as cgroup v2 or v1 shows them
for limit, v2, v1 in (("memory", "memory.max", "memory/memory.limit_in_bytes"), ("pids", "pids.max", "pids/pids.max"),
                      ("cpu", "cpu.max", "cpu/cpu.cfs_quota_us")):
    for path in (v2, v1):
        try:
            out[limit] = open("/sys/fs/cgroup/" + path).read().split()[0]
            break
        except OSError as exc:
            out[limit] = exc.strerror
out["no_new_privs"] = [l.split()[1] for l in open("/proc/self/status") if l.startswith("NoNewPrivs")][0]
out["cap_eff"] = [l.split()[1] for l in open("/proc/self/status") if l.startswith("CapEff")][0]
for path in ("/opt/probe-write", "/results/probe-write", "/cases/0/probe-write", "/models/0/probe-write",
             "/tmp/probe-write"):
    try:
        open(path, "w").write("x")
        out[path] = "written"
    except OSError as exc:
        out[path] = exc.strerror
try:
    socket.create_connection(("127.0.0.1", 9), timeout=2)
    out["connect"] = "connected"
except OSError as exc:
    out["connect"] = exc.strerror or str(exc)
print(json.dumps(out))
"""


def test_container_has_no_network_runs_as_non_root_and_writes_only_its_mounts(engine, built, tmp_path, fault):
    entry = fault.inject("container_escape", expected=1)
    results = tmp_path / "results"
    results.mkdir()
    os.chmod(results, 0o777)
    checkpoint = tmp_path / "checkpoint"  # a --model folder: mounted read-only, where it is
    checkpoint.mkdir()
    options = docker_runner.options(results, [str(CASES / "staged.py")], "test-run", gpu=False, models=[checkpoint])
    output = engine.containers.run(built, entrypoint=["python", "-c", PROBE_INSIDE], remove=True, **options)
    seen = json.loads(output)
    assert seen["uid"] == 65534
    assert seen["interfaces"] == ["lo"]
    assert seen["/opt/probe-write"] == "Read-only file system"
    assert seen["/results/probe-write"] == "written" and (results / "probe-write").exists()
    assert seen["/cases/0/probe-write"] == "Read-only file system"
    assert seen["/models/0/probe-write"] == "Read-only file system" and not (checkpoint / "probe-write").exists()
    assert seen["/tmp/probe-write"] == "written"
    assert seen["connect"] != "connected"
    assert seen["memory"] == str(docker_runner.MEMORY_MIB * 2**20) and seen["pids"] == "1024"
    assert seen["cpu"] not in ("max", "-1")  # a CPU quota is set
    assert seen["no_new_privs"] == "1" and int(seen["cap_eff"], 16) == 0  # no capabilities at all
    fault.kept(entry, 1)


def statuses(folder):
    return {(r["case"], r["exporter"], r["opset"]): r["status"]
            for f in folder.glob("*.jsonl") for r in read_results(f)}


@pytest.fixture(scope="module")
def venv_run(spec_path, tmp_path_factory):
    """The venv runner's run of the cells the docker runner is compared with: a case file in a
    folder only its owner may enter, and a person's checkpoint by name beside them."""
    tmp = tmp_path_factory.mktemp("venv-run")
    private = tmp / "private"  # the container must still read the file
    private.mkdir(mode=0o700)
    shutil.copy(CASES / "staged.py", private / "staged.py")
    args = ["--spec", spec_path, "--cases-from", private / "staged.py", "--base-image", image.LOCAL_BASE,
            "--model", write_checkpoints(tmp / "checkpoints")["bert-tiny"],
            "--cases", "operators/*,dtypes/*,blocks/mlp_layernorm_gelu,staged/*,own/*"]
    done = run_module("matrix", "run", "--runner", "venv", *args, "--results", tmp / "results")
    assert done.returncode == 0, done.stderr + done.stdout
    assert "runner: venv" in done.stdout
    latest = (tmp / "results" / "latest").resolve()
    return {"args": args, "results": tmp / "results", "id": latest.name, "statuses": statuses(latest)}


def test_docker_runner_statuses_equal_venv_runner(engine, built, venv_run, tmp_path):
    done = run_module("matrix", "run", "--runner", "docker", *venv_run["args"], "--results", tmp_path / "docker")
    assert done.returncode == 0, done.stderr + done.stdout
    assert "runner: docker" in done.stdout
    found = statuses(tmp_path / "docker" / "latest")
    assert found == venv_run["statuses"]
    assert {found[("own/bert-tiny", e, None)] for e in ("dynamo", "torchscript")} == {"pass"}
    # (two halves, the default, give what one environment per cell gives: test_split.py, with every
    # stage's failure, crash and timeout and every dtype)

    # the runtime side's image has no torch: onnxruntime, and onnx for the blame's reference and
    # the version converter
    run = json.loads((tmp_path / "docker" / "latest" / "run.json").read_text())
    (cell,), (exported,) = run["cells"], run["exports"]
    assert cell["image"] != exported["image"] and cell["runtime"].startswith("runtime-")
    with pytest.raises(docker.errors.ContainerError, match="No module named .{0,2}torch"):
        engine.containers.run(cell["image"], ["-c", "import torch"], entrypoint="python", remove=True,
                              network_mode="none")
    engine.containers.run(cell["image"], ["-c", "import onnx.reference, onnx.version_converter"],
                          entrypoint="python", remove=True, network_mode="none")
    assert engine.images.get(cell["image"]).attrs["Size"] < 400e6

    site = tmp_path / "site"
    assert run_module("matrix", "report", "--results", tmp_path / "docker", "--out", site).returncode == 0
    # the case page's docker command, run as a user would: both halves, the second without torch
    (command,) = [c for r in shown_results(site) if (r["case"], r["exporter"]) == ("dtypes/bfloat16", "torchscript")
                  for c in r["reproduce"] if c.startswith("mkdir -m 777 -p bundles && docker run")]
    done = subprocess.run(["bash", "-c", command], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    (result,) = [json.loads(line) for line in done.stdout.splitlines() if '"event": "result"' in line][-1:]
    assert (result["case"], result["status"]) == ("dtypes/bfloat16", "load_error")
    assert found[("staged/segfault", "torchscript", None)] == "crash"
    assert set(found.values()) >= {"pass", "mismatch", "crash", "timeout", "export_error"}
    assert not engine.containers.list(all=True, filters={"label": "io.onnx-matrix.run"})


def test_missing_base_image_is_env_error_and_leaves_nothing(engine, cell_and_lock, spec_path, tmp_path, fault):
    fault.inject("image_build_fails")
    before = {i.id for i in engine.images.list(all=True)}
    done = run_module("matrix", "run", "--spec", spec_path, "--runner", "docker", "--results", tmp_path,
                      "--base-image", "onnx-matrix-no-such-base:1", "--cases", "operators/tril", "--fresh")
    assert done.returncode == 0, done.stderr
    (result,) = [r for f in (tmp_path / "latest").glob("*.jsonl") for r in read_results(f)][:1]
    assert result["status"] == "env_error" and "image build failed" in result["error"]["message"]
    assert {i.id for i in engine.images.list(all=True)} == before
    assert not engine.containers.list(all=True, filters={"label": "io.onnx-matrix.run"})


def test_no_daemon_is_one_clear_line(spec_path):
    done = run_module("matrix", "run", "--spec", spec_path, "--runner", "docker",
                      env_extra={"DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    assert done.returncode == 2 and "no Docker daemon answers" in done.stderr and "Traceback" not in done.stderr


# onnxruntime-gpu's newest, for a cuda cell; PyPI's build of the test cell's torch (a CUDA build), so
# that where no local CPU wheel is configured (CI) the export side's torch and onnx layers are those the
# cpu cells above built: the cache gives them, and this test downloads only onnxruntime-gpu.
CUDA_SPEC = spec(device="cuda", torch=TEST_CELL["torch"], onnxruntime="latest",
                 run='cases = "operators/tril,blocks/mlp_layernorm_gelu"\ntimeout = 60')


def test_cuda_image_builds_here_and_its_results_are_skipped_without_a_gpu(engine, tmp_path):
    """Building needs no GPU; running needs one, so here every cuda result is skipped with the reason."""
    (tmp_path / "spec.toml").write_text(CUDA_SPEC)
    done = run_module("matrix", "run", "--spec", tmp_path / "spec.toml", "--runner", "docker", "--results",
                      tmp_path / "results", "--base-image", image.LOCAL_BASE, timeout=1800)
    assert done.returncode == 0, done.stderr + done.stdout
    run = json.loads((tmp_path / "results" / "latest" / "run.json").read_text())
    (cell,) = run["cells"]
    assert cell["status"] == "ok", cell
    built = engine.images.get(cell["image"])
    assert built.labels["io.onnx-matrix.device"] == "cuda"
    results = [r for f in (tmp_path / "results" / "latest").glob("*.jsonl") for r in read_results(f)]
    if docker_runner.gpus_available(engine):
        assert all(r["status"] != "skipped" for r in results)
    else:
        assert results and all((r["status"], r["reason"]) == ("skipped", "no CUDA device") for r in results)
    engine.images.remove(built.id, force=True)  # several GB: do not keep it on CI machines


def test_failing_pip_step_is_env_error_and_leaves_no_image(engine, spec_path, tmp_path, fault):
    """A CA bundle that is not one makes pip's first download fail inside the build."""
    fault.inject("image_build_fails")
    empty = tmp_path / "broken.crt"
    empty.write_text("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n")
    before = {i.id for i in engine.images.list(all=True)}
    done = run_module("matrix", "run", "--spec", spec_path, "--runner", "docker", "--results", tmp_path / "r",
                      "--base-image", image.LOCAL_BASE, "--ca-bundle", empty, "--cases", "operators/tril")
    assert done.returncode == 0, done.stderr
    (result,) = [r for f in (tmp_path / "r" / "latest").glob("*.jsonl") for r in read_results(f)][:1]
    assert result["status"] == "env_error" and "image build failed" in result["error"]["message"]
    assert "pip install" in result["error"]["traceback"]
    assert {i.id for i in engine.images.list(all=True)} == before  # nothing half-built left
    assert not engine.containers.list(all=True, filters={"status": "exited"})  # no build container left


def test_daemon_stopping_mid_run_is_env_error_and_keeps_results(engine, built, spec_path, tmp_path, fault):
    """dockerd stops while a cell runs: that cell's unfinished cases are env_error, what it finished is kept,
    and the same command again (daemon back) completes the run."""
    # --no-split: the slow cases are slow in eager PyTorch, so one environment per cell keeps
    # the daemon's stop inside a cell's results rather than between the halves
    command = [sys.executable, "-m", "matrix", "run", "--spec", str(spec_path), "--runner", "docker", "--results",
               str(tmp_path / "r"), "--base-image", image.LOCAL_BASE, "--cases-from", str(CASES / "slow.py"),
               "--cases", "slow/*", "--no-split"]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env=dict(os.environ, PYTHONPATH=str(ROOT)))
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        files = list((tmp_path / "r").glob("*/*.jsonl"))
        if files and len(read_results(files[0])) >= 3:
            break
        time.sleep(0.05)
    subprocess.run(["pkill", "-TERM", "-x", "dockerd"], check=True)
    out, _ = process.communicate(timeout=300)
    for _ in range(120):  # the daemon takes a while to stop its containers and exit
        if subprocess.run(["pgrep", "-x", "dockerd"], capture_output=True).returncode != 0:
            break
        time.sleep(0.5)
    ensure_engine()  # back, for this test's second half and the tests after it
    assert process.returncode == 0, out
    (path,) = files
    found = read_results(path)
    kept = [r for r in found if r["case"] != "*"]
    entry = fault.inject("daemon_stops", expected=len(kept))
    assert 3 <= len(kept) < 16 and all(r["status"] == "pass" for r in kept)  # 8 cases × 2 exporters
    stand_in = [r for r in found if r["case"] == "*"]
    assert stand_in and stand_in[0]["status"] == "env_error" and stand_in[0]["error"]["message"].startswith("docker:")

    done = run_module("matrix", "run", *command[4:], timeout=600)
    assert done.returncode == 0, done.stderr + done.stdout
    after = [r for f in (tmp_path / "r" / "latest").glob("*.jsonl") for r in read_results(f)]
    assert sorted((r["case"], r["exporter"]) for r in after) == sorted(
        (f"slow/case_{i}", e) for i in range(8) for e in ("dynamo", "torchscript"))
    fault.kept(entry, sum(1 for r in after if r.get("reused_from") == path.parent.name))
    assert not engine.containers.list(all=True, filters={"label": "io.onnx-matrix.run"})


def test_model_libraries_are_their_own_layer_after_the_others(tmp_path):
    """An export side with libraries: transformers (with accelerate, its torch extra's), torchvision
    and timm in a fourth layer, hash-pinned like the rest, so the torch and onnx layers stay those of
    the cells without them."""
    path = tmp_path / "libraries.toml"
    path.write_text(spec(transformers="auto", torchvision="auto", timm="auto"))  # PyPI's torch 2.15.0
    loaded = load(str(path))
    (cell,) = resolve(loaded, Index(snapshot=str(ROOT / "tests" / "data" / "index"))).cells
    side = cell.export_side()
    context = image.render(side, compile_lock(side, loaded.indexes), loaded.indexes, base_image=image.LOCAL_BASE)
    dockerfile = (context / "Dockerfile").read_text()
    assert dockerfile.index("1-torch.txt") < dockerfile.index("2-onnx.txt") < dockerfile.index("4-libraries.txt") \
        < dockerfile.index("COPY matrix/")
    libraries = (context / "layers" / "4-libraries.txt").read_text()
    pins = [line.split()[0] for line in libraries.splitlines() if "==" in line and not line.startswith((" ", "#"))]
    assert {p.split("==")[0] for p in pins} >= {"transformers", "torchvision", "timm", "accelerate"}
    assert not any(p.startswith(("torch==", "onnx==", "numpy==")) for p in pins)  # already in earlier layers
    assert libraries.count("--hash=sha256:") >= len(pins)


def test_docker_run_searches_remedies_in_the_cells_whole_image(engine, cell_and_lock, spec_path, tmp_path):
    """--remedies with the docker runner: the runtime side's image (no torch) cannot fix a bfloat16
    model onnxruntime has no kernel for; the cell's whole image then searches it and finds fp32.
    That image is built by the search itself (its build steps shown in the progress: a build
    that streamed them once failed every whole-cell search of the default spec)."""
    _, cell, _ = cell_and_lock
    for found in engine.images.list(filters={"label": f"{image.LABEL}.cell={cell.id}"}):
        engine.images.remove(found.id, force=True)
    done = run_module("matrix", "run", "--spec", spec_path, "--runner", "docker", "--results", tmp_path,
                      "--cases", "dtypes/bfloat16", "--remedies",
                      "--base-image", image.LOCAL_BASE, timeout=1800)
    assert done.returncode == 0, done.stderr + done.stdout
    run = (tmp_path / "latest").resolve()
    assert [c.get("remedies_error") for c in json.loads((run / "run.json").read_text())["cells"]] == [None]
    assert f"{cell.id} (remedies): Step " in done.stdout  # the whole image was built by the search
    found = [json.loads(line) for path in run.glob("*.jsonl") for line in path.read_text().splitlines()]
    assert sorted(r["exporter"] for r in found) == ["dynamo", "torchscript"]
    for result in found:
        assert (result["status"], result["error"]["kind"]) == ("load_error", "missing_kernel")
        assert result["remedy"]["searched"] == "whole cell"
        assert result["remedy"]["fixed_by"]["remedy"] == "model_fp32"
    keys = json.loads((run / "remedies" / f"{found[0]['cell']}.keys.json").read_text())
    assert sorted(tuple(k[:4]) for k in keys) == [
        ("dtypes/bfloat16", "dynamo", None, "cpu"), ("dtypes/bfloat16", "torchscript", None, "cpu")]
    # what the split run knew of each, so that the whole image tried only the export's remedies
    assert all(k[4]["outcome"]["status"] == "load_error" and k[4]["tried"] for k in keys)
    assert all(t["side"] in ("session", "model") for k in keys for t in k[4]["tried"])


def test_docker_cells_install_the_users_requirements_as_their_own_layer_rebuilt_from_cache(engine, tmp_path):
    """[run] requirements and a package folder in a docker cell: a layer of their own after
    onnxruntime's (the torch layers stay shared), hash-pinned, installed at build time (the
    container has no network), the package's wheel copied with that layer alone; the same image
    built again takes every step from the cache."""
    from matrix.lock import Lock

    torch, index, _ = torch_source()
    (tmp_path / "spec.toml").write_text(spec(torch=torch, onnx=TEST_CELL["onnx"], onnxruntime=TEST_CELL["onnxruntime"],
                                             exporter="torchscript", index=index,
                                             run='cases = "extras/*"\nrequirements = ["einops>=0.8"]'))
    shutil.copy(CASES / "extras" / "einops_cases.py", tmp_path / "einops_cases.py")
    shutil.copytree(CASES / "extras" / "pkgproject", tmp_path / "pkgproject")
    done = run_module("matrix", "run", "--spec", tmp_path / "spec.toml", "--runner", "docker", "--no-split",
                      "--results", tmp_path / "results", "--cases-from", tmp_path / "einops_cases.py",
                      "--cases-from", tmp_path / "pkgproject", "--base-image", image.LOCAL_BASE, timeout=1800)
    assert done.returncode == 0, done.stderr + done.stdout
    latest = (tmp_path / "results" / "latest").resolve()
    results = {r["case"]: r for r in read_results(next(latest.glob("*.jsonl")))}
    assert {case: r["status"] for case, r in results.items()} == {"extras/einops_patches": "pass",
                                                                   "extras/userpkg_mixer": "pass"}, results
    assert results["extras/userpkg_mixer"]["versions"]["mt-userpkg"] == "0.3.1"
    (cell,) = json.loads((latest / "run.json").read_text())["cells"]
    built = image.BUILD / cell["id"]
    users = (built / "layers" / "5-requirements.txt").read_text()
    for package in ("einops", "mt-userpkg"):
        assert re.search(rf"^{package}==\S+ \\\n\s+--hash=sha256:", users, re.M), users
    assert not any(p in (built / "layers" / f).read_text() for f in ("1-torch.txt", "2-onnx.txt")
                   for p in ("einops", "mt-userpkg"))
    assert [w.name for w in (built / "wheels" / "5-requirements").iterdir()] == ["mt_userpkg-0.3.1-py3-none-any.whl"]
    torch_steps = (built / "Dockerfile.shared-1").read_text()
    assert "5-requirements" not in torch_steps and "mt_userpkg" not in torch_steps
    engine.images.remove(cell["image"], noprune=True)  # the tag goes, its steps stay
    log = []
    image.build(engine, built, Lock(cell["id"], (latest / "lock" / f"{cell['id']}.txt").read_text()), log.append)
    steps = [n for n, line in enumerate(log) if line.startswith("Step ") and " : RUN " in line]
    assert steps and all(log[n + 1].strip() == "---> Using cache" for n in steps), log
