"""Tensor ↔ PIL conversion and image grids for generated images."""

from __future__ import annotations

import torch
from PIL import Image, ImageDraw, ImageFont


def from_uint8(pixels: torch.Tensor) -> torch.Tensor:
    """Pixels 0..255 (any shape) → float in [-1, 1], the range the networks work in."""
    return pixels.float() / 127.5 - 1


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Float in [-1, 1] (any shape) → pixels 0..255 (uint8), rounded, clipped."""
    return ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def to_pil(images: torch.Tensor) -> list[Image.Image]:
    """(B, C, H, W) float in [-1, 1] → PIL images (mode L for one channel, RGB for three)."""
    pixels = to_uint8(images).cpu().permute(0, 2, 3, 1).numpy()  # (B, H, W, C)
    if pixels.shape[-1] == 1:
        return [Image.fromarray(p[..., 0], "L") for p in pixels]
    return [Image.fromarray(p, "RGB") for p in pixels]


def make_grid(
    images: list[Image.Image],
    columns: int,
    padding: int = 2,
    scale: int = 1,
    row_labels: list[str] | None = None,
) -> Image.Image:
    """Tile images row by row into one picture, `columns` wide, upscaled by `scale` (nearest);
    with `row_labels`, each row's label is written to its left."""
    if not images:
        raise ValueError("make_grid needs at least one image")
    w, h = images[0].size
    w, h = w * scale, h * scale
    rows = (len(images) + columns - 1) // columns
    mode = images[0].mode
    white = 255 if mode == "L" else (255, 255, 255)
    font = ImageFont.load_default(size=max(10, min(16, h // 3))) if row_labels else None
    label_width = 0
    if row_labels:
        label_width = 8 + max(int(font.getlength(label)) for label in row_labels)
    grid = Image.new(
        mode, (label_width + columns * (w + padding) + padding, rows * (h + padding) + padding), white
    )
    for i, image in enumerate(images):
        if scale != 1:
            image = image.resize((w, h), Image.NEAREST)
        x = label_width + padding + (i % columns) * (w + padding)
        grid.paste(image, (x, padding + (i // columns) * (h + padding)))
    if row_labels:
        draw = ImageDraw.Draw(grid)
        for row, label in enumerate(row_labels[:rows]):
            y = padding + row * (h + padding) + h // 2
            draw.text((4, y), label, fill=0 if mode == "L" else (0, 0, 0), font=font, anchor="lm")
    return grid
