"""torch 2.1–2.4: the dynamo exporter is `torch.onnx.dynamo_export`.

It has no opset argument (it writes opset 18) and makes either every dimension
dynamic or none, so declared dimensions switch it to "all dynamic".
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

from matrix.probe.exporters.torch_2_0 import export_torchscript, input_names, torchscript_call
from matrix.probe.exporters.torch_2_0 import unavailable as _older_unavailable

__all__ = ["unavailable", "export", "input_names", "call"]


def unavailable(exporter: str, opset: Optional[int] = None) -> Optional[str]:
    if exporter == "dynamo" and opset is not None:
        return "torch < 2.5's dynamo_export does not take an opset (it writes opset 18)"
    return None if exporter == "dynamo" else _older_unavailable(exporter, opset)


def export(exporter: str, model: Any, args: tuple, path: str, opset: Optional[int],
           dynamic: Optional[Sequence[Optional[Mapping[int, str]]]]) -> None:
    if exporter != "dynamo":
        return export_torchscript(model, args, path, opset, dynamic)
    import torch

    options = torch.onnx.ExportOptions(dynamic_shapes=any(dynamic or ()))
    torch.onnx.dynamo_export(model, *args, export_options=options).save(path)


def call(exporter: str, opset: Optional[int], dynamic: Optional[Sequence[Optional[Mapping[int, str]]]],
         count: int) -> str:
    """export()'s call as the source a user would write (model, args in scope; writes model.onnx)."""
    if exporter != "dynamo":
        return torchscript_call(opset, dynamic, count)
    return (f"options = torch.onnx.ExportOptions(dynamic_shapes={any(dynamic or ())!r})\n"
            "torch.onnx.dynamo_export(model, *args, export_options=options).save(\"model.onnx\")\n")
