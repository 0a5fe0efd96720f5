"""Attributes measured from pixels, so users can ask for "darker" or "wider" without labelling.

- brightness: mean luminance of the item (pixels that differ from the background), 0..1
- coverage: fraction of the image the item covers, 0..1
- saturation (colour data): mean HSV saturation of the item, 0..1
- hue (colour data): saturation-weighted circular mean hue of the item, 0..1
- texture (`texture`, not a condition of any model so far): mean absolute Laplacian of the
  luminance inside the item, away from its edges: low for plain, high for patterned items
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

GRAY_ATTRIBUTES = ["brightness", "coverage"]
COLOR_ATTRIBUTES = ["brightness", "coverage", "saturation", "hue"]
FOREGROUND_THRESHOLD = 0.1  # a pixel further than this (0..1 scale) from the background is the item


def attribute_names(channels: int) -> list[str]:
    return list(GRAY_ATTRIBUTES if channels == 1 else COLOR_ATTRIBUTES)


def _background(x: torch.Tensor) -> torch.Tensor:
    """Median colour of the one-pixel border, per image: (B, C, 1, 1)."""
    border = torch.cat([x[:, :, 0, :], x[:, :, -1, :], x[:, :, :, 0], x[:, :, :, -1]], dim=2)  # (B, C, 4W)
    return border.median(dim=2).values[:, :, None, None]


def measure(images: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
    """Measure attributes of uint8 images (N, C, H, W) → float32 (N, A), names from `attribute_names`."""
    out = []
    for start in range(0, images.shape[0], chunk):
        x = images[start : start + chunk].float() / 255.0  # (B, C, H, W)
        bg = _background(x)
        fg = ((x - bg).abs().amax(dim=1) > FOREGROUND_THRESHOLD).float()  # (B, H, W)
        area = fg.sum(dim=(1, 2))  # (B,)
        coverage = area / fg[0].numel()
        if x.shape[1] == 1:
            luma = x[:, 0]
        else:
            luma = 0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]  # (B, H, W)
        weight = torch.where(area[:, None, None] > 0, fg, torch.ones_like(fg))
        denom = weight.sum(dim=(1, 2))
        brightness = (luma * weight).sum(dim=(1, 2)) / denom
        columns = [brightness, coverage]
        if x.shape[1] == 3:
            cmax, cmin = x.amax(dim=1), x.amin(dim=1)
            delta = cmax - cmin
            saturation_px = torch.where(cmax > 0, delta / cmax.clamp_min(1e-6), torch.zeros_like(cmax))
            r, g, b = x[:, 0], x[:, 1], x[:, 2]
            safe = delta.clamp_min(1e-6)
            hue_px = (
                torch.where(
                    cmax == r,
                    ((g - b) / safe) % 6,
                    torch.where(cmax == g, (b - r) / safe + 2, (r - g) / safe + 4),
                )
                / 6.0
            )  # (B, H, W) in [0, 1)
            saturation = (saturation_px * weight).sum(dim=(1, 2)) / denom
            angle = hue_px * 2 * math.pi
            w = saturation_px * weight
            hue = (
                torch.atan2((w * angle.sin()).sum((1, 2)), (w * angle.cos()).sum((1, 2)))
                / (2 * math.pi)
                % 1.0
            )
            columns += [saturation, hue]
        out.append(torch.stack(columns, dim=1))
    return torch.cat(out).float()


def texture(images: torch.Tensor) -> torch.Tensor:
    """Texture of uint8 images (N, C, H, W) → (N,): the mean absolute Laplacian of the luminance
    (0..1) over the item's pixels whose 3×3 neighbourhood is all item (edges excluded), the item
    being what differs from the border's median colour by more than FOREGROUND_THRESHOLD."""
    x = images.float() / 255.0
    bg = _background(x)
    luma = (
        x.mean(1, keepdim=True)
        if x.shape[1] != 3
        else (x * torch.tensor([0.299, 0.587, 0.114])[:, None, None]).sum(1, keepdim=True)
    )
    fg = ((x - bg).abs().amax(dim=1, keepdim=True) > FOREGROUND_THRESHOLD).float()  # (N, 1, H, W)
    kernel = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])[None, None]
    lap = F.conv2d(luma, kernel, padding=1).abs()[:, :, 1:-1, 1:-1]
    inside = (F.avg_pool2d(fg, 3, 1, 1)[:, :, 1:-1, 1:-1] > 0.99).float()
    return (lap * inside).sum((1, 2, 3)) / inside.sum((1, 2, 3)).clamp_min(1.0)
