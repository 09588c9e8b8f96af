"""`python -m matrix bisect`: the first release of one package where a case's status changed.

The releases between --good and --bad (inclusive, those with a wheel for the python) are
binary-searched with every other package held fixed, so about log2(N) environments are
built (each one cached and reused like a matrix cell's). The finding goes into the history,
and the report shows it on the case's page."""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path
from typing import Callable, Dict, List, Optional

from packaging.version import InvalidVersion, Version

from matrix import history
from matrix.index import Index, IndexUnavailable, fits
from matrix.lock import EnvError, compile_lock
from matrix.plan import Cell
from matrix.probe import results
from matrix.runners import venv


class BisectError(Exception):
    """Bad input or nothing to search: one line for the user."""


def releases_between(index: Index, package: str, good: str, bad: str, python: str) -> List[str]:
    """Final releases from good to bad (in that order, whichever is newer) installable on python."""
    ends = []
    for option, text in (("--good", good), ("--bad", bad)):
        try:
            ends.append(Version(text))
        except InvalidVersion:
            raise BisectError(f"{option} {text!r}: not a version") from None
    low, high = sorted(ends)
    found = [r for r in index.releases(package)
             if low <= r.version <= high and not r.version.is_prerelease and any(fits(w, python) for w in r.wheels)]
    names = [str(r.version) for r in found]
    for end, text in zip(ends, (good, bad)):
        if str(end) not in names:
            raise BisectError(f"{package} {text} is not a release with a wheel for python {python}")
    return names if ends[0] < ends[1] else names[::-1]


def held_versions(index: Index, package: str, held: List[str], python: str) -> Dict[str, Optional[str]]:
    """Every package but the bisected one: --with pins, else the newest release that fits."""
    pins: Dict[str, Optional[str]] = {}
    for text in held:
        name, sep, version = text.partition("==")
        if not sep or name not in ("torch", "onnx", "onnxruntime", "onnxscript") or name == package:
            raise BisectError(f"--with {text}: expected PACKAGE==VERSION for a package other than {package}")
        pins[name] = version
    for name in ("torch", "onnx", "onnxruntime"):
        if name != package and name not in pins:
            newest = [r for r in index.releases(name)
                      if not r.version.is_prerelease and any(fits(w, python) for w in r.wheels)]
            if not newest:
                raise BisectError(f"{name}: no release with a wheel for python {python}")
            pins[name] = str(newest[-1].version)
    pins.setdefault("onnxscript", None)  # auto: the release that fits each torch
    return pins


def bisect(sequence: List[str], status_of: Callable[[str], str]) -> Dict:
    """Binary search over sequence[0] (good) … sequence[-1] (bad) for the first change of status."""
    steps: Dict[str, str] = {}

    def status(i: int) -> str:
        if sequence[i] not in steps:
            steps[sequence[i]] = status_of(sequence[i])
        return steps[sequence[i]]

    good, bad = status(0), status(len(sequence) - 1)
    if good == bad:
        return {"good_status": good, "bad_status": bad, "steps": steps, "first_changed": None,
                "last_unchanged": None}
    lo, hi = 0, len(sequence) - 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if status(mid) == good:
            lo = mid
        else:
            hi = mid
    return {"good_status": good, "bad_status": bad, "steps": steps, "first_changed": sequence[hi],
            "last_unchanged": sequence[lo], "changed_to": status(hi)}


def _probe_status(cell: Cell, args: argparse.Namespace, log: Callable[[str], None]) -> str:
    """Build (or reuse) the cell's environment and run the one case in it."""
    started = time.time()
    try:
        lock = compile_lock(cell, {})
        cached = (venv.env_dir(lock) / venv.READY).exists()
        python = venv.ensure(lock, cell.python, {})
    except EnvError as exc:
        log(f"  env_error: {str(exc).splitlines()[0]}")
        return "env_error"
    built = time.time() - started
    with tempfile.TemporaryDirectory(prefix="matrix-bisect-") as tmp:
        out = Path(tmp) / "result.jsonl"
        probe = ["--cases", args.case, "--exporter", args.exporter, "--opset", args.opset, "--out", str(out),
                 "--run-id", "bisect", "--cell", cell.id]
        for source in args.cases_from:
            probe += ["--cases-from", str(Path(source).resolve())]
        with open(Path(tmp) / "stderr", "w") as stderr:
            code = venv.run(python, probe, lambda event: None, stderr=stderr)
        found = list(results.read(str(out))) if out.exists() else []
        if code == 2 or not found:
            lines = (Path(tmp) / "stderr").read_text().strip().splitlines()
            raise BisectError(lines[-1] if lines else f"the probe found no result for {args.case}")
    result = found[0]
    detail = (result.get("error") or {}).get("message") or ""
    how = "reused from an earlier run" if cached else f"built in {built:.0f} s"
    log(f"  {result['status']}{': ' + detail[:100] if detail else ''} (environment {how})")
    return result["status"]


def bisect_command(args: argparse.Namespace) -> int:
    python = args.python or ".".join(platform.python_version_tuple()[:2])
    index = Index()
    try:
        sequence = releases_between(index, args.package, args.good, args.bad, python)
        pins = held_versions(index, args.package, args.held, python)
    except (BisectError, IndexUnavailable) as exc:
        print(f"matrix bisect: error: {exc}", file=sys.stderr)
        return 2
    held = ", ".join(f"{k} {v or 'auto'}" for k, v in pins.items())
    print(f"bisecting {args.case} ({args.exporter}) over {len(sequence)} {args.package} releases "
          f"{sequence[0]} … {sequence[-1]}; held: {held}; python {python}")

    def status_of(version: str) -> str:
        versions = dict(pins, **{args.package: version})
        print(f"{args.package} {version}:", flush=True)
        cell = Cell(python, versions["torch"], versions["onnx"], versions["onnxruntime"], versions["onnxscript"],
                    "cpu")
        return _probe_status(cell, args, lambda line: print(line, flush=True))

    try:
        found = bisect(sequence, status_of)
    except BisectError as exc:
        print(f"matrix bisect: error: {exc}", file=sys.stderr)
        return 2
    environments = len(found["steps"])
    if found["first_changed"] is None:
        print(f"{args.case} is {found['good_status']} at both {args.package} {sequence[0]} and {sequence[-1]}: "
              f"nothing to bisect ({environments} environments)")
        return 1
    print(f"first {args.package} release where {args.case} ({args.exporter}) is no longer {found['good_status']}: "
          f"{found['first_changed']} ({found['changed_to']}); last {found['good_status']}: "
          f"{found['last_unchanged']}. {environments} environments for {len(sequence)} releases.")
    finding = dict(found, case=args.case, package=args.package, exporter=args.exporter,
                   opset=None if args.opset == "default" else args.opset, good=sequence[0], bad=sequence[-1],
                   environments=environments, fixed={k: v for k, v in pins.items()})
    try:
        with closing(history.connect(history.database(Path(args.results)))) as db:
            history.record_bisect(db, finding)
        print(f"recorded in {history.database(Path(args.results))}")
    except (history.HistoryError, OSError) as exc:
        print(f"warning: finding not recorded: {exc}", file=sys.stderr)
    print(json.dumps({k: finding[k] for k in ("case", "package", "first_changed", "last_unchanged",
                                              "good_status", "changed_to", "environments")}))
    return 0
