"""Variety under conditions: do different seeds give different items that still follow the
conditions?

    python -m bench.variety --model fashion-mnist [--seeds 64]

For each condition (every class label; the ten docs-grid prompts; each hand-drawn sketch in
docs/sketches/), 64 seeds: the mean per-pixel standard deviation over the seeds, divided by the
same measure over the test images of that class (for a prompt or a sketch, the class the label
prior reads from it, which is also what the generator gets). 1 = as varied as the data's items
of that class; 0 = one image whatever the seed. Beside it, whether the images still follow the
condition: class accuracy by the reference classifier (labels and prompts) and the edge F-score
of the outputs against the sketch (1 px tolerance). Target (issue #14): ≥ 0.6 for labels and prompts.
"""

from __future__ import annotations

import argparse
import datetime
import json
import shlex
import sys

import torch

from bench.report import GRID_PROMPTS, ROOT, machine_line, write_section
from bench.sketch import SKETCHES, edge_fscore
from ganstudio.metrics import ReferenceData, features
from ganstudio.pipeline import GenerationPipeline


def spread(images: torch.Tensor) -> float:
    """Mean per-pixel standard deviation over a set of images (N, C, H, W) in [-1, 1]."""
    return images.float().std(0).mean().item()


@torch.no_grad()
def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="fashion-mnist")
    parser.add_argument("--seeds", type=int, default=64)
    parser.add_argument("--section", default="variety")
    args = parser.parse_args()
    pipe = GenerationPipeline.from_pretrained(args.model)
    reference = ReferenceData.for_model(pipe.dataset_info)
    names = pipe.class_names
    real_spread = {c: spread(reference.images[reference.labels == c]) for c in range(len(names))}
    classifier = reference.extractor

    def score(result, wanted: int) -> tuple[float, float]:
        """(variety relative to the data's class `wanted`, share classified as `wanted`)."""
        acc = (features(classifier, result.tensors)[1].argmax(1) == wanted).float().mean().item()
        return spread(result.tensors) / real_spread[wanted], acc

    rows = {"label": [], "prompt": [], "sketch": []}
    for c, name in enumerate(names):
        rows["label"].append((name, *score(pipe(args.seeds, seed=0, label=c), c)))
    for prompt in GRID_PROMPTS.get(args.model, []) if pipe.spec.has_text else []:
        result = pipe(args.seeds, seed=0, prompt=prompt)
        wanted = names.index(result.metadata[0]["label"])
        rows["prompt"].append((f"{prompt} → {names[wanted]}", *score(result, wanted)))
    if pipe.spec.has_sketch:
        labels = {item["file"]: item["label"] for item in json.loads((SKETCHES / "labels.json").read_text())}
        for file, label in labels.items():
            result = pipe(args.seeds, seed=0, sketch=SKETCHES / file)
            variety, acc = score(result, names.index(label))
            sketch = pipe.normalise_sketch(SKETCHES / file)  # (1, 1, R, R) in 0..1
            f = edge_fscore(sketch.expand(len(result.tensors), -1, -1, -1), result.tensors).mean().item()
            rows["sketch"].append((f"{file} ({label})", variety, acc, f))

    lines = [
        f"Model `{pipe.model_id}`, {args.seeds} seeds per condition, guidance {pipe.guidance():g}; "
        f"`python -m bench.variety {shlex.join(sys.argv[1:])}`; {machine_line()}; {datetime.date.today()}.",
        "",
        "| condition | n | variety (mean, min) | class acc (mean) | edge F-score (sketches) |",
        "|---|---|---|---|---|",
    ]
    for kind, items in rows.items():
        if not items:
            continue
        varieties = [r[1] for r in items]
        accs = [r[2] for r in items]
        edge = f"{sum(r[3] for r in items) / len(items):.2f}" if kind == "sketch" else ""
        lines.append(
            f"| {kind} | {len(items)} | {sum(varieties) / len(varieties):.2f}, {min(varieties):.2f} "
            f"({items[varieties.index(min(varieties))][0]}) | {sum(accs) / len(accs):.1%} | {edge} |"
        )
    lines.append("")
    lines.append(
        "Per condition: "
        + "; ".join(f"{r[0]} {r[1]:.2f}/{r[2]:.0%}" for items in rows.values() for r in items)
        + "."
    )
    print("\n".join(lines))
    write_section(ROOT / "BENCHMARKS.md", args.section, "\n".join(lines))


if __name__ == "__main__":
    main()
