"""The README's example user case file, kept runnable."""

import torch
from userpkg import Encoder

from matrix import Case, case

encoder = Case(
    id="mine/encoder",
    description="our production text encoder at batch 2",
    build=lambda: (Encoder(), (torch.randint(0, 1000, (2, 16)),)),
    dynamic=({0: "batch", 1: "seq"},),
    dynamic_sizes={"seq": [7, 64]},
    inputs=lambda sizes: (torch.randint(0, 1000, (sizes["batch"], sizes["seq"])),),
)


@case("mine/head", devices=("cpu",))
def head():
    """The classification head alone."""
    return torch.nn.Linear(16, 4), (torch.randn(3, 16),)
