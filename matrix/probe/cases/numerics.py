"""Numerics that drift: constructs where the exported graph computes differently from eager."""

import torch
from torch import nn
from torch.nn import functional as F

from matrix import Case


class Resize(nn.Module):
    def __init__(self, **options) -> None:
        super().__init__()
        self.options = options

    def forward(self, x):
        return F.interpolate(x, size=(13, 21), mode="bilinear", **self.options)


class Logits(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(16, 32)

    def forward(self, x):
        return torch.softmax(self.linear(x) * 200.0, dim=-1)


class HalfNorm(nn.Module):
    def __init__(self, upcast: bool) -> None:
        super().__init__()
        self.upcast = upcast
        self.norm = nn.LayerNorm(64)

    def forward(self, x):
        if self.upcast:
            return F.layer_norm(x.float(), (64,), self.norm.weight.float(), self.norm.bias.float()).half()
        return self.norm(x)


class RunningTotal(nn.Module):
    def forward(self, x):
        return torch.cumsum(x, dim=-1)


def _large_variance():
    # Activations with a standard deviation of 300: their squares (~1e5) overflow fp16's 65504.
    return (torch.randn(2, 8, 64) * 300).half()


bilinear = Case(
    id="numerics/bilinear",
    description="bilinear resize to a non-integer scale (align_corners=False), as in segmentation heads",
    build=lambda: (Resize(align_corners=False), (torch.randn(2, 3, 10, 15),)),
)

bilinear_align_corners = Case(
    id="numerics/bilinear_align_corners",
    description="the same resize with align_corners=True, a different coordinate transform in ONNX Resize",
    build=lambda: (Resize(align_corners=True), (torch.randn(2, 3, 10, 15),)),
)

bilinear_antialias = Case(
    id="numerics/bilinear_antialias",
    description="bilinear downscale with antialias=True (torchvision's default), which ONNX Resize has from opset 18",
    build=lambda: (Resize(align_corners=False, antialias=True), (torch.randn(2, 3, 40, 60),)),
)


softmax_large_logits = Case(
    id="numerics/softmax_large_logits",
    description="softmax over logits scaled by 200 (a low temperature): overflow unless max-subtracted",
    build=lambda: (Logits(), (torch.randn(4, 16),)),
)

layernorm_fp16 = Case(
    id="numerics/layernorm_fp16",
    description="fp16 LayerNorm over activations with large variance (std 300), whose squares overflow fp16",
    build=lambda: (HalfNorm(upcast=False).half(), (_large_variance(),)),
)

layernorm_fp16_upcast = Case(
    id="numerics/layernorm_fp16_upcast",
    description="the same LayerNorm computed in fp32 and cast back, the usual fix for fp16 overflow",
    build=lambda: (HalfNorm(upcast=True).half(), (_large_variance(),)),
    fixes="numerics/layernorm_fp16",
)

cumsum_long = Case(
    id="numerics/cumsum_long",
    description="cumulative sum over 8192 steps, where summation order makes float32 results drift",
    build=lambda: (RunningTotal(), (torch.randn(2, 8192),)),
)


class RowMax(nn.Module):
    """The largest reading per row, where a missing reading is NaN."""

    def forward(self, x):
        return torch.amax(x, dim=-1)


def _with_missing() -> torch.Tensor:
    x = torch.randn(4, 16)
    x[1, 3] = float("nan")  # a sensor that did not report
    return x


amax_nan = Case(
    id="numerics/amax_nan",
    description="max over rows where one reading is NaN: torch and the ONNX spec propagate it, "
                "onnxruntime's ReduceMax skips it",
    build=lambda: (RowMax(), (_with_missing(),)),
)
