"""Describing words → attribute conditions: "a small bag" draws each bag smaller than it would
have been, as if `--attr coverage=…` had been given with a value chosen for that image.

Attributes are conditions every model with measured attributes takes, so a word the lexicon knows
becomes a step for its attribute: "small" one standard deviation of the class's training images
below what the image would have been ("very" two, "slightly" half; a small bag and a small coat
are not equally small), measured on a first drawing without the step, and kept within the class's
2nd–98th percentiles and 2 standard deviations of all training images (beyond, the model met too
few images to draw the item well). Colour names set the hue itself and a saturated colour. Each
reading carries a confidence: 1 for the words the attribute measures directly ("dark", "small"),
less for looser ones ("long"); words under MIN_CONFIDENCE are reported and left to the text path.

A word the model's text path already follows (its captions carried it: fashion-mnist's "dark")
gets no attribute: both together push twice as far, past what the model draws well. Whether it
does is measured once per model on its own drawings (`follows`). Words this lexicon knows but the
model has no attribute for (texture on every model shipped today, colour names on a grey model,
materials) are reported, never silently dropped. Attributes the user gives by value win over
words. A word after "not"/"no"/"without" is not read (say "light", or use a negative prompt).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

import torch

SPREAD = 2.0  # targets stay within this many standard deviations of all training images' mean
EDGE = (0.02, 0.98)  # … and within these quantiles of the class's training images
# how far a word moves its attribute, in standard deviations of the class's training images, by
# the word before it ("very dark" 2, "slightly dark" 0.5; 1 otherwise)
MODIFIERS = {
    "very": 2.0, "really": 2.0, "extra": 2.0, "extremely": 2.0, "deep": 2.0, "super": 2.0,
    "slightly": 0.5, "somewhat": 0.5, "fairly": 0.5, "rather": 0.5, "bit": 0.5, "little": 0.5,
}  # fmt: skip
NEGATIONS = {"not", "no", "without", "non", "never"}
MIN_CONFIDENCE = 0.5
# a word the model's text path already follows gets no attribute (both together push twice as far,
# past what the model draws well: BENCHMARKS.md, describing-words): measured per model on its own
# drawings and its own attribute measure, for PROBE_SEEDS seeds of PROBE_CAPTIONS training captions
FOLLOW_RATE, FOLLOW_STEP = 0.8, 0.5
PROBE_SEEDS, PROBE_CAPTIONS = 8, 12

# word → [(attribute, side -1/+1, confidence)]; colour names also set a hue (HUES)
LEXICON: dict[str, list[tuple[str, int, float]]] = {}


def _add(words: str, *readings: tuple[str, int, float]) -> None:
    for word in words.split():
        LEXICON[word] = list(readings)


_add("dark darker darkest dim shadowy", ("brightness", -1, 1.0))
_add("black charcoal", ("brightness", -1, 1.0), ("saturation", -1, 0.8))
_add("light lighter lightest bright brighter pale", ("brightness", +1, 1.0))
_add("white", ("brightness", +1, 1.0), ("saturation", -1, 0.8))
_add("grey gray greyish grayish silver", ("saturation", -1, 1.0))
_add("small tiny little slim narrow thin skinny compact short mini", ("coverage", -1, 1.0))
_add("large big huge wide broad bulky loose oversized baggy chunky", ("coverage", +1, 1.0))
_add("long tall full", ("coverage", +1, 0.6))
_add("vivid vibrant saturated colourful colorful bold neon", ("saturation", +1, 1.0))
_add("muted pastel dull faded washed desaturated", ("saturation", -1, 1.0))
_add("plain solid smooth simple unpatterned", ("texture", -1, 1.0))
_add("patterned printed textured detailed busy", ("texture", +1, 1.0))
_add(
    "striped stripy stripes checked checkered chequered plaid tartan dotted spotted floral",
    ("texture", +1, 0.7),
)

HUES = {  # colour name → hue (0..1, HSV); the saturation goes up with it
    "red": 0.0, "scarlet": 0.99, "crimson": 0.97, "orange": 0.07, "brown": 0.07, "gold": 0.12,
    "golden": 0.12, "yellow": 0.15, "lime": 0.25, "green": 0.33, "olive": 0.17, "teal": 0.48,
    "cyan": 0.5, "turquoise": 0.47, "blue": 0.6, "navy": 0.63, "indigo": 0.7, "purple": 0.78,
    "violet": 0.8, "magenta": 0.85, "pink": 0.92,
}  # fmt: skip
for _name in HUES:
    LEXICON[_name] = [("hue", 0, 1.0), ("saturation", +1, 0.8)]
LEXICON["brown"] += [("brightness", -1, 0.6)]
LEXICON["navy"] += [("brightness", -1, 0.6)]

# describing words no attribute measures: reported as carried by the words alone
UNMEASURED = set(
    "leather denim silk silky wool woollen woolen cotton linen knitted knit fluffy furry fuzzy shiny "
    "glossy matte metallic transparent sparkly glittery velvet suede lace lacy ripped vintage retro "
    "elegant fancy cute sporty formal casual warm cold".split()
)
DESCRIBES = {
    "brightness": "how light the item is",
    "coverage": "how much of the picture the item covers",
    "saturation": "how colourful it is",
    "hue": "its colour",
    "texture": "pattern and texture",
}


@dataclass
class Reading:
    """What a prompt's describing words ask for, and the notes for words the model cannot follow."""

    # attribute → (step in the class's standard deviations, or the hue; the words; confidence)
    targets: dict[str, tuple[float, list[str], float]] = field(default_factory=dict)
    unsupported: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _lemma(token: str) -> str:
    """The lexicon's form of a token: 'reddish' → 'red', 'blue-coloured' → 'blue'."""
    for candidate in (
        token,
        token.removesuffix("-coloured").removesuffix("-colored"),
        token[:-3],
        token[:-4],
    ):
        if candidate in LEXICON or candidate in UNMEASURED:
            return candidate
    return token


