"""Describing words, measured: does "a dark shirt" draw a darker shirt than "a shirt" for the same
seed, and is it still a shirt? Three routes side by side, on both bundled models:

- auto (shipped, `describing_words="auto"`, wordsteer.py): a word the lexicon knows sets the
  attribute condition it names — a step of the class's own spread from what each image would have
  been — or steps the latent along a direction measured on the model's drawings (texture, which no
  model takes as a condition, and wherever the model follows that better for the class); neither
  where the model's text path already follows the word (measured per model on its own drawings);
- always (`"always"`, route (a) of issue 36): the same for every word, text path or not;
- off (the text path only, route (b)): the captions carried the measured words, so the text
  encoder's embedding is all that moves the image.

    python -m bench.describing [-n 100] [--emoji-n 32]

Per word, over the classes (fashion-mnist) or everyday emoji prompts: the share of seeds whose
measured attribute moves the named way against the same prompt without the word (target ≥ 80%),
the mean change, the class kept (reference classifier: the intended class, with and without the
word; target: no more than 5 points lost) — beside the same classifier on real test images of
that class in the tail the word asks for, since the tails are harder to name for real images too
— and variety (mean pairwise distance of the classifier's features). Colour words on the emoji
model: the measured hue nearer the named colour than without the word. Texture: the texture
measure of data/attributes.py.
Figures: docs/describing-words.png (fashion) and docs/describing-words-emoji.png (emoji), each a
column of one seed under several describing words. The reference classifiers are evaluation
networks: nothing here trains or tunes on them. Results go into BENCHMARKS.md (`describing-words`).
"""

from __future__ import annotations

import argparse
import datetime
import shlex
import sys

import numpy as np
import torch

from bench.emoji import COLOUR_HUES, EVERYDAY, classifier_info, hue_distance, mean_hue
from bench.report import ROOT, machine_line, write_section
from ganstudio.conditioning.describing import worded
from ganstudio.config import DataConfig
from ganstudio.data import attributes as measured
from ganstudio.data import load_dataset
from ganstudio.data.attributes import texture
from ganstudio.data.captions import FASHION_NOUNS, _with_article
from ganstudio.imaging import to_uint8, visible
from ganstudio.metrics.classifier import load_reference_classifier
from ganstudio.metrics.reference import features
from ganstudio.pipeline import GenerationPipeline

# word → (attribute measured, direction); the texture words have no attribute condition
FASHION_WORDS = {
    "dark": ("brightness", -1), "very dark": ("brightness", -1), "black": ("brightness", -1),
    "light": ("brightness", +1), "white": ("brightness", +1), "slightly light": ("brightness", +1),
    "small": ("coverage", -1), "large": ("coverage", +1), "wide": ("coverage", +1),
    "striped": ("texture", +1), "patterned": ("texture", +1), "plain": ("texture", -1),
}  # fmt: skip
EMOJI_WORDS = {
    "red": ("hue", 0.0), "blue": ("hue", 220.0), "green": ("hue", 120.0), "yellow": ("hue", 55.0),
    "purple": ("hue", 280.0), "dark": ("brightness", -1), "light": ("brightness", +1),
    "small": ("coverage", -1), "large": ("coverage", +1), "grey": ("saturation", -1), "vivid": ("saturation", +1),
}  # fmt: skip
EMOJI_PROMPTS = [
    "a car",
    "a balloon",
    "a rocket",
    "a house",
    "an umbrella",
    "a butterfly",
    "a crown",
    "a robot",
]
FIGURES = {
    "fashion-mnist": ["a shirt", "a dark shirt", "a light shirt", "a dark striped shirt", "a light plain shirt",
                      "an ankle boot", "a dark ankle boot", "a small bag", "a large bag"],
    "emoji": ["a balloon", "a red balloon", "a blue balloon", "a green balloon", "a dark balloon",
              "a car", "a yellow car", "a purple car", "a small car"],
}  # fmt: skip


SHIPPED, FORCED, TEXT = (
    "auto (shipped)",
    "always",
    "off (text path only)",
)
ROUTES = (SHIPPED, FORCED, TEXT)


def use(pipe: GenerationPipeline, route: str) -> None:
    """Set the pipeline to one route (wordsteer.ROUTES)."""
    pipe.describing_words = {SHIPPED: "auto", FORCED: "always", TEXT: "off"}[route]


