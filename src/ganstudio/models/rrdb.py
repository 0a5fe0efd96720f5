"""The upscaler's network: a residual-in-residual dense network (the ESRGAN generator's shape,
Wang et al. 2018, at a width a CPU can train and run) that adds detail to a bilinear enlargement.
upscaler.py serves it (model-folder files, marking), models/cascade.py puts one after a generator.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

SCALE = 4
CONFIG_FILE = "upscaler.json"
WEIGHTS_FILE = "upscaler.safetensors"


@dataclass
class UpscalerConfig:
    channels: int = 4
    width: int = 32  # features at the input's resolution
    growth: int = 16  # channels each dense layer adds
    blocks: int = 3  # residual-in-residual dense blocks
    scale: int = SCALE

    def check(self) -> None:
        for name, low, high in (("channels", 1, 4), ("width", 4, 128), ("growth", 4, 64), ("blocks", 1, 32)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ValueError(f"{CONFIG_FILE}: {name} must be a whole number from {low} to {high}")
        if self.channels == 2:
            raise ValueError(f"{CONFIG_FILE}: channels must be 1, 3 or 4")
        if self.scale != SCALE:
            raise ValueError(f"{CONFIG_FILE}: scale {self.scale!r}: only {SCALE}× upscalers exist")


def _conv(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, padding=1)


class DenseBlock(nn.Module):
    """Four 3×3 convs, each seeing the block's input and every earlier output (growth channels
    each), and a fifth back to the block's width; the result is added at 0.2 (ESRGAN's residual
    scaling keeps a deep stack stable without normalisation)."""

    def __init__(self, width: int, growth: int) -> None:
        super().__init__()
        self.convs = nn.ModuleList([_conv(width + i * growth, growth) for i in range(4)])
        self.fuse = _conv(width + 4 * growth, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for conv in self.convs:
            features.append(F.leaky_relu(conv(torch.cat(features, 1)), 0.2))
        return x + 0.2 * self.fuse(torch.cat(features, 1))


class RRDB(nn.Module):
    """Three dense blocks inside one more residual connection (residual in residual)."""

    def __init__(self, width: int, growth: int) -> None:
        super().__init__()
        self.blocks = nn.Sequential(*[DenseBlock(width, growth) for _ in range(3)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + 0.2 * self.blocks(x)


class UpscalerNet(nn.Module):
    """(B, C, H, W) in [-1, 1] → (B, C, 4H, 4W): bilinear ×4 plus a learned residual. The body
    works at the input's resolution; two sub-pixel convolutions (a conv to 4× the channels, then
    pixel shuffle; Shi et al. 2016) double the size twice, so no conv runs at the output's full
    width of features (ESRGAN's nearest-neighbour + conv upsampling cost 8× as much on a CPU)."""

    def __init__(self, config: UpscalerConfig) -> None:
        super().__init__()
        c, w = config.channels, config.width
        self.config = config
        self.first = _conv(c, w)
        self.body = nn.Sequential(*[RRDB(w, config.growth) for _ in range(config.blocks)])
        self.body_out = _conv(w, w)
        self.up = _conv(w, 4 * w)  # → (w, 2H, 2W) after the shuffle
        self.last = _conv(w, 4 * c)  # → (c, 4H, 4W) after the shuffle
        nn.init.zeros_(self.last.weight)  # starts as bilinear
        nn.init.zeros_(self.last.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.first(x)
        features = features + self.body_out(self.body(features))
        features = F.leaky_relu(F.pixel_shuffle(self.up(features), 2), 0.2)
        residual = F.pixel_shuffle(self.last(features), 2)
        base = F.interpolate(x, scale_factor=SCALE, mode="bilinear", align_corners=False)
        return base + residual
