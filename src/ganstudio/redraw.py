"""Redraw part of an image, the GAN way: keep what the mask leaves alone, draw the masked part anew
under the user's conditions (prompt, class, sketch, attributes), and blend at the seam.

    editor = Editor(GenerationPipeline.from_pretrained("fashion-mnist"))
    result = redraw(editor, "shirt.png", "sleeves-mask.png", prompt="a long-sleeved top", n=4)
    result.save("out/redraw")

A GAN has no denoiser to fill a hole, so the hole is filled by search: for each output, several
latents are drawn under the new conditions, the one whose image already agrees best with the
kept part is chosen, and z is then optimised so that the image matches the kept part (a masked,
multi-scale pixel distance; the masked part is free and follows the conditions, because z only
moves inside the conditional model). Last, the kept part is pasted back exactly and the redrawn
part enters through a feathered mask, so nothing outside the mask's feather changes.
The mask is white (or opaque, for a transparent PNG painted with a brush) where to redraw.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.nn import functional as F

from ganstudio.imaging import open_image, to_pil
from ganstudio.results import GenerationResult

MAX_CANDIDATES = 16
MAX_STEPS = 500


def prepare_mask(mask: Image.Image | str | Path | np.ndarray | torch.Tensor, resolution: int) -> torch.Tensor:
    """Any mask → (1, 1, R, R) in [0, 1], 1 where to redraw. A PIL image with transparency is read
    by its alpha (a brush stroke on a clear layer); otherwise by brightness (white = redraw). The
    mask is squeezed to a square the way images are, by area, so a thin stroke stays partly set."""
    if isinstance(mask, str | Path):
        mask = open_image(mask, "mask")
    if isinstance(mask, np.ndarray):
        mask = Image.fromarray(mask)
    if isinstance(mask, Image.Image):
        has_alpha = mask.mode in ("RGBA", "LA") or (mask.mode == "P" and "transparency" in mask.info)
        grey = mask.convert("RGBA").getchannel("A") if has_alpha else mask.convert("L")
        if has_alpha and grey.getextrema() == (255, 255):  # opaque all over: read the brightness
            grey = mask.convert("L")
        grey = grey.resize((resolution, resolution), Image.BOX)
        m = torch.from_numpy(np.array(grey, dtype=np.float32) / 255)[None, None]
    else:
        m = mask.float().reshape(1, 1, *mask.shape[-2:])
        m = F.interpolate(m, size=(resolution, resolution), mode="area") if m.shape[-1] != resolution else m
    m = m.clamp(0, 1)
    if float(m.max()) < 0.5:
        raise ValueError("the mask marks nothing to redraw: paint the part to redraw white (or opaque)")
    return m


def feathered(mask: torch.Tensor, feather: float) -> torch.Tensor:
    """The blend weight of the redrawn image: 1 inside the mask, fading to 0 over about
    2·feather pixels outside it (a Gaussian of the mask, never below the mask itself)."""
    if feather <= 0:
        return mask
    radius = max(1, round(2 * feather))
    t = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (t / feather) ** 2)
    k = k / k.sum()
    blurred = F.conv2d(F.pad(mask, (radius,) * 4, mode="replicate"), k.view(1, 1, 1, -1))
    blurred = F.conv2d(blurred, k.view(1, 1, -1, 1))
    return torch.maximum(mask, (blurred * 2).clamp(max=1))  # ×2: the edge itself fully redrawn


def kept_distance(images: torch.Tensor, target: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """Per-image (B,) L1 over the kept region at full, half and quarter size."""
    total = images.new_zeros(len(images))
    for _ in range(3):
        weight = keep.sum(dim=(1, 2, 3)).clamp(min=1e-6) * images.shape[1]
        total = total + ((images - target).abs() * keep).sum(dim=(1, 2, 3)) / weight
        images, target, keep = F.avg_pool2d(images, 2), F.avg_pool2d(target, 2), F.avg_pool2d(keep, 2)
    return total


def redraw(
    editor: Any,
    image: Image.Image | str | Path | np.ndarray | torch.Tensor,
    mask: Image.Image | str | Path | np.ndarray | torch.Tensor,
    *,
    label: int | str | None = None,
    prompt: str | None = None,
    sketch: Any = None,
    attributes: dict[str, float] | None = None,
    n: int = 4,
    seed: int = 0,
    strength: float = 0.5,
    candidates: int = 16,
    steps: int = 120,
    lr: float = 0.05,
    feather: float = 1.0,
) -> GenerationResult:
    """`n` versions of `image` with the masked part redrawn under the given conditions (an
    Editor's pipeline draws them); each record holds the operation, the conditions, the seed and
    the share of the image that was redrawn. `strength` says what wins where the two disagree:
    0 = the redrawn part blends into the kept part, 1 = it follows the conditions (it sets how far
    z may move from the drawing chosen for the conditions: a leash of 10^(3·strength − 1)).
    Marks are applied as for every output."""
    if not 1 <= n <= 64:
        raise ValueError(f"n={n}: redraw 1 to 64 versions at a time")
    if not 1 <= candidates <= MAX_CANDIDATES:
        raise ValueError(f"candidates={candidates} must be between 1 and {MAX_CANDIDATES}")
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength={strength} must be between 0 (blend in) and 1 (follow the conditions)")
    if not 0 <= steps <= MAX_STEPS:
        raise ValueError(f"steps={steps} must be between 0 and {MAX_STEPS}")
    pipe, G = editor.pipe, editor.G
    target = editor.prepare(image).to(pipe.device)  # (1, C, R, R) in [-1, 1], the model's way round
    flipped = bool(getattr(editor, "flipped", False))  # dark on light for a light-on-dark model
    m = prepare_mask(mask, target.shape[-1]).to(pipe.device)
    keep = 1 - m
    if target.shape[1] == 4:  # a drawing's transparent part is kept as clear, not as white
        keep = keep.expand(-1, 4, -1, -1)
    cond = pipe.make_cond(n * candidates, label, attributes, prompt, sketch)
    z = torch.cat(
        [
            torch.randn(candidates, G.z_dim, generator=torch.Generator().manual_seed(seed + i))
            for i in range(n)
        ]
    ).to(pipe.device)
    G.requires_grad_(False)
    with torch.no_grad():  # the best-agreeing of each output's candidates
        drawn = G.synthesize(pipe.map(z, cond), cond).float()
        scores = kept_distance(drawn, target.expand_as(drawn), keep.expand_as(drawn)).view(n, candidates)
        best = scores.argmin(1) + torch.arange(n, device=scores.device) * candidates
    z0, cond = z[best], cond.select(best)
    z = z0.clone().requires_grad_(True)
    opt = torch.optim.Adam([z], lr=lr)
    goal, weight = target.expand(n, -1, -1, -1), keep.expand(n, -1, -1, -1)
    for _ in range(steps):
        out = G.synthesize(pipe.map(z, cond), cond).float()
        prior = (z.square().mean(dim=1) - 1).square()  # stay where z ~ N(0, I) lives
        leash = (z - z0).square().mean(dim=1)  # … and near the drawing chosen for the conditions
        loss = (kept_distance(out, goal, weight) + 0.01 * prior + 10 ** (3 * strength - 1) * leash).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    with torch.no_grad():
        out = G.synthesize(pipe.map(z, cond), cond).float().clamp(-1, 1).cpu()
        blend = feathered(m.cpu(), feather)
        images = blend * out + (1 - blend) * target.cpu()
        images = -images if flipped else images  # given back the way round it came
        fit = kept_distance(out, goal.cpu(), weight.cpu())
        if pipe.watermark is not None:  # marked last, like every output
            images = pipe.watermark.embed(images)
    names = pipe.class_names
    records = []
    for i in range(n):
        chosen = cond.select(slice(i, i + 1))
        drawn_label = names[int(chosen.labels[0])] if names and bool(chosen.label_mask[0]) else None
        extra = {"prompt": prompt} if prompt is not None else {}
        extra |= {"attributes": attributes} if attributes else {}
        records.append(
            pipe.record(seed=seed + i, label=drawn_label, **extra)
            | {
                "operation": "redraw",
                "strength": strength,
                "source": {"redrawn_from": Path(image).name if isinstance(image, str | Path) else "image"},
                "redrawn_share": round(float(m.mean()), 3),
                "kept_distance": round(float(fit[i]), 4),
            }
        )
    return GenerationResult(to_pil(images), records, tensors=images)
