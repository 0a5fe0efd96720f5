"""The invisible watermark: a learned embed/extract pair (HiDDeN-style, Zhu et al. 2018) that
works at the 32–64 px sizes ganstudio draws, where classic DWT-DCT marks need ≥ 128 px.

The mark lives in luminance: the embedder looks at the image's luma at 32×32 and returns a
residual of fixed strength (RMS `strength` levels of 255); the residual is resized to the image,
squashed into each pixel's allowance (`bound`: at most `flat` levels where the image is flat, up
to `detail` where it has detail, so nothing shows on a plain background even enlarged) and added
equally to every channel, so grayscale images stay grayscale. The extractor reads luma resized to 32×32 and returns one score (a logit); the image is
marked when the score passes a threshold calibrated on real, unmarked images for a false-positive
rate of 0.1%. Both were trained together through simulated JPEG, resizing, cropping and colour
changes (`scripts/train_watermark.py`), so the mark survives what happens to images in the wild.

This is a zero-bit mark: it says "made by ganstudio", not which model or seed (the metadata and
the C2PA manifest say that). Its weights ship in this folder, so anyone can check a file — and
anyone who studies them could also forge or strip the mark; it is a provenance signal, not a lock.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.nn import functional as F

from ganstudio.imaging import on_background

SIZE = 32  # the mark is made and read at this resolution
DETAIL_SPREAD = 12.0  # a 3×3 spread of luma (levels of 255) that counts as full detail
# An image whose shorter side is at most this many pixels (a 32-px output halved, say) holds too
# little detail: unmarked ones score higher after being stretched back to SIZE, so they get a
# threshold of their own, calibrated on real images halved.
SMALL_SIDE = 20
LOSSY = ("JPEG", "MPO", "WEBP")  # formats whose compression erases a mark this small
WEIGHTS = Path(__file__).with_name("watermark.safetensors")
CALIBRATION = Path(__file__).with_name("watermark.json")
LUMA = (0.299, 0.587, 0.114)


def luma(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) in [0, 1] → (B, 1, H, W) luma (ITU-R BT.601, as JPEG and PIL's "L")."""
    if x.shape[1] == 1:
        return x
    weights = x.new_tensor(LUMA).view(1, 3, 1, 1)
    return (x[:, :3] * weights).sum(1, keepdim=True)  # 4 channels: the composed colour, not alpha


def resize(x: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
    """Bilinear resize with antialiasing when shrinking (as image editors do)."""
    size = (size, size) if isinstance(size, int) else size
    if tuple(x.shape[-2:]) == size:
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)


def _block(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.BatchNorm2d(cout), nn.GELU())


class Embedder(nn.Module):
    """Luma (B, 1, 32, 32) in [0, 1] → a residual (B, 1, 32, 32) with RMS exactly `strength`/255:
    a learned pattern plus an image-dependent part (which moves the mark away from pixels that
    would clip, such as a black background)."""

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        self.pattern = nn.Parameter(torch.randn(1, 1, SIZE, SIZE) * 0.1)
        self.net = nn.Sequential(
            _block(2, width), _block(width, width), _block(width, width), nn.Conv2d(width, 1, 3, 1, 1)
        )

    def forward(self, y: torch.Tensor, strength: float) -> torch.Tensor:
        pattern = self.pattern.expand(len(y), -1, -1, -1)
        r = self.net(torch.cat([y * 2 - 1, pattern], 1)) + pattern
        r = r - r.mean(dim=(2, 3), keepdim=True)
        return r * (strength / 255) / r.square().mean(dim=(2, 3), keepdim=True).add(1e-12).sqrt()


def allowance(y: torch.Tensor, flat: float, detail: float) -> torch.Tensor:
    """How far each pixel may move, in [0, 1] units, for luma y (B, 1, H, W): `flat` levels of 255
    where the image is flat (a black, white or coloured background shows any change enlarged),
    rising to `detail` levels where the 3×3 spread of luma reaches DETAIL_SPREAD. The least
    detail within 3×3 counts, so background pixels beside the drawing's edge stay flat (no halo)."""
    mean = F.avg_pool2d(y, 3, 1, 1, count_include_pad=False)
    spread = (F.avg_pool2d(y * y, 3, 1, 1, count_include_pad=False) - mean.square()).clamp(min=0).sqrt()
    busy = -F.max_pool2d(-(spread * (255 / DETAIL_SPREAD)).clamp(max=1), 3, 1, 1)
    return (flat + (detail - flat) * busy) / 255


def bound(r: torch.Tensor, y: torch.Tensor, flat: float, detail: float) -> torch.Tensor:
    """The residual r (B, 1, H, W) squashed softly into each pixel's allowance (`allowance`): the
    first mark normalised only the RMS, and its embedder learnt to pile the mark into one bright
    dot (64 levels) on black backgrounds, in plain sight at 8×."""
    limit = allowance(y, flat, detail)
    return limit * torch.tanh(r / limit)


class Extractor(nn.Module):
    """Luma (B, 1, 32, 32) in [0, 1] → one logit per image: is the mark there."""

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        self.net = nn.Sequential(
            _block(1, width),
            _block(width, width),
            _block(width, 2 * width, 2),
            _block(2 * width, 2 * width),
            _block(2 * width, 4 * width, 2),
            _block(4 * width, 4 * width),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(4 * width, 1),
        )

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        y = y - y.mean(dim=(2, 3), keepdim=True)  # brightness shifts do not move the score
        return self.net(y * 4).squeeze(1)


