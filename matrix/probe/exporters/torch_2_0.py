"""torch 2.0: `torch.onnx.export` is the TorchScript exporter; there is no dynamo one."""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

__all__ = ["unavailable", "export", "input_names", "call"]


def input_names(count: int) -> list:
    return [f"input_{i}" for i in range(count)]


def unavailable(exporter: str, opset: Optional[int] = None) -> Optional[str]:
    """Why this torch cannot run `exporter`, or None when it can."""
    if exporter == "dynamo":
        return "torch < 2.1 has no dynamo-based ONNX exporter"
    return None


def _dynamic_axes(dynamic: Optional[Sequence[Optional[Mapping[int, str]]]]) -> Optional[dict]:
    names = input_names(len(dynamic or ()))
    axes = {names[i]: dict(a) for i, a in enumerate(dynamic or ()) if a}
    return axes or None


def export_torchscript(model: Any, args: tuple, path: str, opset: Optional[int],
                       dynamic: Optional[Sequence[Optional[Mapping[int, str]]]], **extra: Any) -> None:
    import torch

    torch.onnx.export(model, args, path, opset_version=opset, input_names=input_names(len(args)),
                      dynamic_axes=_dynamic_axes(dynamic), do_constant_folding=True, **extra)


def torchscript_call(opset: Optional[int], dynamic: Optional[Sequence[Optional[Mapping[int, str]]]], count: int,
                     extra: str = "") -> str:
    """export_torchscript's call as source, for a bundle's repro.py (keep the two alike)."""
    return (f"torch.onnx.export(model, args, \"model.onnx\", opset_version={opset!r}, "
            f"input_names={input_names(count)!r},\n                  dynamic_axes={_dynamic_axes(dynamic)!r}, "
            f"do_constant_folding=True{extra})\n")


def export(exporter: str, model: Any, args: tuple, path: str, opset: Optional[int],
           dynamic: Optional[Sequence[Optional[Mapping[int, str]]]]) -> None:
    if exporter == "torchscript":
        export_torchscript(model, args, path, opset, dynamic)
    else:
        raise ValueError(unavailable(exporter))


def call(exporter: str, opset: Optional[int], dynamic: Optional[Sequence[Optional[Mapping[int, str]]]],
         count: int) -> str:
    """export()'s call as the source a user would write (model, args in scope; writes model.onnx)."""
    return torchscript_call(opset, dynamic, count)
