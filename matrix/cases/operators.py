"""Operators whose ONNX mapping depends on the opset or the exporter."""

import torch
from torch import nn

from matrix import Case


class CausalMask(nn.Module):
    def forward(self, scores):
        # torch.tril maps to ONNX Trilu, which exists from opset 14 on.
        return torch.softmax(torch.tril(scores) - 1e4 * torch.triu(torch.ones_like(scores), diagonal=1), dim=-1)


tril = Case(
    id="operators/tril",
    description="causal mask with torch.tril/triu, which have no ONNX mapping before opset 14",
    build=lambda: (CausalMask(), (torch.randn(2, 6, 6),)),
)
