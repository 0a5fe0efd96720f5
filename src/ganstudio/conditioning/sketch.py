"""Sketches: outlines extracted from images, roughened like hand drawing, and user drawings
normalised to the same form — a (1, H, W) map in [0, 1] where 1 is a stroke.

Training pairs need no paired data (the edges2shoes idea of pix2pix, Isola et al. 2017): Canny
edges of each image at 4× resolution, thickened and box-downsampled, are the "clean" sketch;
`roughen` then wobbles, warps, thickens, thins, breaks and scribbles on it every step so that
wobbly hand-drawn input works.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageFilter, ImageOps
from torch import nn
from torch.nn import functional as F

from ganstudio.conditioning.cond import DEFAULT_SKETCH_MARGIN
from ganstudio.imaging import open_image

UPSCALE = 4  # edges are found at this multiple of the model resolution
STROKE_THRESHOLD = 0.25  # a drawing's pixel darker (or lighter) than this fraction of the range is a stroke


def extract_sketches(images: torch.Tensor, chunk: int = 2048) -> torch.Tensor:
    """Canny outlines of uint8 images (N, C, H, W) → uint8 sketches (N, 1, H, W), 255 = stroke."""
    import cv2

    n, _, h, w = images.shape
    out = torch.empty(n, 1, h, w, dtype=torch.uint8)
    kernel = np.ones((3, 3), np.uint8)
    for start in range(0, n, chunk):
        batch = (
            images[start : start + chunk, :3].float().mean(1).numpy().astype(np.uint8)
        )  # (B, H, W): what shows
        edges = np.empty((batch.shape[0], h * UPSCALE, w * UPSCALE), np.uint8)
        for i, gray in enumerate(batch):
            big = cv2.resize(gray, (w * UPSCALE, h * UPSCALE), interpolation=cv2.INTER_CUBIC)
            edges[i] = cv2.dilate(cv2.Canny(big, 60, 150), kernel)
        small = F.avg_pool2d(torch.from_numpy(edges)[:, None].float(), UPSCALE)  # (B, 1, H, W)
        out[start : start + chunk] = (small * 2).clamp(0, 255).to(torch.uint8)
    return out


def sketch_margin(sketches: torch.Tensor) -> float:
    """Median empty margin around the strokes, as a fraction of the side: where user drawings
    are placed after their own margins are cropped."""
    strokes = sketches[:, 0] > 64  # (N, H, W)
    size = sketches.shape[-1]
    rows, cols = strokes.any(2), strokes.any(1)  # (N, H), (N, W)
    has = rows.any(1)
    if not bool(has.any()):
        return DEFAULT_SKETCH_MARGIN
    first_r = rows.float().argmax(1)
    last_r = size - 1 - rows.flip(1).float().argmax(1)
    first_c = cols.float().argmax(1)
    last_c = size - 1 - cols.flip(1).float().argmax(1)
    extent = torch.maximum(last_r - first_r, last_c - first_c)[has].float() + 1
    return float(((size - extent) / (2 * size)).median().clamp(0, 0.25))


def roughen(sketch: torch.Tensor, generator: torch.Generator, strength: float = 1.0) -> torch.Tensor:
    """Make clean outlines (B, 1, H, W) in [0, 1] look hand-drawn: small shift and scale, elastic
    wobble, thicker or thinner strokes, gaps, and now and then an extra scribble."""
    b, _, h, w = sketch.shape
    device = sketch.device

    def uniform(lo: float, hi: float, *shape: int) -> torch.Tensor:
        return (torch.rand(b, *shape, generator=generator) * (hi - lo) + lo).to(device)

    # affine (scale ±10%, shift ±6%) plus a smooth random displacement field
    scale = 1 + strength * uniform(-0.1, 0.1, 1, 1)
    shift = strength * uniform(-0.06, 0.06, 1, 2)
    theta = torch.zeros(b, 2, 3, device=device)
    theta[:, 0, 0], theta[:, 1, 1] = scale[:, 0, 0], scale[:, 0, 0]
    theta[:, :, 2] = shift[:, 0]
    grid = F.affine_grid(theta, (b, 1, h, w), align_corners=False)  # (B, H, W, 2)
    wobble = torch.randn(b, 2, 4, 4, generator=generator).to(device) * (0.03 * strength)
    grid = grid + F.interpolate(wobble, size=(h, w), mode="bicubic", align_corners=False).permute(0, 2, 3, 1)
    x = F.grid_sample(sketch, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    # stroke width: a third thicker (max-pool), a third thinner (fainter), a third as is
    width = torch.rand(b, generator=generator).to(device)
    thick = F.max_pool2d(x, 3, 1, 1)
    x = torch.where((width < 1 / 3)[:, None, None, None], 0.5 * (x + thick), x)
    x = torch.where((width > 2 / 3)[:, None, None, None], x * uniform(0.5, 0.9, 1, 1)[:, None], x)
    # gaps: drop strokes under random low-resolution blobs (about 15% of the area)
    blobs = F.interpolate(
        torch.rand(b, 1, 6, 6, generator=generator).to(device), size=(h, w), mode="bilinear"
    )
    x = x * (blobs > 0.15 * strength).to(x.dtype)
    # an extra scribble (a short straight stroke) on a quarter of the sketches
    a, c = uniform(0, 1, 2), uniform(0, 1, 2)  # (B, 2) end points in 0..1
    ys = (torch.arange(h, device=device) + 0.5) / h
    xs = (torch.arange(w, device=device) + 0.5) / w
    p = torch.stack(torch.meshgrid(ys, xs, indexing="ij"), dim=-1)[None]  # (1, H, W, 2)
    d = (c - a)[:, None, None]
    t = (((p - a[:, None, None]) * d).sum(-1) / d.square().sum(-1).clamp_min(1e-6)).clamp(0, 1)
    dist = (p - a[:, None, None] - t[..., None] * d).norm(dim=-1) * h  # (B, H, W) in pixels
    scribble = (1 - dist).clamp(0, 1) * (uniform(0, 1) < 0.25 * strength)[:, None, None]
    return torch.maximum(x, scribble[:, None]).clamp(0, 1)


MAX_SKETCH_PIXELS = 4096 * 4096  # a drawing is shrunk to the model's size; larger files are refused


def _check_size(size: tuple[int, int], what: Any) -> None:
    width, height = size
    if width * height > MAX_SKETCH_PIXELS:
        raise ValueError(
            f"sketch {str(what)!r} is {width} x {height} pixels; drawings up to {MAX_SKETCH_PIXELS:,} pixels "
            "(4096 x 4096) are read: scale it down first"
        )


def load_drawing(drawing: Image.Image | str | Path | np.ndarray | torch.Tensor) -> Image.Image:
    """A user's drawing as a grayscale PIL image (transparency composited on white)."""
    if isinstance(drawing, str | Path):
        drawing = open_image(drawing, "sketch", MAX_SKETCH_PIXELS)
    elif isinstance(drawing, torch.Tensor):
        drawing = drawing.detach().cpu().numpy()
    if isinstance(drawing, np.ndarray):
        array = drawing.squeeze()
        if array.ndim != 2:
            raise ValueError(f"a sketch array must be one grayscale image (H, W); got shape {drawing.shape}")
        _check_size(array.shape[::-1], "the sketch array")
        if array.dtype != np.uint8:
            array = (np.clip(np.nan_to_num(array), 0, 1) * 255).astype(np.uint8)
        drawing = Image.fromarray(array)
    elif isinstance(drawing, Image.Image):
        _check_size(drawing.size, "the sketch image")
    if not isinstance(drawing, Image.Image):
        raise ValueError(f"sketch must be a PIL image, a path, or an array; got {type(drawing).__name__}")
    if drawing.mode in ("RGBA", "LA") or (drawing.mode == "P" and "transparency" in drawing.info):
        rgba = drawing.convert("RGBA")
        if rgba.getchannel("A").getextrema()[0] < 255:
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            drawing = Image.alpha_composite(white, rgba)
    return drawing.convert("L")


