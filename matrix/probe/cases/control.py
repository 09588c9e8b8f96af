"""Control flow: branches on tensor values and loops over dynamic sizes."""

import torch
from torch import nn

from matrix import Case


class Gate(nn.Module):
    """Use one of two heads depending on the input's sign, decided at run time."""

    def __init__(self, how: str) -> None:
        super().__init__()
        self.how = how
        self.up, self.down = nn.Linear(8, 8), nn.Linear(8, 8)

    def forward(self, x):
        if self.how == "where":
            return torch.where(x.sum() > 0, self.up(x), self.down(x))
        if self.how == "cond":
            return torch.cond(x.sum() > 0, lambda y: self.up(y), lambda y: self.down(y), (x,))
        if x.sum() > 0:
            return self.up(x)
        return self.down(x)


def _gate_inputs(sizes):
    # The example is all positive; the dynamic stage feeds all-negative rows, so a
    # branch frozen at export time shows up as a parity failure.
    return (-torch.rand(sizes["batch"], 8),)


class Accumulate(nn.Module):
    """An exponential moving average written as a Python loop over time steps."""

    def forward(self, x):
        state = torch.zeros_like(x[:, 0])
        outputs = []
        for t in range(x.shape[1]):
            state = 0.9 * state + 0.1 * x[:, t]
            outputs.append(state)
        return torch.stack(outputs, dim=1)


tensor_if = Case(
    id="control/tensor_if",
    description="a Python if on a tensor value (x.sum() > 0) choosing between two heads",
    build=lambda: (Gate("if"), (torch.rand(4, 8),)),
    dynamic=({0: "batch"},),
    inputs=_gate_inputs,
)

tensor_if_where = Case(
    id="control/tensor_if_where",
    description="the same choice with torch.where, computing both heads and selecting in the graph",
    build=lambda: (Gate("where"), (torch.rand(4, 8),)),
    dynamic=({0: "batch"},),
    inputs=_gate_inputs,
    fixes="control/tensor_if",
)

tensor_if_cond = Case(
    id="control/tensor_if_cond",
    description="the same choice with torch.cond, which exports both branches as an ONNX If",
    build=lambda: (Gate("cond"), (torch.rand(4, 8),)),
    dynamic=({0: "batch"},),
    inputs=_gate_inputs,
    requires=("torch>=2.5",),  # torch.cond is public from 2.5
    fixes="control/tensor_if",
)

python_loop = Case(
    id="control/python_loop",
    description="a Python for-loop over a dynamic sequence length (a hand-written recurrence)",
    build=lambda: (Accumulate(), (torch.randn(2, 6, 4),)),
    dynamic=({1: "seq"},),
)

python_loop_scripted = Case(
    id="control/python_loop_scripted",
    description="the same loop in a torch.jit.script module, which the TorchScript exporter turns into an ONNX Loop",
    # TorchScript compiles the same forward: unannotated arguments are Tensors, [] a List[Tensor].
    build=lambda: (torch.jit.script(Accumulate()), (torch.randn(2, 6, 4),)),
    dynamic=({1: "seq"},),
    fixes="control/python_loop",
)
