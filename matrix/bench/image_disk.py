"""The disk that a spec's cell images take when built in parallel, as `matrix run --runner docker`
builds them: without the shared steps built first (Docker's classic builder gives each of two
concurrent builds its own torch layer) and with them (one torch layer per torch version)."""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import time
from typing import Any, Dict

from rich.console import Console


def image_disk(args: argparse.Namespace, console: Console) -> Dict[str, Any]:
    from matrix import image as images
    from matrix.index import Index
    from matrix.lock import compile_lock
    from matrix.plan import resolve
    from matrix.runners import docker as docker_runner
    from matrix.spec import load

    client = docker_runner.client()
    if client is None:
        raise SystemExit("matrix bench disk: no Docker daemon answers (is dockerd running?)")
    spec = load(args.spec)
    plan = resolve(spec, Index.for_spec(spec.indexes))
    base = images.LOCAL_BASE if images.local_base_exists(client) else None
    ca = images.HOST_CA_BUNDLE if os.path.exists(images.HOST_CA_BUNDLE) else None  # as `run` does
    wheelhouse = [d for o in spec.indexes.values() for d in o.get("find-links", [])]
    cells = []
    for cell in plan.cells:
        lock = compile_lock(cell, spec.indexes)
        cells.append((cell, lock, images.render(cell, lock, spec.indexes, base_image=base, ca_bundle=ca,
                                                wheelhouse=wheelhouse)))
    figures: Dict[str, Any] = {"spec": args.spec, "cells": len(cells), "base_image": base or "python:X-slim",
                               "torch_versions": len({c.torch for c, _, _ in cells})}
    for label, share in (("without_shared_steps", False), ("with_shared_steps", True)):
        # Every cell and shared-steps image, with the layers only they used, and the untagged
        # step images an interrupted build leaves: none of them may serve as a cache here.
        images.prune(client)
        client.images.prune(filters={"dangling": True})
        before = client.df()["LayersSize"]
        start = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(cells)) as pool:
            built = list(pool.map(lambda c, share=share: images.build(client, c[2], c[1], lambda line: None,
                                                                      share=share), cells))
        seconds = time.perf_counter() - start
        torch_layers = {next(h["Id"] for h in client.api.history(name) if "1-torch.txt" in h["CreatedBy"])
                        for name in built}
        figures[label] = {"gb": round((client.df()["LayersSize"] - before) / 1e9, 2), "seconds": round(seconds, 1),
                          "torch_layers": len(torch_layers)}
        console.print(f"disk, {label.replace('_', ' ')}: {figures[label]['gb']} GB for {len(cells)} images, "
                      f"{len(torch_layers)} torch layers, {seconds:.0f} s")
    return figures
