"""Can a person name what the colour emoji model draws? Measured with the concept classifier
(scripts/train_emoji_classifier.py: trained on real renders of the eight training styles, never
on generated images, never a training signal), whose accuracy on the ninth, held-out style is
the ceiling.

    python -m bench.emoji [--model emoji] [--per-prompt 8]

- everyday prompts (EVERYDAY: worded as people write, not as the captions are): the named
  concept in the classifier's top 5 / top 1, the concept's Unicode group, variety within a prompt
  (mean pairwise distance of the classifier's features, over the same for real renders of one
  concept), FD of the features and recall against real renders;
- words: with one seed, two colour words ("a red X" / "a blue X") move the measured hue the named
  way (rate), and two concept words draw each named concept (rate, top 5);
- composition: the held-out concept × style pairs (never trained on) asked for as "X in S style",
  named at what rate against seen pairs asked for the same way;
- the 12-prompt × 8-seed grid of the README (docs/emoji-prompts.png).

Results go into BENCHMARKS.md (section `emoji-colour`).
"""

from __future__ import annotations

import argparse
import colorsys
import datetime
import json
import shlex
import sys

import numpy as np
import torch

from bench.report import GRID_PROMPTS, ROOT, machine_line, write_section
from ganstudio.data import iconify
from ganstudio.imaging import visible
from ganstudio.metrics.classifier import WEIGHTS_DIR, load_reference_classifier
from ganstudio.metrics.distances import frechet_distance, precision_recall
from ganstudio.metrics.reference import features
from ganstudio.pipeline import GenerationPipeline

# everyday wording → the Unicode concept a person would name
EVERYDAY = {
    "a red apple": "red apple", "a slice of pizza": "pizza", "a cat": "cat face", "a dog": "dog face",
    "a rocket": "rocket", "a sunflower": "sunflower", "an alarm clock": "alarm clock", "a unicorn": "unicorn",
    "a birthday cake": "birthday cake", "a red heart": "red heart", "a car": "automobile",
    "a cup of coffee": "hot beverage", "a christmas tree": "Christmas tree", "a banana": "banana",
    "a hamburger": "hamburger", "an ice cream cone": "soft ice cream", "a house": "house", "the sun": "sun",
    "a rainbow": "rainbow", "an umbrella": "umbrella", "a guitar": "guitar", "a soccer ball": "soccer ball",
    "a bicycle": "bicycle", "an airplane": "airplane", "a light bulb": "light bulb", "a laptop": "laptop",
    "a wrapped present": "wrapped gift", "a balloon": "balloon", "a snowman": "snowman", "fire": "fire",
    "a ghost": "ghost", "a robot": "robot", "a crown": "crown", "a diamond": "gem stone", "a key": "key",
    "a trophy": "trophy", "a penguin": "penguin", "a frog": "frog", "an octopus": "octopus",
    "a butterfly": "butterfly", "a rose": "rose", "a strawberry": "strawberry", "a watermelon": "watermelon",
    "a taco": "taco", "a donut": "doughnut", "grapes": "grapes", "a pineapple": "pineapple",
    "a carrot": "carrot", "a hot dog": "hot dog", "a laughing face": "face with tears of joy",
}  # fmt: skip
COLOUR_HUES = {"red": 0.0, "orange": 30.0, "yellow": 55.0, "green": 120.0, "blue": 220.0, "purple": 280.0}


def classifier_info() -> dict:
    return json.loads((WEIGHTS_DIR / "emoji-concepts-classifier.json").read_text())


