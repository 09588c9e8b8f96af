"""torch 2.5 and newer: one `torch.onnx.export`, choosing the exporter with `dynamo=`.

Since torch 2.9 `dynamo=True` is the default, so the TorchScript exporter must
be asked for with `dynamo=False`; declared dimensions become `torch.export.Dim`s
(one Dim object per name, so a shared name constrains both inputs to be equal).
Keyword inputs go through `kwargs=`, their dimensions as a dict keyed by input name.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Union

from matrix.probe.exporters.torch_2_0 import Dynamic, export_torchscript, input_names, torchscript_call

__all__ = ["unavailable", "export", "input_names", "call"]


def unavailable(exporter: str, opset: Optional[int] = None) -> Optional[str]:
    return None


def dynamic_shapes(dynamic: Dynamic, count: int, keywords: Sequence[str] = ()) -> Optional[Union[tuple, dict]]:
    """Per positional arg (a tuple), or for keyword inputs a dict keyed by every input name."""
    declared = dynamic.values() if isinstance(dynamic, dict) else (dynamic or ())
    if not any(declared):
        return None
    import torch

    dims: dict = {}

    def shape(axes: Any) -> Optional[dict]:
        return {axis: dims.setdefault(name, torch.export.Dim(name)) for axis, name in axes.items()} if axes else None

    if isinstance(dynamic, dict):
        return {name: shape(dynamic.get(name)) for name in keywords}
    shapes = tuple(shape(axes) for axes in dynamic or ())
    return shapes + (None,) * (count - len(shapes))


def export(exporter: str, model: Any, args: tuple, path: str, opset: Optional[int], dynamic: Dynamic,
           kwargs: Optional[Dict[str, Any]] = None, output_names: Optional[Sequence[str]] = None) -> None:
    if exporter == "torchscript":
        return export_torchscript(model, args, path, opset, dynamic, kwargs, output_names, dynamo=False)
    import torch

    kwargs = kwargs or {}
    torch.onnx.export(model, tuple(args), path, kwargs=kwargs or None, dynamo=True, opset_version=opset,
                      dynamic_shapes=dynamic_shapes(dynamic, len(args), list(kwargs)),
                      input_names=input_names(len(args)) + list(kwargs),
                      output_names=list(output_names) if output_names else None)


def _shapes_source(dynamic: Dynamic, count: int, keywords: Sequence[str]) -> str:
    def one(axes: Any) -> str:
        return "{" + ", ".join(f"{a}: dims[{n!r}]" for a, n in axes.items()) + "}" if axes else "None"

    if isinstance(dynamic, dict):
        return "{" + ", ".join(f"{k!r}: {one(dynamic.get(k))}" for k in keywords) + "}"
    if not any(dynamic or ()):
        return "None"
    axes = list(dynamic or ()) + [None] * (count - len(dynamic or ()))
    return "(" + "".join(one(x) + ", " for x in axes) + ")"


def call(exporter: str, opset: Optional[int], dynamic: Dynamic, count: int, keywords: Sequence[str] = (),
         output_names: Optional[Sequence[str]] = None) -> str:
    """export()'s call as the source a user would write (model, args, kwargs in scope; writes model.onnx)."""
    if exporter == "torchscript":
        return torchscript_call(opset, dynamic, count, extra=", dynamo=False", keywords=keywords,
                                output_names=output_names)
    declared = dynamic.values() if isinstance(dynamic, dict) else (dynamic or ())
    names = sorted({n for x in declared if x for n in x.values()})
    outputs = f", output_names={list(output_names)!r}" if output_names else ""
    return (f"dims = {{name: torch.export.Dim(name) for name in {names!r}}}\n"
            f"torch.onnx.export(model, args, \"model.onnx\", {'kwargs=kwargs, ' if keywords else ''}dynamo=True, "
            f"opset_version={opset!r},\n"
            f"                  dynamic_shapes={_shapes_source(dynamic, count, keywords)}, "
            f"input_names={input_names(count) + list(keywords)!r}{outputs})\n")