def read(prompt: str, attribute_names: list[str], channels: int) -> Reading:
    """The describing words of `prompt` for a model with these attributes and channels."""
    tokens = [_lemma(t) for t in re.findall(r"[a-z]+(?:-[a-z]+)*", prompt.lower())]
    reading = Reading()
    asked: dict[str, list[tuple[float, str, float]]] = {}  # attribute → [(step or hue, phrase, confidence)]
    for i, word in enumerate(tokens):
        if word not in LEXICON and word not in UNMEASURED:
            continue
        if word in MODIFIERS and i + 1 < len(tokens) and tokens[i + 1] in LEXICON:
            continue  # "a little dark": a modifier, not a size
        before = tokens[max(0, i - 2) : i]
        if NEGATIONS & set(before):
            reading.notes.append(
                f"'{' '.join(before)} {word}' is not read as an attribute: name what you want "
                "(e.g. 'light' for 'not dark'), or put it in the negative prompt"
            )
            continue
        if word in UNMEASURED:
            reading.unsupported.append(word)
            continue
        strength = MODIFIERS.get(before[-1], 1.0) if before else 1.0
        phrase = f"{before[-1]} {word}" if strength != 1.0 else word
        for attribute, side, confidence in LEXICON[word]:
            value = HUES[word] if attribute == "hue" else side * strength
            asked.setdefault(attribute, []).append((value, phrase, confidence))
    colour_model = channels >= 3
    for attribute, wishes in asked.items():
        phrases = sorted({p for _, p, _ in wishes})
        if attribute not in attribute_names or (attribute in ("hue", "saturation") and not colour_model):
            if (
                attribute == "saturation"
                and not colour_model
                and all(p.split()[-1] not in HUES for p in phrases)
            ):
                continue  # "black", "white", "grey" on a grey model: brightness (or nothing) says it all
            reading.unsupported += [p for p in phrases if p not in reading.unsupported]
            continue
        confidence = max(c for *_, c in wishes)
        if confidence < MIN_CONFIDENCE:
            reading.unsupported += phrases
            continue
        if attribute == "hue":
            angle = [2 * math.pi * v for v, *_ in wishes]
            value = math.atan2(sum(map(math.sin, angle)), sum(map(math.cos, angle))) / (2 * math.pi) % 1.0
        else:
            value = sum(v for v, *_ in wishes) / len(wishes)
            if not value:  # "dark and light"
                reading.notes.append(f"{_quoted(phrases)} ask for opposite {attribute}s: not read")
                continue
        reading.targets[attribute] = (value, phrases, confidence)
    colours = [w for w in reading.unsupported if w.split()[-1] in HUES and not colour_model]
    others = [w for w in reading.unsupported if w not in colours]
    if colours:
        reading.notes.append(
            f"{_quoted(colours)}: this model draws in grey, so colour words cannot change it"
        )
    if others:
        follows = ", ".join(DESCRIBES[a] for a in attribute_names if a in DESCRIBES) or "none"
        reading.notes.append(
            f"{_quoted(others)}: this model has no condition for {'that' if len(others) == 1 else 'those'}; "
            f"only its text encoder reads {'it' if len(others) == 1 else 'them'}, which moves the image "
            f"little (the words it follows by attribute: {follows})"
        )
    return reading


def without_describing_words(prompt: str) -> str:
    """The prompt without the describing words this module reads or reports ("a dark striped
    shirt" → "a shirt"): what the coverage check compares with the training captions, since the
    words are judged here and the check asks whether the model knows the *thing*. A prompt that
    is nothing but describing words is kept as it is."""
    kept = []
    for token in prompt.split():
        word = _lemma(re.sub(r"[^a-z-]", "", token.lower()))
        if word in LEXICON or word in MODIFIERS or word in UNMEASURED:
            continue
        kept.append(token)
    return " ".join(kept) if kept and len(kept) < len(prompt.split()) else prompt


def worded(prompt: str, word: str) -> str:
    """'a shirt' + 'dark' → 'a dark shirt', 'an umbrella' + 'red' → 'a red umbrella'."""
    first, _, rest = prompt.partition(" ")
    noun = rest if first.lower() in ("a", "an") and rest else prompt
    article = "an" if f"{word} {noun}"[0] in "aeiou" else "a"
    return f"{article} {word} {noun}"