def measure(images: torch.Tensor, name: str) -> np.ndarray:
    """An attribute measured on what shows (composed on white), per image."""
    shown = to_uint8(visible(images))
    if name == "texture":
        return texture(shown).numpy()
    if name == "hue":
        return mean_hue(images)
    return measured.measure(shown)[:, measured.attribute_names(shown.shape[1]).index(name)].numpy()


def moved(base: np.ndarray, with_word: np.ndarray, direction: float, name: str) -> np.ndarray:
    """Per seed: did the word move the attribute the named way (hue: nearer the named colour)?"""
    if name == "hue":
        ok = ~np.isnan(base) & ~np.isnan(with_word)
        return (hue_distance(with_word, direction) < hue_distance(base, direction)) & ok
    return np.sign(with_word - base) == direction


def real_tail_accuracy(classifier, names: list[str]) -> dict[tuple[str, str, int], float]:
    """The classifier's accuracy on real test images of each class in the 8% tail of an attribute
    (the tail the lexicon's plain words ask for), and on all of them."""
    test = load_dataset("fashion-mnist:test", DataConfig(resolution=32))
    x = test.images.float() / 127.5 - 1
    with torch.no_grad():
        predicted = torch.cat(
            [features(classifier, x[i : i + 2000])[1].argmax(1) for i in range(0, len(x), 2000)]
        )
    out = {}
    for c, name in enumerate(names):
        rows = test.labels == c
        right = (predicted[rows] == c).float()
        out[(name, "all", 0)] = right.mean().item()
        for j, attribute in enumerate(test.attribute_names):
            values = test.attributes[rows, j]
            for direction, q in ((-1, 0.08), (+1, 0.92)):
                cut = torch.quantile(values, q)
                tail = values <= cut if direction < 0 else values >= cut
                out[(name, attribute, direction)] = right[tail].mean().item()
    return out


