"""Operators whose ONNX mapping is missing, opset-dependent or exporter-dependent."""

import torch
from torch import nn
from torch.nn import functional as F

from matrix import Case


class CausalMask(nn.Module):
    def __init__(self, trilu: bool = True) -> None:
        super().__init__()
        self.trilu = trilu

    def forward(self, scores):
        if self.trilu:
            # torch.tril/triu map to ONNX Trilu, which exists from opset 14 on.
            return torch.softmax(torch.tril(scores) - 1e4 * torch.triu(torch.ones_like(scores), diagonal=1), dim=-1)
        index = torch.arange(scores.shape[-1], device=scores.device)
        upper = (index[None, :] > index[:, None]).to(scores.dtype)
        return torch.softmax(scores * (1 - upper) - 1e4 * upper, dim=-1)


class Spectrum(nn.Module):
    def forward(self, x):
        return torch.fft.rfft(x, dim=-1).abs()


def _rotate(x, complex_numbers: bool):
    # Rotary position embedding, as in LLaMA: rotate feature pairs by position-dependent angles.
    t, d = x.shape[-2], x.shape[-1]
    freqs = 1.0 / (10000 ** (torch.arange(0, d, 2, dtype=torch.float32) / d))
    angles = torch.arange(t, dtype=torch.float32)[:, None] * freqs[None, :]
    if complex_numbers:
        rotation = torch.polar(torch.ones_like(angles), angles)
        pairs = torch.view_as_complex(x.float().reshape(*x.shape[:-1], d // 2, 2))
        return torch.view_as_real(pairs * rotation).flatten(-2)
    cos, sin = angles.cos(), angles.sin()
    even, odd = x[..., 0::2], x[..., 1::2]
    return torch.stack((even * cos - odd * sin, even * sin + odd * cos), dim=-1).flatten(-2)


class Rotary(nn.Module):
    def __init__(self, complex_numbers: bool) -> None:
        super().__init__()
        self.complex_numbers = complex_numbers

    def forward(self, x):
        return _rotate(x, self.complex_numbers)


class Unique(nn.Module):
    def forward(self, labels):
        values, counts = torch.unique(labels, sorted=True, return_counts=True)
        return values, counts


class AdaptivePool(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d((5, 5))

    def forward(self, x):
        return self.pool(self.conv(x))


class Pool(nn.Module):
    """What the adaptive pool computes when the input is a multiple of the output: a fixed window."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x):
        y = self.conv(F.interpolate(x, size=(15, 15), mode="nearest"))
        return F.avg_pool2d(y, kernel_size=3, stride=3)


tril = Case(
    id="operators/tril",
    description="causal mask with torch.tril/triu, which have no ONNX mapping before opset 14",
    build=lambda: (CausalMask(), (torch.randn(2, 6, 6),)),
)

tril_arange = Case(
    id="operators/tril_arange",
    description="the same mask from an arange comparison, which exports at any opset",
    build=lambda: (CausalMask(trilu=False), (torch.randn(2, 6, 6),)),
    fixes="operators/tril",
)

fft = Case(
    id="operators/fft",
    description="magnitude spectrum with torch.fft.rfft (audio features), a complex intermediate",
    build=lambda: (Spectrum(), (torch.randn(2, 3, 64),)),
    dynamic=({0: "batch"},),
)

rotary_complex = Case(
    id="operators/rotary_complex",
    description="rotary position embedding in complex numbers (view_as_complex, polar), as in LLaMA's reference code",
    build=lambda: (Rotary(complex_numbers=True), (torch.randn(2, 4, 10, 16),)),
    dynamic=({0: "batch"},),
)

rotary_real = Case(
    id="operators/rotary_real",
    description="the same rotary embedding with real cos/sin arithmetic, how exportable LLaMA ports write it",
    build=lambda: (Rotary(complex_numbers=False), (torch.randn(2, 4, 10, 16),)),
    dynamic=({0: "batch"},),
    fixes="operators/rotary_complex",
)

unique = Case(
    id="operators/unique",
    description="torch.unique with counts over class labels: an output whose length depends on the data",
    build=lambda: (Unique(), (torch.randint(0, 6, (32,)),)),
)

adaptive_pool = Case(
    id="operators/adaptive_pool",
    description="AdaptiveAvgPool2d to 5x5 from a 12x12 map: an output size that does not divide the input",
    build=lambda: (AdaptivePool(), (torch.randn(2, 3, 12, 12),)),
)

adaptive_pool_resized = Case(
    id="operators/adaptive_pool_resized",
    description="resize to a multiple of the output and use a fixed avg_pool2d window, the usual way round it",
    build=lambda: (Pool(), (torch.randn(2, 3, 12, 12),)),
    fixes="operators/adaptive_pool",
)
