"""Differentiable augmentation of real and fake images before D (DiffAugment, Zhao et al. 2020).

Pure torch ops, so gradients flow to G through them. Each op is applied to each image with
probability `p`; all randomness comes from the `generator` passed in, so runs resume exactly.
"""

from __future__ import annotations

import torch

POLICIES = ("translation", "cutout", "color")


def _chance(x: torch.Tensor, p: float, generator: torch.Generator) -> torch.Tensor:
    return (torch.rand(x.shape[0], 1, 1, 1, generator=generator) < p).to(x.dtype)  # (B, 1, 1, 1)


def _uniform(x: torch.Tensor, lo: float, hi: float, generator: torch.Generator) -> torch.Tensor:
    return (torch.rand(x.shape[0], 1, 1, 1, generator=generator) * (hi - lo) + lo).to(x.dtype)


def color(x: torch.Tensor, p: float, generator: torch.Generator, channels: int | None = None) -> torch.Tensor:
    """Brightness, saturation (colour images only) and contrast jitter of the first `channels`
    channels (all by default; the rest, e.g. a sketch, pass through)."""
    if channels is not None and channels < x.shape[1]:
        return torch.cat([color(x[:, :channels], p, generator), x[:, channels:]], dim=1)
    apply = _chance(x, p, generator)
    y = x + (_uniform(x, -0.5, 0.5, generator)) * apply
    if x.shape[1] == 3:
        mean = y.mean(dim=1, keepdim=True)
        y = mean + (y - mean) * (1 + (_uniform(x, 0.0, 2.0, generator) - 1) * apply)
    mean = y.mean(dim=(1, 2, 3), keepdim=True)
    return mean + (y - mean) * (1 + (_uniform(x, 0.5, 1.5, generator) - 1) * apply)


def translation(x: torch.Tensor, p: float, generator: torch.Generator, ratio: float = 0.125) -> torch.Tensor:
    """Shift by up to `ratio` of the size, filling with zeros (mid-grey in [-1, 1])."""
    b, c, h, w = x.shape
    pad = max(1, int(h * ratio + 0.5))
    apply = torch.rand(b, generator=generator) < p
    dy = torch.randint(-pad, pad + 1, (b,), generator=generator) * apply
    dx = torch.randint(-pad, pad + 1, (b,), generator=generator) * apply
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))  # (B, C, H+2p, W+2p)
    rows = torch.arange(h)[None] + pad + dy[:, None]  # (B, H)
    cols = torch.arange(w)[None] + pad + dx[:, None]  # (B, W)
    batch = torch.arange(b)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]  # (B, H, W, C)
    return out.permute(0, 3, 1, 2)  # channels_last strides, which the convs prefer


def cutout(x: torch.Tensor, p: float, generator: torch.Generator, ratio: float = 0.5) -> torch.Tensor:
    """Zero a random square of `ratio` × size."""
    b, _, h, w = x.shape
    size_h, size_w = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = torch.randint(0, h + 1 - size_h % 2, (b, 1, 1), generator=generator)
    cx = torch.randint(0, w + 1 - size_w % 2, (b, 1, 1), generator=generator)
    ys = torch.arange(h)[None, :, None]
    xs = torch.arange(w)[None, None, :]
    inside = ((ys - cy).abs() < size_h // 2 + size_h % 2) & (
        (xs - cx).abs() < size_w // 2 + size_w % 2
    )  # (B, H, W)
    keep = 1 - inside[:, None].to(x.dtype) * _chance(x, p, generator)
    return x * keep


OPS = {"color": color, "translation": translation, "cutout": cutout}


def augment(
    x: torch.Tensor, policy: str, p: float, generator: torch.Generator, color_channels: int | None = None
) -> torch.Tensor:
    """Apply the comma-separated `policy` ops in order, each with probability `p` per image;
    colour changes touch only the first `color_channels` channels (default all)."""
    if p <= 0 or not policy:
        return x
    for name in policy.split(","):
        name = name.strip()
        if name not in OPS:
            raise ValueError(f"augmentation {name!r} is unknown; valid: {', '.join(POLICIES)}")
        x = color(x, p, generator, color_channels) if name == "color" else OPS[name](x, p, generator)
    return x
