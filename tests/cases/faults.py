"""Cases whose native code misbehaves on purpose (the fault-injection suite's fixtures)."""

import os

import torch
from staged import Native  # beside this file: the probe puts a case file's folder on sys.path
from torch import nn

from matrix import Case


class Misbehave(Native):
    """staged.Native's segfault and abort, and more."""

    def forward(self, x):
        if self.how == "loop":
            while True:  # spins in the interpreter, never sleeps
                pass
        elif self.how == "memory":
            held = []
            while True:  # 256 MiB more each turn, touched, until something stops it
                held.append(torch.ones(64, 1024, 1024))
        elif self.how == "flood":
            chunk = b"x" * (1 << 20)
            for _ in range(8):  # 8 MiB to each of fd 1 and fd 2, below Python's buffers
                os.write(1, chunk)
                os.write(2, chunk)
        return super().forward(x) * 2


class RunFails(nn.Module):
    """Eager is fine; the exported graph reshapes to a size the data cannot have, so
    onnxruntime's C++ kernel throws during Run."""

    def forward(self, x):
        return Fn.apply(x)


class Fn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x

    @staticmethod
    def symbolic(g, x):
        return g.op("Reshape", x, g.op("Constant", value_t=torch.tensor([7, 7], dtype=torch.int64)))


def x():
    return (torch.randn(2, 3),)


cases = [Case(id=f"faults/{how}", build=lambda how=how: (Misbehave(how), x()))
         for how in ("segfault", "abort", "loop", "memory", "flood")]
cases += [Case(id="faults/ort_exception", build=lambda: (RunFails(), x())),
          Case(id="faults/after", build=lambda: (nn.Linear(3, 2), x()))]
