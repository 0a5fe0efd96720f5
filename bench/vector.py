"""SVG export measured: drawings traced (provenance/vector.py, as `--format svg` traces them) and
rendered back at their own size, against the raster they were traced from.

    python -m bench.vector [--count 300] [--model MODEL]

Default inputs: real drawings of the colour corpus's held-out style (64 px, with transparency),
a stand-in for what a good emoji model draws; with `--model`, that model's own images. Reports
PSNR of the composed-on-white images, alpha agreement, whether the concept classifier still names
the traced drawing as it named the raster (when its weights exist), file size and time per image.
Results go into BENCHMARKS.md (section `vector`).
"""

from __future__ import annotations

import argparse
import datetime
import io
import shlex
import sys
import time

import numpy as np
import torch
from PIL import Image

from bench.report import ROOT, machine_line, write_section
from ganstudio.imaging import on_background
from ganstudio.metrics.classifier import WEIGHTS_DIR, load_reference_classifier
from ganstudio.provenance import vector


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255**2 / max(mse, 1e-10)))


def main() -> None:
    import resvg_py

    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--model")
    args = parser.parse_args()
    if args.model:
        from ganstudio.pipeline import GenerationPipeline

        images = GenerationPipeline.from_pretrained(args.model)(n=args.count, seed=0).images
        what = f"{args.count} images of `{args.model}`"
    else:
        from ganstudio.data import iconify

        icons, rgba = iconify.rendered(64)
        rows = [i for i, icon in enumerate(icons) if icon.set == iconify.HELDOUT_SET][: args.count]
        images = [Image.fromarray(rgba[i].transpose(1, 2, 0), "RGBA") for i in rows]
        what = f"{len(images)} drawings of the held-out style ({iconify.HELDOUT_SET}), 64 px"
    classifier = None
    if (WEIGHTS_DIR / "emoji-concepts-classifier.json").is_file():
        classifier = load_reference_classifier("emoji-concepts-classifier")
    scores, alphas, sizes, seconds, agree = [], [], [], [], []
    for image in images:
        start = time.perf_counter()
        svg = vector.trace(image)
        seconds.append(time.perf_counter() - start)
        sizes.append(len(svg.encode()))
        png = bytes(resvg_py.svg_to_bytes(svg_string=svg, width=image.width, height=image.height))
        back = Image.open(io.BytesIO(png)).convert("RGBA")
        original = image.convert("RGBA")
        scores.append(psnr(np.asarray(on_background(back)), np.asarray(on_background(original))))
        alphas.append(
            float(((np.asarray(back)[..., 3] >= 128) == (np.asarray(original)[..., 3] >= 128)).mean())
        )
        if classifier is not None:
            pair = torch.stack(
                [
                    torch.from_numpy(np.asarray(on_background(im), np.float32)).permute(2, 0, 1) / 127.5 - 1
                    for im in (original, back)
                ]  # fmt: skip
            )
            with torch.no_grad():
                named = classifier(pair)[1].argmax(1)
            agree.append(bool(named[0] == named[1]))
    lines = [
        f"`python -m bench.vector {shlex.join(sys.argv[1:])}` — {datetime.date.today().isoformat()}. {machine_line()}.",
        "",
        f"Inputs: {what}; traced at {vector.TRACE_SCALE}× (vtracer, colour, splines), rendered back at the "
        "input's size (resvg).",
        "",
        "| measure | median | mean |",
        "|---|---|---|",
        f"| PSNR, composed on white (dB) | {np.median(scores):.1f} | {np.mean(scores):.1f} |",
        f"| alpha agreement (share of pixels opaque in both or clear in both) | {np.median(alphas):.3f} | {np.mean(alphas):.3f} |",
        f"| file size (kB) | {np.median(sizes) / 1000:.1f} | {np.mean(sizes) / 1000:.1f} |",
        f"| time to trace (ms) | {np.median(seconds) * 1000:.0f} | {np.mean(seconds) * 1000:.0f} |",
    ]
    if agree:
        lines.append(
            f"| concept classifier names the traced drawing as it named the raster | | {np.mean(agree):.1%} |"
        )
    write_section(ROOT / "BENCHMARKS.md", "vector", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
