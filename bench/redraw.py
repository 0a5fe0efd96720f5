"""Redrawing part of an image, measured on the bundled fashion-mnist model with its reference
classifier (an evaluation network: nothing here trains or tunes on it).

    python -m bench.redraw [-n 40]          # ≈ 8 CPU-minutes at -n 40

Sources: held-out fashion-mnist test images (7000 on: never training data, never the watermark's
calibration). Each gets three masks — the top half, the bottom 40%, the sides (the sleeves of a
top) — and is redrawn as a *related* class (a top as another top, a shoe as another shoe), n=1,
at strength 0.5 (the default) and 1.0. Measured:

- kept part: PSNR of the delivered (marked) image against the source over the pixels beyond the
  seam's feather (what the user asked to keep; the watermark is the only change there);
- follows the condition: the share the classifier names as the asked class, beside the share of
  the untouched sources it already names so (the floor) and a naive paste (the first candidate
  drawn for the class pasted into the mask, no search, no optimisation, no feather);
- the seam: mean absolute step between the neighbouring pixels that straddle the mask's edge,
  divided by the same step in the source image (1 = as smooth as the image's own content there),
  for redraw and for the naive paste;
- seconds per image.
"""

from __future__ import annotations

import argparse
import datetime
import shlex
import sys
import time

import torch

from bench.report import ROOT, machine_line, write_section
from ganstudio.config import DataConfig
from ganstudio.data.builtin import fashion_mnist
from ganstudio.editing import Editor
from ganstudio.imaging import psnr
from ganstudio.metrics.classifier import load_reference_classifier
from ganstudio.metrics.reference import features
from ganstudio.pipeline import GenerationPipeline
from ganstudio.redraw import feathered, redraw

RELATED = {  # class → the class it is redrawn as
    "t-shirt/top": "shirt", "shirt": "t-shirt/top", "pullover": "coat", "coat": "pullover",
    "dress": "t-shirt/top", "sandal": "sneaker", "sneaker": "ankle boot", "ankle boot": "sneaker",
    "trouser": "dress", "bag": "bag",
}  # fmt: skip


def masks(size: int = 32) -> dict[str, torch.Tensor]:
    top, bottom, sides = (torch.zeros(1, 1, size, size) for _ in range(3))
    top[..., : size // 2, :] = 1
    bottom[..., int(size * 0.6) :, :] = 1
    sides[..., : size * 9 // 32] = 1
    sides[..., size - size * 9 // 32 :] = 1
    return {"top half": top, "bottom 40%": bottom, "sides": sides}


def seam_step(images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean |step| between horizontally and vertically neighbouring pixels on either side of the
    mask's edge, per image (B,)."""
    m = mask[0, 0] > 0.5
    total, count = torch.zeros(len(images)), 0
    for dim in (2, 3):
        a, b = images.narrow(dim, 0, images.shape[dim] - 1), images.narrow(dim, 1, images.shape[dim] - 1)
        edge = m.narrow(dim - 2, 0, m.shape[dim - 2] - 1) != m.narrow(dim - 2, 1, m.shape[dim - 2] - 1)
        total += ((a - b).abs().mean(1)[:, edge]).sum(1)
        count += int(edge.sum())
    return total / max(count, 1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=40, help="source images per mask")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    pipe = GenerationPipeline.from_pretrained("fashion-mnist")
    editor = Editor(pipe)
    classifier = load_reference_classifier("fashion-mnist-classifier")
    names = pipe.class_names
    test = fashion_mnist(DataConfig(), "test")
    sources = test.images[7000 : 7000 + args.n]
    asked = [RELATED[names[int(c)]] for c in test.labels[7000 : 7000 + args.n]]
    targets = torch.cat([editor.prepare(s.float() / 127.5 - 1) for s in sources])  # (N, 1, 32, 32)

    def named(images: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return features(classifier, images)[1].argmax(1)

    asked_index = torch.tensor([names.index(a) for a in asked])
    floor = (named(targets) == asked_index).float().mean().item()
    rows = []
    for mask_name, mask in masks().items():
        blend = feathered(mask, 1.0)
        kept = blend[0, 0] == 0
        naive = []  # the first candidate for the asked class, pasted with no search and no feather
        for i in range(args.n):
            cond = pipe.make_cond(1, asked[i])
            z = torch.randn(1, pipe.G.z_dim, generator=torch.Generator().manual_seed(i))
            with torch.no_grad():
                drawn = pipe.G.synthesize(pipe.map(z, cond), cond).float().clamp(-1, 1)
            naive.append(mask * drawn + (1 - mask) * targets[i : i + 1])
        naive = torch.cat(naive)
        rows.append(
            (mask_name, "naive paste", float("nan"), (named(naive) == asked_index).float().mean().item(),
             (seam_step(naive, mask) / seam_step(targets, mask).clamp(min=1e-3)).median().item(), 0.0)
        )  # fmt: skip
        for strength in (0.5, 1.0):
            outs, start = [], time.perf_counter()
            for i in range(args.n):
                result = redraw(
                    editor, targets[i : i + 1], mask, label=asked[i], n=1, seed=i, strength=strength
                )
                outs.append(result.tensors)  # as delivered: marked
            seconds = (time.perf_counter() - start) / args.n
            outs = torch.cat(outs)
            kept_psnr = psnr(outs[..., kept][..., None], targets[..., kept][..., None]).mean().item()
            follows = (named(outs) == asked_index).float().mean().item()
            seam = (seam_step(outs, mask) / seam_step(targets, mask).clamp(min=1e-3)).median().item()
            rows.append((mask_name, f"redraw, strength {strength}", kept_psnr, follows, seam, seconds))
            print(rows[-1], flush=True)

    lines = [
        f"`python -m bench.redraw {shlex.join(sys.argv[1:])}` — {datetime.date.today()}. {machine_line()}",
        "",
        f"{args.n} held-out fashion-mnist test images (7000 on) per mask, each redrawn as a related class "
        f"(a top as another top, a shoe as another shoe). The classifier already names {floor:.1%} of the "
        "untouched sources as the asked class (the floor).",
        "",
        "| mask | method | kept part PSNR (dB, marked) | named as the asked class | seam step ÷ the image's own | s / image |",
        "|---|---|---|---|---|---|",
    ]
    for mask_name, method, kept_psnr, follows, seam, seconds in rows:
        shown = "—" if kept_psnr != kept_psnr else f"{kept_psnr:.1f}"
        lines.append(f"| {mask_name} | {method} | {shown} | {follows:.1%} | {seam:.2f} | {seconds:.2f} |")
    body = "\n".join(lines)
    print(body)
    if not args.no_write:
        write_section(ROOT / "BENCHMARKS.md", "redraw", body)


if __name__ == "__main__":
    main()
