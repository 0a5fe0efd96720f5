"""DCGAN baseline (Radford et al. 2015): transposed convs with batch norm in G, strided convs in
D, made class/attribute-conditional the same way as the default model so comparisons are fair."""

from __future__ import annotations

import torch
from torch import nn

from ganstudio.conditioning import Cond, CondEmbedding, CondSpec
from ganstudio.config import ModelConfig
from ganstudio.models.layers import stage_widths
from ganstudio.registry import MODELS


class Generator(nn.Module):
    """G(z, cond) -> images in [-1, 1] (tanh), shape (B, channels, resolution, resolution)."""

    def __init__(self, config: ModelConfig, resolution: int, channels: int, spec: CondSpec) -> None:
        super().__init__()
        self.z_dim = config.z_dim
        self.w_dim = config.z_dim + config.cond_dim
        self.spec = spec
        widths = stage_widths(resolution, config.channel_base, config.channel_max)
        self.embed = CondEmbedding(spec, config.cond_dim)
        self.basis = nn.Sequential(
            nn.Linear(self.w_dim, widths[4] * 16),
            nn.Unflatten(1, (widths[4], 4, 4)),
            nn.BatchNorm2d(widths[4]),
            nn.ReLU(),
        )
        layers: list[nn.Module] = []
        r = 4
        while r < resolution:
            layers += [
                nn.ConvTranspose2d(widths[r], widths[2 * r], 4, 2, 1, bias=False),
                nn.BatchNorm2d(widths[2 * r]),
                nn.ReLU(),
            ]
            r *= 2
        layers += [nn.Conv2d(widths[resolution], channels, 3, padding=1), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def map(self, z: torch.Tensor, cond: Cond | None) -> torch.Tensor:
        return torch.cat([z, self.embed(cond, z.shape[0], z.device)], dim=1)

    def synthesize(self, w: torch.Tensor, cond: Cond | None = None) -> torch.Tensor:
        del cond  # DCGAN takes no sketch; build() refuses specs that ask for one
        return self.net(self.basis(w))

    def forward(self, z: torch.Tensor, cond: Cond | None = None) -> torch.Tensor:
        return self.synthesize(self.map(z, cond))


class Discriminator(nn.Module):
    """D(images, cond) -> logits (B,), with a projection term when conditional."""

    def __init__(self, config: ModelConfig, resolution: int, channels: int, spec: CondSpec) -> None:
        super().__init__()
        widths = stage_widths(resolution, config.channel_base, config.channel_max)
        layers: list[nn.Module] = [nn.Conv2d(channels, widths[resolution], 3, padding=1), nn.LeakyReLU(0.2)]
        r = resolution
        while r > 4:
            layers += [
                nn.Conv2d(widths[r], widths[r // 2], 4, 2, 1, bias=False),
                nn.BatchNorm2d(widths[r // 2]),
                nn.LeakyReLU(0.2),
            ]
            r //= 2
        self.net = nn.Sequential(*layers, nn.Flatten())
        self.out = nn.Linear(widths[4] * 16, 1)
        self.embed = CondEmbedding(spec, config.cond_dim) if spec.is_conditional else None
        self.project = nn.Linear(config.cond_dim, widths[4] * 16) if spec.is_conditional else None

    def forward(self, images: torch.Tensor, cond: Cond | None = None) -> torch.Tensor:
        h = self.net(images)  # (B, C4 * 16)
        logits = self.out(h).squeeze(1)
        if self.embed is not None:
            logits = logits + (self.project(self.embed(cond, h.shape[0], h.device)) * h).sum(dim=1)
        return logits


@MODELS.register("dcgan")
def build(
    config: ModelConfig, resolution: int, channels: int, spec: CondSpec
) -> tuple[Generator, Discriminator]:
    if spec.has_sketch:
        raise ValueError("the dcgan baseline takes no sketches; use model.arch=r3gan or model.sketch=false")
    return Generator(config, resolution, channels, spec), Discriminator(config, resolution, channels, spec)
