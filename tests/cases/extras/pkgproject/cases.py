"""The package's cases: the model comes from the installed package (mtuserpkg), whose own
dependency (einops) the cell installs from its pyproject.toml."""

import torch

from matrix import Case


def _build():
    from mtuserpkg import Mixer

    torch.manual_seed(0)
    return Mixer(), (torch.randn(2, 6, 4, 3),)


mixer = Case(id="extras/userpkg_mixer", description="a model from the user's own installed package", build=_build)
