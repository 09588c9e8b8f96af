"""What `torch.onnx` offers, one module per torch version where it changed.

torch_2_0 -- the TorchScript exporter only.
torch_2_1 -- adds the dynamo exporter through `torch.onnx.dynamo_export` (opset fixed, all dims dynamic).
torch_2_5 -- the dynamo exporter through `torch.onnx.export(dynamo=True)` with `dynamic_shapes`.

Each newer module re-exports the older one and replaces what changed, so the
stages never test a torch version themselves.
"""

from __future__ import annotations

from types import ModuleType

from matrix.probe.versions import release

EXPORTERS = ("torchscript", "dynamo")


def for_torch(version: str) -> ModuleType:
    have = release(version)
    if have >= (2, 5):
        from matrix.probe.exporters import torch_2_5 as api
    elif have >= (2, 1):
        from matrix.probe.exporters import torch_2_1 as api
    else:
        from matrix.probe.exporters import torch_2_0 as api
    return api
