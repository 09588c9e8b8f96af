"""Custom layers: hand-written modules, autograd Functions and registered custom ops."""

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


class _ClampGrad(torch.autograd.Function):
    """A straight-through clamp: the forward is a clamp, the backward passes gradients unchanged."""

    @staticmethod
    def forward(ctx, x):
        return x.clamp(-1.0, 1.0)

    @staticmethod
    def backward(ctx, grad):
        return grad


class _ClampGradSymbolic(_ClampGrad):
    """The same Function with a `symbolic`, the TorchScript exporter's hook for custom Functions."""

    @staticmethod
    def symbolic(g, x):
        low = g.op("Constant", value_t=torch.tensor(-1.0))
        high = g.op("Constant", value_t=torch.tensor(1.0))
        return g.op("Clip", x, low, high)


class FunctionLayer(nn.Module):
    def __init__(self, function) -> None:
        super().__init__()
        self.function = function
        self.linear = nn.Linear(16, 16)

    def forward(self, x):
        return self.linear(self.function.apply(self.linear(x)))


_OPS = {}


def _soft_threshold_op():
    # Registered on first use, not at import: torch.library.custom_op exists from
    # torch 2.4 on, and this module must import on older torch too.
    if "op" not in _OPS:
        @torch.library.custom_op("matrix_corpus::soft_threshold", mutates_args=())
        def soft_threshold(x: torch.Tensor, t: float) -> torch.Tensor:
            return torch.sign(x) * torch.relu(x.abs() - t)

        @soft_threshold.register_fake
        def _(x, t):
            return torch.empty_like(x)

        _OPS["op"] = soft_threshold
    return _OPS["op"]


class SoftThreshold(nn.Module):
    def __init__(self, custom_op: bool) -> None:
        super().__init__()
        self.op = _soft_threshold_op() if custom_op else None
        self.linear = nn.Linear(16, 16)

    def forward(self, x):
        y = self.linear(x)
        if self.op is not None:
            return self.op(y, 0.25)
        return torch.sign(y) * torch.relu(y.abs() - 0.25)


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

autograd_function = Case(
    id="layers/autograd_function",
    description="a custom torch.autograd.Function (straight-through clamp) inside the model, with no symbolic",
    build=lambda: (FunctionLayer(_ClampGrad), (torch.randn(4, 16),)),
    dynamic=({0: "batch"},),
)

autograd_function_symbolic = Case(
    id="layers/autograd_function_symbolic",
    description="the same Function given a symbolic() that emits ONNX Clip, the TorchScript exporter's hook",
    build=lambda: (FunctionLayer(_ClampGradSymbolic), (torch.randn(4, 16),)),
    dynamic=({0: "batch"},),
    fixes="layers/autograd_function",
)

library_custom_op = Case(
    id="layers/library_custom_op",
    description="a kernel registered with torch.library.custom_op (how fused CUDA/C++ kernels are exposed)",
    build=lambda: (SoftThreshold(custom_op=True), (torch.randn(4, 16),)),
    dynamic=({0: "batch"},),
    requires=("torch>=2.4",),  # torch.library.custom_op is new in 2.4
)

library_custom_op_inlined = Case(
    id="layers/library_custom_op_inlined",
    description="the same computation written in plain torch ops, the usual way round a custom op",
    build=lambda: (SoftThreshold(custom_op=False), (torch.randn(4, 16),)),
    dynamic=({0: "batch"},),
    fixes="layers/library_custom_op",
)
