"""torch 2.0: `torch.onnx.export` is the TorchScript exporter; there is no dynamo one.

`dynamic` is a case's declaration: per positional arg ({axis: name} or None), or for keyword
inputs {input name: {axis: name}}. Keyword inputs travel as the trailing dict of `args`, the
TorchScript exporter's own convention (torch 2.5+ turns its `kwargs=` into the same).
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Sequence, Union

__all__ = ["unavailable", "export", "input_names", "call"]

Dynamic = Optional[Union[Sequence[Optional[Mapping[int, str]]], Mapping[str, Mapping[int, str]]]]


def input_names(count: int) -> list:
    return [f"input_{i}" for i in range(count)]


def unavailable(exporter: str, opset: Optional[int] = None) -> Optional[str]:
    """Why this torch cannot run `exporter`, or None when it can."""
    if exporter == "dynamo":
        return "torch < 2.1 has no dynamo-based ONNX exporter"
    return None


def named_axes(dynamic: Dynamic, count: int = 0) -> Dict[str, Dict[int, str]]:
    """{ONNX input name: {axis: dim name}}: positions become input_<i>."""
    if isinstance(dynamic, Mapping):
        return {name: dict(a) for name, a in dynamic.items() if a}
    names = input_names(max(count, len(dynamic or ())))
    return {names[i]: dict(a) for i, a in enumerate(dynamic or ()) if a}


def _dynamic_axes(dynamic: Dynamic, count: int = 0) -> Optional[dict]:
    return named_axes(dynamic, count) or None


def export_torchscript(model: Any, args: tuple, path: str, opset: Optional[int], dynamic: Dynamic,
                       kwargs: Optional[Dict[str, Any]] = None, output_names: Optional[Sequence[str]] = None,
                       **extra: Any) -> None:
    import torch

    kwargs = kwargs or {}
    torch.onnx.export(model, tuple(args) + ((kwargs,) if kwargs else ()), path, opset_version=opset,
                      input_names=input_names(len(args)) + list(kwargs),
                      output_names=list(output_names) if output_names else None,
                      dynamic_axes=_dynamic_axes(dynamic, len(args)), do_constant_folding=True, **extra)


def call_inputs(count: int, keywords: Sequence[str]) -> str:
    """The example inputs as a repro's source names them: `args`, and `kwargs` when there are some."""
    return "args + (kwargs,)" if keywords else "args"


def torchscript_call(opset: Optional[int], dynamic: Dynamic, count: int, extra: str = "",
                     keywords: Sequence[str] = (), output_names: Optional[Sequence[str]] = None) -> str:
    """export_torchscript's call as source, for a bundle's repro.py (keep the two alike)."""
    outputs = f", output_names={list(output_names)!r}" if output_names else ""
    return (f"torch.onnx.export(model, {call_inputs(count, keywords)}, \"model.onnx\", opset_version={opset!r}, "
            f"input_names={input_names(count) + list(keywords)!r}{outputs},\n"
            f"                  dynamic_axes={_dynamic_axes(dynamic, count)!r}, do_constant_folding=True{extra})\n")


def export(exporter: str, model: Any, args: tuple, path: str, opset: Optional[int], dynamic: Dynamic,
           kwargs: Optional[Dict[str, Any]] = None, output_names: Optional[Sequence[str]] = None,
           options: Optional[Dict[str, Any]] = None) -> None:  # no remedy offers options before torch 2.5
    if exporter == "torchscript":
        export_torchscript(model, args, path, opset, dynamic, kwargs, output_names)
    else:
        raise ValueError(unavailable(exporter))


def call(exporter: str, opset: Optional[int], dynamic: Dynamic, count: int, keywords: Sequence[str] = (),
         output_names: Optional[Sequence[str]] = None, options: Optional[Dict[str, Any]] = None) -> str:
    """export()'s call as the source a user would write (model, args, kwargs in scope; writes model.onnx)."""
    return torchscript_call(opset, dynamic, count, keywords=keywords, output_names=output_names)


