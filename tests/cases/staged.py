"""Cases built to stop at one chosen stage each (test fixtures, loaded with --cases-from).

Exporter-specific failures use the TorchScript exporter, whose custom symbolics
let a test write exactly the ONNX it needs.
"""

import ctypes
import os
import time

import torch
from torch import nn

from matrix import Case


def symbolic_module(eager, symbolic):
    """A module computing `eager` in PyTorch and exporting as `symbolic(g, x)`."""

    class Fn(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return eager(x)

        @staticmethod
        def symbolic(g, x):
            return symbolic(g, x)

    class M(nn.Module):
        def forward(self, x):
            return Fn.apply(x)

    return M()


def _const(g, values):
    return g.op("Constant", value_t=torch.tensor(values, dtype=torch.int64))


class Boom(nn.Module):
    def forward(self, x):
        raise RuntimeError("eager forward fails on purpose")


class BakedBatch(nn.Module):
    def forward(self, x):
        return x.reshape(int(x.shape[0]), -1) * 2  # int() turns the batch into a traced constant


class Native(nn.Module):
    def __init__(self, how):
        super().__init__()
        self.how = how

    def forward(self, x):
        if self.how == "segfault":
            ctypes.string_at(0)
        elif self.how == "abort":
            os.abort()
        elif self.how == "sleep":
            time.sleep(60)
        return x


def x():
    return (torch.randn(2, 3),)


CASES = [
    Case(id="staged/reference", build=lambda: (Boom(), x())),
    Case(id="staged/build_raises", build=lambda: 1 / 0),
    Case(id="staged/export", build=lambda: (symbolic_module(lambda t: t, lambda g, t: None.bad), x())),
    Case(id="staged/check", build=lambda: (symbolic_module(lambda t: t.relu(), lambda g, t: g.op("Relu", t, bogus_i=1)), x())),
    Case(id="staged/load", build=lambda: (symbolic_module(lambda t: t, lambda g, t: g.op("com.example::Mystery", t)), x())),
    Case(id="staged/run", build=lambda: (symbolic_module(lambda t: t, lambda g, t: g.op("Reshape", t, g.op("Shape", g.op("Concat", t, t, axis_i=1)))), x())),
    Case(id="staged/parity", build=lambda: (symbolic_module(lambda t: t * 2, lambda g, t: g.op("Mul", t, g.op("Constant", value_t=torch.tensor(3.0)))), x())),
    Case(id="staged/dynamic", build=lambda: (BakedBatch(), (torch.randn(2, 3, 4),)), dynamic=({0: "batch"},)),
    Case(id="staged/pass", build=lambda: (nn.Linear(3, 2), x()), dynamic=({0: "batch"},)),
    Case(id="staged/needs_future_torch", build=lambda: (nn.Linear(3, 2), x()), requires=("torch>=99",)),
    Case(id="staged/segfault", build=lambda: (Native("segfault"), x())),
    Case(id="staged/abort", build=lambda: (Native("abort"), x())),
    Case(id="staged/sleep", build=lambda: (Native("sleep"), x())),
]