def follows(
    base: torch.Tensor, with_word: torch.Tensor, attribute: str, value: float, std: float
) -> tuple[bool, float]:
    """Did a word move an attribute measured on drawings (N,) the way it names, for enough of
    them and far enough? (moved for ≥ FOLLOW_RATE of the seeds and, for all but the hue, by at
    least FOLLOW_STEP standard deviations on average), and the share moved. `value`: the hue the
    word names, or its step (below 0: lower)."""
    if attribute == "hue":

        def distance(h: torch.Tensor) -> torch.Tensor:
            return ((h - value + 0.5) % 1.0 - 0.5).abs()

        moved = distance(with_word) < distance(base)
        return moved.float().mean().item() >= FOLLOW_RATE, moved.float().mean().item()
    side = -1.0 if value < 0 else 1.0
    rate = (torch.sign(with_word - base) == side).float().mean().item()
    step = side * (with_word - base).mean().item() / max(std, 1e-6)
    return rate >= FOLLOW_RATE and step >= FOLLOW_STEP, rate


def _quoted(words: list[str]) -> str:
    return ", ".join(repr(w) for w in words)


def class_quantile(stats: dict[str, Any], q: float, label: int | None) -> float:
    """The value at quantile q of an attribute's training images: of class `label` where
    dataset.json holds per-class quantiles, else of all images; for folders without quantiles, a
    normal distribution with the recorded mean and std, kept inside the recorded range."""
    quantiles = stats.get("quantiles") or {}
    levels = quantiles.get("levels") or []
    by_class = quantiles.get("by_class") or []
    row = by_class[label] if label is not None and 0 <= label < len(by_class) else None
    row = row or quantiles.get("all")
    if not row:
        value = stats["mean"] + stats["std"] * NormalDist().inv_cdf(min(max(q, 0.01), 0.99))
        return min(max(value, stats["min"]), stats["max"])
    if q <= levels[0]:
        return row[0]
    pairs = list(zip(levels, row, strict=True))
    for (q0, v0), (q1, v1) in zip(pairs, pairs[1:], strict=False):
        if q <= q1:
            return v0 + (v1 - v0) * (q - q0) / max(q1 - q0, 1e-9)
    return row[-1]


def class_spread(stats: dict[str, Any], label: int | None) -> float:
    """An attribute's standard deviation within a class, from its quartiles (robust to the tails)."""
    return max((class_quantile(stats, 0.75, label) - class_quantile(stats, 0.25, label)) / 1.349, 1e-3)


def stepped(stats: dict[str, Any], current: float, step: float, label: int | None) -> float:
    """`current` moved by `step` class standard deviations, kept within the class's EDGE quantiles
    and SPREAD standard deviations of all training images — never past where it started."""
    low = max(class_quantile(stats, EDGE[0], label), stats["mean"] - SPREAD * stats["std"])
    high = min(class_quantile(stats, EDGE[1], label), stats["mean"] + SPREAD * stats["std"])
    target = min(max(current + step * class_spread(stats, label), low), high)
    return min(target, current) if step < 0 else max(target, current)


def _amount(step: float) -> str:
    names = {0.5: "half a standard deviation", 1.0: "one standard deviation", 2.0: "two standard deviations"}
    return names.get(abs(step), f"{abs(step):g} standard deviations")


def describe_step(
    attribute: str, step: float, phrases: list[str], class_name: str | None, has_condition: bool = False
) -> str:
    """ "'patterned' → texture one standard deviation higher, steered in the latent"."""
    words = " and ".join(repr(p) for p in phrases)
    loose = [p for p in phrases if LEXICON.get(p.split()[-1], [("", 0, 1.0)])[0][2] < 1.0]
    reading = (
        f" ({_quoted(loose)} read as more {attribute}: there is no measure for that pattern)" if loose else ""
    )
    among = f"the '{class_name}' drawings" if class_name else "its drawings"
    way = "lower" if step < 0 else "higher"
    return (
        f"read from the words: {words} → {attribute} {_amount(step)} "
        f"{way}, steered in the latent along a direction measured on {among}{reading}"
        + (f" (the model follows that better than its {attribute} condition here)" if has_condition else "")
    )


def describe_target(
    attribute: str, step: float, phrases: list[str], values: list[float], class_name: str | None
) -> str:
    """ "'small' → coverage one standard deviation of the training 'bag' images lower than each
    image would have been (0.31–0.38 here)"."""
    words = " and ".join(repr(p) for p in phrases)
    if attribute == "hue":
        return f"read from the words: {words} → hue {values[0]:.2f}"
    among = f"the training '{class_name}' images" if class_name else "each image's class"
    span = (
        f"{min(values):.2f}–{max(values):.2f}" if max(values) - min(values) >= 0.005 else f"{values[0]:.2f}"
    )
    way = "lower" if step < 0 else "higher"
    return f"read from the words: {words} → {attribute} {_amount(step)} of {among} {way} than each image would have been ({span} here)"
