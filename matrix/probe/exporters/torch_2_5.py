"""torch 2.5 and newer: one `torch.onnx.export`, choosing the exporter with `dynamo=`.

Since torch 2.9 `dynamo=True` is the default, so the TorchScript exporter must
be asked for with `dynamo=False`; declared dimensions become `torch.export.Dim`s
(one Dim object per name, so a shared name constrains both inputs to be equal).
Keyword inputs go through `kwargs=`, their dimensions as a dict keyed by input name.

`options` are a remedy's changes to the dynamo call (matrix/probe/remedies.py): export keywords
(optimize=, fallback=), `dims` ("auto"/"dynamic": Dim.AUTO/Dim.DYNAMIC for every declared
dimension) and `strict` (capture with torch.export.export(strict=...) first).
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Union

from matrix.probe.exporters.torch_2_0 import Dynamic, export_torchscript, input_names, torchscript_call

__all__ = ["unavailable", "export", "input_names", "call"]
options_supported = True  # export() and call() take a remedy's options


def unavailable(exporter: str, opset: Optional[int] = None) -> Optional[str]:
    return None


def dynamic_shapes(dynamic: Dynamic, count: int, keywords: Sequence[str] = (),
                   dims: Optional[str] = None) -> Optional[Union[tuple, dict]]:
    """Per positional arg (a tuple), or for keyword inputs a dict keyed by every input name."""
    declared = dynamic.values() if isinstance(dynamic, dict) else (dynamic or ())
    if not any(declared):
        return None
    import torch

    named: dict = {}
    style = dims

    def shape(axes: Any) -> Optional[dict]:
        if not axes:
            return None
        if style:
            return {axis: getattr(torch.export.Dim, style.upper()) for axis in axes}
        return {axis: named.setdefault(name, torch.export.Dim(name)) for axis, name in axes.items()}

    if isinstance(dynamic, dict):
        return {name: shape(dynamic.get(name)) for name in keywords}
    shapes = tuple(shape(axes) for axes in dynamic or ())
    return shapes + (None,) * (count - len(shapes))


def export(exporter: str, model: Any, args: tuple, path: str, opset: Optional[int], dynamic: Dynamic,
           kwargs: Optional[Dict[str, Any]] = None, output_names: Optional[Sequence[str]] = None,
           options: Optional[Dict[str, Any]] = None) -> None:
    if exporter == "torchscript":
        return export_torchscript(model, args, path, opset, dynamic, kwargs, output_names, dynamo=False)
    import torch

    kwargs = kwargs or {}
    extra = dict(options or {})
    shapes = dynamic_shapes(dynamic, len(args), list(kwargs), extra.pop("dims", None))
    strict = extra.pop("strict", None)
    if strict is not None:  # the captured program carries its dynamic shapes
        model = torch.export.export(model, tuple(args), kwargs=kwargs or None, dynamic_shapes=shapes, strict=strict)
        shapes = None
    torch.onnx.export(model, tuple(args), path, kwargs=kwargs or None, dynamo=True, opset_version=opset,
                      dynamic_shapes=shapes, input_names=input_names(len(args)) + list(kwargs),
                      output_names=list(output_names) if output_names else None, **extra)


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
         output_names: Optional[Sequence[str]] = None, options: Optional[Dict[str, Any]] = None) -> str:
    """export()'s call as the source a user would write (model, args, kwargs in scope; writes model.onnx)."""
    if exporter == "torchscript":
        return torchscript_call(opset, dynamic, count, extra=", dynamo=False", keywords=keywords,
                                output_names=output_names)
    extra = dict(options or {})
    style, strict = extra.pop("dims", None), extra.pop("strict", None)
    declared = dynamic.values() if isinstance(dynamic, dict) else (dynamic or ())
    names = sorted({n for x in declared if x for n in x.values()})
    outputs = f", output_names={list(output_names)!r}" if output_names else ""
    outputs += "".join(f", {k}={v!r}" for k, v in extra.items())
    dim = f"torch.export.Dim.{style.upper()}" if style else "torch.export.Dim(name)"
    shapes = _shapes_source(dynamic, count, keywords)
    source = f"dims = {{name: {dim} for name in {names!r}}}\n"
    model = "model"
    if strict is not None:
        source += (f"model_program = torch.export.export(model, args, {'kwargs=kwargs, ' if keywords else ''}"
                   f"dynamic_shapes={shapes}, strict={strict!r})\n")
        model, shapes = "model_program", "None"
    return source + (
        f"torch.onnx.export({model}, args, \"model.onnx\", {'kwargs=kwargs, ' if keywords else ''}dynamo=True, "
        f"opset_version={opset!r},\n"
        f"                  dynamic_shapes={shapes}, "
        f"input_names={input_names(count) + list(keywords)!r}{outputs})\n")
