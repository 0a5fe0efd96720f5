"""Words that steer, measured on the bundled fashion-mnist model with its reference classifier
(an evaluation network: nothing here trains on it).

    python -m bench.words [--model fashion-mnist] [-n 200]

Negative prompts: for each (prompt, negative) pair, the share of images the classifier names as
the negative's class, without and with the negative, and the cost in variety (mean pairwise
distance of the classifier's features within the images); once with the label prior reading the
class from the words (the default) and once with the generator's text path alone
(`infer_label=False`), where only the push in w acts. A pair with a given class measures the push
in w on an attribute: "a dress" with "a dark dress" should draw brighter dresses. Results go
into BENCHMARKS.md (section `words`).
"""

from __future__ import annotations

import argparse
import datetime
import shlex
import sys

import torch

from bench.report import ROOT, machine_line, write_section
from ganstudio.metrics.classifier import load_reference_classifier
from ganstudio.metrics.reference import features
from ganstudio.pipeline import GenerationPipeline

NEGATIVES = [  # (prompt, negative, the class the negative names)
    ("a shoe", "sneaker", "sneaker"),
    ("footwear", "an ankle boot", "ankle boot"),
    ("a top", "a t-shirt", "t-shirt/top"),
    ("something to wear on the upper body", "a coat", "coat"),
    ("a warm top with long sleeves", "a pullover", "pullover"),
]


def variety(feats: torch.Tensor) -> float:
    return torch.pdist(feats).mean().item()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="fashion-mnist")
    parser.add_argument("-n", type=int, default=200)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    pipe = GenerationPipeline.from_pretrained(args.model)
    pipe.watermark = None  # the model's own pixels
    classifier = load_reference_classifier("fashion-mnist-classifier")
    names = pipe.class_names

    def measure(**options) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        result = pipe(n=args.n, seed=0, **options)
        with torch.no_grad():
            feats, logits = features(classifier, result.tensors)
        return result.tensors, feats, logits.argmax(1)

    lines = [
        f"`python -m bench.words {shlex.join(sys.argv[1:])}` — {datetime.date.today()}. {machine_line()}",
        "",
        f"Negative prompts on `{pipe.model_id}`: {args.n} images per cell (seeds 0…{args.n - 1}), the share "
        "the reference classifier names as the negative's class, and variety (mean pairwise distance of "
        "its features): without the negative / with it at strength 0.5 / 1.",
        "",
        "| prompt | negative | label prior | negative's class | variety |",
        "|---|---|---|---|---|",
    ]
    for prompt, negative, named in NEGATIVES:
        target = names.index(named)
        for infer in (True, False):
            rates, spreads = [], []
            for strength in (0.0, 0.5, 1.0):
                extra = dict(negative=negative, negative_strength=strength) if strength else {}
                _, feats, named_as = measure(prompt=prompt, infer_label=infer, **extra)
                rates.append(f"{(named_as == target).float().mean().item():.1%}")
                spreads.append(f"{variety(feats):.2f}")
            lines.append(
                f"| {prompt} | {negative} | {'on' if infer else 'off (text path only)'} | "
                f"{' / '.join(rates)} | {' / '.join(spreads)} |"
            )
            print(lines[-1], flush=True)
    # the push in w with the class fixed: brightness of "a dress" against "a dark dress"
    x0, _, c0 = measure(label="dress", prompt="a dress")
    x1, _, c1 = measure(label="dress", prompt="a dress", negative="a dark dress")
    b0, b1 = ((x0 + 1) / 2).mean().item(), ((x1 + 1) / 2).mean().item()
    brighter = (((x1 + 1) / 2).mean(dim=(1, 2, 3)) > ((x0 + 1) / 2).mean(dim=(1, 2, 3))).float().mean().item()
    dress = names.index("dress")
    lines += [
        "",
        f'Class fixed (`label=dress`, prompt "a dress") with the negative "a dark dress": mean brightness '
        f"{b0:.3f} → {b1:.3f}, brighter for {brighter:.0%} of seeds; still a dress (classifier) "
        f"{(c0 == dress).float().mean().item():.1%} → {(c1 == dress).float().mean().item():.1%}.",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section(ROOT / "BENCHMARKS.md", "words", text)


if __name__ == "__main__":
    main()
