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


class PaddedAttention(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.attention = nn.MultiheadAttention(32, 4, batch_first=True)

    def forward(self, x, padding):
        y, _ = self.attention(x, x, x, key_padding_mask=padding, need_weights=False)
        return y


def _padded_inputs(sizes):
    t = sizes.get("seq", 7)
    lengths = torch.tensor([[t], [max(t - 3, 1)]])
    return torch.randn(2, t, 32), torch.arange(t)[None, :] >= lengths


sdpa = Case(
    id="attention/sdpa",
    description="multi-head attention using F.scaled_dot_product_attention on linear q/k/v projections",
    build=lambda: (SDPAttention(), (torch.randn(2, 12, 32),)),
    dynamic=({0: "batch", 1: "seq"},),
)

mha_key_padding = Case(
    id="attention/mha_key_padding",
    description="nn.MultiheadAttention with a boolean key_padding_mask over a padded batch",
    build=lambda: (PaddedAttention().eval(), _padded_inputs({})),
    dynamic=({1: "seq"}, {1: "seq"}),
    inputs=_padded_inputs,
)

transformer_encoder = Case(
    id="attention/transformer_encoder",
    description="nn.TransformerEncoderLayer in eval mode, where PyTorch takes its fused fast path",
    build=lambda: (nn.TransformerEncoderLayer(32, 4, dim_feedforward=64, batch_first=True).eval(),
                   (torch.randn(2, 9, 32),)),
    dynamic=({0: "batch", 1: "seq"},),
)
