"""Can this model draw what the prompt asks for? A measured answer instead of a silent guess.

A text-conditioned generator draws *something* for every prompt: asked for a laptop, the
fashion-mnist model draws a pullover. The coverage check compares the prompt's embedding (the
model's own text encoder) with the captions the model was trained on: the cosine to the nearest
one is the prompt's coverage. Below the model's threshold the pipeline adds a note naming the
nearest things the model knows (and with `strict`, refuses). It reads meaning, not script, so a
French or Japanese prompt is judged like an English one: if the encoder cannot place it near a
training caption, the note says so.

The check is about the *thing* asked for: prompt and captions are compared without their
describing words ("a dark striped shirt" → "a shirt"; conditioning/describing.py reads and
reports those), so "a brick wall texture" is not near "a textured top". The bank is each
training image's shortest caption (the name of what it shows) without them, deduplicated and
thinned so that no two kept captions are closer than `THIN` (the check's answer changes by at most 1 − THIN in cosine). It lives in the model folder as
`coverage.safetensors`: unit-length rows as int8 codes (×127), the captions and the threshold in
its metadata, read as untrusted. `bench/coverage.py` chose the threshold and measures the false
alarms and the detection rate.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.nn import functional as F

from ganstudio.conditioning import describing

FILE = "coverage.safetensors"  # modelfolder.COVERAGE_FILE
THIN = 0.9
# cosine below which a prompt counts as outside what the model knows, for the MiniLM encoder:
# chosen on calibration lists (bench/coverage.py), measured on others
THRESHOLD = 0.45
MAX_BANK = 50_000


@dataclass
class Coverage:
    bank: torch.Tensor  # (K, D) unit rows
    names: list[str]  # (K,) the caption each row is
    threshold: float

    def score(self, embedding: torch.Tensor, k: int = 3) -> tuple[float, list[str]]:
        """(cosine to the nearest training caption, the k nearest captions) for one embedding (1, D)."""
        sims = F.normalize(embedding.float().reshape(1, -1), dim=1) @ self.bank.T  # (1, K)
        top = sims[0].topk(min(k, sims.shape[1]))
        return float(top.values[0]), [self.names[i] for i in top.indices.tolist()]

    def note(self, prompt: str, embedding: torch.Tensor) -> tuple[dict, str | None]:
        """The record's `coverage` entry, and a note when the prompt is outside the model's range."""
        score, nearest = self.score(embedding)
        entry = {"score": round(score, 3), "threshold": self.threshold, "nearest": nearest}
        if score >= self.threshold:
            return {**entry, "covered": True}, None
        known = ", ".join(f"'{name}'" for name in nearest)
        return {**entry, "covered": False}, (
            f"this model may not know what {prompt!r} is (coverage {score:.2f}, below {self.threshold:.2f}): "
            f"it was trained on things like {known}, so what it drew is its nearest guess"
        )

    def save(self, folder: Path) -> Path:
        from ganstudio.data.packed import save_atomic
        from ganstudio.modelfolder import share

        meta = {"names": json.dumps(self.names), "threshold": str(self.threshold)}
        codes = (self.bank * 127).round().clamp(-127, 127).to(torch.int8).contiguous()
        save_atomic({"bank": codes}, Path(folder) / FILE, metadata=meta)
        share(Path(folder))
        return Path(folder) / FILE

    @classmethod
    def load(cls, folder: Path, text_dim: int) -> Coverage | None:
        from safetensors import safe_open

        from ganstudio.untrusted import header_shapes, read_safetensors

        path = Path(folder) / FILE
        if not path.is_file():
            return None
        shapes = header_shapes(path)  # checked before anything is read
        rows, dim = (shapes.get("bank") or (0, 0)) if len(shapes.get("bank") or ()) == 2 else (0, 0)
        if set(shapes) != {"bank"} or not 0 < rows <= MAX_BANK or dim != text_dim:
            raise ValueError(f"{path}: expected one (≤{MAX_BANK}, {text_dim}) bank; rebuild it")
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        try:
            names = json.loads(meta.get("names", "[]"))
            threshold = float(meta.get("threshold", "nan"))
        except ValueError:
            raise ValueError(f"{path}: unreadable metadata; rebuild it") from None
        bank = read_safetensors(path)["bank"]
        if (
            not isinstance(names, list)
            or len(names) != bank.shape[0]
            or not all(isinstance(n, str) for n in names)
        ):
            raise ValueError(f"{path}: the caption list does not match the bank; rebuild it")
        if not math.isfinite(threshold) or not -1 <= threshold <= 1:
            raise ValueError(f"{path}: threshold must be a cosine between -1 and 1")
        return cls(F.normalize(bank.float(), dim=1), names, threshold)


def thin(bank: torch.Tensor, limit: float = THIN, chunk: int = 512) -> list[int]:
    """Indices of a greedy subset of unit rows in which no two are closer than `limit` (cosine)."""
    keep: list[int] = []
    kept = bank[:0]
    for start in range(0, len(bank), chunk):
        part = bank[start : start + chunk]
        far = (part @ kept.T).amax(1) < limit if len(kept) else torch.ones(len(part), dtype=torch.bool)
        for i in far.nonzero()[:, 0].tolist():  # within the chunk, one at a time
            row = part[i]
            mine = [j - start for j in keep if j >= start]
            if mine and float((part[mine] @ row).max()) >= limit:
                continue
            keep.append(start + i)
        kept = bank[keep]
    return keep


def build(
    captions: list[list[str]],
    texts: list[str],
    embeddings: torch.Tensor,
    threshold: float = THRESHOLD,
    encode: Callable[[list[str]], torch.Tensor] | None = None,
) -> Coverage:
    """The coverage bank of a dataset's captions (one list per image), given the embeddings (U, T)
    of its unique captions `texts` (data/captions.py caches them for training). Each caption is
    taken without its describing words (`describing.without_describing_words`: "dark top" →
    "top"), encoded with `encode` where it is not among `texts` (without `encode`, such a caption
    stays as it was)."""
    shortest = sorted({min(c, key=len) for c in captions if c})
    if not shortest:
        raise ValueError("the data has no captions, so the model has no prompts to check")
    row = {text: i for i, text in enumerate(texts)}
    plain = {describing.without_describing_words(t) if encode is not None else t for t in shortest}
    names = sorted(t for t in plain if t in row) + sorted(t for t in plain if t not in row)
    found = embeddings[[row[t] for t in names if t in row]].float()
    extra = [t for t in names if t not in row]
    rows = torch.cat([found, encode(extra).float()]) if extra else found
    return _thinned(F.normalize(rows, dim=1), names, threshold)


def _thinned(bank: torch.Tensor, names: list[str], threshold: float) -> Coverage:
    keep = thin(bank)[:MAX_BANK]
    return Coverage(bank[keep], [names[i] for i in keep], threshold)


def restrip(bank: Coverage, encode: Callable[[list[str]], torch.Tensor]) -> Coverage:
    """A bank built before captions were taken without their describing words, rebuilt from its
    own caption names (no training data needed; `scripts/coverage_without_describing_words.py`)."""
    names = sorted({describing.without_describing_words(n) for n in bank.names})
    return _thinned(F.normalize(encode(names).float(), dim=1), names, bank.threshold)


def for_dataset(dataset, encoder_name: str) -> Coverage:
    """The coverage bank of a dataset with the named text encoder (embeddings from the cache)."""
    from ganstudio.conditioning import load_text_encoder
    from ganstudio.data.captions import CaptionTable, caption_embeddings
    from ganstudio.paths import cache_dir

    table = CaptionTable(dataset.captions)
    encoder = load_text_encoder(encoder_name)
    embeddings = caption_embeddings(table, encoder, dataset.fingerprint, cache_dir())
    return build(dataset.captions, table.texts, embeddings, encode=encoder.encode)


def build_for_folder(folder: Path, data: str | Path | None = None) -> Coverage:
    """Build and save a model folder's coverage bank from its training data (`data`, or the source
    its dataset.json records; it must be the data the model was trained on)."""
    from ganstudio.modelfolder import read_config, training_data

    _, spec, _ = read_config(folder)
    if not spec.has_text:
        raise ValueError(f"{folder} was trained without text, so it has no prompts to check")
    dataset, _ = training_data(folder, data)
    coverage = for_dataset(dataset, spec.text_encoder)
    coverage.save(folder)
    return coverage
