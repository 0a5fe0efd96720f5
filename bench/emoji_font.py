"""Can the emoji model be recognised? Prompt → Unicode group accuracy, SWD, and a prompt grid.

    python -m bench.emoji_font --model MODEL [--per-prompt 4]   # models of the font-rendered set (emoji-font)

Every emoji of the test split (every 10th) that has a Unicode group is asked for by its name as
the prompt ("cat face", "birthday cake"); the emoji reference classifier
(scripts/train_reference_classifier.py --dataset emoji; never used in training) reads the group
of each image. The pipeline's defaults apply (the label prior picks the group from the prompt),
and the same is scored with `infer_label=False` (the words alone). Within a group, whether the
words pick the emoji: for each image, the share of the group's other emoji (the whole set) that
lie farther from it, in the classifier's features, than the emoji asked for (0.5 = the words
do not matter beyond the group, 1 = always closest to the one named). Also reports SWD, FD and
variety of label-conditioned samples against the test split, and writes the issue's ten-prompt
grid to docs/emoji-prompts.png. Results go into BENCHMARKS.md (section `emoji`).
"""

from __future__ import annotations

import argparse
import datetime
import json
import shlex
import sys
from pathlib import Path

import torch

from bench.report import GRID_PROMPTS, ROOT, machine_line, write_section
from ganstudio.config import DataConfig
from ganstudio.data import load_dataset
from ganstudio.imaging import from_uint8
from ganstudio.metrics import evaluate, features
from ganstudio.metrics.classifier import load_reference_classifier
from ganstudio.pipeline import GenerationPipeline


def prompt_accuracy(pipe: GenerationPipeline, classifier, prompts, groups, per_prompt: int, infer: bool):
    """Share of images whose group the reference classifier reads as the prompt's emoji group."""
    correct = []
    for prompt, group in zip(prompts, groups, strict=True):
        images = pipe(n=per_prompt, seed=0, prompt=prompt, infer_label=infer).tensors
        correct.append((features(classifier, images)[1].argmax(1) == group).float())
    return torch.cat(correct).mean().item()


def own_emoji_score(pipe: GenerationPipeline, classifier, test, known, whole, per_prompt: int) -> float:
    """Mean over the test prompts' images of the share of same-group emoji farther from the image
    than the named emoji (classifier features; the named emoji itself is left out of the pool)."""
    pool_features = features(classifier, from_uint8(whole.images))[0]  # (N, F)
    target_features = features(classifier, from_uint8(test.images[known]))[0]  # (P, F)
    shares = []
    for k, i in enumerate(known):
        group = int(test.labels[i])
        images = pipe(n=per_prompt, seed=0, prompt=test.captions[i][0]).tensors
        fake = features(classifier, images)[0]  # (n, F)
        pool = pool_features[whole.labels == group]
        pool = pool[(pool - target_features[k]).abs().amax(dim=1) > 1e-4]  # without the named emoji
        d_pool = torch.cdist(fake, pool)  # (n, M)
        d_target = torch.cdist(fake, target_features[k : k + 1])  # (n, 1)
        shares.append((d_pool > d_target).float().mean(dim=1))
    return torch.cat(shares).mean().item()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="emoji")
    parser.add_argument("--per-prompt", type=int, default=4)
    parser.add_argument("-n", type=int, default=2000, help="label-conditioned samples for SWD/FD/variety")
    parser.add_argument("--grid", default=str(ROOT / "docs" / "emoji-prompts.png"))
    args = parser.parse_args()
    pipe = GenerationPipeline.from_pretrained(args.model)
    test = load_dataset("emoji-font:test", DataConfig(resolution=pipe.dataset_info["resolution"]))
    known = (test.labels >= 0).nonzero().flatten().tolist()
    prompts = [test.captions[i][0] for i in known]
    groups = [int(test.labels[i]) for i in known]
    classifier = load_reference_classifier("emoji-font-classifier")
    real_accuracy = (
        (features(classifier, from_uint8(test.images[known]))[1].argmax(1) == torch.tensor(groups))
        .float()
        .mean()
        .item()
    )
    row = {
        "model": pipe.model_id,
        "prompt_group_acc": prompt_accuracy(pipe, classifier, prompts, groups, args.per_prompt, True),
        "prompt_group_acc_words_only": prompt_accuracy(
            pipe, classifier, prompts, groups, args.per_prompt, False
        ),
        "real_group_acc": real_accuracy,
        "own_emoji": own_emoji_score(
            pipe,
            classifier,
            test,
            known,
            load_dataset("emoji-font", DataConfig(resolution=test.resolution)),
            args.per_prompt,
        ),
    }
    metrics = ["swd", "fd", "variety"] + (["class_acc"] if pipe.class_names else [])
    row.update(evaluate(args.model, "emoji-font:test", metrics, n=args.n))
    print(json.dumps(row, indent=1, default=str))
    pipe.prompt_grid(GRID_PROMPTS["emoji-font"], 8, seed=0).save_grid(args.grid, scale=3)
    grid = Path(args.grid).resolve()
    grid = grid.relative_to(ROOT) if grid.is_relative_to(ROOT) else grid
    lines = [
        f"`python -m bench.emoji {shlex.join(sys.argv[1:])}`; {machine_line()}; {datetime.date.today()}.",
        "",
        f"- Prompt → Unicode group accuracy ({len(prompts)} test emoji asked for by name, {args.per_prompt} "
        f"seeds each, emoji reference classifier): **{row['prompt_group_acc']:.1%}** with the pipeline's "
        f"defaults (label prior on), {row['prompt_group_acc_words_only']:.1%} from the words alone. The "
        f"classifier itself reads {real_accuracy:.1%} of the real test emoji's groups (its ceiling).",
        f"- Within the group, the words pick the emoji: the named emoji is nearer to the image than "
        f"**{row['own_emoji']:.1%}** of the group's other emoji (classifier features; 50% = the words do "
        "not matter beyond the group, 100% = always nearest to the one named).",
        f"- {args.n} images ({'with the groups of the test split as labels' if pipe.class_names else 'unconditioned: the model has no classes'}), "
        f"against the test split: SWD {row['swd']:.1f}, FD {row['fd']:.2f} (emoji classifier features), "
        + (f"group accuracy {row['class_acc']:.1%}, " if "class_acc" in row else "")
        + f"variety {row['variety']:.2f}.",
        f"- Grid of the ten prompts (rows: {', '.join(GRID_PROMPTS['emoji-font'])}; 8 seeds each): `{grid}`.",
    ]
    write_section(ROOT / "BENCHMARKS.md", "emoji", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
