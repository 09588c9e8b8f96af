"""torch 2.5 and newer: one `torch.onnx.export`, choosing the exporter with `dynamo=`.

Since torch 2.9 `dynamo=True` is the default, so the TorchScript exporter must
be asked for with `dynamo=False`; declared dimensions become `torch.export.Dim`s
(one Dim object per name, so a shared name constrains both inputs to be equal).
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

from matrix.probe.exporters.torch_2_0 import export_torchscript, input_names, torchscript_call

__all__ = ["unavailable", "export", "input_names", "call"]


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


def call(exporter: str, opset: Optional[int], dynamic: Optional[Sequence[Optional[Mapping[int, str]]]],
         count: int) -> str:
    """export()'s call as the source a user would write (model, args in scope; writes model.onnx)."""
    if exporter == "torchscript":
        return torchscript_call(opset, dynamic, count, extra=", dynamo=False")
    shapes = "None"
    if any(dynamic or ()):
        axes = list(dynamic or ()) + [None] * (count - len(dynamic or ()))
        shapes = "(" + "".join(("{" + ", ".join(f"{a}: dims[{n!r}]" for a, n in x.items()) + "}" if x else "None")
                               + ", " for x in axes) + ")"
    names = sorted({n for x in dynamic or () if x for n in x.values()})
    return (f"dims = {{name: torch.export.Dim(name) for name in {names!r}}}\n"
            f"torch.onnx.export(model, args, \"model.onnx\", dynamo=True, opset_version={opset!r},\n"
            f"                  dynamic_shapes={shapes}, input_names={input_names(count)!r})\n")
