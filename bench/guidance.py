"""Condition guidance on fashion-mnist: what scaling the conditions' step in w buys and costs.

    python -m bench.guidance --model fashion-mnist --guidance 1 --guidance 1.5 --guidance 2

For each model and guidance value: images by label only (n, labels drawn like the test split)
scored against the 10k test images (FD, class accuracy, variety within a class), and, for
text-conditioned models, the held-out prompts of bench/text.py (100 images each, prompt only).
The table goes into BENCHMARKS.md (section `guidance`).
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import shlex
import sys

import torch

from bench.report import ROOT, write_section
from bench.text import held_out_accuracy
from ganstudio.metrics import evaluate
from ganstudio.metrics.classifier import load_reference_classifier
from ganstudio.pipeline import GenerationPipeline


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--model", action="append", required=True, help="fashion-mnist model (bundled name or folder)"
    )
    parser.add_argument("--guidance", action="append", type=float, required=True)
    parser.add_argument("-n", type=int, default=5000, help="label-only images per guidance value")
    parser.add_argument("--section", default="guidance")
    args = parser.parse_args()
    classifier = load_reference_classifier("fashion-mnist-classifier")
    rows = []
    for model in args.model:
        pipe = GenerationPipeline.from_pretrained(model)
        for guidance in args.guidance:
            scores = evaluate(
                model, "fashion-mnist:test", ["fd", "class_acc", "variety"], args.n, guidance=guidance
            )
            row = {"model": pipe.model_id, "guidance": guidance, **scores}
            if pipe.spec.has_text:
                # the generator's own text pathway: no label from the label prior
                per_prompt = held_out_accuracy(pipe, classifier, 100, guidance, infer_label=False)
                row["held_out_acc"] = sum(per_prompt.values()) / len(per_prompt)
            print(json.dumps(row), flush=True)
            rows.append(row)
    lines = [
        f"Label only: {args.n} images, labels drawn like the test split, against the 10k test images "
        "(reference classifier). Held-out prompts: the 20 paraphrases of the `text` section, 100 images "
        "each, prompt only and no label prior (`infer_label=False`). Guidance 1 is the plain model.",
        f"Machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads; torch "
        f"{torch.__version__}; {datetime.date.today()}; command `python -m bench.guidance {shlex.join(sys.argv[1:])}`.",
        "",
        "| model | guidance | class acc ↑ | variety ↑ | FD ↓ | held-out prompt acc ↑ | worst class |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        worst = min(r["class_acc_per_class"].items(), key=lambda kv: kv[1])
        held = f"{r['held_out_acc']:.1%}" if "held_out_acc" in r else "—"
        lines.append(
            f"| {r['model']} | {r['guidance']:g} | {r['class_acc']:.1%} | {r['variety']:.2f} | {r['fd']:.1f} | "
            f"{held} | {worst[0]} {worst[1]:.0%} |"
        )
    write_section(ROOT / "BENCHMARKS.md", args.section, "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
