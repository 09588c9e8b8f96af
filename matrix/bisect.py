"""The first release of one package where a case's status changed (`python -m matrix bisect`).

The releases between --good and --bad (inclusive, those with a wheel for the python) are
binary-searched with every other package held fixed, so about log2(N) environments are
built (each one cached and reused like a matrix cell's). The finding goes into the history,
and the report shows it on the case's page."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional

from packaging.version import InvalidVersion, Version

from matrix.errors import BisectError
from matrix.index import Index, fits
from matrix.lock import EnvError, compile_lock
from matrix.plan import Cell
from matrix.probe import results
from matrix.probe.arguments import ProbeArgs
from matrix.runners.venv import READY, VenvRunner, env_dir


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


def _probe_status(cell: Cell, case: str, exporter: str, opset: str, cases_from: List[str],
                  log: Callable[[str], None]) -> str:
    """Build (or reuse) the cell's environment and run the one case in it."""
    started = time.time()
    runner = VenvRunner({})
    try:
        lock = compile_lock(cell, {})
        cached = (env_dir(lock) / READY).exists()
        python = runner.prepare(cell, lock, log)
    except EnvError as exc:
        log(f"  env_error: {str(exc).splitlines()[0]}")
        return "env_error"
    built = time.time() - started
    with tempfile.TemporaryDirectory(prefix="matrix-bisect-") as tmp:
        out = Path(tmp) / "result.jsonl"
        probe = ProbeArgs(out=str(out), cases=case, exporters=[exporter], opsets=[opset], run_id="bisect",
                          cell=cell.id, cases_from=[str(Path(source).resolve()) for source in cases_from])
        code = runner.run(python, cell, probe, lambda event: None, Path(tmp) / "stderr")
        found = list(results.read(str(out))) if out.exists() else []
        if code == 2 or not found:
            lines = (Path(tmp) / "stderr").read_text().strip().splitlines()
            raise BisectError(lines[-1] if lines else f"the probe found no result for {case}")
    result = found[0]
    detail = (result.get("error") or {}).get("message") or ""
    how = "reused from an earlier run" if cached else f"built in {built:.0f} s"
    log(f"  {result['status']}{': ' + detail[:100] if detail else ''} (environment {how})")
    return result["status"]


def search(case: str, package: str, sequence: List[str], pins: Dict[str, Optional[str]], exporter: str,
           opset: str, python: str, cases_from: List[str], log: Callable[[str], None]) -> Dict:
    """Bisect `sequence` (from `releases_between`) for `case`; the finding, as the history records it."""

    def status_of(version: str) -> str:
        versions = dict(pins, **{package: version})
        log(f"{package} {version}:")
        cell = Cell(python, versions["torch"], versions["onnx"], versions["onnxruntime"], versions["onnxscript"],
                    "cpu")
        return _probe_status(cell, case, exporter, opset, cases_from, log)

    found = bisect(sequence, status_of)
    return dict(found, case=case, package=package, exporter=exporter, opset=None if opset == "default" else opset,
                good=sequence[0], bad=sequence[-1], environments=len(found["steps"]), fixed=dict(pins))
