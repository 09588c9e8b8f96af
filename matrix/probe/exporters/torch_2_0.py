"""torch 2.0: `torch.onnx.export` is the TorchScript exporter; there is no dynamo one."""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

__all__ = ["unavailable", "export", "input_names"]


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


def export(exporter: str, model: Any, args: tuple, path: str, opset: Optional[int],
           dynamic: Optional[Sequence[Optional[Mapping[int, str]]]]) -> None:
    if exporter == "torchscript":
        export_torchscript(model, args, path, opset, dynamic)
    else:
        raise ValueError(unavailable(exporter))
