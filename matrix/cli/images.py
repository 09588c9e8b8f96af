"""`python -m matrix images`: render (and build) the spec's cell images, build the offline base
image, or sweep what killed runs left behind."""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("images", help="render, build or prune cell images; build the offline base image",
                       description="Render the spec's cell Dockerfiles (and build them), build the offline base "
                                   "image, or sweep what killed runs left behind.")
    p.add_argument("--spec", default=os.environ.get("MATRIX_SPEC", "default"))
    p.add_argument("--render-only", action="store_true", help="write build/images/<cell>/Dockerfile and stop")
    p.add_argument("--base", action="store_true", help="build the base image from Debian packages (debootstrap)")
    p.add_argument("--prune", action="store_true", help="remove leftover cell containers and cell images")
    p.add_argument("--base-image", default=os.environ.get("MATRIX_BASE_IMAGE"))
    p.add_argument("--ca-bundle", default=os.environ.get("MATRIX_CA_BUNDLE"))
    p.set_defaults(main=main)


def main(args: argparse.Namespace) -> int:
    from matrix import image
    from matrix.cli.plan import resolve_spec
    from matrix.errors import UserError
    from matrix.lock import EnvError, compile_lock
    from matrix.progress import make_console
    from matrix.runners import docker as docker_runner

    console = make_console()
    client = None if args.render_only else docker_runner.client()
    if client is None and not args.render_only:
        raise UserError("no Docker daemon answers (is dockerd running?)")
    if args.prune:
        console.print(f"removed {docker_runner.sweep(client)} leftover containers, "
                      f"{image.prune(client)} cell images")
        return 0
    if args.base:
        with tempfile.TemporaryDirectory(prefix="matrix-base-") as tmp:
            console.print(f"built {image.build_base(client, Path(tmp))}")
        return 0
    plan = resolve_spec(args.spec)
    wheelhouse = [d for o in plan.spec.indexes.values() for d in o.get("find-links", [])]
    ca_bundle = args.ca_bundle or (image.HOST_CA_BUNDLE if os.path.exists(image.HOST_CA_BUNDLE) else None)
    base_image = args.base_image or (image.LOCAL_BASE if client is not None and image.local_base_exists(client)
                                     else None)
    for cell in plan.cells:
        try:
            lock = compile_lock(cell, plan.spec.indexes)
            context = image.render(cell, lock, plan.spec.indexes, base_image=base_image, ca_bundle=ca_bundle,
                                   wheelhouse=wheelhouse)
            if args.render_only:
                console.print(f"{cell.id}: {context / 'Dockerfile'}")
            else:
                console.print(f"{cell.id}: {image.build(client, context, lock, lambda line: None)}")
        except EnvError as exc:
            console.print(f"{cell.id}: env_error: {str(exc).splitlines()[0]}")
    return 0
