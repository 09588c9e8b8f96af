"""The stages one result goes through: reference → export → check → load → run → parity → dynamic.

`run_stages` returns the outcome of one (case, exporter, opset, device); it is
called in a forked child by `isolation`, or in-process for the benchmark floor.
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from matrix.probe import errors, parity
from matrix.probe.exporters import for_torch
from matrix.probe.status import FAILURE_STATUS, STAGES

LATENCY_REPEATS = 5
LATENCY_BUDGET_S = 0.25  # per side; enough for a median of a few runs of a small model


def _median_ms(fn: Callable[[], Any]) -> float:
    times: List[float] = []
    deadline = time.perf_counter() + LATENCY_BUDGET_S
    while len(times) < LATENCY_REPEATS and (not times or time.perf_counter() < deadline):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times), 4)


def _to_device(value: Any, device: str) -> Any:
    import torch

    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, (list, tuple)):
        return type(value)(_to_device(v, device) for v in value)
    return value


def _sync(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.synchronize()


def build_case(case: Any, device: str) -> Tuple[Any, tuple]:
    import numpy as np
    import torch

    torch.manual_seed(case.seed)
    np.random.seed(case.seed)
    model, args = case.build()
    args = tuple(args) if isinstance(args, (list, tuple)) else (args,)
    if isinstance(model, torch.nn.Module):
        model = model.eval().to(device)
    return model, _to_device(args, device)


def eager(model: Any, args: tuple, device: str) -> List[Tuple[Any, str]]:
    import torch

    with torch.no_grad():
        out = model(*args)
    _sync(device)
    return [parity.to_numpy(t) for t in parity.flatten(out)]


def providers_for(device: str) -> List[str]:
    import onnxruntime

    available = onnxruntime.get_available_providers()
    if device == "cuda" and "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def feeds(session: Any, args: tuple, names: List[str]) -> Dict[str, Any]:
    """Inputs by the names the exporter was given, else by position among tensor args."""
    import torch

    tensors = {n: a for n, a in zip(names, args) if isinstance(a, torch.Tensor)}
    wanted = [i.name for i in session.get_inputs()]
    if not all(n in tensors for n in wanted):
        tensors = dict(zip(wanted, [a for a in args if isinstance(a, torch.Tensor)]))
    return {n: _ort_value(tensors[n]) for n in wanted if n in tensors}


def _ort_value(tensor: Any) -> Any:
    import torch

    tensor = tensor.detach().cpu()
    if tensor.dtype == torch.bfloat16:  # numpy has no bfloat16: hand ORT the raw bits
        import onnxruntime

        return onnxruntime.OrtValue.ortvalue_from_numpy_with_onnx_type(tensor.view(torch.int16).numpy(), 16)
    return tensor.numpy()


def _run_session(session: Any, feed: Dict[str, Any]) -> List[Any]:
    import onnxruntime

    if any(isinstance(v, onnxruntime.OrtValue) for v in feed.values()):
        feed = {k: v if isinstance(v, onnxruntime.OrtValue) else onnxruntime.OrtValue.ortvalue_from_numpy(v)
                for k, v in feed.items()}
        return [v.numpy() for v in session.run_with_ort_values(None, feed)]
    return session.run(None, feed)


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


def run_stages(case: Any, exporter: str, opset: Optional[int], device: str, workdir: str,
               enter: Callable[[str], None]) -> Dict[str, Any]:
    """Outcome of one result: status, stage, error, metrics."""
    import torch

    metrics: Dict[str, Any] = {}
    stage = STAGES[0]

    def step(name: str) -> None:
        nonlocal stage
        stage = name
        enter(name)

    try:
        step("reference")
        model, args = build_case(case, device)
        expected = eager(model, args, device)
        metrics["eager_ms"] = _median_ms(lambda: eager(model, args, device))

        step("export")
        api = for_torch(torch.__version__)
        path = os.path.join(workdir, "model.onnx")
        start = time.perf_counter()
        api.export(exporter, model, args, path, opset, case.dynamic)
        metrics["export_s"] = round(time.perf_counter() - start, 4)

        step("check")
        import onnx

        metrics.update(model_metrics(path))
        onnx.checker.check_model(path, full_check=True)

        step("load")
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        session = onnxruntime.InferenceSession(path, options, providers=providers_for(device))
        metrics["provider"] = session.get_providers()[0]

        step("run")
        names = api.input_names(len(args))
        feed = feeds(session, args, names)
        actual = _run_session(session, feed)
        metrics["ort_ms"] = _median_ms(lambda: _run_session(session, feed))

        step("parity")
        figures, failure = parity.measure(expected, actual, case.rtol, case.atol)
        metrics.update(figures)
        if failure is not None:
            raise failure

        if case.dynamic:
            step("dynamic")
            metrics["dynamic_checked"] = _dynamic(case, model, args, session, names, device)
        return {"status": "pass", "stage": stage, "error": None, "metrics": metrics}
    except Exception as exc:  # noqa: BLE001 -- every failure is data, classified by stage
        error = errors.from_exception(exc, workdir)
        error["detail"].update(getattr(exc, "matrix_detail", {}))
        return {"status": FAILURE_STATUS[stage], "stage": stage, "error": error, "metrics": metrics}


def _dynamic(case: Any, model: Any, args: tuple, session: Any, names: List[str], device: str) -> List[Dict[str, Any]]:
    """Run at another size of each declared dimension; a baked-in size fails here."""
    checked = []
    base = example_sizes(case, args)
    for n, name in enumerate(case.dim_names):
        for size in other_sizes(case, name, base[name]):
            sizes = dict(base, **{name: size})
            try:
                new_args = _to_device(resized_args(case, args, sizes, seed=case.seed + 1 + n), device)
                expected = eager(model, new_args, device)
                actual = _run_session(session, feeds(session, new_args, names))
                figures = parity.compare(expected, actual, case.rtol, case.atol)
            except Exception as exc:
                exc.matrix_detail = {"dim": name, "size": size, "sizes": sizes}  # type: ignore[attr-defined]
                raise
            checked.append({"dim": name, "size": size, "max_abs_err": figures["max_abs_err"]})
    return checked
