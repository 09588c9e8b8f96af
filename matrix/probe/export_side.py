"""The export side of a result: reference → export → check, in an environment with torch, onnx and
onnxscript (onnxruntime is not needed). It leaves a bundle's model and data in its folder: the
example inputs and eager's outputs at them, and the same for every size the dynamic stage will
try, so that the runtime side needs no torch.
"""

from __future__ import annotations

import os
import time
from typing import Any, Dict, List, Optional, Tuple

from matrix.probe import bundle, errors, parity
from matrix.probe.exporters import for_torch
from matrix.probe.inputs import Inputs, array, as_inputs, example_sizes, fed, other_sizes, resized
from matrix.probe.timing import median_ms


def build_case(case: Any, device: str) -> Tuple[Any, Inputs]:
    import numpy as np
    import torch

    torch.manual_seed(case.seed)
    np.random.seed(case.seed)
    built = case.build()
    model = built[0]
    inputs = as_inputs(built[1]) if len(built) == 2 else Inputs(tuple(built[1]), built[2])
    if isinstance(model, torch.nn.Module):
        model = model.eval().to(device)
    if inputs.kwargs and inputs.args and case.keyword_dynamic:
        raise ValueError(f"case {case.id}: dynamic names keyword inputs, so the case takes no positional inputs")
    return model, inputs.ordered_for(model).to(device)


def eager_tensors(model: Any, inputs: Inputs, device: str) -> List[Any]:
    import torch

    with torch.no_grad():
        out = model(*inputs.args, **inputs.kwargs)
    if device == "cuda":
        torch.cuda.synchronize()
    return parity.flatten(out)


def eager(model: Any, inputs: Inputs, device: str) -> List[Tuple[Any, str]]:
    """Eager outputs as (array, torch dtype name)."""
    return [parity.to_numpy(t) for t in eager_tensors(model, inputs, device)]


def model_metrics(path: str) -> Dict[str, Any]:
    import onnx

    proto = onnx.load(path, load_external_data=False)
    folder = os.path.dirname(path)
    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), None)
    return {
        "model_bytes": sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder)
                           if f.startswith(os.path.basename(path)) or f.endswith(".data")),
        "nodes": len(proto.graph.node),
        "model_opset": opset,
        "ir_version": proto.ir_version,
    }


def _model_io(path: str) -> Tuple[List[str], List[str]]:
    """The names of the model's fed inputs (initializers aside) and of its outputs."""
    import onnx

    graph = onnx.load(path, load_external_data=False).graph
    initializers = {i.name for i in graph.initializer}
    return [i.name for i in graph.input if i.name not in initializers], [o.name for o in graph.output]


def _outputs(tensors: List[Any], names: List[str]) -> List[Tuple[str, Any, bool]]:
    return [(names[i] if i < len(names) else f"output_{i}", *array(t)) for i, t in enumerate(tensors)]


def _dtypes(tensors: Any) -> List[str]:
    return sorted({str(t.dtype).replace("torch.", "") for t in tensors if t.is_floating_point()})


def _fp32(model: Any, inputs: Inputs, cast: Optional[str]) -> Tuple[Any, Inputs]:
    """A dtype remedy's model and inputs: half-precision inputs (and, for "model", the model) in fp32."""
    import torch

    if not cast:
        return model, inputs

    def up(value: Any) -> Any:
        return value.float() if isinstance(value, torch.Tensor) and value.dtype in (torch.float16,
                                                                                     torch.bfloat16) else value

    if cast == "model":
        import copy

        model = copy.deepcopy(model).float()
    return model, Inputs(tuple(up(a) for a in inputs.args), {k: up(v) for k, v in inputs.kwargs.items()})


