"""Build a bundled model (fashion-mnist or emoji) from a finished training run, reproducibly.

The DCGAN recipe with a spectral-norm D (2026-12-01; BENCHMARKS.md, "Why training collapsed"):

    ganstudio train --data fashion-mnist --preset cpu-32 --sketch --kimg 600 --out runs/fashion-sn \
        --eval-every 100 --set train.cond_drop=0.15 --set train.text_drop=0.4 --set train.sketch_drop=0.5 \
        --set train.prior_kimg=200 --set train.diversity=0 --set model.d_norm=spectral \
        --set model.d_projection=true
    python -m scripts.build_bundled_model runs/fashion-sn/checkpoint --name fashion-mnist

    # emoji, 2026-12-07: the colour corpus, a 16-px text GAN and a 16 → 64 GAN upsampler joined
    # into one 64-px generator with transparency (models/cascade.py)
    ganstudio train --data emoji --preset emoji-16 --minutes 85 --out runs/emoji16
    ganstudio train-upscaler --low 16 --out runs/up16 --batch 32 --l1-steps 3000 --gan-steps 1500 \
        --noise 0.08    # the bundled one was stopped at step 3250 (22 CPU-minutes) for time
    python -m scripts.build_bundled_model runs/emoji16/checkpoint --upsampler runs/up16 --name emoji -n 2000
    ganstudio detector --model src/ganstudio/pretrained/emoji

Both bundled models are their run's final checkpoint (name `run/checkpoint`: a run folder alone
resolves to `run/best`). Exports G_ema in fp16 into src/ganstudio/pretrained/NAME, scores it
(fashion-mnist: 10k images against the test split with the reference classifier; emoji: against
every 10th emoji), writes the scores into its model card and the sample grids into docs/.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from bench.report import GRID_PROMPTS, ROOT
from ganstudio import modelfolder
from ganstudio.conditioning import coverage
from ganstudio.metrics import attribute_control, evaluate
from ganstudio.pipeline import GenerationPipeline
from ganstudio.provenance import nearcopy

DOCS = ROOT / "docs"
REFERENCE = {
    "fashion-mnist": "the 10k held-out test images, reference classifier",
    "emoji": "every 10th drawing of the colour corpus's training split (emoji:test)",
}
EMOJI_NOTES = [
    "Training data and attribution: eight emoji sets of the iconify project — Noto Emoji (Google, "
    "Apache-2.0), Twemoji (Twitter, CC BY 4.0), OpenMoji (HfG Schwäbisch Gmünd, CC BY-SA 4.0), Fluent "
    "Emoji flat and 3D (Microsoft, MIT), Emoji One (CC BY 4.0), Firefox OS Emoji (Mozilla, Apache-2.0), "
    "Streamline Emojis (CC BY 4.0). Noto Emoji v1 was held out (never trained on).",
    "Share-alike: OpenMoji's drawings are CC BY-SA 4.0. Whether a generated image is an adaptation of "
    "them is a legal question ganstudio cannot settle; where an output resembles an OpenMoji drawing "
    "(for example one asked for 'in openmoji style'), publish it under CC BY-SA 4.0 with the "
    'attribution "OpenMoji – the open-source emoji and icon project, CC BY-SA 4.0" to be safe. '
    "CC BY sets ask for attribution of the originals, not of new drawings.",
]


def fashion_extras(pipe: GenerationPipeline, scores: dict) -> list[str]:
    pipe.class_grid(8, seed=0).save_grid(DOCS / "fashion-mnist-class-grid.png", scale=3)
    pipe.class_grid(8, seed=0, truncation=0.7).save_grid(
        DOCS / "fashion-mnist-class-grid-truncation-0.7.png", scale=3
    )
    for attribute, values in (("brightness", (0.25, 0.75)), ("coverage", (0.25, 0.6))):
        for value in values:
            pipe.class_grid(8, seed=0, attributes={attribute: value}).save_grid(
                DOCS / f"fashion-mnist-{attribute}-{value}.png", scale=3
            )
    per_class = ", ".join(f"{k} {v:.0%}" for k, v in scores["class_acc_per_class"].items())
    return [f"Class accuracy per class (reference classifier): {per_class}."]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("run", help="finished training run folder (or one of its checkpoints)")
    parser.add_argument("--name", choices=sorted(GRID_PROMPTS), default="fashion-mnist")
    parser.add_argument("-n", type=int, default=10_000)
    parser.add_argument("--command", help="the training command, for the model card")
    parser.add_argument(
        "--upsampler", help="a 16 → 64 upsampler folder: bundle run + upsampler as one cascade"
    )
    args = parser.parse_args()
    target = ROOT / "src" / "ganstudio" / "pretrained" / args.name
    source, _ = modelfolder.resolve(args.run)
    with tempfile.TemporaryDirectory() as scratch:
        if args.upsampler:
            source = modelfolder.join_cascade(source, Path(args.upsampler), Path(scratch) / "cascade")
        modelfolder.export(source, target)
    nearcopy.build_for_folder(target)
    if not (target / modelfolder.COVERAGE_FILE).is_file():
        coverage.build_for_folder(target)
    metrics = None if args.name == "fashion-mnist" else ["swd", "variety"]
    scores = evaluate(args.name, f"{args.name}:test", metrics, n=args.n)
    keys = [k for k in ("fd", "kid", "precision", "recall", "class_acc", "variety", "swd") if k in scores]
    summary = ", ".join(f"{k} {scores[k]:.4g}" for k in keys)
    fields = {
        "metrics": f"({args.n} images vs {REFERENCE[args.name]}, guidance {scores['guidance']:g}): {summary}"
    }
    if args.command:
        fields["command"] = args.command
    pipe = GenerationPipeline.from_pretrained(args.name)
    if args.name == "fashion-mnist":
        fields["notes"] = fashion_extras(pipe, scores)
    if args.name == "emoji":
        fields["notes"] = EMOJI_NOTES
    if pipe.spec.has_text:
        pipe.prompt_grid(GRID_PROMPTS[args.name], 8, seed=0).save_grid(
            DOCS / f"{args.name}-prompts.png", scale=3
        )
    modelfolder.update_card(target, **fields)
    report = {"scores": scores}
    if pipe.spec.num_attributes and args.name == "fashion-mnist":
        report["attribute_control"] = attribute_control(args.name)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
