"""Decode one image file robustly into a square uint8 array at the model resolution."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageColor, ImageOps, UnidentifiedImageError

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif"}
GRAY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"}
MAX_PIXELS = 64_000_000  # larger images are treated as decompression bombs


class ImageSkipped(Exception):
    """An image that cannot be used; the message is the reason shown to the user."""


def parse_color(color: str) -> tuple[int, int, int]:
    try:
        return ImageColor.getrgb(color)[:3]
    except ValueError:
        raise ValueError(f"colour {color!r} is not understood; use a name or hex such as '#ffffff'") from None


def to_rgb(image: Image.Image, background: tuple[int, int, int]) -> tuple[Image.Image, bool]:
    """Convert any Pillow mode to RGB, compositing transparency on `background`.

    Returns the RGB image and whether the source was grayscale.
    """
    is_gray = image.mode in GRAY_MODES
    if image.mode == "P":
        palette = image.getpalette() or []
        colours = np.array(palette[: 3 * 256]).reshape(-1, 3) if palette else np.zeros((0, 3))
        is_gray = bool(len(colours)) and bool((colours.max(1) == colours.min(1)).all())
        image = image.convert("RGBA") if "transparency" in image.info else image.convert("RGB")
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        array = np.asarray(image, dtype=np.float64)
        lo, hi = float(array.min()), float(array.max())
        array = (array - lo) / (hi - lo or 1.0) * 255.0
        image = Image.fromarray(array.round().astype(np.uint8), "L")
    if image.mode in ("LA", "RGBA", "PA") or (image.mode in ("L", "RGB") and "transparency" in image.info):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (*background, 255))
        canvas.alpha_composite(rgba)
        return canvas.convert("RGB"), is_gray
    return image.convert("RGB"), is_gray


def square(image: Image.Image, fit: str, background: tuple[int, int, int]) -> Image.Image:
    """Make an image square by centre-cropping ("crop") or padding with `background` ("pad")."""
    w, h = image.size
    if w == h:
        return image
    if fit == "crop":
        side = min(w, h)
        left, top = (w - side) // 2, (h - side) // 2
        return image.crop((left, top, left + side, top + side))
    if fit == "pad":
        side = max(w, h)
        canvas = Image.new("RGB", (side, side), background)
        canvas.paste(image, ((side - w) // 2, (side - h) // 2))
        return canvas
    raise ValueError(f"fit {fit!r} is unknown; use 'crop' or 'pad'")


def load_image(
    path: Path, resolution: int, fit: str = "pad", background: tuple[int, int, int] = (255, 255, 255)
) -> tuple[np.ndarray, bool]:
    """Decode `path` (first frame of animations) to a (resolution, resolution, 3) uint8 array.

    Returns the array and whether the source was grayscale. Raises ImageSkipped with a
    human-readable reason for empty, truncated, corrupt, non-image and oversized files.
    """
    if path.stat().st_size == 0:
        raise ImageSkipped("empty file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            previous = Image.MAX_IMAGE_PIXELS
            Image.MAX_IMAGE_PIXELS = MAX_PIXELS
            try:
                with Image.open(path) as image:
                    image.seek(0)
                    image.load()
                    image = ImageOps.exif_transpose(image) or image
                    rgb, is_gray = to_rgb(image, background)
            finally:
                Image.MAX_IMAGE_PIXELS = previous
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageSkipped(f"larger than {MAX_PIXELS:,} pixels (possible decompression bomb)") from None
    except UnidentifiedImageError:
        raise ImageSkipped("not an image Pillow can read") from None
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise ImageSkipped(f"corrupt or truncated image ({error})") from None
    return fit_image(rgb, resolution, fit, background), is_gray


def fit_image(
    image: Image.Image, resolution: int, fit: str = "pad", background: tuple[int, int, int] = (255, 255, 255)
) -> np.ndarray:
    """A decoded image as the training data is made: RGB on `background`, made square by `fit`,
    resized to `resolution` → (resolution, resolution, 3) uint8."""
    if image.mode != "RGB":
        image = to_rgb(image, background)[0]
    image = square(image, fit, background)
    if image.size != (resolution, resolution):
        image = image.resize((resolution, resolution), Image.LANCZOS, reducing_gap=3.0)
    return np.array(image, dtype=np.uint8)  # a writable copy (torch wants one)
