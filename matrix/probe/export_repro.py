"""For a bundle whose export failed: a self-contained reproduction for torch's maintainers.

    repro.py          builds the case as the probe does and makes the exact export call
    <case file>.py    the case's own source, unchanged
    matrix/__init__.py  the Case API it imports (matrix/probe/case.py: standard library only)
    requirements.txt  every distribution of the export side's environment, pinned

so that `pip install -r requirements.txt && python repro.py` needs nothing of this project.
A case file that imports other files beside it needs them too (they are not copied).
"""

from __future__ import annotations

import functools
import inspect
import os
import shutil
from importlib import metadata
from typing import Any, Dict, Optional

TEMPLATE = '''"""Reproduce the export of {case} ({exporter} exporter, opset {opset}, {device}) with torch {torch}.

The export side of onnx-compat-matrix failed at its {stage} stage:
    {message}

    pip install -r requirements.txt && python repro.py

Needs nothing of onnx-compat-matrix: matrix/__init__.py beside this file is its Case API, which
{source} imports.
"""

import importlib
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from matrix import Case  # noqa: E402

module = importlib.import_module({module!r})
case = next(c for value in vars(module).values() for c in (value if isinstance(value, (list, tuple)) else [value])
            if isinstance(c, Case) and c.id == {case!r})
torch.manual_seed(case.seed)
np.random.seed(case.seed)
built = case.build()  # (model, args), (model, {{name: tensor}}) or (model, args, kwargs)
model, args, kwargs = built[0], built[1], (built[2] if len(built) > 2 else {{}})
if isinstance(args, dict):
    args, kwargs = (), args
args = tuple(args) if isinstance(args, (list, tuple)) else (args,)
if isinstance(model, torch.nn.Module):
    model = model.eval().to({device!r})
args = tuple(a.to({device!r}) if isinstance(a, torch.Tensor) else a for a in args)
kwargs = {{k: v.to({device!r}) if isinstance(v, torch.Tensor) else v for k, v in kwargs.items()}}

{call}
import onnx  # noqa: E402

onnx.checker.check_model("model.onnx", full_check=True)
print("exported and checked: model.onnx")
'''


def write(folder: str, case: Any, meta: Dict[str, Any], call: str) -> Optional[str]:
    """Write the reproduction into folder; None when the case's source cannot be found."""
    try:
        source = inspect.getsourcefile(case.build)
    except TypeError:
        source = None
    if not source or not os.path.isfile(source):
        return None
    name = os.path.basename(source)
    shutil.copyfile(source, os.path.join(folder, name))
    os.makedirs(os.path.join(folder, "matrix"), exist_ok=True)
    shutil.copyfile(os.path.join(os.path.dirname(__file__), "case.py"), os.path.join(folder, "matrix", "__init__.py"))
    error = (meta["outcome"].get("error") or {})
    text = TEMPLATE.format(case=meta["case"], exporter=meta["exporter"], opset=meta["opset"] or "default",
                           device=meta["device"], torch=meta["versions"].get("torch"), stage=meta["outcome"]["stage"],
                           message=error.get("message") or meta["outcome"]["status"], source=name,
                           module=os.path.splitext(name)[0], call=call)
    with open(os.path.join(folder, "repro.py"), "w", encoding="utf-8") as f:
        f.write(text)
    with open(os.path.join(folder, "requirements.txt"), "w", encoding="utf-8") as f:
        f.write(_pinned())
    return "repro.py"


@functools.lru_cache(maxsize=1)  # what is installed does not change during a probe (~0.25 s each)
def _pinned() -> str:
    """name==version for every distribution here: the export side's lock, as installed."""
    found = {}
    for dist in metadata.distributions():
        name = (dist.metadata["Name"] or "").lower()
        if name and name not in ("pip", "setuptools", "wheel"):
            found[name] = dist.version
    lines = [f"{name}=={version}" for name, version in sorted(found.items())]
    local = [line for line in lines if "+" in line]
    head = ["# torch builds with a local version (+cpu, +cu121, …) come from PyTorch's own index:",
            "# pip install -r requirements.txt --extra-index-url https://download.pytorch.org/whl/cpu"] if local else []
    return "\n".join(head + lines) + "\n"
