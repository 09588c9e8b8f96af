"""torch 2.5 and newer: one `torch.onnx.export`, choosing the exporter with `dynamo=`.

Since torch 2.9 `dynamo=True` is the default, so the TorchScript exporter must
be asked for with `dynamo=False`; declared dimensions become `torch.export.Dim`s
(one Dim object per name, so a shared name constrains both inputs to be equal).
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

from matrix.probe.exporters.torch_2_0 import export_torchscript, input_names

__all__ = ["unavailable", "export", "input_names"]


def unavailable(exporter: str, opset: Optional[int] = None) -> Optional[str]:
    return None


def dynamic_shapes(dynamic: Optional[Sequence[Optional[Mapping[int, str]]]]) -> Optional[tuple]:
    if not any(dynamic or ()):
        return None
    import torch

    dims: dict = {}
    return tuple({axis: dims.setdefault(name, torch.export.Dim(name)) for axis, name in axes.items()} if axes else None
                 for axes in dynamic or ())


def export(exporter: str, model: Any, args: tuple, path: str, opset: Optional[int],
           dynamic: Optional[Sequence[Optional[Mapping[int, str]]]]) -> None:
    if exporter == "torchscript":
        return export_torchscript(model, args, path, opset, dynamic, dynamo=False)
    import torch

    shapes = dynamic_shapes(dynamic)
    if shapes is not None:
        shapes = shapes + (None,) * (len(args) - len(shapes))
    torch.onnx.export(model, args, path, dynamo=True, opset_version=opset, dynamic_shapes=shapes,
                      input_names=input_names(len(args)))
