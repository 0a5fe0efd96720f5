"""The 4× upscaler measured on drawings it never saw: the colour corpus's held-out style, its
64-px renders enlarged to 256 px by bicubic, Lanczos and each GAN upscaler given, against the
true 256-px renders of the same SVGs.

    python -m bench.upscale [--count 300] [--upscaler NAME=FOLDER ...] [--figure docs/upscale.png]

Per method: PSNR and SSIM of the colour composed on white (what a designer sees on a page),
PSNR of alpha, FD of the concept classifier's features (scripts/train_emoji_classifier.py; an
evaluation network no upscaler trains on) over the 16 tiles of 64 px that make each 256-px
image — the classifier reads 64-px drawings, so its features of full-resolution tiles see the
edges and fills an upscaler gets right or wrong — and time per image. Target (issue 35): FD
at least 30% lower than Lanczos with PSNR no more than 1 dB below it. Results go into
BENCHMARKS.md (section `upscale`).
"""

from __future__ import annotations

import argparse
import datetime
import shlex
import sys
import time

import numpy as np
import torch

from bench.report import ROOT, machine_line, write_section
from ganstudio.data import iconify
from ganstudio.imaging import make_grid, psnr, ssim, to_pil
from ganstudio.metrics.classifier import load_reference_classifier
from ganstudio.metrics.distances import frechet_distance
from ganstudio.metrics.reference import features
from ganstudio.upscaler import Upscaler, upscale


def tiles(images: torch.Tensor, side: int = 64) -> torch.Tensor:
    """(B, C, H, W) → (B·(H/side)·(W/side), C, side, side)."""
    b, c, h, w = images.shape
    x = images.unfold(2, side, side).unfold(3, side, side)  # (B, C, h, w, side, side)
    return x.permute(0, 2, 3, 1, 4, 5).reshape(-1, c, side, side)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument(
        "--upscaler", action="append", default=[], metavar="NAME=FOLDER", help="a GAN upscaler to measure"
    )
    parser.add_argument("--figure", default=str(ROOT / "docs" / "upscale.png"))
    parser.add_argument("--no-write", action="store_true", help="print, do not touch BENCHMARKS.md")
    args = parser.parse_args()
    icons, low_all = iconify.rendered(64)
    _, high_all = iconify.rendered(256, mmap=True)
    rows = [i for i, icon in enumerate(icons) if icon.set == iconify.HELDOUT_SET]
    rows = rows[:: max(1, len(rows) // args.count)][: args.count]
    low = iconify.composed(low_all[rows]).float() / 127.5 - 1  # (N, 4, 64, 64)
    high = iconify.composed(np.stack([np.asarray(high_all[i]) for i in rows])).float() / 127.5 - 1
    classifier = load_reference_classifier("emoji-concepts-classifier")

    def tile_features(images: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return features(classifier, tiles(images[:, :3]), batch=500)[0]

    truth = tile_features(high)
    methods: dict[str, object] = {"bicubic": None, "lanczos": None}
    for item in args.upscaler:
        name, _, folder = item.partition("=")
        methods[name] = Upscaler.load(folder)
    results, outputs = {}, {}
    for name, upscaler in methods.items():
        start = time.perf_counter()
        with torch.no_grad():
            out = torch.cat(
                [
                    upscale(low[i : i + 16], "gan" if upscaler else name, upscaler)
                    for i in range(0, len(low), 16)
                ]
            )
        seconds = (time.perf_counter() - start) / len(low)
        outputs[name] = out
        results[name] = {
            "psnr": psnr(out[:, :3], high[:, :3]).median().item(),
            "ssim": ssim(out[:, :3], high[:, :3]).mean().item(),
            "alpha_psnr": psnr(out[:, 3:], high[:, 3:]).median().item(),
            "fd": frechet_distance(tile_features(out), truth),
            "ms": seconds * 1000,
        }
        print(name, {k: round(v, 3) for k, v in results[name].items()}, flush=True)

    lanczos = results["lanczos"]
    lines = [
        f"`python -m bench.upscale {shlex.join(sys.argv[1:])}` — {datetime.date.today()}. {machine_line()}",
        "",
        f"{len(rows)} drawings of the held-out style ({iconify.HELDOUT_SET}, never trained on), 64 → 256 px, "
        "against the true 256-px renders. PSNR/SSIM: colour composed on white (median PSNR, mean SSIM); "
        "FD: concept-classifier features of the 16 tiles of 64 px of each image.",
        "",
        "| method | PSNR dB | SSIM | alpha PSNR dB | FD (tiles) | FD vs Lanczos | ms / image |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        change = f"{(r['fd'] / lanczos['fd'] - 1) * 100:+.0f}%"
        lines.append(
            f"| {name} | {r['psnr']:.2f} | {r['ssim']:.4f} | {r['alpha_psnr']:.2f} | {r['fd']:.2f} | "
            f"{change} | {r['ms']:.1f} |"
        )
    gan = [n for n in results if n not in ("bicubic", "lanczos")]
    if gan:
        best = min(gan, key=lambda n: results[n]["fd"])
        r = results[best]
        met = r["fd"] <= 0.7 * lanczos["fd"] and r["psnr"] >= lanczos["psnr"] - 1
        lines += [
            "",
            f"Target (FD ≥ 30% below Lanczos, PSNR ≥ Lanczos − 1 dB): **{'met' if met else 'missed'}** by "
            f"`{best}` (FD {r['fd']:.2f} vs {lanczos['fd']:.2f}, PSNR {r['psnr']:.2f} vs {lanczos['psnr']:.2f}).",
        ]
        figure(low, outputs["bicubic"], outputs[best], high, args.figure)
        lines.append(f"Figure: `{args.figure}` (columns: input, bicubic, {best}, truth).")
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section(ROOT / "BENCHMARKS.md", "upscale", text)


def figure(low, bicubic, gan, truth, path: str, count: int = 6) -> None:
    """Rows of held-out drawings on white, under a header naming the columns: the 64-px input
    (shown nearest-neighbour), bicubic, the GAN upscaler, the true 256-px render."""
    from PIL import Image, ImageDraw

    from ganstudio.imaging import visible

    pick = torch.linspace(0, len(low) - 1, count).long()
    nearest = torch.nn.functional.interpolate(low[pick], scale_factor=4, mode="nearest")
    cells = torch.stack([visible(x) for x in (nearest, bicubic[pick], gan[pick], truth[pick])], 1)
    grid = make_grid(to_pil(cells.reshape(-1, 3, 256, 256)), columns=4, padding=12)
    header = 28
    out = Image.new("RGB", (grid.width, grid.height + header), "white")
    out.paste(grid, (0, header))
    draw = ImageDraw.Draw(out)
    for i, name in enumerate(("input, 64 px", "bicubic", "ganstudio x4", "truth, 256 px")):
        draw.text((12 + i * (256 + 12) + 80, 8), name, fill="black")
    out.save(path)


if __name__ == "__main__":
    main()