def export_stages(case: Any, exporter: str, opset: Optional[int], device: str, workdir: str,
                  stages: Any, remedy: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """Export one result into workdir (model.onnx and data sets); returns the bundle's description
    of its data. Raises at the stage (stages.stage) where it fails. A remedy's export changes
    (remedies.py) apply to the export only: eager's outputs stay the case's own."""
    import torch

    if hasattr(case, "writes"):  # a suite whose models are not exported (ONNX's node tests)
        stages("export")
        stages.meta.update(case.writes(workdir))
        stages("check")
        stages.metrics.update(model_metrics(os.path.join(workdir, bundle.MODEL)),
                              op_types=stages.meta.pop("op_types", []))
        return stages.meta
    params = dict((remedy or {}).get("params") or {}) if (remedy or {}).get("side") == "export" else {}
    exporter, opset = params.pop("exporter", exporter), params.pop("opset", opset)
    cast = params.pop("cast", None)
    stages.meta.update(rtol=case.rtol, atol=case.atol, dynamic=None, widened=cast == "model")
    stages("reference")
    model, inputs = build_case(case, device)
    stages.meta["args"] = len(inputs.args)  # for a reproduction's export call
    stages.meta["kwargs"] = list(inputs.kwargs)
    # what decides which remedies apply to this result (remedies.situation)
    stages.meta.update(input_dtypes=_dtypes(parity.flatten([v for _, v in inputs.items()])),
                       param_dtypes=_dtypes(model.parameters()) if isinstance(model, torch.nn.Module) else [],
                       dynamic_dims=list(case.dim_names))
    expected = eager_tensors(model, inputs, device)
    stages.metrics["eager_ms"] = median_ms(lambda: eager_tensors(model, inputs, device))
    exported, exported_inputs = _fp32(model, inputs, cast)

    stages("export")
    api = for_torch(torch.__version__)
    stages.meta["call"] = api.call(exporter, opset, case.dynamic, len(inputs.args), list(inputs.kwargs),
                                   case.output_names, options=params)  # the exact call, as source, for the report
    path = os.path.join(workdir, bundle.MODEL)
    start = time.perf_counter()
    try:
        api.export(exporter, exported, exported_inputs.args, path, opset, case.dynamic,
                   kwargs=exported_inputs.kwargs, output_names=case.output_names, options=params)
    except Exception as exc:
        if getattr(case, "operator", None):  # an operator's case: does the exporter have an entry for it?
            from matrix.probe.suites.aten import registry_detail

            exc.matrix_detail = registry_detail(exporter, case.operator, opset)  # type: ignore[attr-defined]
        raise
    stages.metrics["export_s"] = round(time.perf_counter() - start, 4)

    stages("check")
    import onnx

    stages.metrics.update(model_metrics(path))
    onnx.checker.check_model(path, full_check=True)
    names = api.input_names(len(inputs.args)) + list(inputs.kwargs)
    wanted, outputs = _model_io(path)
    bundle.write_data_set(workdir, 0, fed(exported_inputs, names, wanted), _outputs(expected, outputs))
    stages.meta["tolerances"] = [parity.tolerance(parity.to_numpy(t)[1], case.rtol, case.atol) for t in expected]
    if case.dynamic:
        stages("dynamic")  # eager at each size the runtime side will try
        stages.meta["dynamic"] = _dynamic_data(case, model, inputs, device, names, wanted, outputs, workdir, cast)
    return stages.meta


def _dynamic_data(case: Any, model: Any, inputs: Inputs, device: str, names: List[str], wanted: List[str],
                  outputs: List[str], workdir: str, cast: Optional[str] = None) -> List[Dict[str, Any]]:
    """A data set per other size of each declared dimension; where eager itself fails at a size,
    the error, which the runtime side reports as the dynamic stage's failure."""
    entries: List[Dict[str, Any]] = []
    base = example_sizes(case, inputs)
    for n, name in enumerate(case.dim_names):
        for size in other_sizes(case, name, base[name]):
            sizes = dict(base, **{name: size})
            entry: Dict[str, Any] = {"dim": name, "size": size, "sizes": sizes, "data_set": None, "error": None}
            entries.append(entry)
            try:
                new_inputs = resized(case, inputs, sizes, seed=case.seed + 1 + n, model=model).to(device)
                expected = eager_tensors(model, new_inputs, device)
            except Exception as exc:  # noqa: BLE001 -- the dynamic stage's failure, reported by the runtime side
                entry["error"] = errors.from_exception(exc, workdir)
                entry["error"]["detail"].update({"dim": name, "size": size, "sizes": sizes})
                return entries  # the runtime side stops at the first failure, as one process would
            entry["data_set"] = len(entries)
            bundle.write_data_set(workdir, entry["data_set"], fed(_fp32(None, new_inputs, cast and "inputs")[1],
                                                                   names, wanted),
                                  _outputs(expected, outputs))
    return entries
