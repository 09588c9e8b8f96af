"""A user case that needs a package beyond torch (einops), imported inside build() as the README
asks: a cell without einops then says so for this case alone (tests/test_requirements.py)."""

import torch

from matrix import Case


def _build():
    import einops

    class Patches(torch.nn.Module):
        """Image → sequence of patches, the einops way (as ViT-style code writes it)."""

        def forward(self, x):
            return einops.rearrange(x, "b c (h p) (w q) -> b (h w) (p q c)", p=2, q=2)

    return Patches(), (torch.randn(2, 3, 8, 8),)


patches = Case(id="extras/einops_patches", description="einops.rearrange into patches", build=_build)
