"""`python -m matrix run --here`: "do my models export with what I have installed?"."""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid

from matrix.cli import HERE_RESULTS
from matrix.probe import results
from matrix.progress import RunProgress, make_console, summary
from matrix.runners import host


def run_here(args: argparse.Namespace) -> int:
    console = make_console()
    if args.resume and not args.out:
        print("matrix run: error: --resume needs --out FILE.jsonl (the results to continue)", file=sys.stderr)
        return 2
    run_id = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + uuid.uuid4().hex[:6]
    out = args.out or os.path.join(HERE_RESULTS, f"{run_id}.jsonl")
    probe_args = ["--out", out, "--exporter", args.exporter, "--opset", args.opset, "--device", args.device,
                  "--timeout", str(args.timeout or 120), "--isolation", args.isolation, "--run-id", run_id]
    if args.cases:
        probe_args += ["--cases", args.cases]
    for source in args.cases_from:
        probe_args += ["--cases-from", source]
    if args.resume:
        probe_args.append("--resume")
    if args.keep_failed:
        probe_args += ["--keep-failed", args.keep_failed]
    try:
        with RunProgress(console) as progress:
            code = host.run(probe_args, progress)
    except KeyboardInterrupt:
        console.print(f"interrupted; finished results are kept in {out} (continue with --resume --out {out})")
        return 130
    if code != 0:
        return code  # the probe has said why on stderr
    recorded = list(results.read(out))
    summary(console, recorded)
    console.print(f"results: {out}")
    if args.strict and any(r["status"] not in ("pass", "skipped") for r in recorded):
        return 1
    return 0
