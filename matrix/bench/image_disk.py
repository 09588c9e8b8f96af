"""The disk that a spec's images take when built in parallel, as `matrix run --runner docker`
builds them: a whole cell per image without the shared steps built first (Docker's classic
builder gives each of two concurrent builds its own torch layer) and with them (one torch layer
per torch version); and a run in two halves (an export image per export side, a runtime image,
with onnxruntime alone, per runtime side)."""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import time
from typing import Any, Dict

from rich.console import Console


def image_disk(args: argparse.Namespace, console: Console) -> Dict[str, Any]:
    from matrix import image as images
    from matrix.cli.plan import resolve_spec
    from matrix.lock import compile_lock
    from matrix.runners import docker as docker_runner

    client = docker_runner.client()
    if client is None:
        raise SystemExit("matrix bench disk: no Docker daemon answers (is dockerd running?)")
    plan = resolve_spec(args.spec)
    spec = plan.spec
    base = images.LOCAL_BASE if images.local_base_exists(client) else None
    ca = images.HOST_CA_BUNDLE if os.path.exists(images.HOST_CA_BUNDLE) else None  # as `run` does
    wheelhouse = [d for o in spec.indexes.values() for d in o.get("find-links", [])]
    def rendered(cells: list) -> list:
        locked = [(cell, compile_lock(cell, spec.indexes)) for cell in cells]
        return [(cell, lock, images.render(cell, lock, spec.indexes, base_image=base, ca_bundle=ca,
                                           wheelhouse=wheelhouse)) for cell, lock in locked]

    figures: Dict[str, Any] = {"spec": args.spec, "cells": len(plan.cells), "base_image": base or "python:X-slim",
                               "torch_versions": len({c.torch for c in plan.cells})}
    for label, share, cells in (("without_shared_steps", False, rendered(plan.cells)),
                                ("with_shared_steps", True, rendered(plan.cells)),
                                ("split", True, rendered(plan.sides()))):
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
        torch_layers = {h["Id"] for name in built for h in client.api.history(name)
                        if "1-torch.txt" in h["CreatedBy"] and "pip install" in h["CreatedBy"]}
        figures[label] = {"gb": round((client.df()["LayersSize"] - before) / 1e9, 2), "seconds": round(seconds, 1),
                          "torch_layers": len(torch_layers), "images": len(built),
                          "runtime_mb": sorted(round(client.images.get(name).attrs["Size"] / 1e6)
                                               for (cell, _, _), name in zip(cells, built) if cell.side == "runtime")}
        console.print(f"disk, {label.replace('_', ' ')}: {figures[label]['gb']} GB for {len(cells)} images, "
                      f"{len(torch_layers)} torch layers, {seconds:.0f} s")
    return figures
