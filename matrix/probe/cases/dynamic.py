"""Dynamic shapes: sizes that must stay symbolic in the exported graph."""

import torch
from torch import nn
from torch.nn import functional as F

from matrix import Case


class ConvNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 4, 3, stride=2, padding=1))

    def forward(self, x):
        return self.body(x)


class Classifier(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 5))

    def forward(self, x):
        return self.net(x)


class MergeHeads(nn.Module):
    """Fold pairs of time steps into features with sizes read from x.size()."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(32, 8)

    def forward(self, x):
        b, t, d = x.size()
        return self.linear(x.reshape(b, t // 2, 2 * d))


class Upsample(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class Nonzero(nn.Module):
    def forward(self, x):
        return torch.nonzero(x > 0.5)


class MaskedSelect(nn.Module):
    def forward(self, x):
        return torch.masked_select(x, x > 0.0) * 2.0


class TrimPadding(nn.Module):
    """Cut a padded batch to its longest real sequence, as collate-time code does."""

    def __init__(self, mask_instead: bool) -> None:
        super().__init__()
        self.mask_instead = mask_instead
        self.linear = nn.Linear(8, 8)

    def forward(self, x, lengths):
        if self.mask_instead:
            keep = torch.arange(x.shape[1])[None, :] < lengths[:, None]
            return self.linear(x) * keep[..., None].to(x.dtype)
        longest = int(lengths.max().item())
        return self.linear(x[:, :longest])


def _trim_inputs(sizes):
    t = sizes.get("seq", 12)
    return torch.randn(3, t, 8), torch.tensor([t - 2, t // 2, 1])


conv_hw = Case(
    id="dynamic/conv_hw",
    description="image model taking any height and width (declared once, checked at a second size)",
    build=lambda: (ConvNet(), (torch.randn(2, 3, 32, 48),)),
    dynamic=({2: "height", 3: "width"},),
    dynamic_sizes={"height": [40], "width": [24]},
)

batch = Case(
    id="dynamic/batch",
    description="a classifier served with any batch size: the most common dynamic axis",
    build=lambda: (Classifier(), (torch.randn(4, 20),)),
    dynamic=({0: "batch"},),
    dynamic_sizes={"batch": [1, 9]},
)

reshape_from_size = Case(
    id="dynamic/reshape_from_size",
    description="a reshape whose target is computed from x.size(), with a dynamic sequence length",
    build=lambda: (MergeHeads(), (torch.randn(2, 10, 16),)),
    dynamic=({0: "batch", 1: "seq"},),
    dynamic_sizes={"seq": [14]},
)

interpolate_scale = Case(
    id="dynamic/interpolate_scale",
    description="upsampling with interpolate(scale_factor=2) on images of any size",
    build=lambda: (Upsample(), (torch.randn(1, 3, 16, 20),)),
    dynamic=({2: "height", 3: "width"},),
)

size_one = Case(
    id="dynamic/size_one",
    description="a dynamic batch exported from an example of batch size 1, the specialisation trap",
    build=lambda: (Classifier(), (torch.randn(1, 20),)),
    dynamic=({0: "batch"},),
    dynamic_sizes={"batch": [4]},
)

size_one_example2 = Case(
    id="dynamic/size_one_example2",
    description="the same model exported from an example of batch size 2, the usual way round it",
    build=lambda: (Classifier(), (torch.randn(2, 20),)),
    dynamic=({0: "batch"},),
    dynamic_sizes={"batch": [1, 4]},
    fixes="dynamic/size_one",
)

nonzero = Case(
    id="dynamic/nonzero",
    description="torch.nonzero: an output whose shape depends on the values (detection post-processing)",
    build=lambda: (Nonzero(), (torch.rand(4, 6),)),
    dynamic=({0: "rows"},),
)

masked_select = Case(
    id="dynamic/masked_select",
    description="torch.masked_select: a data-dependent number of outputs",
    build=lambda: (MaskedSelect(), (torch.randn(4, 6),)),
    dynamic=({0: "rows"},),
)

item = Case(
    id="dynamic/item",
    description="a size read from a tensor with .item() to trim padding: a Python int the graph cannot follow",
    build=lambda: (TrimPadding(mask_instead=False), _trim_inputs({})),
    dynamic=({1: "seq"}, None),
    inputs=_trim_inputs,
)

item_mask = Case(
    id="dynamic/item_mask",
    description="the same trimming written as a mask multiply, which keeps the full length and stays in the graph",
    build=lambda: (TrimPadding(mask_instead=True), _trim_inputs({})),
    dynamic=({1: "seq"}, None),
    inputs=_trim_inputs,
    fixes="dynamic/item",
)
