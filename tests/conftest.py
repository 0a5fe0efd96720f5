"""Shared fixtures: tiny configs and datasets so every test runs in seconds on a CPU."""

from __future__ import annotations

import pytest
import torch

from ganstudio.config import Config, apply_overrides
from ganstudio.data import attributes as measured
from ganstudio.data.packed import PackedDataset

TINY = [
    "data.resolution=16",
    "model.z_dim=16",
    "model.cond_dim=16",
    "model.w_dim=32",
    "model.channel_base=256",
    "model.channel_max=32",
    "train.batch=8",
    "train.log_every_steps=1",
    "train.sample_every_kimg=1000",
    "train.checkpoint_every_kimg=1000",
    "train.precision=fp32",
]


@pytest.fixture
def tiny_config() -> Config:
    return apply_overrides(Config(), TINY)


def shapes_dataset(n: int = 64, resolution: int = 16, seed: int = 0) -> PackedDataset:
    """Two classes on black: big bright squares ("square") and small dim squares ("dot")."""
    g = torch.Generator().manual_seed(seed)
    images = torch.zeros(n, 1, resolution, resolution, dtype=torch.uint8)
    labels = torch.arange(n) % 2
    for i in range(n):
        size = resolution // 2 if labels[i] == 0 else resolution // 4
        value = 230 if labels[i] == 0 else 120
        y, x = (int(v) for v in torch.randint(1, resolution - size - 1, (2,), generator=g))
        images[i, 0, y : y + size, x : x + size] = value
    return PackedDataset(
        images=images,
        labels=labels,
        class_names=["square", "dot"],
        attributes=measured.measure(images),
        attribute_names=measured.attribute_names(1),
        captions=[[] for _ in range(n)],
        source="test:shapes",
    )


@pytest.fixture
def tiny_dataset() -> PackedDataset:
    return shapes_dataset()


CAPTIONS = (["a big bright square", "large white block"], ["a small dim dot", "tiny grey speck"])


def captioned_shapes(n: int = 64, labels: bool = False) -> PackedDataset:
    """The shapes, described in words (two captions each); without class labels by default, so
    the text is the only way to ask for a shape."""
    dataset = shapes_dataset(n)
    dataset.captions = [list(CAPTIONS[int(c)]) for c in dataset.labels]
    if not labels:
        dataset.labels = torch.full_like(dataset.labels, -1)
        dataset.class_names = []
    dataset.fingerprint = dataset.compute_fingerprint()
    return dataset
