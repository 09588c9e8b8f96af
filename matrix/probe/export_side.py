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
from matrix.probe.timing import median_ms


def to_device(value: Any, device: str) -> Any:
    import torch

    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, (list, tuple)):
        return type(value)(to_device(v, device) for v in value)
    return value


def build_case(case: Any, device: str) -> Tuple[Any, tuple]:
    import numpy as np
    import torch

    torch.manual_seed(case.seed)
    np.random.seed(case.seed)
    model, args = case.build()
    args = tuple(args) if isinstance(args, (list, tuple)) else (args,)
    if isinstance(model, torch.nn.Module):
        model = model.eval().to(device)
    return model, to_device(args, device)


def eager_tensors(model: Any, args: tuple, device: str) -> List[Any]:
    import torch

    with torch.no_grad():
        out = model(*args)
    if device == "cuda":
        torch.cuda.synchronize()
    return parity.flatten(out)


def eager(model: Any, args: tuple, device: str) -> List[Tuple[Any, str]]:
    """Eager outputs as (array, torch dtype name)."""
    return [parity.to_numpy(t) for t in eager_tensors(model, args, device)]


def resized_args(case: Any, args: tuple, sizes: Dict[str, int], seed: int) -> tuple:
    """Example args with dynamic dimensions set to `sizes` and fresh seeded data."""
    import torch

    if case.inputs is not None:
        torch.manual_seed(seed)
        new = case.inputs(sizes)
        return tuple(new) if isinstance(new, (list, tuple)) else (new,)
    gen = torch.Generator().manual_seed(seed)
    out = []
    for i, arg in enumerate(args):
        axes = case.dynamic[i] if case.dynamic and i < len(case.dynamic) else None
        if not isinstance(arg, torch.Tensor) or not axes:
            out.append(arg)
            continue
        shape = list(arg.shape)
        for axis, name in axes.items():
            shape[axis] = sizes[name]
        if arg.dtype == torch.bool:
            new = torch.rand(shape, generator=gen) < 0.5
        elif arg.is_floating_point():
            scale = float(arg.float().std()) if arg.numel() > 1 else 1.0
            new = (torch.randn(shape, generator=gen) * (scale or 1.0)).to(arg.dtype)
        else:
            lo, hi = int(arg.min()), int(arg.max())
            new = torch.randint(lo, hi + 1, shape, generator=gen, dtype=arg.dtype)
        out.append(new.to(arg.device))
    return tuple(out)


def example_sizes(case: Any, args: tuple) -> Dict[str, int]:
    sizes: Dict[str, int] = {}
    for i, axes in enumerate(case.dynamic or ()):
        for axis, name in (axes or {}).items():
            sizes.setdefault(name, int(args[i].shape[axis]))
    return sizes


def other_sizes(case: Any, name: str, example: int) -> List[int]:
    return list(case.dynamic_sizes.get(name) or [example * 2 if example > 1 else 3])


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


def _array(tensor: Any) -> Tuple[Any, bool]:
    """(numpy array, is bfloat16 bits): numpy has no bfloat16, ONNX's files hold its raw bits."""
    import torch

    tensor = tensor.detach().cpu()
    if tensor.dtype == torch.bfloat16:
        return tensor.view(torch.int16).numpy(), True
    return tensor.numpy(), False


def fed(args: tuple, names: List[str], wanted: List[str]) -> List[Tuple[str, Any, bool]]:
    """The tensors among args, in the model's input order: by the names the exporter was given,
    else by position among the tensor args (as onnxruntime is fed them)."""
    import torch

    tensors = {n: a for n, a in zip(names, args) if isinstance(a, torch.Tensor)}
    if not all(n in tensors for n in wanted):
        tensors = dict(zip(wanted, [a for a in args if isinstance(a, torch.Tensor)]))
    return [(n, *_array(tensors[n])) for n in wanted if n in tensors]


def _outputs(tensors: List[Any], names: List[str]) -> List[Tuple[str, Any, bool]]:
    return [(names[i] if i < len(names) else f"output_{i}", *_array(t)) for i, t in enumerate(tensors)]


def export_stages(case: Any, exporter: str, opset: Optional[int], device: str, workdir: str,
                  stages: Any) -> Dict[str, Any]:
    """Export one result into workdir (model.onnx and data sets); returns the bundle's description
    of its data. Raises at the stage (stages.stage) where it fails."""
    import torch

    stages.meta.update(rtol=case.rtol, atol=case.atol, dynamic=None)
    stages("reference")
    model, args = build_case(case, device)
    stages.meta["args"] = len(args)  # for a reproduction's export call
    expected = eager_tensors(model, args, device)
    stages.metrics["eager_ms"] = median_ms(lambda: eager_tensors(model, args, device))

    stages("export")
    api = for_torch(torch.__version__)
    path = os.path.join(workdir, bundle.MODEL)
    start = time.perf_counter()
    api.export(exporter, model, args, path, opset, case.dynamic)
    stages.metrics["export_s"] = round(time.perf_counter() - start, 4)

    stages("check")
    import onnx

    stages.metrics.update(model_metrics(path))
    onnx.checker.check_model(path, full_check=True)
    names = api.input_names(len(args))
    wanted, outputs = _model_io(path)
    bundle.write_data_set(workdir, 0, fed(args, names, wanted), _outputs(expected, outputs))
    stages.meta["tolerances"] = [parity.tolerance(parity.to_numpy(t)[1], case.rtol, case.atol) for t in expected]
    if case.dynamic:
        stages("dynamic")  # eager at each size the runtime side will try
        stages.meta["dynamic"] = _dynamic_data(case, model, args, device, names, wanted, outputs, workdir)
    return stages.meta


def _dynamic_data(case: Any, model: Any, args: tuple, device: str, names: List[str], wanted: List[str],
                  outputs: List[str], workdir: str) -> List[Dict[str, Any]]:
    """A data set per other size of each declared dimension; where eager itself fails at a size,
    the error, which the runtime side reports as the dynamic stage's failure."""
    entries: List[Dict[str, Any]] = []
    base = example_sizes(case, args)
    for n, name in enumerate(case.dim_names):
        for size in other_sizes(case, name, base[name]):
            sizes = dict(base, **{name: size})
            entry: Dict[str, Any] = {"dim": name, "size": size, "sizes": sizes, "data_set": None, "error": None}
            entries.append(entry)
            try:
                new_args = to_device(resized_args(case, args, sizes, seed=case.seed + 1 + n), device)
                expected = eager_tensors(model, new_args, device)
            except Exception as exc:  # noqa: BLE001 -- the dynamic stage's failure, reported by the runtime side
                entry["error"] = errors.from_exception(exc, workdir)
                entry["error"]["detail"].update({"dim": name, "size": size, "sizes": sizes})
                return entries  # the runtime side stops at the first failure, as one process would
            entry["data_set"] = len(entries)
            bundle.write_data_set(workdir, entry["data_set"], fed(new_args, names, wanted),
                                  _outputs(expected, outputs))
    return entries