@dataclass
class Watermark:
    """The shipped embedder/extractor pair and its calibration."""

    embedder: Embedder
    extractor: Extractor
    strength: float  # RMS of the residual in levels of 255
    threshold: float  # score above which an image is called marked
    negatives: list[float]  # sorted scores of calibration images without the mark (for p-values)
    threshold_small: float | None = None  # the same for images no larger than SMALL_SIDE
    flat: float | None = None  # the most a pixel may move on a flat area, levels (None: unbounded)
    detail: float | None = None  # … and where the image has detail

    def threshold_for(self, width: int, height: int) -> float:
        small = min(width, height) <= SMALL_SIDE and self.threshold_small is not None
        return self.threshold_small if small else self.threshold

    @classmethod
    def load(cls, weights: Path = WEIGHTS, calibration: Path = CALIBRATION) -> Watermark:
        from safetensors.torch import load_file

        if not weights.is_file() or not calibration.is_file():
            raise FileNotFoundError(
                f"the watermark weights are missing ({weights}); reinstall ganstudio or run "
                "`python -m scripts.train_watermark`"
            )
        state = load_file(str(weights))
        meta = json.loads(calibration.read_text())
        embedder, extractor = Embedder(meta["width"]), Extractor(meta["width"])
        embedder.load_state_dict({k[9:]: v.float() for k, v in state.items() if k.startswith("embedder.")})
        extractor.load_state_dict({k[10:]: v.float() for k, v in state.items() if k.startswith("extractor.")})
        return cls(
            embedder.eval(),
            extractor.eval(),
            meta["strength"],
            meta["threshold"],
            meta["negatives"],
            meta.get("threshold_small"),
            meta.get("flat"),
            meta.get("detail"),
        )

    @torch.no_grad()
    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """Mark (B, C, H, W) images in [-1, 1] (C = 1 or 3, any size; with 4, the composed colour
        is marked where the drawing shows and alpha is untouched); returns the same shape."""
        x = (images.float().cpu() + 1) / 2
        y = resize(luma(x), SIZE)
        r = self.embedder(y, self.strength)
        if x.shape[-2:] != r.shape[-2:]:
            r = F.interpolate(r, size=x.shape[-2:], mode="bilinear", align_corners=False)
        if self.flat is not None and self.detail is not None:  # bounded where the eye would see it
            r = bound(r, luma(x), self.flat, self.detail)
        if x.shape[1] == 4:
            r = torch.cat([(r * x[:, 3:]).expand(-1, 3, -1, -1), torch.zeros_like(r)], 1)  # never in alpha
        marked = (x + r).clamp(0, 1) * 2 - 1
        return marked.to(images.device, images.dtype)

    @torch.no_grad()
    def scores(self, images: torch.Tensor) -> torch.Tensor:
        """Scores (B,) of images (B, C, H, W) in [0, 1]."""
        return self.extractor(resize(luma(images.float()), SIZE))

    def detect(self, image: Image.Image) -> dict[str, float | bool]:
        """{"detected", "score", "p_value"} for one PIL image: p_value is the share of unmarked
        calibration images that scored at least as high (0 when none did); detected compares the
        score with the threshold for the image's size. A small JPEG/WebP file (format read from
        the opened file) is never called marked: "unreadable" says why."""
        rgb = on_background(image).convert("RGB")  # a transparent file is read as it shows on white
        x = torch.from_numpy(np.asarray(rgb, dtype=np.float32) / 255).permute(2, 0, 1)
        score = float(self.scores(x[None])[0])
        beaten = len(self.negatives) - int(np.searchsorted(self.negatives, score, side="left"))
        out = {"detected": score > self.threshold_for(*image.size), "score": round(score, 3)}
        out["p_value"] = beaten / len(self.negatives)
        if min(image.size) <= SMALL_SIDE and (image.format or "").upper() in LOSSY:
            # a 16-px JPEG of a real photo scores like a marked one (BENCHMARKS.md): no claim
            out["detected"] = False
            out["unreadable"] = (
                f"too small (≤ {SMALL_SIDE} px) and lossily compressed for the watermark to be read"
            )
        return out

    def mark_image(self, image: Image.Image) -> Image.Image:
        """A marked copy of a PIL image (mode L or RGB)."""
        mode = "L" if image.mode == "L" else "RGB"
        pixels = torch.from_numpy(np.array(image.convert(mode), dtype=np.float32) / 127.5 - 1)
        x = pixels[None, None] if mode == "L" else pixels.permute(2, 0, 1)[None]
        out = ((self.embed(x)[0] + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
        return Image.fromarray(out[0].numpy() if mode == "L" else out.permute(1, 2, 0).numpy(), mode)


@cache
def shipped() -> Watermark:
    """The watermark that ships with ganstudio (loaded once)."""
    return Watermark.load()


def shipped_watermark() -> Watermark | None:
    """The shipped watermark, or None (with a warning) when its weights are missing."""
    try:
        return shipped()
    except FileNotFoundError as error:
        import warnings

        warnings.warn(f"images will not be watermarked: {error}", stacklevel=2)
        return None
