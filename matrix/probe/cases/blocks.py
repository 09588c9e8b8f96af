"""Common building blocks found in most production models."""

import math

import torch
from torch import nn
from torch.nn import functional as F

from matrix import Case


class MLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.LayerNorm(32), nn.Linear(32, 64), nn.GELU(), nn.Linear(64, 32))

    def forward(self, x):
        return x + self.net(x)


class Recurrent(nn.Module):
    def __init__(self, kind: str, **options) -> None:
        super().__init__()
        self.rnn = getattr(nn, kind)(16, 24, batch_first=True, **options)
        self.head = nn.Linear(24 * (2 if options.get("bidirectional") else 1), 4)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.head(out)


def _cnn():
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10),
    )


class Residual(nn.Module):
    """A ResNet basic block with a projection shortcut."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(8, 16, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(16)
        self.conv2, self.bn2 = nn.Conv2d(16, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16)
        self.shortcut = nn.Sequential(nn.Conv2d(8, 16, 1, stride=2, bias=False), nn.BatchNorm2d(16))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + self.shortcut(x))


def _with_running_stats(model: nn.Module) -> nn.Module:
    # Fresh BatchNorm has mean 0 / var 1, which hides a mis-exported normalisation: give it real statistics.
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    return model.eval()


class Embed(nn.Module):
    """Token embedding plus sinusoidal positions computed for the actual sequence length."""

    def __init__(self) -> None:
        super().__init__()
        self.embedding = nn.Embedding(100, 32)

    def forward(self, tokens):
        t = tokens.shape[1]
        position = torch.arange(t, dtype=torch.float32)[:, None]
        rate = torch.exp(torch.arange(0, 32, 2, dtype=torch.float32) * (-math.log(10000.0) / 32))
        table = torch.stack((torch.sin(position * rate), torch.cos(position * rate)), dim=-1).flatten(1)
        return self.embedding(tokens) * math.sqrt(32) + table


class Warp(nn.Module):
    def forward(self, image, grid):
        return F.grid_sample(image, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


class Bilinear(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(4, 8, 8) * 0.3)

    def forward(self, x, y):
        return torch.einsum("bi,kij,bj->bk", x, self.weight, y)


mlp_layernorm_gelu = Case(
    id="blocks/mlp_layernorm_gelu",
    description="pre-norm residual MLP with LayerNorm and GELU, the transformer feed-forward block",
    build=lambda: (MLP(), (torch.randn(4, 10, 32),)),
    dynamic=({0: "batch"},),
)

lstm = Case(
    id="blocks/lstm",
    description="two-layer batch-first LSTM with a linear head over variable-length sequences",
    build=lambda: (Recurrent("LSTM", num_layers=2), (torch.randn(3, 7, 16),)),
    dynamic=({0: "batch", 1: "seq"},),
)

bilstm = Case(
    id="blocks/bilstm",
    description="bidirectional LSTM tagger over variable-length sequences",
    build=lambda: (Recurrent("LSTM", bidirectional=True), (torch.randn(3, 7, 16),)),
    dynamic=({0: "batch", 1: "seq"},),
)

gru = Case(
    id="blocks/gru",
    description="a GRU encoder with a linear head over variable-length sequences",
    build=lambda: (Recurrent("GRU"), (torch.randn(3, 7, 16),)),
    dynamic=({0: "batch", 1: "seq"},),
)

cnn_batchnorm = Case(
    id="blocks/cnn_batchnorm",
    description="a small image classifier: conv + BatchNorm (eval, real running statistics) + global pooling",
    build=lambda: (_with_running_stats(_cnn()), (torch.randn(2, 3, 32, 32),)),
    dynamic=({0: "batch"},),
)

residual = Case(
    id="blocks/residual",
    description="a ResNet basic block with a strided projection shortcut",
    build=lambda: (_with_running_stats(Residual()), (torch.randn(2, 8, 16, 16),)),
    dynamic=({0: "batch", 2: "height", 3: "width"},),
)

embedding_positional = Case(
    id="blocks/embedding_positional",
    description="token embedding plus sinusoidal positions built from the runtime sequence length",
    build=lambda: (Embed(), (torch.randint(0, 100, (2, 11)),)),
    dynamic=({0: "batch", 1: "seq"},),
)

grid_sample = Case(
    id="blocks/grid_sample",
    description="F.grid_sample with a sampling grid (spatial transformers, flow), ONNX GridSample from opset 16",
    build=lambda: (Warp(), (torch.randn(2, 3, 12, 16), torch.rand(2, 8, 10, 2) * 2 - 1)),
)

einsum = Case(
    id="blocks/einsum",
    description="a bilinear form written with torch.einsum over three operands",
    build=lambda: (Bilinear(), (torch.randn(5, 8), torch.randn(5, 8))),
    dynamic=({0: "batch"}, {0: "batch"}),
)

groupnorm = Case(
    id="blocks/groupnorm",
    description="conv + GroupNorm(4 groups) + SiLU, the diffusion U-Net block",
    build=lambda: (nn.Sequential(nn.Conv2d(4, 16, 3, padding=1), nn.GroupNorm(4, 16), nn.SiLU()),
                   (torch.randn(2, 4, 12, 12),)),
    dynamic=({0: "batch", 2: "height", 3: "width"},),
)

conv_transpose = Case(
    id="blocks/conv_transpose",
    description="ConvTranspose2d upsampling with output_padding, as in decoders and GAN generators",
    build=lambda: (nn.Sequential(nn.ConvTranspose2d(8, 4, 3, stride=2, padding=1, output_padding=1), nn.ReLU()),
                   (torch.randn(2, 8, 7, 9),)),
    dynamic=({0: "batch", 2: "height", 3: "width"},),
)

pixel_shuffle = Case(
    id="blocks/pixel_shuffle",
    description="conv + PixelShuffle(2) sub-pixel upsampling, as in super-resolution models",
    build=lambda: (nn.Sequential(nn.Conv2d(3, 12, 3, padding=1), nn.PixelShuffle(2)), (torch.randn(2, 3, 8, 10),)),
    dynamic=({0: "batch", 2: "height", 3: "width"},),
)
