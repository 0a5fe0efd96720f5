"""Tensor ↔ PIL conversion, image grids, and image similarity (SSIM, PSNR, the inversion distance)."""

from __future__ import annotations

import stat
import warnings
from pathlib import Path

import torch
from PIL import Image, ImageDraw, ImageFont, UnidentifiedImageError
from torch.nn import functional as F


def from_uint8(pixels: torch.Tensor) -> torch.Tensor:
    """Pixels 0..255 (any shape) → float in [-1, 1], the range the networks work in."""
    return pixels.float() / 127.5 - 1


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Float in [-1, 1] (any shape) → pixels 0..255 (uint8), rounded, clipped."""
    return ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


# Four channels are a drawing with transparency, held as the drawing composed on white (3
# channels: what every metric, mark and check reads) and its alpha. Composed colour is defined
# everywhere, so a generator never has to invent colours for invisible pixels; the straight colour
# a PNG stores is recovered where the drawing is visible.


def visible(images: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) → the channels that show: the composed colour of a 4-channel image, else all."""
    return images[:, :3] if images.shape[1] == 4 else images


def to_pil(images: torch.Tensor) -> list[Image.Image]:
    """(B, C, H, W) float in [-1, 1] → PIL images (mode L for one channel, RGB for three, RGBA
    with straight colour for four)."""
    if images.shape[1] == 4:
        x = (images.detach().float().clamp(-1, 1) + 1) / 2  # (B, 4, H, W) in [0, 1]
        alpha = x[:, 3:]
        straight = ((x[:, :3] - (1 - alpha)) / alpha.clamp(min=1 / 255)).clamp(0, 1)
        straight = torch.where(alpha > 0.5 / 255, straight, x[:, :3])  # invisible: keep the composed
        images = torch.cat([straight, alpha], 1) * 2 - 1
    pixels = to_uint8(images).cpu().permute(0, 2, 3, 1).numpy()  # (B, H, W, C)
    if pixels.shape[-1] == 1:
        return [Image.fromarray(p[..., 0], "L") for p in pixels]
    return [Image.fromarray(p, "RGBA" if p.shape[-1] == 4 else "RGB") for p in pixels]


def on_background(image: Image.Image, colour: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """An image with transparency composed on `colour` (RGB); others as RGB (or L, kept)."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        canvas = Image.new("RGBA", image.size, (*colour, 255))
        canvas.alpha_composite(image.convert("RGBA"))
        return canvas.convert("RGB")
    return image if image.mode in ("RGB", "L") else image.convert("RGB")


def png_bytes(images: torch.Tensor) -> bytes:
    """The first of (B, C, H, W) images in [-1, 1] as PNG bytes."""
    import io

    buffer = io.BytesIO()
    to_pil(images[:1])[0].save(buffer, format="PNG")
    return buffer.getvalue()


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
    images = [on_background(im) if im.mode == "RGBA" else im for im in images]  # a grid shows the look
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


def _gaussian(x: torch.Tensor, size: int = 5, sigma: float = 1.0) -> torch.Tensor:
    coords = torch.arange(size, dtype=x.dtype, device=x.device) - size // 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    g = (g / g.sum()).view(1, 1, 1, -1).expand(x.shape[1], 1, 1, -1)
    x = F.conv2d(F.pad(x, (size // 2, size // 2, 0, 0), mode="reflect"), g, groups=x.shape[1])
    return F.conv2d(
        F.pad(x, (0, 0, size // 2, size // 2), mode="reflect"), g.transpose(2, 3), groups=x.shape[1]
    )


def ssim(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Structural similarity (Wang et al. 2004) per image (B,) of images in [-1, 1]."""
    a, b = (a + 1) / 2, (b + 1) / 2
    c1, c2 = 0.01**2, 0.03**2
    mu_a, mu_b = _gaussian(a), _gaussian(b)
    var_a = _gaussian(a * a) - mu_a**2
    var_b = _gaussian(b * b) - mu_b**2
    cov = _gaussian(a * b) - mu_a * mu_b
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return s.mean(dim=(1, 2, 3))


def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB (B,) of images in [-1, 1] (peak 2)."""
    mse = (a.float() - b.float()).square().mean(dim=(1, 2, 3)).clamp_min(1e-10)
    return 10 * torch.log10(4 / mse)


def image_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-image (B,) distance for inversion: L1 at full, half and quarter size plus 1 − SSIM."""
    total = 1 - ssim(a, b)
    for _ in range(3):
        total = total + (a - b).abs().mean(dim=(1, 2, 3))
        a, b = F.avg_pool2d(a, 2), F.avg_pool2d(b, 2)
    return total


def border_mean(images: torch.Tensor) -> float:
    """Mean value of the outermost pixel ring of images (B, C, H, W) in [-1, 1] (negative: a dark
    background)."""
    ring = torch.cat([images[..., 0, :], images[..., -1, :], images[..., :, 0], images[..., :, -1]], dim=-1)
    return ring.float().mean().item()


def open_image(path: str | Path, what: str, max_pixels: int = 4096 * 4096) -> Image.Image:
    """A user's image file decoded (first frame), or a ValueError that names it and says what is
    wrong: not a regular file (a FIFO or a device is never read), empty, not an image, damaged,
    or more than `max_pixels` (checked from the header, before decoding: no decompression bombs)."""
    path = Path(path)
    try:
        info = path.stat()
    except OSError as error:
        raise ValueError(f"{what} {path.name!r} cannot be opened ({error.strerror})") from None
    if not stat.S_ISREG(info.st_mode):
        raise ValueError(f"{what} {path.name!r} is not a regular file; pass a PNG, JPEG or WebP image")
    if info.st_size == 0:
        raise ValueError(f"{what} {path.name!r} is empty; pass a PNG, JPEG or WebP image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as opened:
                if opened.width * opened.height > max_pixels:
                    raise ValueError(
                        f"{what} {path.name!r} is {opened.width} x {opened.height} pixels; at most "
                        f"{max_pixels:,} are read: scale it down first"
                    )
                opened.seek(0)
                opened.load()
                return opened.copy()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ValueError(
            f"{what} {path.name!r} declares more than {max_pixels:,} pixels; scale it down"
        ) from None
    except UnidentifiedImageError:
        raise ValueError(f"{what} {path.name!r} is not an image; pass a PNG, JPEG or WebP image") from None
    except (OSError, SyntaxError, EOFError) as error:
        raise ValueError(f"{what} {path.name!r} is damaged or truncated ({str(error)[:80]})") from None
