"""The packed dataset: uint8 pixels and every label, attribute and caption in one file.

A `.gsd` file is a safetensors file (never a pickle): tensors `images` (N, C, H, W) uint8,
`labels` (N,) int64 (-1 = no label), `attributes` (N, A) float32 and, when users gave their own
sketches, `sketches` (N, 1, H, W) uint8 with `sketch_given` (N,) bool, with the class names,
attribute names, captions, manifest (each source file's SHA-256) and fingerprint stored as
JSON in the safetensors metadata.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

FORMAT = "ganstudio-dataset"
FORMAT_VERSION = 1

QUANTILE_LEVELS = (0.02, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.98)  # attribute quantiles kept


def save_atomic(tensors: dict[str, torch.Tensor], path: Path, metadata: dict[str, str] | None = None) -> Path:
    """Write a safetensors file via a temp file in the same folder and a rename, so a killed
    process never leaves a half-written file (used for packs and the caches beside them)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=metadata)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


@dataclass
class PackedDataset:
    """Images and conditions of a dataset, ready for training (everything in memory)."""

    images: torch.Tensor  # (N, C, H, W) uint8
    labels: torch.Tensor  # (N,) int64, -1 where an image has no label
    class_names: list[str]
    attributes: torch.Tensor  # (N, A) float32, NaN where a value is missing
    attribute_names: list[str]
    captions: list[list[str]]  # several captions per image allowed
    source: str
    manifest: list[dict[str, Any]] = field(default_factory=list)  # {"file", "sha256"} per source file
    skipped: list[dict[str, str]] = field(default_factory=list)  # {"file", "reason"}
    licence: str = "unknown"
    excluded: list[dict[str, str]] = field(default_factory=list)  # {"file", "reason"}: rights (rights.py)
    rights: dict[str, Any] = field(default_factory=dict)  # counts: excluded, excluded_by, licences
    fingerprint: str = ""
    sketches: torch.Tensor | None = None  # (N, 1, H, W) uint8, 255 = stroke: users' own sketches
    sketch_given: torch.Tensor | None = None  # (N,) bool, which rows of `sketches` were given

    def __post_init__(self) -> None:
        n = self.images.shape[0]
        if not (self.labels.shape[0] == self.attributes.shape[0] == len(self.captions) == n):
            raise ValueError("packed dataset: images, labels, attributes and captions differ in length")
        if not self.fingerprint:
            self.fingerprint = self.compute_fingerprint()

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def resolution(self) -> int:
        return self.images.shape[-1]

    @property
    def channels(self) -> int:
        return self.images.shape[1]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def compute_fingerprint(self) -> str:
        h = hashlib.sha256()
        h.update(f"{FORMAT}/{FORMAT_VERSION}/{tuple(self.images.shape)}".encode())
        h.update(self.images.numpy().tobytes())
        h.update(self.labels.numpy().tobytes())
        h.update(json.dumps([self.class_names, self.attribute_names, self.captions]).encode())
        h.update(self.attributes.numpy().tobytes())
        if self.sketches is not None:
            h.update(self.sketches.numpy().tobytes())
        return h.hexdigest()[:16]

    def attribute_stats(self) -> dict[str, dict[str, float]]:
        """Range, mean and std of each attribute (NaNs ignored), as stored in dataset.json."""
        stats = {}
        for i, name in enumerate(self.attribute_names):
            column = self.attributes[:, i]
            column = column[~torch.isnan(column)]
            if column.numel() == 0:
                column = torch.zeros(1)
            stats[name] = {
                "min": float(column.min()),
                "max": float(column.max()),
                "mean": float(column.mean()),
                "std": float(column.std()) if column.numel() > 1 else 1.0,
                "quantiles": self._quantiles(i),
            }
        return stats

    def _quantiles(self, i: int) -> dict[str, Any]:
        """Attribute i's quantiles at QUANTILE_LEVELS, over all images and per class (None for a
        class with fewer than 20 values): what "dark" means for this dataset's ankle boots."""
        levels = torch.tensor(QUANTILE_LEVELS)

        def of(column: torch.Tensor) -> list[float] | None:
            column = column[~torch.isnan(column)].float()
            if column.numel() < 20:
                return None
            return [round(v, 5) for v in torch.quantile(column, levels).tolist()]

        column = self.attributes[:, i]
        by_class = [of(column[self.labels == c]) for c in range(self.num_classes)]
        return {"levels": list(QUANTILE_LEVELS), "all": of(column), "by_class": by_class}

    def describe(self) -> dict[str, Any]:
        """What a model folder's dataset.json records about its training data."""
        return {
            "source": self.source,
            "fingerprint": self.fingerprint,
            "num_images": len(self),
            "resolution": self.resolution,
            "channels": self.channels,
            "class_names": self.class_names,
            "attributes": self.attribute_stats(),
            "num_captioned": sum(1 for c in self.captions if c),
            "licence": self.licence,
            "skipped": len(self.skipped),
            "rights": self.rights
            or {"excluded": 0, "excluded_by": {}, "licences": {self.licence: len(self)}},
        }

    def save(self, path: str | Path) -> Path:
        """Write the dataset atomically (temp file + rename) as a `.gsd` safetensors file."""
        path = Path(path)
        metadata = {
            "format": FORMAT,
            "format_version": str(FORMAT_VERSION),
            "class_names": json.dumps(self.class_names),
            "attribute_names": json.dumps(self.attribute_names),
            "captions": json.dumps(self.captions),
            "source": self.source,
            "manifest": json.dumps(self.manifest),
            "skipped": json.dumps(self.skipped),
            "excluded": json.dumps(self.excluded),
            "rights": json.dumps(self.rights),
            "licence": self.licence,
            "fingerprint": self.fingerprint,
        }
        tensors = {
            "images": self.images.contiguous(),
            "labels": self.labels.contiguous(),
            "attributes": self.attributes.contiguous(),
        }
        if self.sketches is not None:
            tensors["sketches"] = self.sketches.contiguous()
            tensors["sketch_given"] = self.sketch_given.contiguous()
        return save_atomic(tensors, path, metadata)

    @classmethod
    def load(cls, path: str | Path) -> PackedDataset:
        path = Path(path)
        try:
            with safe_open(str(path), framework="pt") as f:
                metadata = f.metadata() or {}
            tensors = load_file(str(path))
        except (SafetensorError, OSError, ValueError) as error:
            raise ValueError(
                f"{path} is not a packed ganstudio dataset ({error}); create one with "
                "`ganstudio prepare SOURCE --out data.gsd`"
            ) from None
        if metadata.get("format") != FORMAT:
            raise ValueError(
                f"{path} is a safetensors file but not a ganstudio dataset; re-run `ganstudio prepare`"
            )
        version = metadata.get("format_version", "0")
        if version != str(FORMAT_VERSION):
            raise ValueError(
                f"{path} has dataset format version {version[:20]!r}; this ganstudio reads version "
                f"{FORMAT_VERSION}. Re-run `ganstudio prepare` on the source to repack it."
            )
        try:
            dataset = cls(
                images=tensors["images"],
                labels=tensors["labels"],
                class_names=json.loads(metadata["class_names"]),
                attributes=tensors["attributes"],
                attribute_names=json.loads(metadata["attribute_names"]),
                captions=json.loads(metadata["captions"]),
                source=metadata["source"],
                manifest=json.loads(metadata["manifest"]),
                skipped=json.loads(metadata["skipped"]),
                excluded=json.loads(metadata.get("excluded", "[]")),
                rights=json.loads(metadata.get("rights", "{}")),
                licence=metadata.get("licence", "unknown"),
                fingerprint=metadata["fingerprint"],
                sketches=tensors.get("sketches"),
                sketch_given=tensors.get("sketch_given"),
            )
            dataset.check()
        except (KeyError, ValueError, TypeError, RecursionError) as error:
            what = f"{error.args[0]!r} is missing" if isinstance(error, KeyError) else str(error)
            raise ValueError(
                f"{path} is a damaged or hand-edited ganstudio dataset ({what}); re-run `ganstudio prepare`"
            ) from None
        return dataset

    def check(self) -> None:
        """Types, shapes and ranges a packed file must have before anything trains on it."""
        images, n = self.images, len(self.images)
        if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1] not in (1, 3):
            raise ValueError(
                f"images must be (N, 1 or 3, H, W) uint8, not {tuple(images.shape)} {images.dtype}"
            )
        if images.shape[2] != images.shape[3] or not 4 <= images.shape[2] <= 4096:
            raise ValueError(f"images must be square, 4 to 4096 px, not {tuple(images.shape[2:])}")
        if self.labels.dtype != torch.int64 or tuple(self.labels.shape) != (n,):
            raise ValueError(f"labels must be ({n},) int64")
        if not all(isinstance(c, str) for c in self.class_names):
            raise ValueError("class names must be strings")
        if n and (int(self.labels.min()) < -1 or int(self.labels.max()) >= len(self.class_names)):
            raise ValueError(f"labels must lie in -1..{len(self.class_names) - 1}")
        if self.attributes.dtype != torch.float32 or tuple(self.attributes.shape) != (
            n,
            len(self.attribute_names),
        ):
            raise ValueError(f"attributes must be ({n}, {len(self.attribute_names)}) float32")
        if bool(torch.isinf(self.attributes).any()):
            raise ValueError("attributes hold infinite values")
        if not isinstance(self.captions, list) or not all(
            isinstance(c, list) and all(isinstance(t, str) for t in c) for c in self.captions
        ):
            raise ValueError("captions must be a list of lists of strings")
        if not isinstance(self.rights, dict) or not all(
            isinstance(e, dict) and isinstance(e.get("file"), str) and isinstance(e.get("reason"), str)
            for e in (self.excluded if isinstance(self.excluded, list) else [None])
        ):
            raise ValueError("rights must be an object and excluded a list of {file, reason}")
        if self.sketches is not None and (
            self.sketches.dtype != torch.uint8
            or tuple(self.sketches.shape) != (n, 1, *images.shape[2:])
            or self.sketch_given is None
            or tuple(self.sketch_given.shape) != (n,)
        ):
            raise ValueError("sketches must be (N, 1, H, W) uint8 with a (N,) sketch_given mask")