def normalise_sketch(
    drawing: Image.Image | str | Path | np.ndarray | torch.Tensor,
    resolution: int,
    margin: float = DEFAULT_SKETCH_MARGIN,
) -> torch.Tensor:
    """Any drawing → (1, 1, R, R) in [0, 1], 1 = stroke, in the form training sketches have.

    Black-on-white and white-on-black both work (the background is the border's median); the
    strokes are cropped to their bounding box, scaled so the longer side fills the canvas less
    `margin` on each side, centred, thinned to centre lines and re-thickened to the stroke width
    of training sketches.
    """
    gray = np.asarray(load_drawing(drawing), dtype=np.float32) / 255.0  # (H, W)
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    background = float(np.median(border))
    ink = np.abs(gray - background)
    if ink.max() < 0.1:
        raise ValueError("the sketch is blank: draw a few strokes (dark on light or light on dark)")
    strokes = ink > STROKE_THRESHOLD * ink.max()  # (H, W) bool
    ys, xs = np.nonzero(strokes)
    crop = strokes[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    big = resolution * UPSCALE
    inner = max(1, round(big * (1 - 2 * margin)))
    height, width = crop.shape
    factor = inner / max(height, width)
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    image = Image.fromarray(crop.astype(np.uint8) * 255)
    # keep strokes at least ~1 px at the large canvas before shrinking
    grow = int(math.ceil(1 / factor)) | 1
    if grow > 1:
        image = image.filter(ImageFilter.MaxFilter(min(grow, 9)))
    image = image.resize(size, Image.BOX)
    strokes = _thin(np.asarray(image, np.uint8) > 63)
    canvas = Image.new("L", (big, big), 0)
    canvas.paste(
        Image.fromarray(strokes.astype(np.uint8) * 255), ((big - size[0]) // 2, (big - size[1]) // 2)
    )
    # re-thicken the centre lines to the stroke width of training sketches (~2 px at the model size)
    canvas = ImageOps.autocontrast(canvas.filter(ImageFilter.MaxFilter(5)))
    x = torch.from_numpy(np.asarray(canvas, np.float32) / 255.0)[None, None]  # (1, 1, 4R, 4R)
    return (F.avg_pool2d(x, UPSCALE) * 2).clamp(0, 1)


def _thin(strokes: np.ndarray) -> np.ndarray:
    """One-pixel centre lines of strokes (bool, H, W) by Zhang-Suen thinning (Zhang & Suen 1984),
    so a marker drawing and a pencil drawing give the same sketch once re-thickened."""
    x = np.pad(strokes.astype(np.uint8), 1)
    while True:
        changed = False
        for first in (True, False):
            # neighbours clockwise from north: P2..P9
            n = [
                x[:-2, 1:-1], x[:-2, 2:], x[1:-1, 2:], x[2:, 2:],
                x[2:, 1:-1], x[2:, :-2], x[1:-1, :-2], x[:-2, :-2],
            ]  # fmt: skip
            count = sum(v.astype(np.int32) for v in n)
            transitions = sum(((n[i] == 0) & (n[(i + 1) % 8] == 1)).astype(np.int32) for i in range(8))
            p2, p4, p6, p8 = n[0], n[2], n[4], n[6]
            if first:
                side = (p2 * p4 * p6 == 0) & (p4 * p6 * p8 == 0)
            else:
                side = (p2 * p4 * p8 == 0) & (p2 * p6 * p8 == 0)
            remove = (x[1:-1, 1:-1] == 1) & (count >= 2) & (count <= 6) & (transitions == 1) & side
            if remove.any():
                x[1:-1, 1:-1][remove] = 0
                changed = True
        if not changed:
            return x[1:-1, 1:-1] > 0


class SketchEncoder(nn.Module):
    """Sketch (B, 1, R, R) + presence mask → per-resolution (gamma, beta) maps that modulate G's
    features, SPADE-style (Park et al. 2019): x * (1 + gamma) + beta. The output convs start at
    zero, so an untrained encoder leaves G unchanged."""

    def __init__(self, widths: dict[int, int], hidden: int = 32, outputs: list[int] | None = None) -> None:
        """`widths`: channels at each resolution from the sketch's own down to 4; `outputs`: the
        resolutions that get maps (default all)."""
        super().__init__()
        self.resolutions = sorted(widths, reverse=True)
        self.stem = nn.Conv2d(2, hidden, 3, padding=1)
        self.down = nn.ModuleList(nn.Conv2d(hidden, hidden, 3, padding=1) for _ in self.resolutions[1:])
        self.out = nn.ModuleDict()
        for r in outputs if outputs is not None else self.resolutions:
            conv = nn.Conv2d(hidden, 2 * widths[r], 3, padding=1)
            nn.init.zeros_(conv.weight)
            nn.init.zeros_(conv.bias)
            self.out[str(r)] = conv

    def forward(
        self, sketch: torch.Tensor, mask: torch.Tensor
    ) -> dict[int, tuple[torch.Tensor, torch.Tensor]]:
        m = mask.to(sketch.dtype)[:, None, None, None].expand_as(sketch)  # (B, 1, R, R)
        h = F.leaky_relu(self.stem(torch.cat([sketch * m, m], dim=1)), 0.2)  # (B, hidden, R, R)
        maps = {}
        for i, r in enumerate(self.resolutions):
            if i > 0:
                h = F.leaky_relu(self.down[i - 1](F.avg_pool2d(h, 2)), 0.2)  # (B, hidden, r, r)
            if str(r) in self.out:
                gamma, beta = self.out[str(r)](h).chunk(2, dim=1)  # (B, C_r, r, r) each
                maps[r] = (gamma, beta)
        return maps
