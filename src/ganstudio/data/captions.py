"""Captions: built-in caption makers, and caption embeddings cached per dataset and encoder.

Fashion-MNIST ships no text, so its captions are made from the class name and what the pixels
show (dark/light, slim/wide, plain/patterned), through varied templates and synonyms: free text
then reaches beyond the ten class names. Several captions per image; training samples one per
step.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from pathlib import Path

import torch
from safetensors.torch import load_file

from ganstudio.data.packed import save_atomic

# Synonyms per Fashion-MNIST class. Held-out evaluation prompts (bench/text.py) use other words.
FASHION_NOUNS = {
    "t-shirt/top": ["t-shirt", "tee", "top", "short-sleeved top", "t-shirt top"],
    "trouser": ["trousers", "pants", "pair of trousers", "pair of pants", "jeans"],
    "pullover": ["pullover", "sweater", "jumper", "knitted pullover", "long-sleeved sweater"],
    "dress": ["dress", "frock", "summer dress", "long dress", "sleeveless dress"],
    "coat": ["coat", "jacket", "overcoat", "winter coat", "zip-up jacket"],
    "sandal": ["sandal", "sandals", "strappy sandal", "open shoe", "summer sandal"],
    "shirt": ["shirt", "button-up shirt", "blouse", "collared shirt", "long-sleeved shirt"],
    "sneaker": ["sneaker", "sneakers", "trainer", "sports shoe", "low-top shoe"],
    "bag": ["bag", "handbag", "tote bag", "shoulder bag", "carry bag"],
    "ankle boot": ["ankle boot", "boot", "short boot", "heeled boot", "ankle boots"],
}
FASHION_WORDS = {
    "brightness": (["dark", "black", "dark grey", "deep-toned"], ["light", "white", "pale", "light grey"]),
    "coverage": (["slim", "narrow", "small", "thin"], ["wide", "large", "bulky", "loose"]),
    "texture": (["plain", "solid", "simple", "smooth"], ["patterned", "printed", "textured", "detailed"]),
}
TEMPLATES = [
    "{a} {desc}",
    "{desc}",
    "a photo of {a} {desc}",
    "product shot of {a} {desc}",
    "{a} {desc} on a black background",
    "an image of {a} {desc}",
]
CAPTIONS_PER_IMAGE = 3


def _with_article(desc: str) -> str:
    plural = desc.endswith("s") and not desc.endswith(("dress", "ss")) or desc.startswith("jeans")
    if plural and not desc.startswith("pair"):
        return desc
    return ("an " if desc[0] in "aeiou" else "a ") + desc


def fashion_captions(
    labels: torch.Tensor, class_names: list[str], columns: dict[str, torch.Tensor], seed: int = 0
) -> list[list[str]]:
    """Captions per image from its class and measured columns (brightness, coverage, texture):
    each column's lower and upper thirds get a word, the middle third none."""
    words: dict[str, list[int]] = {}
    for name, values in columns.items():
        lo, hi = torch.quantile(values.float(), torch.tensor([1 / 3, 2 / 3])).tolist()
        words[name] = [0 if v <= lo else (2 if v >= hi else 1) for v in values.tolist()]
    captions = []
    rng = random.Random(seed)
    for i, label in enumerate(labels.tolist()):
        nouns = FASHION_NOUNS[class_names[label]]
        mine = []
        for _ in range(CAPTIONS_PER_IMAGE):
            adjectives = []
            for name, (low, high) in FASHION_WORDS.items():
                level = words[name][i]
                if level != 1 and rng.random() < 0.7:
                    adjectives.append(rng.choice(low if level == 0 else high))
            noun = rng.choice(nouns)
            prefix = "pair of " if noun.startswith("pair of ") else ""  # adjectives go after "pair of"
            desc = prefix + " ".join([*adjectives, noun.removeprefix(prefix)])
            article = _with_article(desc)
            a, _, rest = article.partition(" ") if article != desc else ("", "", desc)
            text = rng.choice(TEMPLATES).format(a=a, desc=rest).strip()
            mine.append(re.sub(r"\s+", " ", text))
        captions.append(sorted(set(mine)))
    return captions


def emoji_captions(name: str) -> list[str]:
    """The Unicode name, plus two phrasings a user might type."""
    return [name, f"{name} emoji", f"{_with_article(name)} icon"]


class CaptionTable:
    """Unique captions of a dataset and, per image, the indices of its captions (-1 = none)."""

    def __init__(self, captions: list[list[str]]) -> None:
        unique: dict[str, int] = {}
        width = max((len(c) for c in captions), default=0) or 1
        self.index = torch.full((len(captions), width), -1, dtype=torch.int64)  # (N, K)
        for i, image_captions in enumerate(captions):
            for k, text in enumerate(image_captions):
                self.index[i, k] = unique.setdefault(text, len(unique))
        self.texts = list(unique)
        self.counts = (self.index >= 0).sum(1)  # (N,)

    def sample(self, rows: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """One caption index per row (B,), chosen uniformly among its captions; -1 where none."""
        pick = (torch.rand(rows.shape[0], generator=generator) * self.counts[rows].clamp_min(1)).long()
        return self.index[rows, pick]


def caption_embeddings(table: CaptionTable, encoder, fingerprint: str, cache: Path | None) -> torch.Tensor:
    """Embeddings (U, T) of the table's unique captions, cached by dataset fingerprint and encoder."""
    digest = hashlib.sha256(json.dumps(table.texts).encode()).hexdigest()[:16]
    path = None
    if cache is not None:
        safe_id = re.sub(r"[^A-Za-z0-9_.-]+", "_", encoder.id)
        path = cache / "text" / f"{fingerprint}-{safe_id}.safetensors"
        if path.is_file():
            try:
                stored = load_file(str(path))
                if stored["digest"].numel() == 16 and bytes(stored["digest"].tolist()).decode() == digest:
                    return stored["embeddings"]
            except (OSError, ValueError, KeyError, UnicodeDecodeError):
                pass
    embeddings = encoder.encode(table.texts)  # (U, T)
    if path is not None:
        save_atomic(
            {"embeddings": embeddings.contiguous(), "digest": torch.tensor(list(digest.encode()))}, path
        )
    return embeddings
