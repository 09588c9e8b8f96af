"""The version frontier of this environment, measured, not looked up:

- its onnxruntime: the newest IR version and the newest ai.onnx opset it loads, by loading
  one-node models stamped with each in turn (built with onnx.helper on the export side, which
  has onnx; the runtime side needs only the files);
- its torch: which opsets each exporter writes, and at which IR, by exporting a tiny model at
  each opset and reading what came out (an exporter that silently writes another opset than the
  one asked for does not write the one asked for).

advice() joins the two for a model a runtime refused; the orchestrator joins every side of a
run into the version tables (matrix/frontier.py).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from typing import Any, Dict, List, Optional

from matrix.probe import PROBE_VERSION, errors

FORMAT = 1
FILE = "frontier.json"  # an export side's, in its bundles folder; a runtime side's where --frontier says
STAMPS = "stamps"  # beside it: the stamped models the runtime side loads
# One axis at a time, the other held where every runtime reads it, so one limit never hides the
# other: IR N at opset 7, opset N at IR 3 (the first IR with opset imports; onnxruntime does not
# tie IR to opset).
BASE_OPSET, BASE_IR = 7, 3
_STAMP = re.compile(r"^ir(\d+)-opset(\d+)\.onnx$")
# opset_import entries of the default domain
_DEFAULT_DOMAINS = ("", "ai.onnx")
KINDS = ("ir_too_new", "opset_too_new")  # load errors the measurements answer
SPLIT = "split"  # the side of a file joining a split run's export and runtime measurements
# What a measurement depends on, as the lock pins it: not the model libraries or a person's own
# requirements, so that environments differing only in those share one measurement (a dynamo
# export at each of ~30 opsets: some 20 s per environment).
DEPENDS_ON = ("torch", "onnx", "onnxscript", "onnx-ir", "onnxruntime", "onnxruntime-gpu", "numpy")


def holds_for(measured: Dict[str, Optional[str]], here: Dict[str, Optional[str]]) -> bool:
    """Whether a measurement made with `measured` (a probe's versions) holds in an environment
    with `here`: the same Python minor release and packages the measurement depends on."""
    def depends(versions: Dict[str, Optional[str]]) -> tuple:
        python = ".".join((versions.get("python") or "").split(".")[:2])
        return (python, *(versions.get(name) for name in DEPENDS_ON))

    return depends(measured) == depends(here)


def stamp_name(ir: int, opset: int) -> str:
    return f"ir{ir}-opset{opset}.onnx"


def write_stamps(folder: str) -> None:
    """One-node models (y = x + x) stamped with every IR and opset up to a few past what this
    onnx knows: a runtime built against a newer onnx may read further."""
    import onnx
    from onnx import TensorProto, helper

    os.makedirs(folder, exist_ok=True)
    value = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1]) for n in ("x", "y")]
    graph = helper.make_graph([helper.make_node("Add", ["x", "x"], ["y"])], "stamp", value[:1], value[1:])
    wanted = [(ir, BASE_OPSET) for ir in range(BASE_IR, onnx.IR_VERSION + 4)] + \
             [(BASE_IR, opset) for opset in range(BASE_OPSET, onnx.defs.onnx_opset_version() + 4)]
    for ir, opset in wanted:
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
        model.ir_version = ir
        onnx.save(model, os.path.join(folder, stamp_name(ir, opset)))


def _loads(path: str, released_only: bool = True) -> Optional[str]:
    """None when onnxruntime loads and runs the model, else its error's readable sentence."""
    import numpy as np
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    if not released_only:
        options.add_session_config_entry("session.allow_released_opsets_only", "0")
    try:
        session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        session.run(None, {"x": np.ones(1, np.float32)})
        return None
    except Exception as exc:  # noqa: BLE001 -- what it says is the measurement
        return errors.from_exception(exc)["message"]


def measure_runtime(stamps: str) -> Dict[str, Any]:
    """The newest IR and opset this onnxruntime loads, with the sentence it refuses the next with;
    `opset_unreleased`: the newest it loads when told to allow opsets that were not released
    when it was built (session.allow_released_opsets_only=0; it then warns "under development")."""
    import onnxruntime

    found = sorted((int(m.group(1)), int(m.group(2)), name) for name in os.listdir(stamps)
                   for m in [_STAMP.match(name)] if m)
    irs = [(ir, name) for ir, opset, name in found if opset == BASE_OPSET]
    opsets = sorted((opset, name) for ir, opset, name in found if ir == BASE_IR)
    row: Dict[str, Any] = {"onnxruntime": onnxruntime.__version__, "tried": {
        "ir": [irs[0][0], irs[-1][0]], "opset": [opsets[0][0], opsets[-1][0]]}, "refusal": {}}
    for axis, steps in (("ir", irs), ("opset", opsets)):
        row[axis] = None
        for number, name in steps:
            refused = _loads(os.path.join(stamps, name))
            if refused:
                row["refusal"][axis] = refused
                break
            row[axis] = number
    row["opset_unreleased"] = row["opset"]
    for number, name in opsets:
        if row["opset"] is not None and number > row["opset"]:
            if _loads(os.path.join(stamps, name), released_only=False):
                break
            row["opset_unreleased"] = number
    return row


def _written(api: Any, exporter: str, opset: Optional[int], model: Any, args: tuple) -> Optional[List[int]]:
    """[opset, IR] of what the exporter wrote when asked for `opset`, or None when it failed."""
    import onnx

    with tempfile.TemporaryDirectory(prefix="matrix-frontier-") as tmp:
        path = os.path.join(tmp, "model.onnx")
        try:
            api.export(exporter, model, args, path, opset, None)
            written = onnx.load(path, load_external_data=False)
        except Exception:  # noqa: BLE001 -- an opset it cannot write
            return None
    versions = [o.version for o in written.opset_import if o.domain in _DEFAULT_DOMAINS]
    return [versions[0] if versions else 0, written.ir_version]


def measure_exporters(torch_version: str, exporters: List[str]) -> Dict[str, Any]:
    """Per exporter: the opset and IR it writes by default, and each opset it writes when asked
    (opset → IR), from 1 to two past what this onnx knows."""
    import onnx
    import torch

    from matrix.probe.exporters import for_torch
    from matrix.probe.isolation import memoize_torchlib_table

    memoize_torchlib_table()  # ~30 dynamo exports in this process: 47.9 s for both exporters, 20.6 s with it
    api = for_torch(torch_version)
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.ReLU()).eval()
    args = (torch.randn(2, 4),)
    top = onnx.defs.onnx_opset_version() + 2
    rows: Dict[str, Any] = {}
    for exporter in exporters:
        reason = api.unavailable(exporter)
        if reason:
            rows[exporter] = {"unavailable": reason}
            continue
        default = _written(api, exporter, None, model, args)
        writes: Dict[str, int] = {}
        if api.unavailable(exporter, top) is None:  # it takes an opset
            for opset in range(1, top + 1):
                got = _written(api, exporter, opset, model, args)
                if got and got[0] == opset:
                    writes[str(opset)] = got[1]
        elif default:
            writes[str(default[0])] = default[1]
        rows[exporter] = {"default": default and {"opset": default[0], "ir": default[1]}, "writes": writes,
                          "tried": [1, top]}
    return {"onnx": {"version": onnx.__version__, "ir": onnx.IR_VERSION, "opset": onnx.defs.onnx_opset_version()},
            "exporters": rows}


