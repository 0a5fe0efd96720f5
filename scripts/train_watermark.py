"""Train the invisible watermark's embedder and extractor together, then calibrate the threshold.

    python -m scripts.train_watermark                 # ≈ 15 CPU-minutes
    python -m scripts.train_watermark --steps 200     # a smoke run (writes nothing unless --out)

Hosts: real images (fashion-mnist train, emoji outside its test split) and images drawn by the
bundled generators (seeds below 10⁶; benches use seeds above). Each step marks half the batch;
both halves go through the same random edits — JPEG at quality 50–95 (8×8 DCT with the JPEG luma
table, rounding passed straight through), resizing 0.5–2× and back, cropping 0–4 px per side,
brightness/contrast/saturation/gamma/hue changes, and chains of two — then the extractor learns to
tell them apart. The strength anneals from 8 to `--strength` levels RMS over the first third.

Calibration: fashion-mnist test images 0–4999 and emoji test images (never hosts), clean, after
JPEG 75 and 50, resized by 0.75/1.5/2× (bilinear and bicubic), cropped 1–4 px, colour-changed and
under random chains; the threshold is the highest of those sets' 99.95th percentiles (a
false-positive rate of at most 0.05% after each edit, half the 0.1% target). Halved images
(≤ SMALL_SIDE px, told apart by size when reading) get their own threshold the same way.
Writes src/ganstudio/provenance/watermark.{safetensors,json}.

    python -m scripts.train_watermark --resume --steps 1500 --lr 5e-4   # fine-tune the shipped pair
    python -m scripts.train_watermark --resume --steps 0                # calibrate it again
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch.nn import functional as F

from ganstudio.config import DataConfig
from ganstudio.data.builtin import emoji as emoji_set
from ganstudio.data.builtin import fashion_mnist
from ganstudio.provenance.watermark import (
    CALIBRATION,
    SIZE,
    SMALL_SIDE,
    WEIGHTS,
    Embedder,
    Extractor,
    bound,
    luma,
    resize,
)

JPEG_LUMA = torch.tensor(
    [
        [16, 11, 10, 16, 24, 40, 51, 61], [12, 12, 14, 19, 26, 58, 60, 55],
        [14, 13, 16, 24, 40, 57, 69, 56], [14, 17, 22, 29, 51, 87, 80, 62],
        [18, 22, 37, 56, 68, 109, 103, 77], [24, 35, 55, 64, 81, 104, 113, 92],
        [49, 64, 78, 87, 103, 121, 120, 101], [72, 92, 95, 98, 112, 100, 103, 99],
    ],
    dtype=torch.float32,
)  # fmt: skip


def dct_matrix(n: int = 8) -> torch.Tensor:
    k = torch.arange(n).float()
    m = torch.cos(math.pi * (2 * k[None] + 1) * k[:, None] / (2 * n)) * math.sqrt(2 / n)
    m[0] /= math.sqrt(2)
    return m


DCT = dct_matrix()


def ste_round(x: torch.Tensor) -> torch.Tensor:
    return x + (x.round() - x).detach()


def jpeg(x: torch.Tensor, quality: int) -> torch.Tensor:
    """JPEG's loss on luma (what the extractor reads): 8×8 DCT, quantise, inverse. x in [0, 1]."""
    scale = 5000 / quality if quality < 50 else 200 - 2 * quality
    table = ((JPEG_LUMA * scale + 50) // 100).clamp(min=1)
    y = luma(x)
    b, _, h, w = y.shape
    ph, pw = (-h) % 8, (-w) % 8
    yp = F.pad(y * 255 - 128, (0, pw, 0, ph), mode="replicate")
    H, W = yp.shape[-2:]
    blocks = yp.reshape(b, H // 8, 8, W // 8, 8).permute(0, 1, 3, 2, 4)
    coeff = DCT @ blocks @ DCT.T
    coeff = ste_round(coeff / table) * table
    back = (DCT.T @ coeff @ DCT).permute(0, 1, 3, 2, 4).reshape(b, 1, H, W)[..., :h, :w]
    return (x + ((back + 128) / 255 - y)).clamp(0, 1)


def colour(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    u = lambda lo, hi: lo + (hi - lo) * torch.rand(len(x), 1, 1, 1, generator=g)  # noqa: E731
    gray = luma(x)
    x = gray + (x - gray) * u(0.6, 1.5)  # saturation
    if x.shape[1] == 3:  # a small hue rotation: mix the channels
        a = float(u(-0.25, 0.25).mean())
        rot = torch.tensor(
            [
                [1 - abs(a), max(a, 0), max(-a, 0)],
                [max(-a, 0), 1 - abs(a), max(a, 0)],
                [max(a, 0), max(-a, 0), 1 - abs(a)],
            ]
        )
        x = torch.einsum("ij,bjhw->bihw", rot, x)
    if torch.rand((), generator=g) < 0.5:  # as photo tools do: around 0.5, brightness added
        x = (x - 0.5) * u(0.75, 1.3) + 0.5 + u(-0.1, 0.1)
    else:  # as Pillow's ImageEnhance does: contrast around the image's mean, brightness a gain
        mean = luma(x).mean((1, 2, 3), keepdim=True)
        x = ((x - mean) * u(0.75, 1.3) + mean) * u(0.8, 1.25)
    return quantise(x).clamp(1e-4, 1) ** u(0.75, 1.3)  # clipped to 8 bits, then gamma


def rescale(x: torch.Tensor, s: float, mode: str) -> torch.Tensor:
    """Resize by s as an editor does (antialiased when shrinking), then back to SIZE as the reader does."""
    side = max(8, round(SIZE * s))
    y = F.interpolate(x, size=(side, side), mode=mode, align_corners=False, antialias=side < SIZE)
    return resize(y.clamp(0, 1), SIZE)


def resize_edit(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    # a third of draws halve exactly (32 → 16 px, the hardest case), the rest span 0.5–2×
    s = 0.5 if torch.rand((), generator=g) < 1 / 3 else 2 ** (torch.rand((), generator=g).item() * 2 - 1)
    return rescale(x, s, ["bilinear", "bicubic"][int(torch.randint(2, (), generator=g))])


def crop_by(x: torch.Tensor, top: int, bottom: int, left: int, right: int) -> torch.Tensor:
    """Cut pixels off each side, then back to SIZE as the reader does."""
    return resize(x[..., top : SIZE - bottom, left : SIZE - right], SIZE)


def crop(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    return crop_by(x, *(int(v) for v in torch.randint(0, 5, (4,), generator=g)))


def quantise(x: torch.Tensor) -> torch.Tensor:
    return ste_round(x.clamp(0, 1) * 255) / 255


EDITS = {
    "none": lambda x, g: x,
    "jpeg": lambda x, g: jpeg(x, int(torch.randint(50, 96, (), generator=g))),
    "resize": resize_edit,
    "crop": crop,
    "colour": colour,
}


def random_edit(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    names = list(EDITS)
    chain = [
        names[int(torch.randint(len(names), (), generator=g))]
        for _ in range(int(torch.randint(1, 3, (), generator=g)))
    ]
    for name in chain:
        x = EDITS[name](quantise(x), g)
    return quantise(x)


def as_rgb(x: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) in [0, 1] with C = 1, 3 or 4 → RGB as it shows (a transparent drawing on white,
    as `Watermark.detect` reads it)."""
    if x.shape[1] == 4:
        return x[:, :3] * x[:, 3:] + (1 - x[:, 3:])
    return x.expand(-1, 3, -1, -1)


def as_rgba(x: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) in [0, 1] with C = 1, 3 or 4 → RGBA (opaque when it had no alpha)."""
    if x.shape[1] == 4:
        return x
    return torch.cat([x.expand(-1, 3, -1, -1), torch.ones_like(x[:, :1])], 1)


def generated_hosts(n: int, seed: int, alpha: bool = False) -> torch.Tensor:
    """n images from each bundled model, unmarked, as (N, 3, 32, 32) in [0, 1] (RGBA with `alpha`)."""
    from ganstudio.pipeline import GenerationPipeline

    out = []
    for name in ("fashion-mnist", "emoji"):
        pipe = GenerationPipeline.from_pretrained(name)
        pipe.watermark = None  # the hosts are unmarked
        x = torch.cat([(r.tensors.float() + 1) / 2 for r in pipe.stream(n, seed=seed)])
        out.append((as_rgba if alpha else as_rgb)(resize(x, SIZE)))
    return torch.cat(out)


def real_hosts(split: str, alpha: bool = False) -> torch.Tensor:
    fashion = fashion_mnist(DataConfig(), split).images
    emoji = emoji_set(DataConfig(), "train").images
    held = torch.arange(len(emoji)) % 10 == 0  # emoji's test split: every 10th image
    emoji = emoji[held] if split == "test" else emoji[~held]
    if split == "test":
        fashion = fashion[:5000]  # 5000–9999 are left for bench/watermark.py
    to01 = lambda t: (as_rgba if alpha else as_rgb)(resize(t.float().div(255), SIZE))  # noqa: E731
    return torch.cat([to01(fashion), to01(emoji)])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=6000)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--strength", type=float, default=2.8, help="residual RMS in levels of 255")
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--out", type=Path, default=None, help="folder to write to (default: the package)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--resume",
        action="store_true",
        help="fine-tune the shipped pair at --strength instead of starting afresh",
    )
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument(
        "--init", type=Path, help="with --resume: start from this folder's pair, not the shipped one"
    )
    parser.add_argument("--flat", type=float, default=2.0, help="most a flat-area pixel may move, levels")
    parser.add_argument("--detail", type=float, default=8.0, help="most a pixel in detail may move, levels")
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    g = torch.Generator().manual_seed(args.seed)

    hosts = (
        torch.cat([real_hosts("train", alpha=True), generated_hosts(4096, 0, alpha=True)])
        if args.steps
        else torch.zeros(1, 4, SIZE, SIZE)
    )
    # transparent drawings (the colour models') carry the mark only where they are drawn: the
    # hardest hosts, drawn as often as all the others together
    see_through = (hosts[:, 3] < 1).any(dim=(1, 2)).float()
    weights = see_through / see_through.sum().clamp(min=1) + (1 - see_through) / (
        1 - see_through
    ).sum().clamp(min=1)
    print(f"{len(hosts)} hosts", flush=True)
    embedder, extractor = Embedder(args.width), Extractor(args.width)
    if args.resume:
        shipped = load_file(str(args.init / WEIGHTS.name if args.init else WEIGHTS))
        for prefix, net in (("embedder.", embedder), ("extractor.", extractor)):
            net.load_state_dict(
                {k[len(prefix) :]: v.float() for k, v in shipped.items() if k.startswith(prefix)}
            )
    params = list(embedder.parameters()) + list(extractor.parameters())
    opt = torch.optim.Adam(params, lr=args.lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=args.lr, total_steps=max(args.steps, 1), pct_start=0.05
    )  # --resume --steps 0: calibrate the shipped pair again, no training
    start, half = time.time(), args.batch // 2
    for step in range(args.steps):
        t = step / args.steps
        strength = args.strength + (8 - args.strength) * max(0.0, 1 - 3 * t) * (not args.resume)
        x = hosts[torch.multinomial(weights, args.batch, replacement=True, generator=g)]
        if torch.rand((), generator=g) < 0.5:
            x = x.flip(3)
        rgb, alpha = x[:, :3], x[:, 3:]
        r = embedder(resize(luma(rgb[:half]), SIZE), strength)
        r = bound(r, luma(rgb[:half]), args.flat, args.detail) * alpha[:half]  # as `Watermark.embed` marks
        marked = (rgb[:half] + r).clamp(0, 1)
        # read as shown: a transparent drawing on white
        both = torch.cat([marked, rgb[half:]]) * alpha + (1 - alpha)
        groups = [random_edit(chunk, g) for chunk in both.chunk(4)]  # 4 edit draws per step
        logits = extractor(luma(torch.cat(groups)))
        target = torch.cat([torch.ones(half), torch.zeros(args.batch - half)])
        loss = F.binary_cross_entropy_with_logits(logits, target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step % 200 == 0 or step == args.steps - 1:
            acc = ((logits > 0).float() == target).float().mean()
            print(
                f"step {step} strength {strength:.2f} loss {loss.item():.4f} acc {acc:.3f} {time.time() - start:.0f}s",
                flush=True,
            )

    embedder.eval(), extractor.eval()
    full, small = calibrate(extractor, g)
    negatives = np.concatenate(full + small)
    # the target holds after *each* edit, so each set of scores gets its own 99.95th percentile
    # and the threshold is the highest of them (a pooled percentile lets one edit run high);
    # images halved to SMALL_SIDE or less are told apart by size at detection and get their own
    threshold = max(float(np.quantile(scores, 0.9995)) for scores in full)
    threshold_small = max(float(np.quantile(scores, 0.9995)) for scores in small)
    keep = np.quantile(negatives, np.linspace(0, 1, 2001)).round(4).tolist()
    out = args.out
    weights, calibration = (
        (WEIGHTS, CALIBRATION) if out is None else (out / WEIGHTS.name, out / CALIBRATION.name)
    )
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    state = {
        f"embedder.{k}": v.half() if v.is_floating_point() else v for k, v in embedder.state_dict().items()
    }
    state |= {
        f"extractor.{k}": v.half() if v.is_floating_point() else v for k, v in extractor.state_dict().items()
    }
    save_file({k: v.contiguous() for k, v in state.items()}, str(weights))
    meta = {
        "width": args.width,
        "strength": args.strength,
        "flat": args.flat,
        "detail": args.detail,
        "threshold": round(threshold, 4),
        "threshold_small": round(threshold_small, 4),
        "calibration": f"{len(negatives)} unmarked scores: fashion-mnist test 0-4999 and emoji test, clean, under each edit and under random chains; threshold at the highest of their 99.95th percentiles",
        # training steps in all: the shipped pair's own count plus this run's when resuming
        "steps": args.steps
        + (
            json.loads((args.init / CALIBRATION.name if args.init else CALIBRATION).read_text())["steps"]
            if args.resume
            else 0
        ),
        "negatives": keep,
    }
    calibration.write_text(json.dumps(meta) + "\n")
    print(
        f"threshold {threshold:.3f}, {threshold_small:.3f} at ≤ {SMALL_SIDE} px; wrote {weights} and {calibration}"
    )


@torch.no_grad()
def calibrate(extractor: Extractor, g: torch.Generator) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Scores of unmarked held-out real images, one array per edit (with the weights as they will
    be loaded: fp16-rounded): (edits that leave more than SMALL_SIDE px, halvings)."""
    for p in extractor.parameters():
        p.copy_(p.half().float())
    for b in extractor.buffers():
        if b.is_floating_point():
            b.copy_(b.half().float())
    x = real_hosts("test")
    fixed = [lambda x: x, lambda x: jpeg(x, 75), lambda x: jpeg(x, 50)]
    fixed += [lambda x, s=s, m=m: rescale(x, s, m) for s in (0.75, 1.5, 2) for m in ("bilinear", "bicubic")]
    fixed += [lambda x, c=c: crop_by(x, *c) for c in CROPS]
    random = [EDITS["colour"], EDITS["colour"], random_edit, random_edit, random_edit]
    score = lambda y: extractor(luma(quantise(y))).numpy()  # noqa: E731
    full = [score(edit(x)) for edit in fixed] + [score(edit(x, g)) for edit in random]
    small = [score(rescale(x, 0.5, m)) for m in ("bilinear", "bicubic")]
    small += [score(rescale(jpeg(x, 75), 0.5, m)) for m in ("bilinear", "bicubic")]
    return full, small


CROPS = [(1, 1, 1, 1), (2, 2, 2, 2), (3, 0, 4, 0), (0, 3, 0, 4)]  # "a few pixels": top, bottom, left, right


if __name__ == "__main__":
    main()