def fashion(n: int) -> list[str]:
    pipe = GenerationPipeline.from_pretrained("fashion-mnist")
    pipe.watermark = None
    classifier = load_reference_classifier("fashion-mnist-classifier")
    names = pipe.class_names
    tails = real_tail_accuracy(classifier, names)

    def draw(prompt: str, route: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        use(pipe, route)
        images = pipe(n=n, seed=0, prompt=prompt).tensors
        with torch.no_grad():
            feats, logits = features(classifier, images)
        return images, feats, logits.argmax(1)

    prompts = {name: _with_article(FASHION_NOUNS[name][0]) for name in names}
    base = {name: draw(prompt, TEXT) for name, prompt in prompts.items()}
    lines = [
        f"Fashion-mnist (bundled model), {n} seeds per cell, {len(names)} classes (prompt 'a t-shirt', 'a dark "
        "t-shirt', …). Moves: share of seeds whose measured attribute moves the named way against the prompt "
        "without the word; Δ: mean change; class kept: the reference classifier names the intended class, without "
        "→ with the word (real test images of the class in the word's 8% tail, for scale); variety: mean pairwise "
        "feature distance with / without the word.",
        "",
        "| word | attribute | route | moves | Δ | class kept | real tail | variety |",
        "|---|---|---|---|---|---|---|---|",
    ]
    met, missed = [], []
    for word, (attribute, direction) in FASHION_WORDS.items():
        for route in ROUTES:
            rates, deltas, kept0, kept1, spread0, spread1, real = [], [], [], [], [], [], []
            for c, name in enumerate(names):
                images, feats, predicted = draw(worded(prompts[name], word), route)
                b_images, b_feats, b_predicted = base[name]
                a0, a1 = measure(b_images, attribute), measure(images, attribute)
                rates.append(moved(a0, a1, direction, attribute).mean())
                deltas.append(float(np.mean(a1 - a0)))
                kept0.append((b_predicted == c).float().mean().item())
                kept1.append((predicted == c).float().mean().item())
                spread0.append(torch.pdist(b_feats).mean().item())
                spread1.append(torch.pdist(feats).mean().item())
                real.append(tails.get((name, attribute, direction), float("nan")))
            real_text = (
                f"{np.mean([tails[(n_, 'all', 0)] for n_ in names]):.1%} → {np.nanmean(real):.1%}"
                if attribute != "texture"
                else "–"
            )
            lines.append(
                f"| {word} | {attribute} | {route} | **{np.mean(rates):.0%}** (worst class {min(rates):.0%}) | "
                f"{np.mean(deltas):+.3f} | {np.mean(kept0):.1%} → {np.mean(kept1):.1%} | {real_text} | "
                f"{np.mean(spread1) / np.mean(spread0):.2f} |"
            )
            print(lines[-1], flush=True)
            if route == SHIPPED:
                lost = 100 * (np.mean(kept0) - np.mean(kept1))
                ok = np.mean(rates) >= 0.8 and lost <= 5
                (met if ok else missed).append(
                    f"{word} ({np.mean(rates):.0%} moved, {lost:.1f} points of class lost)"
                )
    lines += [
        "",
        f"Targets (shipped route: ≥ 80% of seeds moved, ≤ 5 points of class lost): met by {', '.join(met) or 'none'}; "
        f"missed by {', '.join(missed) or 'none'}.",
    ]
    use(pipe, SHIPPED)
    pipe.prompt_grid(FIGURES["fashion-mnist"], 8, seed=0).save_grid(
        ROOT / "docs" / "describing-words.png", scale=3
    )
    return lines


def emoji(n: int) -> list[str]:
    pipe = GenerationPipeline.from_pretrained("emoji")
    pipe.watermark = None
    classifier = load_reference_classifier("emoji-concepts-classifier")
    index = {c: i for i, c in enumerate(classifier_info()["class_names"])}

    def draw(prompt: str, route: str) -> tuple[torch.Tensor, torch.Tensor]:
        use(pipe, route)
        images = pipe(n=n, seed=0, prompt=prompt).tensors
        with torch.no_grad():
            logits = features(classifier, visible(images))[1]
        return images, logits.topk(5, 1).indices

    prompts = [p for p in EMOJI_PROMPTS if EVERYDAY.get(p) in index]
    base = {p: draw(p, TEXT) for p in prompts}
    lines = [
        "",
        f"Emoji (bundled cascade, 64 px), {n} seeds per cell, {len(prompts)} everyday prompts ({', '.join(prompts)}). "
        "Colour words: the measured hue of the saturated pixels nearer the named colour than without the word. "
        "Concept kept: the emoji classifier has the prompt's concept in its top 5, without → with the word.",
        "",
        "| word | attribute | route | moves | concept kept |",
        "|---|---|---|---|---|",
    ]
    met, missed = [], []
    for word, (attribute, direction) in EMOJI_WORDS.items():
        for route in ROUTES:
            rates, kept0, kept1 = [], [], []
            for prompt in prompts:
                images, top5 = draw(worded(prompt, word), route)
                b_images, b_top5 = base[prompt]
                target = index[EVERYDAY[prompt]]
                target_dir = COLOUR_HUES.get(word, direction) if attribute == "hue" else direction
                rates.append(
                    moved(
                        measure(b_images, attribute), measure(images, attribute), target_dir, attribute
                    ).mean()
                )
                kept0.append((b_top5 == target).any(1).float().mean().item())
                kept1.append((top5 == target).any(1).float().mean().item())
            if route == SHIPPED:
                (met if np.mean(rates) >= 0.8 else missed).append(f"{word} ({np.mean(rates):.0%})")
            lines.append(
                f"| {word} | {attribute} | {route} | **{np.mean(rates):.0%}** (worst prompt {min(rates):.0%}) | "
                f"{np.mean(kept0):.1%} → {np.mean(kept1):.1%} |"
            )
            print(lines[-1], flush=True)
    lines += [
        "",
        f"Target (shipped route: ≥ 80% of seeds moved) met by {', '.join(met) or 'none'}; missed by "
        f"{', '.join(missed) or 'none'}. Concept kept is low with or without words: the classifier names "
        "17% of these everyday prompts' drawings (bench.emoji), and it learnt each emoji in its usual colours, "
        "so a blue car or a grey crown reads as another emoji to it.",
    ]
    use(pipe, SHIPPED)
    pipe.prompt_grid(FIGURES["emoji"], 8, seed=0).save_grid(
        ROOT / "docs" / "describing-words-emoji.png", scale=2
    )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=100, help="seeds per cell, fashion-mnist")
    parser.add_argument("--emoji-n", type=int, default=32, help="seeds per cell, emoji")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    lines = [
        f"`python -m bench.describing {shlex.join(sys.argv[1:])}` — {datetime.date.today()}. {machine_line()}",
        "",
        *fashion(args.n),
        *emoji(args.emoji_n),
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section(ROOT / "BENCHMARKS.md", "describing-words", text)


if __name__ == "__main__":
    main()
