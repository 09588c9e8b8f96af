"""Common building blocks found in most production models."""

import torch
from torch import nn

from matrix import Case


class MLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.LayerNorm(32), nn.Linear(32, 64), nn.GELU(), nn.Linear(64, 32))

    def forward(self, x):
        return x + self.net(x)


class LSTMHead(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(16, 24, num_layers=2, batch_first=True)
        self.head = nn.Linear(24, 4)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.head(out)


mlp_layernorm_gelu = Case(
    id="blocks/mlp_layernorm_gelu",
    description="pre-norm residual MLP with LayerNorm and GELU, the transformer feed-forward block",
    build=lambda: (MLP(), (torch.randn(4, 10, 32),)),
    dynamic=({0: "batch"},),
)

lstm = Case(
    id="blocks/lstm",
    description="two-layer batch-first LSTM with a linear head over variable-length sequences",
    build=lambda: (LSTMHead(), (torch.randn(3, 7, 16),)),
    dynamic=({0: "batch", 1: "seq"},),
)
