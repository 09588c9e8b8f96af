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

from matrix.probe.arguments import parse  # noqa: E402
from matrix.probe.corpus import BadInput  # noqa: E402
from matrix.probe.exporters import EXPORTERS  # noqa: E402


def _csv(text: str) -> list:
    return [part.strip() for part in text.split(",") if part.strip()]


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
    if args.side != "both" and not args.bundles:
        raise BadInput(f"--side {args.side}: needs --bundles DIR")
    if args.bundles:
        args.bundles = os.path.abspath(args.bundles)  # each result runs in a folder of its own
    if args.remedies and args.side == "export":
        raise BadInput("--remedies: a remedy counts once it passes every stage, so the search needs onnxruntime: "
                       "give it to the runtime side (or --side both)")
    from matrix.probe.search import parse_budget

    try:
        args.remedy_budget = parse_budget(args.remedy_budget)
    except ValueError as exc:
        raise BadInput(f"--remedy-budget {exc}") from None
    args.keys = _keys(args.keys)
    if args.memory_limit is not None and args.memory_limit < 0:
        raise BadInput(f"--memory-limit {args.memory_limit:g}: must be a number of MiB, or 0 for no limit")


def _keys(path: str) -> object:
    """The results --keys names: {(case, exporter, opset, device): what is known of it, or None};
    None: every result."""
    if not path:
        return None
    import json

    try:
        with open(path, encoding="utf-8") as f:
            entries = json.load(f)
        return {(case, exporter, opset, device): known[0] if known else None
                for case, exporter, opset, device, *known in entries}
    except (OSError, ValueError, TypeError) as exc:
        raise BadInput(f"--keys {path}: expected a JSON list of [case, exporter, opset, device]: {exc}") from None


def main(argv: list = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv, __doc__.splitlines()[0])
    if os.environ.get("MATRIX_PARENT_PID", "").isdigit():  # started by the orchestrator: end with it
        from matrix.probe.isolation import die_with_parent

        die_with_parent(int(os.environ["MATRIX_PARENT_PID"]))
    try:
        validate(args)
        from matrix.probe import corpus

        # The runtime side builds no case: what it checks is in the bundles.
        cases = [] if args.side == "runtime" else corpus.collect(args.cases_from, _csv(args.cases),
                                                                  _csv(args.suite or "cases"), args.model)
    except BadInput as exc:
        print(f"matrix.probe: error: {exc}", file=sys.stderr)
        return 2
    if args.list:
        import json

        from matrix.probe.records import origin

        for c in cases:
            print(json.dumps({"case": c.id, "category": c.category, "description": c.description, "fixes": c.fixes,
                              "origin": origin(c), "dynamic": list(c.dim_names), "requires": list(c.requires),
                              "devices": list(c.devices), "atol": c.atol, "rtol": c.rtol, "library": c.library,
                              "output_names": list(c.output_names or ()), "source": c.source}), flush=True)
        return 0
    from matrix.probe.cell import export_cell, run_cell, runtime_cell
    from matrix.probe.results import WriteFailed

    try:
        if args.side == "export":
            return export_cell(args, cases)
        return runtime_cell(args) if args.side == "runtime" else run_cell(args, cases)
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
