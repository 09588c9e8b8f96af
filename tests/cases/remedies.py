"""Cases for the remedy search and the blame (tests/test_remedies.py), loaded with --cases-from."""

import torch
from torch import nn

from matrix import Case


class Calls(nn.Module):
    """Keeps a Python counter across calls, as a step-dependent schedule does: a tracing exporter
    freezes the value it saw, so the exported graph computes something other than eager."""

    def __init__(self):
        super().__init__()
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return x * self.calls


counter = Case(id="remedies/counter", description="Python state read in forward, frozen by the exporter",
               build=lambda: (Calls(), (torch.randn(3, 4),)))
