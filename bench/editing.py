"""Editing on held-out real images: inversion quality and speed, smooth morphs, sliders that move
what they say, and the before/after figure in docs/.

    python -m bench.editing --model fashion-mnist -n 200

Inversion: n test images (never trained on) with their labels → PSNR, SSIM, FD of the
reconstructions against the test set (reference classifier features), seconds per image (the
encoder is fitted once per model beforehand and not counted). Morphs: path length (mean squared
pixel change per unit t) between pairs of reconstructions. Sliders: the measured attribute after
−2 / +2 standard deviations along its direction, and the class-slider's class accuracy.
"""

from __future__ import annotations

import argparse
import datetime
import shlex
import sys
import time

import torch

from bench.report import ROOT, machine_line, write_section
from ganstudio.data import attributes as measured
from ganstudio.editing import Editor
from ganstudio.imaging import make_grid, psnr, ssim, to_pil, to_uint8
from ganstudio.metrics import ReferenceData, features
from ganstudio.metrics.distances import frechet_distance
from ganstudio.pipeline import GenerationPipeline
from ganstudio.provenance import save_png
from ganstudio.results import save_animation


@torch.no_grad()
def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="fashion-mnist")
    parser.add_argument("-n", type=int, default=200)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--section", default="editing")
    args = parser.parse_args()
    pipe = GenerationPipeline.from_pretrained(args.model)
    editor = Editor(pipe)
    start = time.perf_counter()
    with torch.enable_grad():
        editor.load_or_train_encoder()
    encoder_s = time.perf_counter() - start
    reference = ReferenceData.for_model(pipe.dataset_info)
    pick = torch.randperm(len(reference.images), generator=torch.Generator().manual_seed(0))[: args.n]
    targets, labels = reference.images[pick], reference.labels[pick]
    latents = []
    start = time.perf_counter()
    with torch.enable_grad():
        for c in labels.unique().tolist():  # one batch per class: the label is part of the latent
            rows = (labels == c).nonzero().flatten().tolist()
            found = editor.invert_many([targets[i] for i in rows], label=int(c), steps=args.steps)
            latents += list(zip(rows, found, strict=True))
    seconds = (time.perf_counter() - start) / args.n
    latents = [latent for _, latent in sorted(latents, key=lambda item: item[0])]
    recon = editor.images(latents)
    real_features = reference.real_features()
    recon_features, recon_logits = features(reference.extractor, recon)
    random = pipe.generate(torch.randn(args.n, pipe.G.z_dim), pipe.make_cond(args.n, labels.tolist()))
    scores = {
        "psnr": psnr(recon, targets).mean().item(),
        "ssim": ssim(recon, targets).mean().item(),
        "psnr_random": psnr(random, targets).mean().item(),
        "fd": frechet_distance(real_features, recon_features),
        "class_acc": (recon_logits.argmax(1) == labels).float().mean().item(),
    }
    lengths = [
        float(editor.interpolate(latents[i], latents[i + 1], 8).notes[0].rsplit(" ", 1)[1])
        for i in range(0, min(40, args.n) - 1, 2)
    ]
    names = measured.attribute_names(recon.shape[1])
    moves = {}
    for name in ("brightness", "coverage"):
        i = names.index(name)
        lo = [
            measured.measure(to_uint8(editor.images([editor.edit(lt, name, -2.0)])))[0, i]
            for lt in latents[:20]
        ]
        hi = [
            measured.measure(to_uint8(editor.images([editor.edit(lt, name, 2.0)])))[0, i]
            for lt in latents[:20]
        ]
        moves[name] = (
            sum(lo) / len(lo),
            sum(hi) / len(hi),
            sum(h > low for low, h in zip(lo, hi, strict=True)) / len(lo),
        )
    boot = pipe.label_index("ankle boot") if "ankle boot" in pipe.class_names else 0
    towards = editor.images([editor.edit(lt, f"class:{pipe.class_names[boot]}", 1.0) for lt in latents[:50]])
    class_slider = (features(reference.extractor, towards)[1].argmax(1) == boot).float().mean().item()

    # the figure: a real image, its reconstruction, variations, a morph into another, sliders
    a, b = latents[0], latents[1]
    rows = [
        [targets[0], recon[0], *editor.vary(a, 0.5, 6).tensors],
        list(editor.interpolate(a, b, 8).tensors),
        list(editor.images([editor.edit(a, "brightness", s) for s in (-2, -1, 0, 1, 2)]))
        + list(editor.images([editor.edit(a, "coverage", s) for s in (-1, 2)]))
        + [targets[1]],
    ]
    images = to_pil(torch.stack([im for row in rows for im in row[:8]]))
    grid = make_grid(
        images,
        8,
        scale=3,
        row_labels=[
            "real, inverted, varied (0.5)",
            "morph into another",
            "darker … lighter, smaller, larger",
        ],
    )
    figure = ROOT / "docs" / f"{args.model}-editing.png"
    save_png(grid, figure, pipe.record(seed=0, label=None) | {"operation": "editing figure"})
    save_animation(editor.interpolate(a, b, 8), ROOT / "docs" / f"{args.model}-morph.webp")

    lines = [
        f"Model `{pipe.model_id}`, {args.n} held-out test images with their labels, {args.steps} inversion "
        f"steps; `python -m bench.editing {shlex.join(sys.argv[1:])}`; {machine_line()}; {datetime.date.today()}.",
        "",
        "| measure | value |",
        "|---|---|",
        f"| inversion PSNR (a random sample of the same class) | {scores['psnr']:.2f} dB ({scores['psnr_random']:.2f} dB) |",
        f"| inversion SSIM | {scores['ssim']:.3f} |",
        f"| FD of the reconstructions vs the test set / their class accuracy | {scores['fd']:.2f} / {scores['class_acc']:.1%} |",
        f"| seconds per image (batched per class; the encoder, fitted once per model and cached, took {encoder_s:.0f} s to fit or load) | {seconds:.2f} |",
        f"| morph path length, 8 frames (mean over {len(lengths)} pairs) | {sum(lengths) / len(lengths):.3f} |",
    ]
    for name, (lo, hi, share) in moves.items():
        lines.append(
            f"| {name} slider −2 / +2 σ (measured, 20 images; share moved the asked way) | {lo:.3f} / {hi:.3f} ({share:.0%}) |"
        )
    lines.append(
        f"| class slider towards {pipe.class_names[boot]} (strength 1, 50 images): classified as it | {class_slider:.0%} |"
    )
    lines += ["", f"Figure: `docs/{figure.name}`; morph animation: `docs/{args.model}-morph.webp`."]
    print("\n".join(lines))
    write_section(ROOT / "BENCHMARKS.md", args.section, "\n".join(lines))


if __name__ == "__main__":
    main()
