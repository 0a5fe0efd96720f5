"""The inversion encoder: a small CNN that gives inversion its first guess (editing.py)."""

from __future__ import annotations

import torch
from torch import nn


class Encoder(nn.Module):
    """image (B, C, R, R) in [-1, 1] → z (B, z_dim): a first guess for inversion, trained on the
    generator's own samples (Editor.train_encoder), never on real images."""

    def __init__(self, channels: int, resolution: int, z_dim: int, width: int = 32) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 3, 1, 1), nn.LeakyReLU(0.2)]
        r, c = resolution, width
        while r > 4:
            layers += [nn.Conv2d(c, min(2 * c, 256), 4, 2, 1), nn.LeakyReLU(0.2)]
            r, c = r // 2, min(2 * c, 256)
        self.net = nn.Sequential(*layers, nn.Flatten(), nn.Linear(c * 16, z_dim))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)
