"""Dynamic shapes: sizes that must stay symbolic in the exported graph."""

import torch
from torch import nn

from matrix import Case


class ConvNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 4, 3, stride=2, padding=1))

    def forward(self, x):
        return self.body(x)


conv_hw = Case(
    id="dynamic/conv_hw",
    description="image model taking any height and width (declared once, checked at a second size)",
    build=lambda: (ConvNet(), (torch.randn(2, 3, 32, 48),)),
    dynamic=({2: "height", 3: "width"},),
    dynamic_sizes={"height": [40], "width": [24]},
)
