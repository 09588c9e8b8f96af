"""python -m matrix.probe.selfcheck [--cuda] [--side export|runtime]: the cell's packages (or one
side's) import cleanly, or one line says
which did not and why (exit 1). Both runners run it once per environment, before any case.

A numpy ABI mismatch is the reason this exists: onnxruntime built against numpy 1.x, imported
beside numpy 2, prints "A module that was compiled using NumPy 1.x cannot be run in NumPy 2.x"
and goes on half-working, so the import alone does not fail.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from typing import List, Optional, Sequence

REQUIRED = {"both": ("numpy", "torch", "onnx", "onnxruntime"), "export": ("numpy", "torch", "onnx"),
            "runtime": ("numpy", "onnxruntime")}
OPTIONAL = {"both": ("onnxscript",), "export": ("onnxscript",), "runtime": ()}  # not where torch has no dynamo
PROBE = "matrix.probe.cell"
BROKEN = ("compiled using NumPy 1.x", "_ARRAY_API not found", "numpy.core.multiarray failed to import")
FAILED = "matrix self-check failed:"  # the line the orchestrator looks for in an image build's log
MARK = "@@matrix-selfcheck "


def _packages(require: Sequence[str] = (), side: str = "both") -> List[str]:
    optional = [p for p in OPTIONAL[side] if p in require or importlib.util.find_spec(p) is not None]
    return [*REQUIRED[side], *optional, PROBE]


def check(cuda: bool = False, require: Sequence[str] = (), side: str = "both") -> Optional[str]:
    """None when every package imports cleanly, else "package: what its import said". `require`
    makes optional packages required (onnxscript, when the dynamo exporter is asked for)."""
    names = _packages(require, side)
    # One child imports them in order, marking each on stderr, so each message is its package's.
    code = ("import sys\n"
            f"for name in {names!r}:\n"
            f"    sys.stderr.write('\\n{MARK}' + name + '\\n'); sys.stderr.flush()\n"
            "    __import__(name)\n")
    if cuda and side != "runtime":
        code += "import torch\nassert torch.version.cuda, 'torch was not built with CUDA'\n"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    sections = done.stderr.split(MARK)
    for section in sections[1:]:
        name, _, said = section.partition("\n")
        failed_here = done.returncode != 0 and section is sections[-1]
        if failed_here or any(marker in said for marker in BROKEN):
            return f"{name}: {_first_line(said) or f'import exited with code {done.returncode}'}"
    if done.returncode != 0:
        return f"import exited with code {done.returncode}: {_first_line(done.stderr)}"
    return None


def _first_line(text: str) -> str:
    """The line that says what went wrong: a known ABI message, else the last line (an exception's)."""
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith(MARK)]
    for line in lines:
        if any(marker in line for marker in BROKEN):
            return line
    return lines[-1] if lines else ""


def main(argv: List[str]) -> int:
    side = argv[argv.index("--side") + 1] if "--side" in argv else "both"
    problem = check(cuda="--cuda" in argv, side=side)
    if problem:
        print(f"{FAILED} {problem}", flush=True)
        return 1
    print("matrix self-check passed: " + ", ".join(_packages(side=side)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
