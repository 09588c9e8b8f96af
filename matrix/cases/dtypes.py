"""Data types: half precision and mixed precision."""

import torch
from torch import nn

from matrix import Case


class ScaledLinear(nn.Module):
    """fp32 weights; the input's dtype meets them through type promotion."""

    def __init__(self, cast: bool) -> None:
        super().__init__()
        self.cast = cast
        self.scale = nn.Parameter(torch.rand(16) + 0.5)
        self.linear = nn.Linear(16, 8)

    def forward(self, x):
        if self.cast:
            x = x.float()
        return self.linear(x * self.scale)


class HalfBlock(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 8, 3, padding=1)
        self.norm = nn.LayerNorm(16)
        self.linear = nn.Linear(16, 16)

    def forward(self, x):
        return self.linear(self.norm(torch.relu(self.conv(x))))


fp16_input_fp32_model = Case(
    id="dtypes/fp16_input_fp32_model",
    description="fp16 inputs fed to an fp32 model, relying on eager type promotion (mixed precision)",
    build=lambda: (ScaledLinear(cast=False), (torch.randn(4, 16).half(),)),
)

fp16_input_cast = Case(
    id="dtypes/fp16_input_cast",
    description="the same model casting its fp16 input to fp32 first, the usual workaround",
    build=lambda: (ScaledLinear(cast=True), (torch.randn(4, 16).half(),)),
    fixes="dtypes/fp16_input_fp32_model",
)

fp16_model = Case(
    id="dtypes/fp16_model",
    description="a fully half-precision conv + LayerNorm + Linear model, as shipped for GPU inference",
    build=lambda: (HalfBlock().half(), (torch.randn(2, 4, 8, 16).half(),)),
)
