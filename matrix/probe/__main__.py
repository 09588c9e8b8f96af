"""python -m matrix.probe: run cases in this interpreter's environment (one cell).

Prints one JSON event per line on stdout for the orchestrator; results go to
--out. Bad input: one line on stderr, exit code 2.
"""

from __future__ import annotations

import argparse
import os
import sys

# Must precede `import torch` anywhere in this process: lets torch.cuda.is_available()
# answer through NVML without creating a CUDA context the forked children could not use.
os.environ.setdefault("PYTORCH_NVML_BASED_CUDA_CHECK", "1")

from matrix.probe.corpus import BadInput  # noqa: E402
from matrix.probe.exporters import EXPORTERS  # noqa: E402


def _csv(text: str) -> list:
    return [part.strip() for part in text.split(",") if part.strip()]


def parse(argv: list) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m matrix.probe", description=__doc__.splitlines()[0])
    p.add_argument("--cases", default="", help="comma-separated glob patterns over case ids (e.g. 'dynamic/*')")
    p.add_argument("--cases-from", action="append", default=[], metavar="PATH_OR_MODULE",
                   help="also load cases from a .py file, a folder of them, or a module (repeatable)")
    p.add_argument("--exporter", default=",".join(EXPORTERS), help="comma-separated: dynamo,torchscript")
    p.add_argument("--opset", default="default",
                   help="comma-separated opsets; 'default' = each exporter's own (e.g. default,17)")
    p.add_argument("--device", default="cpu", help="comma-separated: cpu,cuda")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds per result before it is killed")
    p.add_argument("--memory-limit", type=float, default=None, metavar="MiB",
                   help="memory one cpu result may allocate before it fails as out_of_memory "
                        "(default: 3/4 of this machine's memory; 0: no limit)")
    p.add_argument("--out", default="results.jsonl", help="JSONL file results are appended to")
    p.add_argument("--resume", action="store_true", help="skip results already in --out")
    p.add_argument("--reuse", default=None, metavar="FILE",
                   help="an earlier results file of this environment: unchanged results are copied, not rerun")
    p.add_argument("--run-id", default=None)
    p.add_argument("--cell", default=None, help="cell id stamped on results (default: from the versions)")
    p.add_argument("--isolation", choices=("fork", "none"), default="fork",
                   help="fork: one process per result (default); none: in-process, for debugging and benchmarks")
    p.add_argument("--keep-failed", default=None, metavar="DIR", help="keep the .onnx of failing results here")
    p.add_argument("--list", action="store_true", help="print the selected cases as JSON lines and exit")
    return p.parse_args(argv)


def validate(args: argparse.Namespace) -> None:
    args.exporters = _csv(args.exporter)
    bad = [e for e in args.exporters if e not in EXPORTERS]
    if bad or not args.exporters:
        raise BadInput(f"--exporter {args.exporter}: unknown exporter {bad[0] if bad else '(none)'!r}; "
                       f"expected {', '.join(EXPORTERS)}")
    args.devices = _csv(args.device)
    bad = [d for d in args.devices if d not in ("cpu", "cuda")]
    if bad or not args.devices:
        raise BadInput(f"--device {args.device}: expected cpu, cuda or both")
    try:
        args.opsets = [None if o == "default" else int(o) for o in _csv(args.opset)] or [None]
    except ValueError:
        raise BadInput(f"--opset {args.opset}: expected 'default' or whole numbers such as 17,18") from None
    if args.timeout <= 0:
        raise BadInput(f"--timeout {args.timeout:g}: must be positive")
    if args.memory_limit is not None and args.memory_limit < 0:
        raise BadInput(f"--memory-limit {args.memory_limit:g}: must be a number of MiB, or 0 for no limit")


def main(argv: list = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    if os.environ.get("MATRIX_PARENT_PID", "").isdigit():  # started by the orchestrator: end with it
        from matrix.probe.isolation import die_with_parent

        die_with_parent(int(os.environ["MATRIX_PARENT_PID"]))
    try:
        validate(args)
        from matrix.probe import corpus

        cases = corpus.collect(args.cases_from, _csv(args.cases))
    except BadInput as exc:
        print(f"matrix.probe: error: {exc}", file=sys.stderr)
        return 2
    if args.list:
        import json

        from matrix.probe.records import origin

        for c in cases:
            print(json.dumps({"case": c.id, "category": c.category, "description": c.description, "fixes": c.fixes,
                              "origin": origin(c), "dynamic": list(c.dim_names), "requires": list(c.requires),
                              "devices": list(c.devices), "atol": c.atol, "rtol": c.rtol}), flush=True)
        return 0
    from matrix.probe.cell import run_cell
    from matrix.probe.results import WriteFailed

    try:
        return run_cell(args, cases)
    except BadInput as exc:
        print(f"matrix.probe: error: {exc}", file=sys.stderr)
        return 2
    except WriteFailed as exc:
        print(f"matrix.probe: error: {exc}; the results written before it are kept (make room, then rerun with "
              "--resume)", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
