"""A user's model package: installed into each cell from its pyproject.toml (with einops)."""

import einops
import torch


class Mixer(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = torch.nn.Linear(12, 6)

    def forward(self, x):
        return self.proj(einops.rearrange(x, "b c (h p) w -> b (h w) (p c)", p=2))
