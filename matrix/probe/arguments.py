"""The probe's command line, both ways: `parse` reads it inside the cell, `ProbeArgs` writes it
for the orchestrator's runners, so the two cannot drift apart."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Union

from matrix.probe.exporters import EXPORTERS

Opset = Union[int, str, None]  # None or "default": the exporter's own


@dataclass
class ProbeArgs:
    """What one probe run is asked to do. Paths are this machine's; `argv(where)` gives each as
    the environment sees it (a container's mounts)."""

    out: Optional[str] = None  # the results file (not of an export side: it writes bundles)
    exporters: List[str] = field(default_factory=lambda: list(EXPORTERS))
    opsets: List[Opset] = field(default_factory=lambda: [None])
    devices: List[str] = field(default_factory=lambda: ["cpu"])
    timeout: float = 120.0
    cases: str = ""
    suites: List[str] = field(default_factory=lambda: ["cases"])  # matrix/probe/suites
    cases_from: List[str] = field(default_factory=list)
    models: List[Dict[str, Any]] = field(default_factory=list)  # --model entries (matrix/models.py)
    memory_limit: Optional[float] = None
    resume: bool = False
    reuse: Optional[str] = None
    run_id: Optional[str] = None
    cell: Optional[str] = None
    isolation: str = "fork"
    keep_failed: Optional[str] = None
    side: str = "both"
    bundles: Optional[str] = None
    frontier: Optional[str] = None  # where this side's version frontier measurement goes
    frontier_only: bool = False
    unpaired: Dict[str, str] = field(default_factory=dict)  # library: why the cell's lock left it out
    remedies: bool = False  # search each failing result's remedy (matrix/probe/search.py)
    remedy_budget: Optional[str] = None  # "COUNT,SECONDS" per failing result
    keys: Optional[str] = None  # a JSON file of [case, exporter, opset, device(, known)]: run only these
    requirements: List[str] = field(default_factory=list)  # the spec's extra packages: their versions are recorded
    workers: int = 1  # an export side's exports at once (cores the orchestrator can give it)

    def argv(self, where: Callable[[str], str] = str) -> List[str]:
        args = ["--exporter", ",".join(self.exporters),
                "--opset", ",".join("default" if o is None else str(o) for o in self.opsets),
                "--device", ",".join(self.devices), "--timeout", str(self.timeout),
                "--isolation", self.isolation]
        if self.out:
            args += ["--out", where(self.out)]
        if self.cases:
            args += ["--cases", self.cases]
        if self.suites != ["cases"] or self.side == "runtime":  # a runtime side unasked checks every bundle
            args += ["--suite", ",".join(self.suites)]
        for source in self.cases_from:
            args += ["--cases-from", where(source)]
        for entry in self.models:  # a checkpoint folder is read where the environment sees it
            args += ["--model", json.dumps(dict(entry, path=where(entry["path"])) if entry.get("path") else entry)]
        if self.memory_limit is not None:
            args += ["--memory-limit", str(self.memory_limit)]
        if self.resume:
            args.append("--resume")
        if self.side != "both":
            args += ["--side", self.side]
        if self.frontier_only:
            args.append("--frontier-only")
        if self.remedies:
            args.append("--remedies")
        if self.remedy_budget:
            args += ["--remedy-budget", self.remedy_budget]
        for name, reason in sorted(self.unpaired.items()):
            args += ["--unpaired", f"{name}={reason}"]
        if self.requirements:
            args += ["--requirements", ",".join(self.requirements)]
        if self.workers != 1:
            args += ["--workers", str(self.workers)]
        for flag, value in (("--reuse", self.reuse), ("--keep-failed", self.keep_failed), ("--bundles", self.bundles),
                            ("--frontier", self.frontier), ("--keys", self.keys)):
            if value:
                args += [flag, where(value)]
        for flag, text in (("--run-id", self.run_id), ("--cell", self.cell)):
            if text:
                args += [flag, text]
        return args


def _entry(text: str) -> Dict[str, Any]:
    entry = json.loads(text)
    if not isinstance(entry, dict) or not {"case", "source", "task", "origin"} <= set(entry):
        raise ValueError(text)
    return entry


def parse(argv: List[str], description: str = "") -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m matrix.probe", description=description)
    p.add_argument("--cases", default="", help="comma-separated glob patterns over case ids (e.g. 'dynamic/*')")
    p.add_argument("--suite", default=None,
                   help="comma-separated suites: cases (the corpus and --cases-from), aten (torch's operator "
                        "database), onnx-node (ONNX's node tests); default cases, and with --side runtime the "
                        "bundles of every suite")
    p.add_argument("--cases-from", action="append", default=[], metavar="PATH_OR_MODULE",
                   help="also load cases from a .py file, a folder of them, or a module (repeatable)")
    p.add_argument("--model", action="append", default=[], type=_entry, metavar="JSON",
                   help="a model named on the orchestrator's command line, resolved there (matrix/models.py): "
                        "a JSON object with its folder, task and source (repeatable)")
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
    p.add_argument("--side", choices=("both", "export", "runtime"), default="both",
                   help="both: export and check each result here (default); export: write a bundle per "
                        "result into --bundles (needs torch, not onnxruntime); runtime: check the bundles in "
                        "--bundles with this onnxruntime (needs no torch), results in --out")
    p.add_argument("--bundles", default=None, metavar="DIR", help="the bundles folder of --side export/runtime")
    p.add_argument("--frontier", default=None, metavar="FILE",
                   help="write this side's version frontier here: the IR and opsets its onnxruntime loads, the "
                        "opsets each exporter of its torch writes (measured before the cases; an export side "
                        "always measures, into its --bundles)")
    p.add_argument("--frontier-only", action="store_true", help="measure the frontier, run no case")
    p.add_argument("--unpaired", action="append", default=[], metavar="LIBRARY=REASON",
                   help="a model library this cell's lock left out, and why: cases that need it are skipped "
                        "with that reason (repeatable)")
    p.add_argument("--requirements", type=lambda text: [n for n in text.split(",") if n], default=[],
                   metavar="NAME,…", help="distributions installed for the user's cases (the spec's [run] "
                                          "requirements): each result records their versions")
    p.add_argument("--remedies", action="store_true",
                   help="for each failing result, try the remedies that apply (matrix/probe/remedies.py) until one "
                        "passes every stage; the runtime side tries only those of the session and the exported file")
    p.add_argument("--remedy-budget", default=None, metavar="COUNT,SECONDS",
                   help="per failing result: at most COUNT tries and SECONDS in all (default 8,300)")
    p.add_argument("--keys", default=None, metavar="FILE",
                   help="a JSON list of [case, exporter, opset, device]: run only these results; a fifth item, "
                        "what a split run already knows of one (its outcome, export data and remedy tries), makes "
                        "--remedies search only the export's remedies for it, without running it again")
    p.add_argument("--workers", type=int, default=1, metavar="N",
                   help="--side export: export N results at once, each in its own child process (default 1)")
    p.add_argument("--list", action="store_true", help="print the selected cases as JSON lines and exit")
    return p.parse_args(argv)
