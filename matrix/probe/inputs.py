"""A case's inputs on the export side: positional args and keyword inputs as the case built them,
the same with the dynamic dimensions at other sizes, and the tensors among them in the order the
exported model takes them."""

from __future__ import annotations

import inspect
from typing import Any, Dict, List, Optional, Tuple

from matrix.probe import parity


def to_device(value: Any, device: str) -> Any:
    import torch

    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, (list, tuple)):
        return type(value)(to_device(v, device) for v in value)
    return value


class Inputs:
    """A case's inputs: positional args and keyword inputs, the latter in the order of the model's
    forward signature (the TorchScript exporter names graph inputs in that order, as Hugging
    Face's exporter knows when it orders its dummy inputs)."""

    def __init__(self, args: tuple, kwargs: Optional[Dict[str, Any]] = None) -> None:
        self.args = args
        self.kwargs = dict(kwargs or {})

    def ordered_for(self, model: Any) -> Inputs:
        try:
            params = list(inspect.signature(model.forward if hasattr(model, "forward") else model).parameters)
        except (TypeError, ValueError):
            return self
        rank = {name: i for i, name in enumerate(params)}
        return Inputs(self.args, dict(sorted(self.kwargs.items(), key=lambda kv: rank.get(kv[0], len(rank)))))

    def items(self) -> List[Tuple[Any, Any]]:
        """(position or keyword, value) of every input."""
        return list(enumerate(self.args)) + list(self.kwargs.items())

    def to(self, device: str) -> Inputs:
        return Inputs(to_device(self.args, device), {k: to_device(v, device) for k, v in self.kwargs.items()})


def as_inputs(value: Any) -> Inputs:
    """What a case's build (after the model) or inputs() returns: args, a dict of keyword inputs,
    or (args, kwargs)."""
    if isinstance(value, dict):
        return Inputs((), value)
    return Inputs(tuple(value) if isinstance(value, (list, tuple)) else (value,))


def _random_like(arg: Any, shape: List[int], gen: Any) -> Any:
    import torch

    if arg.dtype == torch.bool:
        new = torch.rand(shape, generator=gen) < 0.5
    elif arg.is_floating_point():
        scale = float(arg.float().std()) if arg.numel() > 1 else 1.0
        new = (torch.randn(shape, generator=gen) * (scale or 1.0)).to(arg.dtype)
    else:
        lo, hi = int(arg.min()), int(arg.max())
        new = torch.randint(lo, hi + 1, shape, generator=gen, dtype=arg.dtype)
    return new.to(arg.device)


def resized(case: Any, inputs: Inputs, sizes: Dict[str, int], seed: int, model: Any = None) -> Inputs:
    """The example inputs with dynamic dimensions set to `sizes` and fresh seeded data."""
    import torch

    if case.inputs is not None:
        torch.manual_seed(seed)
        new = as_inputs(case.inputs(sizes))
        return new.ordered_for(model) if model is not None else new
    gen = torch.Generator().manual_seed(seed)
    declared = case.axes()
    values = {}
    for key, arg in inputs.items():
        axes = declared.get(key)
        if not isinstance(arg, torch.Tensor) or not axes:
            values[key] = arg
            continue
        shape = list(arg.shape)
        for axis, name in axes.items():
            shape[axis] = sizes[name]
        values[key] = _random_like(arg, shape, gen)
    return Inputs(tuple(values[i] for i in range(len(inputs.args))), {k: values[k] for k in inputs.kwargs})


def example_sizes(case: Any, inputs: Inputs) -> Dict[str, int]:
    sizes: Dict[str, int] = {}
    given = dict(inputs.items())
    for key, axes in case.axes().items():
        for axis, name in axes.items():
            if key in given:
                sizes.setdefault(name, int(given[key].shape[axis]))
    return sizes


def other_sizes(case: Any, name: str, example: int) -> List[int]:
    return list(case.dynamic_sizes.get(name) or [example * 2 if example > 1 else 3])


def array(tensor: Any) -> Tuple[Any, bool]:
    """(numpy array, is bfloat16 bits): numpy has no bfloat16, ONNX's files hold its raw bits."""
    import torch

    tensor = tensor.detach().cpu()
    if tensor.dtype == torch.bfloat16:
        return tensor.view(torch.int16).numpy(), True
    return tensor.numpy(), False


def fed(inputs: Inputs, names: List[str], wanted: List[str]) -> List[Tuple[str, Any, bool]]:
    """The tensors among the inputs, in the model's input order: by the names the exporter was
    given, else by position among the tensor inputs (as onnxruntime is fed them)."""
    import torch

    values = parity.flatten([v for _, v in inputs.items()])  # a list of images is one input per image
    tensors = {n: a for n, a in zip(names, values) if isinstance(a, torch.Tensor)}
    if not all(n in tensors for n in wanted):
        tensors = dict(zip(wanted, [a for a in values if isinstance(a, torch.Tensor)]))
    return [(n, *array(tensors[n])) for n in wanted if n in tensors]
