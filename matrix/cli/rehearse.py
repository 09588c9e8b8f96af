"""`python -m matrix rehearse`: the nightly workflow's own steps over a slice of the nightly spec,
here; each step's seconds and bytes, and the projection to the whole nightly."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rehearse", help="run the nightly workflow's steps here over a slice, measured",
                       description="Run .github/workflows/nightly.yml's jobs on this machine over a slice of the "
                                   "nightly spec (newest torch × newest onnx × every onnxruntime, CPU), each job in "
                                   "a folder of its own; time each step, measure what each job hands on, and "
                                   "project the whole nightly.")
    p.add_argument("--work", required=True, help="an empty folder for the jobs' folders and rehearsal.json")
    p.add_argument("--cases", default=None, help="case patterns of the slice (default: a few of each kind)")
    p.add_argument("--runner", choices=["venv", "docker"], default="venv",
                   help="the runner the jobs use (the workflow's is docker; venv builds no images)")
    p.add_argument("--no-projection", action="store_true", help="skip resolving the whole nightly plan")
    p.set_defaults(main=main)


def _corpus() -> int:
    """The built-in corpus' size, as `python -m matrix cases` lists it (the probe side counts it)."""
    listed = subprocess.run([sys.executable, "-m", "matrix", "cases"], capture_output=True, text=True, check=True)
    return sum(1 for line in listed.stdout.splitlines() if line.startswith("| `"))


def main(args: argparse.Namespace) -> int:
    from matrix import rehearse
    from matrix.cli.plan import resolve_spec

    cases = args.cases or rehearse.CASES
    measured = rehearse.rehearse(Path(args.work), cases, args.runner, note=print)
    if not args.no_projection:
        plan = resolve_spec("nightly").as_json()
        slice_cases = len({json.loads(line)["case"] for path in (Path(args.work) / "report" / "results").glob(
            "*/*.jsonl") for line in open(path)})
        measured["projection"] = rehearse.projection(measured, plan, _corpus(), slice_cases)
    (Path(args.work) / "rehearsal.json").write_text(json.dumps(measured, indent=1))
    for step in measured["steps"]:
        moved = f"  {step['direction']} {step['bytes'] / 2**20:.1f} MiB" if step["direction"] else ""
        print(f"{step['job']:>8}  {step['step'][:70]:<70} {step['seconds']:>7} s{moved}")
    mib = {k: f"{measured[k] / 2**20:.1f} MiB" for k in ("bundles_bytes", "site_bytes", "published_bundles_bytes")}
    print(f"{measured['results']} results in {measured['cells']} cells; bundles made {measured['bundles_made']} "
          f"({mib['bundles_bytes']}, kept on their job's machine); published: site {mib['site_bytes']}, of which "
          f"bundles {mib['published_bundles_bytes']}")
    if "projection" in measured:
        p = measured["projection"]
        print(f"the whole nightly: {p['results']:,} results ({p['cells']} cells, {p['sides']} side jobs, "
              f"{p['corpus']} cases): {p['by_results']} × the slice's results, {p['by_cells']} × its cells")
        print(f"  moved between jobs: 2 × ({p['per_cell_bytes'] / 2**20:.2f} MiB per-cell parts × {p['by_cells']} + "
              f"{p['per_result_bytes'] / 2**20:.2f} MiB per-result parts × {p['by_results']}) = "
              f"{p['moved_bytes'] / 1e9:.2f} GB")
        print(f"  bundles published {p['published_bundles_bytes'] / 1e9:.2f} GB, kept on the jobs' machines "
              f"{p['bundles_kept_bytes'] / 1e9:.1f} GB; {p['machine_hours']} machine-hours of side jobs")
    print(f"figures: {Path(args.work) / 'rehearsal.json'}")
    return 0
