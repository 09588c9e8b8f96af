"""torch 2.1–2.4: the dynamo exporter is `torch.onnx.dynamo_export`.

It has no opset argument (it writes opset 18) and makes either every dimension
dynamic or none, so declared dimensions switch it to "all dynamic".
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Sequence

from matrix.probe.exporters.torch_2_0 import Dynamic, export_torchscript, input_names, torchscript_call
from matrix.probe.exporters.torch_2_0 import unavailable as _older_unavailable

__all__ = ["unavailable", "export", "input_names", "call"]


def unavailable(exporter: str, opset: Optional[int] = None) -> Optional[str]:
    if exporter == "dynamo" and opset is not None:
        return "torch < 2.5's dynamo_export does not take an opset (it writes opset 18)"
    return None if exporter == "dynamo" else _older_unavailable(exporter, opset)


def export(exporter: str, model: Any, args: tuple, path: str, opset: Optional[int], dynamic: Dynamic,
           kwargs: Optional[Dict[str, Any]] = None, output_names: Optional[Sequence[str]] = None,
           options: Optional[Dict[str, Any]] = None) -> None:  # no remedy offers options before torch 2.5
    if exporter != "dynamo":
        return export_torchscript(model, args, path, opset, dynamic, kwargs, output_names)
    import torch

    shapes = torch.onnx.ExportOptions(dynamic_shapes=bool(dynamic) and any(
        dynamic.values() if isinstance(dynamic, dict) else dynamic))
    torch.onnx.dynamo_export(model, *args, **(kwargs or {}), export_options=shapes).save(path)


def call(exporter: str, opset: Optional[int], dynamic: Dynamic, count: int, keywords: Sequence[str] = (),
         output_names: Optional[Sequence[str]] = None, options: Optional[Dict[str, Any]] = None) -> str:
    """export()'s call as the source a user would write (model, args, kwargs in scope; writes model.onnx)."""
    if exporter != "dynamo":
        return torchscript_call(opset, dynamic, count, keywords=keywords, output_names=output_names)
    dynamic_any = bool(dynamic) and any(dynamic.values() if isinstance(dynamic, dict) else dynamic)
    return (f"options = torch.onnx.ExportOptions(dynamic_shapes={dynamic_any!r})\n"
            f"torch.onnx.dynamo_export(model, *args, {'**kwargs, ' if keywords else ''}"
            "export_options=options).save(\"model.onnx\")\n")
