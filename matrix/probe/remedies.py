"""The remedies: small, named changes to the export call, the exported file or the runtime's session
— never to the model's source — that make a failing result export and match.

Each remedy says which failures it is tried for. `candidates` lists the tries that apply to one
failing result, cheapest and smallest change first: a session option, then one line after export,
then one keyword of the export call, then the inputs' or model's dtype, and the other exporter last (the
biggest change: another translation, and TorchScript's is deprecated since torch 2.9). A model the
runtime refused as too new gets only the changes of version (what else could answer a refusal of
the file's IR or opset?), and an export that failed at a step the dynamo exporter names only the
changes that reach that step: another opset changes the translation onward, optimize= what follows
it, so neither is tried for a capture that failed (measured on the default spec: 0 of 37 such tries
fixed one, 122 s). search.py tries them.

Standard library only at import: the probe imports it inside cells.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

RUNTIME_FAILURES = ("run_error", "mismatch", "dynamic_error")
TOO_NEW = ("ir_too_new", "opset_too_new")
LOW_PRECISION = ("float16", "bfloat16")
VERSION_CHANGES = ("version", "opset", "exporter")  # the families that change the file's opset or IR
# The dynamo exporter's steps, as its errors name them (errors.STEP_NAMES), then the optimisation.
EXPORT_STEPS = ("capture", "decompose", "translate", "optimize")


@dataclass(frozen=True)
class Remedy:
    name: str
    family: str  # exporter, opset, dynamo, dtype, version, runtime
    side: str  # session: onnxruntime's options; model: the exported file rewritten; export: the export call
    statuses: Tuple[str, ...]  # the failures it is tried for
    doc: str
    kinds: Tuple[str, ...] = ()  # where given, only failures of these error kinds
    changes: str = "capture"  # an export remedy: the first of the exporter's steps (EXPORT_STEPS) it changes


REMEDIES: Tuple[Remedy, ...] = (
    Remedy("session_no_optimizations", "runtime", "session", RUNTIME_FAILURES + ("load_error",),
           "onnxruntime with every graph optimisation off: a fusion or rewrite that breaks or changes the model "
           "is skipped"),
    Remedy("session_other_provider", "runtime", "session", RUNTIME_FAILURES + ("load_error",),
           "the other execution provider (CUDA ↔ CPU), where this onnxruntime has one"),
    Remedy("ir_downgrade", "version", "model", ("load_error",),
           "the file's IR version lowered to what the runtime reads, where every opset it imports allows it "
           "(onnx's own version table)", kinds=("ir_too_new",)),
    Remedy("version_convert", "version", "model", ("load_error",),
           "onnx.version_converter to the newest opset the runtime reads, and that opset's IR", kinds=TOO_NEW),
    Remedy("opset", "opset", "export", ("export_error", "invalid_model", "load_error", "run_error"),
           "another opset_version: the highest this runtime loads (measured), else the exporter's others",
           changes="translate"),
    Remedy("dynamo_optimize", "dynamo", "export", ("export_error", "invalid_model", "load_error") + RUNTIME_FAILURES,
           "dynamo: optimize= turned the other way (the ONNX-level graph optimisation after translation)",
           changes="optimize"),
    Remedy("dynamo_strict", "dynamo", "export", RUNTIME_FAILURES,
           "dynamo: capture with torch.export.export(strict=True) first; torch.onnx tries non-strict then strict "
           "only when capture fails, so this is for a non-strict graph that runs wrong"),
    Remedy("dynamo_dims_auto", "dynamo", "export", ("export_error", "dynamic_error"),
           "dynamo: dynamic_shapes from Dim.AUTO (torch infers which dimensions vary) instead of named Dims"),
    Remedy("dynamo_dims_dynamic", "dynamo", "export", ("export_error", "dynamic_error"),
           "dynamo: dynamic_shapes from Dim.DYNAMIC (dynamic, without named dimensions' equalities)"),
    Remedy("dynamo_fallback", "dynamo", "export", ("export_error",),
           "dynamo: fallback=True, the TorchScript exporter when dynamo fails (torch versions that still have it)"),
    Remedy("inputs_fp32", "dtype", "export", ("export_error", "invalid_model", "load_error", "run_error",
                                              "mismatch"),
           "fp16/bf16 inputs cast to fp32 before export and when fed (the seed's fix for fp16 into an fp32 model)"),
    Remedy("model_fp32", "dtype", "export", ("export_error", "invalid_model", "load_error", "run_error", "mismatch"),
           "the whole model and its inputs in fp32 (model.float()); its outputs are compared with eager's "
           "half-precision ones at their tolerance"),
    Remedy("other_exporter", "exporter", "export",
           ("export_error", "invalid_model", "load_error") + RUNTIME_FAILURES,
           "the other exporter: dynamo=True ↔ dynamo=False"),
)
BY_NAME = {r.name: r for r in REMEDIES}


@dataclass(frozen=True)
class Situation:
    """What decides which remedies apply to one failing result."""

    status: str
    kind: Optional[str]
    exporter: str
    opset: Optional[int]
    device: str
    dynamic: bool = False  # the case declares dynamic dimensions
    input_dtypes: Tuple[str, ...] = ()
    param_dtypes: Tuple[str, ...] = ()
    writes: Tuple[Tuple[str, Tuple[Tuple[int, int], ...]], ...] = ()  # per exporter: (opset, IR) it writes
    defaults: Tuple[Tuple[str, Tuple[int, int]], ...] = ()  # per exporter: the (opset, IR) it writes unasked
    runtime: Optional[Tuple[int, int]] = None  # (IR, opset) the runtime reads, measured
    advised_opset: Optional[int] = None  # the frontier's advice for a too-new model
    other_exporter: Optional[str] = None  # None where this torch has no other exporter
    export_keywords: Tuple[str, ...] = ()  # keywords this torch.onnx.export takes (optimize, fallback)
    dims_styles: Tuple[str, ...] = ()  # Dim.AUTO / Dim.DYNAMIC where torch.export has them
    other_provider: Optional[str] = None
    export_step: Optional[str] = None  # the dynamo exporter's step that failed, where it named one


def _applies(remedy: Remedy, s: Situation) -> bool:
    if s.status not in remedy.statuses or (remedy.kinds and s.kind not in remedy.kinds):
        return False
    if s.status == "export_error" and s.export_step in EXPORT_STEPS and remedy.side == "export" and \
            EXPORT_STEPS.index(remedy.changes) > EXPORT_STEPS.index(s.export_step):
        return False  # it changes only steps after the one that failed: that one would fail the same way
    if s.status == "load_error" and s.kind in TOO_NEW and remedy.family not in VERSION_CHANGES:
        return False  # the runtime refused the file's version: only a change of the version answers that
    if s.status == "load_error" and s.kind in TOO_NEW and remedy.family == "exporter" and s.other_exporter:
        default = dict(s.defaults).get(s.other_exporter)  # what the other exporter writes unasked (measured)
        return not (default and s.runtime and (default[0] > s.runtime[1] or default[1] > s.runtime[0]))
    return True


def _opsets(s: Situation) -> List[int]:
    """The opsets worth a try, best first. A model too new for the runtime: only the advised one (the
    highest opset the exporter writes at an IR and opset the runtime reads, measured). Otherwise the
    highest the runtime loads, the exporter's highest, and 17 or 18 (long the exporters' defaults)."""
    if s.status == "load_error" and s.kind in TOO_NEW:
        return [s.advised_opset] if s.advised_opset and s.advised_opset != s.opset else []
    written = dict(dict(s.writes).get(s.exporter, ()))  # opset: the IR it is written at
    found = sorted(written)
    if s.runtime:
        found = [o for o in found if o <= s.runtime[1] and written[o] <= s.runtime[0]] or found
    picks = found[-1:] + sorted(written)[-1:] + [o for o in found if o in (17, 18)][-1:]
    return [o for o in dict.fromkeys(picks) if o != s.opset]


def candidates(s: Situation, sides: Tuple[str, ...] = ("session", "model", "export")) -> List[Dict[str, Any]]:
    """Every try that applies, in order: {remedy, family, side, params, change}."""
    tries: List[Dict[str, Any]] = []

    def add(remedy: Remedy, change: str, **params: Any) -> None:
        tries.append({"remedy": remedy.name, "family": remedy.family, "side": remedy.side, "params": params,
                      "change": change})

    low_inputs = any(d in LOW_PRECISION for d in s.input_dtypes)
    low_model = any(d in LOW_PRECISION for d in s.param_dtypes)
    for remedy in REMEDIES:
        if remedy.side not in sides or not _applies(remedy, s):
            continue
        name = remedy.name
        if name == "session_no_optimizations":
            add(remedy, "options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL")
        elif name == "session_other_provider" and s.other_provider:
            add(remedy, f"providers=[{s.other_provider!r}]", provider=s.other_provider)
        elif name == "ir_downgrade" and s.runtime:
            add(remedy, f"model.ir_version = {s.runtime[0]}  # then onnx.save(model, path)", ir=s.runtime[0])
        elif name == "version_convert" and s.runtime:
            add(remedy, f"model = onnx.version_converter.convert_version(model, {s.runtime[1]})",
                opset=s.runtime[1], ir=s.runtime[0])
        elif name == "opset":
            for opset in _opsets(s):
                add(remedy, f"opset_version={opset}", opset=opset)
        elif name == "other_exporter" and s.other_exporter:
            add(remedy, f"dynamo={s.other_exporter == 'dynamo'}", exporter=s.other_exporter)
        elif s.exporter == "dynamo" and name == "dynamo_optimize" and "optimize" in s.export_keywords:
            add(remedy, "optimize=False", optimize=False)
        elif s.exporter == "dynamo" and name == "dynamo_strict" and s.dims_styles:
            add(remedy, "ep = torch.export.export(model, args, kwargs=kwargs, dynamic_shapes=..., strict=True)  "
                        "# then torch.onnx.export(ep, ...)", strict=True)
        elif s.exporter == "dynamo" and s.dynamic and name.startswith("dynamo_dims_"):
            style = name.rsplit("_", 1)[1]
            if style in s.dims_styles:
                add(remedy, f"dynamic_shapes with torch.export.Dim.{style.upper()} for every declared dimension",
                    dims=style)
        elif s.exporter == "dynamo" and name == "dynamo_fallback" and "fallback" in s.export_keywords:
            add(remedy, "fallback=True", fallback=True)
        elif name == "inputs_fp32" and low_inputs and not low_model:
            add(remedy, "args = tuple(a.float() if a.is_floating_point() else a for a in args)", cast="inputs")
        elif name == "model_fp32" and low_model:
            add(remedy, "model = model.float(); args = tuple(a.float() if a.is_floating_point() else a "
                        "for a in args)", cast="model")
    return tries


def situation(outcome: Dict[str, Any], exporter: str, opset: Optional[int], device: str, data: Dict[str, Any],
              measured: Optional[Dict[str, Any]], torch_version: Optional[str]) -> Situation:
    """The situation of a failing result, from its outcome, the data its export side described and
    the frontier measured here; what this torch offers is asked of it where torch is installed."""
    error = outcome.get("error") or {}
    detail = error.get("detail") or {}
    rows = (measured or {}).get("exporters") or {}
    writes = tuple((name, tuple(sorted((int(o), int(ir)) for o, ir in (row.get("writes") or {}).items())))
                   for name, row in rows.items())
    defaults = tuple((name, (int(row["default"]["opset"]), int(row["default"]["ir"]))) for name, row in rows.items()
                     if (row.get("default") or {}).get("opset") and (row.get("default") or {}).get("ir"))
    runtime = (measured or {}).get("runtime") or {}
    ir, top = detail.get("runtime_ir", runtime.get("ir")), detail.get("runtime_opset", runtime.get("opset"))
    keywords, styles, other = _torch_offers(exporter, torch_version)
    # where none was asked: the opset written, else the exporter's measured default
    written = (outcome.get("metrics") or {}).get("model_opset") or \
        (((rows.get(exporter) or {}).get("default") or {}).get("opset"))
    return Situation(status=outcome["status"], kind=error.get("kind"), exporter=exporter, opset=opset or written,
                     device=device, dynamic=bool(data.get("dynamic_dims")),
                     input_dtypes=tuple(data.get("input_dtypes") or ()),
                     param_dtypes=tuple(data.get("param_dtypes") or ()),
                     writes=writes, defaults=defaults,
                     runtime=(ir, top) if ir is not None and top is not None else None,
                     advised_opset=detail.get("export_opset"), other_exporter=other, export_keywords=keywords,
                     dims_styles=styles, other_provider=_other_provider(device),
                     export_step=detail.get("export_step"))


def _torch_offers(exporter: str, torch_version: Optional[str]) -> Tuple[Tuple[str, ...], Tuple[str, ...],
                                                                         Optional[str]]:
    """(torch.onnx.export's keywords, the Dim styles torch.export has, the other exporter) here."""
    if not torch_version:
        return (), (), None
    import inspect

    import torch

    from matrix.probe.exporters import EXPORTERS, for_torch

    api = for_torch(torch_version)
    other = next((e for e in EXPORTERS if e != exporter and not api.unavailable(e)), None)
    keywords: Tuple[str, ...] = ()
    styles: Tuple[str, ...] = ()
    if hasattr(api, "options_supported"):
        keywords = tuple(k for k in ("optimize", "fallback") if k in inspect.signature(torch.onnx.export).parameters)
        dim = getattr(getattr(torch, "export", None), "Dim", None)
        styles = tuple(s for s in ("auto", "dynamic") if hasattr(dim, s.upper()))
    return keywords, styles, other


def _other_provider(device: str) -> Optional[str]:
    try:
        import onnxruntime
    except ImportError:
        return None
    # a cuda result runs on the CUDA provider where there is one (else it already ran on the CPU's)
    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        return None
    return "CPUExecutionProvider" if device == "cuda" else "CUDAExecutionProvider"
