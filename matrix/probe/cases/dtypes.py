"""Data types: half, bfloat16 and double precision, integer index arithmetic, masks, int8."""

import torch
from torch import nn
from torch.nn import functional as F

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


class Attention(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.qkv = nn.Linear(32, 96)
        self.out = nn.Linear(32, 32)

    def forward(self, x):
        b, t, _ = x.shape
        q, k, v = self.qkv(x).reshape(b, t, 3, 4, 8).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v)
        return self.out(y.transpose(1, 2).reshape(b, t, 32))


class TopNeighbour(nn.Module):
    """int64 index arithmetic feeding gather: pick each row's best column and its right neighbour."""

    def forward(self, scores):
        best = scores.argmax(dim=-1, keepdim=True)
        neighbour = (best + 1) % scores.shape[-1]
        return torch.gather(scores, -1, torch.cat([best, neighbour], dim=-1)), neighbour * 2 - 1


class MaskedMean(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(8, 8)

    def forward(self, x, mask):
        y = self.linear(x).masked_fill(~mask[..., None], 0.0)
        return y.sum(1) / mask.sum(1, keepdim=True).clamp_min(1).to(y.dtype)


class MLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 16))

    def forward(self, x):
        return self.net(x)


def _quantized_mlp():
    model = MLP().eval()
    return torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)


def _mask_inputs(sizes):
    t = sizes.get("seq", 6)
    return torch.randn(3, t, 8), torch.arange(t)[None, :] < torch.tensor([[t], [t // 2], [1]])


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

fp16_attention = Case(
    id="dtypes/fp16_attention",
    description="half-precision self-attention through scaled_dot_product_attention",
    build=lambda: (Attention().half(), (torch.randn(2, 10, 32).half(),)),
    dynamic=({0: "batch", 1: "seq"},),
)

bfloat16 = Case(
    id="dtypes/bfloat16",
    description="a bfloat16 MLP, the dtype models are trained and increasingly shipped in",
    build=lambda: (MLP().to(torch.bfloat16), (torch.randn(4, 32).to(torch.bfloat16),)),
    dynamic=({0: "batch"},),
)

float64 = Case(
    id="dtypes/float64",
    description="a float64 model with LayerNorm, as scientific code exports it",
    build=lambda: (nn.Sequential(nn.Linear(12, 24), nn.LayerNorm(24), nn.Tanh()).double(),
                   (torch.randn(4, 12, dtype=torch.float64),)),
    dynamic=({0: "batch"},),
)

int64_gather = Case(
    id="dtypes/int64_gather",
    description="int64 index arithmetic (argmax, add, modulo) feeding torch.gather, as in decoding heads",
    build=lambda: (TopNeighbour(), (torch.randn(5, 7),)),
    dynamic=({0: "batch"},),
)

bool_mask = Case(
    id="dtypes/bool_mask",
    description="a boolean padding mask as a model input, used with masked_fill and a masked mean",
    build=lambda: (MaskedMean(), _mask_inputs({})),
    dynamic=({1: "seq"}, {1: "seq"}),
    inputs=_mask_inputs,
)

int8_dynamic = Case(
    id="dtypes/int8_dynamic",
    description="an MLP quantised with torch.ao.quantization.quantize_dynamic (int8 weights), for CPU serving",
    build=lambda: (_quantized_mlp(), (torch.randn(4, 32),)),
    dynamic=({0: "batch"},),
    devices=("cpu",),  # dynamic quantisation has CPU kernels only
)