def mean_hue(images: torch.Tensor) -> np.ndarray:
    """Per image, the circular mean hue (degrees) of its saturated visible pixels."""
    x = (visible(images).clamp(-1, 1) + 1) / 2  # (B, 3, H, W)
    alpha = (images[:, 3] + 1) / 2 if images.shape[1] == 4 else torch.ones_like(x[:, 0])
    out = []
    for rgb, a in zip(
        x.permute(0, 2, 3, 1).reshape(len(x), -1, 3).numpy(), alpha.reshape(len(x), -1).numpy(), strict=True
    ):
        hsv = np.array([colorsys.rgb_to_hsv(*p) for p in rgb[a > 0.5]]).reshape(-1, 3)
        keep = (hsv[:, 1] > 0.3) & (hsv[:, 2] > 0.2)
        angles = np.deg2rad(hsv[keep, 0] * 360)
        out.append(
            np.rad2deg(np.arctan2(np.sin(angles).mean(), np.cos(angles).mean())) % 360
            if keep.any()
            else np.nan
        )
    return np.array(out)


def hue_distance(a: np.ndarray, b: float) -> np.ndarray:
    return np.abs((a - b + 180) % 360 - 180)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="emoji")
    parser.add_argument("--per-prompt", type=int, default=8)
    parser.add_argument("--grid", default=str(ROOT / "docs" / "emoji-prompts.png"))
    parser.add_argument("--no-write", action="store_true", help="print, do not touch BENCHMARKS.md")
    args = parser.parse_args()
    pipe = GenerationPipeline.from_pretrained(args.model)
    classifier = load_reference_classifier("emoji-concepts-classifier")
    info = classifier_info()
    concepts, groups = info["class_names"], info["groups"]
    index = {c: i for i, c in enumerate(concepts)}
    everyday = {p: c for p, c in EVERYDAY.items() if c in index}
    n = args.per_prompt

    def read(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return features(classifier, visible(images))

    # everyday prompts
    top1 = top5 = group_hits = 0.0
    fake_features, spreads = [], []
    for prompt, concept in everyday.items():
        images = pipe(n=n, seed=0, prompt=prompt).tensors
        feats, logits = read(images)
        fake_features.append(feats)
        target = index[concept]
        top5 += (logits.topk(5, 1).indices == target).any(1).float().sum().item()
        top1 += (logits.argmax(1) == target).float().sum().item()
        group_hits += sum(groups[int(p)] == groups[target] for p in logits.argmax(1))
        spreads.append(torch.pdist(feats).mean().item())
    count = n * len(everyday)
    icons, rgba = iconify.rendered(pipe.dataset_info["resolution"])
    train_rows = [i for i, icon in enumerate(icons) if icon.set in iconify.STYLES]
    real = iconify.composed(rgba[train_rows]).float() / 127.5 - 1
    real_features = read(real)[0]
    fake = torch.cat(fake_features)
    by_concept: dict[str, list[int]] = {}
    for k, row in enumerate(train_rows):
        by_concept.setdefault(icons[row].concept, []).append(k)
    real_spread = np.mean(
        [torch.pdist(real_features[rows]).mean().item() for rows in by_concept.values() if len(rows) >= 4]
    )
    pick = torch.randperm(len(real_features), generator=torch.Generator().manual_seed(0))[: len(fake) * 4]
    fd = frechet_distance(real_features[pick], fake)
    _, recall = precision_recall(real_features[pick], fake)

    # words: colour pairs and concept pairs on one seed
    colour_moves = colour_total = 0
    for concept in ("balloon", "car", "heart", "flower", "shirt", "umbrella"):
        for first, second in (("red", "blue"), ("yellow", "purple"), ("green", "orange")):
            a = mean_hue(pipe(n=n, seed=1, prompt=f"a {first} {concept}").tensors)
            b = mean_hue(pipe(n=n, seed=1, prompt=f"a {second} {concept}").tensors)
            ok = ~np.isnan(a) & ~np.isnan(b)
            moved = (hue_distance(a, COLOUR_HUES[first]) < hue_distance(b, COLOUR_HUES[first])) & (
                hue_distance(b, COLOUR_HUES[second]) < hue_distance(a, COLOUR_HUES[second])
            )
            colour_moves += int(moved[ok].sum())
            colour_total += n
    pairs = list(everyday.items())
    concept_hits = concept_total = 0
    for (p1, c1), (p2, c2) in zip(pairs[::2], pairs[1::2], strict=False):
        for prompt, concept in ((p1, c1), (p2, c2)):
            logits = read(pipe(n=n, seed=2, prompt=prompt).tensors)[1]
            concept_hits += int((logits.topk(5, 1).indices == index[concept]).any(1).sum())
            concept_total += n

    # composition: held-out concept × style pairs against seen ones, worded the same way
    held = sorted(iconify.heldout_pairs(icons))
    seen_pairs = sorted(
        {(icon.concept, icon.set) for icon in icons if icon.set in iconify.STYLES} - set(held)
    )
    rng = np.random.default_rng(0)
    seen = [
        seen_pairs[i]
        for i in rng.choice(len(seen_pairs), size=min(len(held), len(seen_pairs)), replace=False)
    ]

    def pair_rate(chosen: list[tuple[str, str]]) -> float:
        hits = 0
        for concept, style in chosen:
            logits = read(pipe(n=4, seed=3, prompt=f"{concept.lower()} in {iconify.SETS[style][0]}").tensors)[
                1
            ]
            hits += int((logits.topk(5, 1).indices == index[concept]).any(1).sum()) if concept in index else 0
        return hits / (4 * max(1, len(chosen)))

    held_rate, seen_rate = pair_rate(held[:60]), pair_rate(seen[:60])

    # the README's grid
    pipe.prompt_grid(GRID_PROMPTS["emoji"], 8, seed=0).save_grid(args.grid, scale=2)

    ceiling5, ceiling_group = info["heldout_top5"], info["heldout_group_accuracy"]
    row = {
        "prompts": len(everyday), "top5": top5 / count, "top1": top1 / count, "group": group_hits / count,
        "variety": float(np.mean(spreads) / real_spread), "fd": fd, "recall": recall,
        "colour_words": colour_moves / max(1, colour_total), "concept_words": concept_hits / max(1, concept_total),
        "heldout_pairs": held_rate, "seen_pairs": seen_rate,
    }  # fmt: skip
    date = datetime.date.today().isoformat()
    command = "python -m bench.emoji " + shlex.join(sys.argv[1:])
    lines = [
        f"`{command}` — {date}. {machine_line()}.",
        "",
        f"Model `{pipe.model_id}`. Classifier `emoji-concepts-classifier` on the held-out style "
        f"({info['heldout_set']}, {info['heldout_images']} drawings): concept top-1 {info['heldout_top1']:.1%}, "
        f"top-5 {ceiling5:.1%}, group {ceiling_group:.1%} — the ceiling.",
        "",
        "| measure | value | against the ceiling / target |",
        "|---|---|---|",
        f"| everyday prompts ({row['prompts']}, {n} seeds each): concept in top 5 | {row['top5']:.1%} | "
        f"{row['top5'] / ceiling5:.0%} of the ceiling (target ≥ 60%) |",
        f"| … concept top 1 | {row['top1']:.1%} | |",
        f"| … Unicode group | {row['group']:.1%} | {row['group'] / ceiling_group:.0%} of the ceiling (target ≥ 70%) |",
        f"| … variety within a prompt (features, vs real drawings of one concept) | {row['variety']:.2f} | |",
        f"| … FD (classifier features) / recall against real renders | {row['fd']:.1f} / {row['recall']:.3f} | recall target ≥ 0.4 |",
        f"| colour words: the hue moves the named way, one seed | {row['colour_words']:.1%} | |",
        f"| concept words: each of two concepts drawn (top 5), one seed | {row['concept_words']:.1%} | |",
        f"| held-out concept × style pairs named (top 5) / seen pairs | {row['heldout_pairs']:.1%} / {row['seen_pairs']:.1%} | "
        + (
            f"{row['heldout_pairs'] / row['seen_pairs']:.0%} (target ≥ 50%) |"
            if row["seen_pairs"] > 0
            else "no ratio: no seen pair was named (target ≥ 50%) |"
        ),
        "",
        f"Grid: `{args.grid}` (rows: {', '.join(GRID_PROMPTS['emoji'])}; seeds 0–7).",
    ]
    if not args.no_write:
        write_section(ROOT / "BENCHMARKS.md", "emoji-colour", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