def opset_range(row: Dict[str, Any]) -> str:
    """ "7–20" (or "14–28, 30") for an exporter row's written opsets."""
    numbers = sorted(int(o) for o in row.get("writes") or {})
    spans: List[List[int]] = []
    for n in numbers:
        if spans and n == spans[-1][1] + 1:
            spans[-1][1] = n
        else:
            spans.append([n, n])
    return ", ".join(f"{a}–{b}" if a != b else str(a) for a, b in spans)


def unwritable(measured: Optional[Dict[str, Any]], exporter: str, opset: Optional[int]) -> Optional[str]:
    """Why a result at `opset` is skipped: the exporter was measured not to write it."""
    row = ((measured or {}).get("exporters") or {}).get(exporter) or {}
    if opset is None or not row.get("writes") or str(opset) in row["writes"]:
        return None
    name = "TorchScript" if exporter == "torchscript" else "dynamo"
    return f"the {name} exporter of torch {measured['versions']['torch']} writes opsets {opset_range(row)}"


def best_opset(row: Dict[str, Any], runtime: Dict[str, Any]) -> Optional[int]:
    """The highest opset an exporter row writes at an IR and opset this runtime reads."""
    fits = [int(o) for o, ir in (row.get("writes") or {}).items()
            if int(o) <= runtime["opset"] and ir <= runtime["ir"]]
    return max(fits) if fits else None


