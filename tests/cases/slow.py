"""Eight quick models that each take a moment, so a test can kill a run part-way."""

import time

import torch
from torch import nn

from matrix import Case


class Slow(nn.Module):
    def forward(self, x):
        time.sleep(0.3)
        return x + 1


CASES = [Case(id=f"slow/case_{i}", build=lambda: (Slow(), (torch.randn(2, 2),))) for i in range(8)]
