"""Custom layers: the hand-written modules people export every day."""

import torch
from torch import nn

from matrix import Case


class NormScale(nn.Module):
    """Feature-wise L2 normalisation, written the way older code writes it."""

    def __init__(self, linalg: bool) -> None:
        super().__init__()
        self.linalg = linalg
        self.gain = nn.Parameter(torch.rand(32) + 0.5)

    def forward(self, x):
        if self.linalg:
            norm = torch.linalg.norm(x, dim=-1, keepdim=True)
        else:
            norm = torch.norm(x, dim=-1, keepdim=True)
        return x / norm.clamp_min(1e-6) * self.gain


custom_norm = Case(
    id="layers/custom_norm",
    description="custom normalisation layer using the legacy torch.norm(x, dim=..., keepdim=True)",
    build=lambda: (NormScale(linalg=False), (torch.randn(4, 10, 32),)),
    dynamic=({0: "batch"},),
)

custom_norm_linalg = Case(
    id="layers/custom_norm_linalg",
    description="the same layer with torch.linalg.norm, the documented replacement for torch.norm",
    build=lambda: (NormScale(linalg=True), (torch.randn(4, 10, 32),)),
    dynamic=({0: "batch"},),
    fixes="layers/custom_norm",
)