def advice(exported: Optional[Dict[str, Any]], runtime: Optional[Dict[str, Any]], exporter: str,
           error: Dict[str, Any], converted: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """A too-new model's error with the opset to export with for this runtime, from both sides'
    measurements (export_opset in its detail; the orchestrator verifies it). Where no opset helps,
    `converted` is the exported file's conversion as tried by this runtime (a search's record)."""
    rows = (exported or {}).get("exporters") or {}
    row = rows.get(exporter) or {}
    if not runtime or runtime.get("ir") is None or runtime.get("opset") is None or not row.get("writes"):
        return error
    made_by = f"torch {(exported.get('versions') or {}).get('torch')}'s {exporter} exporter"
    reads = f"onnxruntime {runtime['onnxruntime']} reads IR ≤ {runtime['ir']} and opset ≤ {runtime['opset']} (measured)"
    detail = dict(error.get("detail") or {}, runtime_ir=runtime["ir"], runtime_opset=runtime["opset"])
    opset = best_opset(row, runtime)
    if opset is not None:
        detail["export_opset"] = opset
        hint = (f"export with opset_version={opset}: {reads}; {made_by} writes opset {opset} "
                f"at IR {row['writes'][str(opset)]}")
    else:
        other = next(((name, best_opset(r, runtime)) for name, r in rows.items()
                      if name != exporter and best_opset(r, runtime) is not None), None)
        instead = f", or export with the {other[0]} exporter at opset_version={other[1]}" if other else ""
        hint = (f"no opset helps: {made_by} writes IR {min(row['writes'].values())} or newer at every opset, "
                f"and {reads}; {_conversion(converted)}upgrade onnxruntime{instead}")
    return dict(error, hint=hint, detail=detail)


def _conversion(record: Optional[Dict[str, Any]]) -> str:
    """What this runtime's try of the exported file's conversion showed, as the hint's first choice."""
    fixed = (record or {}).get("fixed_by")
    if fixed and fixed.get("family") == "version":
        return (f"convert the exported file: {fixed['change']} (checked here: the converted file loads and matches "
                "eager PyTorch), or ")
    tried = next((t for t in (record or {}).get("tried") or () if t.get("family") == "version"), None)
    if tried:
        kind = f", {tried['kind']}" if tried.get("kind") else ""
        return f"converting the exported file was tried here ({tried['status']}{kind}): "
    return ""


def read(path: str) -> Optional[Dict[str, Any]]:
    """A frontier file, or None where there is none (or it is not one of this probe's)."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("format") == FORMAT else None


def write(path: str, side: str, versions: Dict[str, Optional[str]], **parts: Any) -> Dict[str, Any]:
    data = {"format": FORMAT, "probe_version": PROBE_VERSION, "side": side, "versions": versions, **parts}
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    temporary = f"{path}.{os.getpid()}.tmp"
    with open(temporary, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1)
    os.replace(temporary, path)  # two cells of one runtime side may measure at once: whole or absent
    return data
