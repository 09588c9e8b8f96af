"""Attention: the transformer building blocks."""

import torch
from torch import nn
from torch.nn import functional as F

from matrix import Case


class SDPAttention(nn.Module):
    def __init__(self, dim: int = 32, heads: int = 4) -> None:
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x):
        b, t, d = x.shape
        split = lambda y: y.reshape(b, t, self.heads, d // self.heads).transpose(1, 2)  # noqa: E731
        y = F.scaled_dot_product_attention(split(self.q(x)), split(self.k(x)), split(self.v(x)))
        return self.out(y.transpose(1, 2).reshape(b, t, d))


sdpa = Case(
    id="attention/sdpa",
    description="multi-head attention using F.scaled_dot_product_attention on linear q/k/v projections",
    build=lambda: (SDPAttention(), (torch.randn(2, 12, 32),)),
    dynamic=({0: "batch", 1: "seq"},),
)
