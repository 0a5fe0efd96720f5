"""Tensor ↔ PIL conversion and image grids for generated images."""

from __future__ import annotations

import torch
from PIL import Image


def to_pil(images: torch.Tensor) -> list[Image.Image]:
    """(B, C, H, W) float in [-1, 1] → PIL images (mode L for one channel, RGB for three)."""
    pixels = ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu()
    pixels = pixels.permute(0, 2, 3, 1).numpy()  # (B, H, W, C)
    if pixels.shape[-1] == 1:
        return [Image.fromarray(p[..., 0], "L") for p in pixels]
    return [Image.fromarray(p, "RGB") for p in pixels]


def make_grid(images: list[Image.Image], columns: int, padding: int = 2, scale: int = 1) -> Image.Image:
    """Tile images row by row into one picture, `columns` wide, upscaled by `scale` (nearest)."""
    if not images:
        raise ValueError("make_grid needs at least one image")
    w, h = images[0].size
    w, h = w * scale, h * scale
    rows = (len(images) + columns - 1) // columns
    mode = images[0].mode
    grid = Image.new(
        mode,
        (columns * (w + padding) + padding, rows * (h + padding) + padding),
        255 if mode == "L" else (255, 255, 255),
    )
    for i, image in enumerate(images):
        if scale != 1:
            image = image.resize((w, h), Image.NEAREST)
        grid.paste(image, (padding + (i % columns) * (w + padding), padding + (i // columns) * (h + padding)))
    return grid
