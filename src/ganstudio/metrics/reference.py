"""The real images a model is scored against, shared by `evaluate` and the training-time scorer:
the images, the labels generated images are drawn for, and the reference classifier's features
of the real images (cached by dataset fingerprint)."""

from __future__ import annotations

from typing import Any

import torch
from safetensors.torch import load_file, save_file

from ganstudio.data import DataSource, PackedDataset, load_dataset
from ganstudio.imaging import from_uint8
from ganstudio.metrics.classifier import WEIGHTS_DIR, ReferenceClassifier, load_reference_classifier
from ganstudio.paths import cache_dir


def extractor_for(source: DataSource | None) -> str | None:
    """The reference classifier that fits a dataset, if one was trained for it."""
    name = source.builtin if source is not None else None
    return f"{name}-classifier" if name and (WEIGHTS_DIR / f"{name}-classifier.json").is_file() else None


@torch.no_grad()
def features(
    extractor: torch.nn.Module, images: torch.Tensor, batch: int = 1000
) -> tuple[torch.Tensor, torch.Tensor]:
    """The classifier's penultimate features and logits of images in [-1, 1]."""
    out = [extractor(images[i : i + batch].float()) for i in range(0, len(images), batch)]
    return torch.cat([f for f, _ in out]), torch.cat([lg for _, lg in out])


class ReferenceData:
    """Real images in [-1, 1], their labels, and the reference classifier (None where the dataset
    has none) with the real images' features, computed once and cached."""

    def __init__(self, dataset: PackedDataset) -> None:
        self.dataset = dataset
        try:
            self.source: DataSource | None = DataSource.parse(dataset.source)
        except ValueError:  # data built in memory (tests, benches): scored by SWD only
            self.source = None
        self.images = from_uint8(dataset.images)  # (N, C, H, W)
        self.labels = dataset.labels  # (N,), -1 = none
        self.extractor_name = extractor_for(self.source)
        self.extractor: ReferenceClassifier | None = (
            load_reference_classifier(self.extractor_name) if self.extractor_name else None
        )
        self._features: torch.Tensor | None = None

    @classmethod
    def load(cls, data: str | DataSource, resolution: int, channels: int | str) -> ReferenceData:
        from ganstudio.config import DataConfig

        return cls(load_dataset(data, DataConfig(resolution=resolution, channels=str(channels))))

    @classmethod
    def for_model(cls, dataset_info: dict[str, Any], data: str | None = None) -> ReferenceData:
        """The data to score a model against: `data`, else the held-out split of the data it was
        trained on (a folder has none: the folder itself)."""
        source = DataSource.parse(data) if data else DataSource.parse(dataset_info["source"]).test_split()
        if not source.loadable():
            raise ValueError(f"the real images of {source} are gone; pass the data to compare with (--data)")
        return cls.load(source, dataset_info["resolution"], dataset_info["channels"])

    @property
    def has_labels(self) -> bool:
        return bool((self.labels >= 0).any())

    def real_features(self) -> torch.Tensor:
        if self.extractor is None:
            raise ValueError(f"{self.source} has no reference classifier; only SWD can score it")
        if self._features is None:
            path = cache_dir() / "metrics" / f"{self.dataset.fingerprint}-{self.extractor_name}.safetensors"
            if path.is_file():
                self._features = load_file(str(path))["features"]
            else:
                self._features = features(self.extractor, self.images)[0]
                path.parent.mkdir(parents=True, exist_ok=True)
                save_file({"features": self._features.contiguous()}, str(path))
        return self._features

    def eval_labels(self, n: int, seed: int = 0) -> torch.Tensor | None:
        """n class labels drawn like the real images' (a seeded shuffle of their labels, repeated),
        or None when the real images have none."""
        pool = self.labels[self.labels >= 0]
        if not len(pool):
            return None
        pool = pool[torch.randperm(len(pool), generator=torch.Generator().manual_seed(seed))]
        return pool.repeat(n // len(pool) + 1)[:n]
