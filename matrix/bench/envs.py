"""Environments with a warm cache. The venv runner vs `python -m venv` + `pip install` of the
same locked set; and an image rebuilt for a cell that differs from a built one only in
onnxruntime (the torch layer reused) vs the same image built without layer reuse."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List

from rich.console import Console

from matrix.bench.common import spread


def envs(args: argparse.Namespace, console: Console) -> Dict[str, Any]:
    from matrix.cli.plan import resolve_spec
    from matrix.lock import compile_lock
    from matrix.runners import venv as venv_runner

    plan = resolve_spec(args.spec)
    cell = next(c for c in plan.cells if c.id == args.cell) if args.cell else plan.cells[-1]
    lock = compile_lock(cell, plan.spec.indexes)
    ours: List[float] = []
    naive: List[float] = []
    with tempfile.TemporaryDirectory(prefix="matrix-bench-env-") as tmp:
        lock_file = os.path.join(tmp, "lock.txt")
        Path(lock_file).write_text(lock.text)
        for rep in range(args.repeat + 1):  # the first round warms both caches and is not counted
            shutil.rmtree(venv_runner.env_dir(lock), ignore_errors=True)
            start = time.perf_counter()
            venv_runner.ensure(lock, cell, plan.spec.indexes)
            ours.append(time.perf_counter() - start)
            target = os.path.join(tmp, "naive")
            shutil.rmtree(target, ignore_errors=True)
            start = time.perf_counter()
            subprocess.run([f"python{cell.python}", "-m", "venv", target], check=True)
            subprocess.run([os.path.join(target, "bin", "pip"), "install", "--quiet", "--require-hashes", "-r",
                            lock_file], check=True, env=dict(os.environ, PIP_CONSTRAINT=""))
            naive.append(time.perf_counter() - start)
            console.print(f"envs {rep}{' (warm-up)' if rep == 0 else ''}: venv runner {ours[-1]:.1f} s, "
                          f"python -m venv + pip install {naive[-1]:.1f} s")
    ours, naive = ours[1:], naive[1:]
    return {"cell": cell.id, "packages": len(lock.pinned()), "repeats": args.repeat,
            "venv_runner_s": spread(ours), "venv_pip_s": spread(naive),
            "speedup": round(spread(naive)["median"] / spread(ours)["median"], 1)}


def image(args: argparse.Namespace, console: Console) -> Dict[str, Any]:
    """Two cells alike but for onnxruntime: build the first, then time the second's build
    (layer cache on) against the same build with the cache off."""
    from matrix import image as images
    from matrix.index import Index
    from matrix.lock import compile_lock
    from matrix.plan import Cell
    from matrix.runners import docker as docker_runner

    client = docker_runner.client()
    if client is None:
        raise SystemExit("matrix bench image: no Docker daemon answers (is dockerd running?)")
    wheels = [d for d in os.environ.get("PIP_FIND_LINKS", "").split() if d]
    local = sorted(Path(d) / w.name for d in wheels for w in Path(d).glob("torch-*+cpu-*.whl"))
    # A CPU build of torch from a local wheel folder when there is one (no CUDA libraries to fetch).
    torch = local[-1].name.split("-")[1] if local else [str(r.version) for r in Index().releases("torch")][-1]
    # The newest onnxruntime is built first (other images may share its layers); the one before it
    # is the cell that differs, rebuilt each time with only its own layers gone.
    runtimes = [str(r.version) for r in Index().releases("onnxruntime") if not r.version.is_prerelease][-2:][::-1]
    base = images.LOCAL_BASE if images.local_base_exists(client) else None
    python = "3.11"  # the offline base image's python, and python:3.11-slim's
    indexes = {"torch": {"find-links": wheels}} if local else {}
    built, reused, rebuilt = None, [], []
    for n, ort in enumerate(runtimes):
        cell = Cell(python, torch, "1.23.2", ort, None, "cpu")
        lock = compile_lock(cell, indexes)
        ca = images.HOST_CA_BUNDLE if os.path.exists(images.HOST_CA_BUNDLE) else None  # as `run` does
        context = images.render(cell, lock, indexes, base_image=base, ca_bundle=ca, wheelhouse=wheels)
        name = images.tag(lock, context)
        if n == 0:
            built = images.build(client, context, lock, lambda line: None)  # the built one (may already exist)
            continue
        for rep in range(args.repeat):
            # Without the cache first: removing that image then removes every layer of its own, so
            # the cached build below reuses torch's and onnx's layers (the built cell's) and nothing else.
            for cache, times in ((False, rebuilt), (True, reused)):
                _remove(client, name)
                start = time.perf_counter()
                images.build(client, context, lock, lambda line: None, nocache=not cache)
                times.append(time.perf_counter() - start)
            console.print(f"image {rep + 1}/{args.repeat}: onnxruntime {runtimes[0]} → {ort}: "
                          f"{reused[-1]:.1f} s with the torch layer reused, {rebuilt[-1]:.1f} s without")
        _remove(client, name)
    return {"built": built, "torch": torch, "onnxruntime": runtimes, "base_image": base or "python:X-slim",
            "repeats": args.repeat, "layer_reuse_s": spread(reused), "no_reuse_s": spread(rebuilt),
            "speedup": round(spread(rebuilt)["median"] / spread(reused)["median"], 1)}


def _remove(client: Any, name: str) -> None:
    try:
        client.images.remove(name, noprune=False)
    except Exception:  # noqa: BLE001 -- docker.errors.ImageNotFound: nothing to remove
        pass
