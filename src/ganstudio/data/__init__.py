"""Datasets: user folders, packed `.gsd` files and built-in real datasets, all as PackedDataset."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ganstudio.config import DataConfig
from ganstudio.data import builtin  # noqa: F401  (registers the built-in datasets)
from ganstudio.data.builtin import cache_dir
from ganstudio.data.folder import ProgressFn, fingerprint_source, prepare_folder
from ganstudio.data.packed import PackedDataset
from ganstudio.registry import DATASETS

__all__ = ["PackedDataset", "load_dataset", "prepare"]


def prepare(source: str, config: DataConfig, progress: ProgressFn | None = None) -> PackedDataset:
    """Build a PackedDataset from a built-in name (`name` or `name:test`) or an image folder."""
    name, _, split = source.partition(":")
    if name in DATASETS and not Path(source).exists():
        split = split or "train"
        if split not in builtin.SPLITS:
            raise ValueError(
                f"dataset {source!r}: split {split!r} is unknown; use {' or '.join(builtin.SPLITS)}"
            )
        return DATASETS.get(name)(config, split)
    path = Path(source)
    if path.is_dir():
        return prepare_folder(path, config, progress)
    raise ValueError(
        f"dataset {source!r} is neither a folder, a .gsd file nor a built-in dataset; "
        f"built-in datasets: {', '.join(DATASETS.names())}"
    )


def load_dataset(source: str | Path, config: DataConfig, progress: ProgressFn | None = None) -> PackedDataset:
    """A packed file as is; a folder or built-in prepared once and cached by fingerprint."""
    source = str(source)
    path = Path(source)
    if path.is_file():
        dataset = PackedDataset.load(path)
        if dataset.resolution != config.resolution:
            raise ValueError(
                f"{path} is packed at {dataset.resolution} px but the config asks for {config.resolution} px; "
                f"re-run `ganstudio prepare` with --resolution {config.resolution} or set data.resolution"
            )
        return dataset
    options = json.dumps([config.resolution, config.fit, config.background, config.channels])
    fingerprint = fingerprint_source(path, config) if path.is_dir() else None
    key = (
        fingerprint[0]
        if fingerprint
        else hashlib.sha256(f"{source}/{options}/builtin-v{builtin.VERSION}".encode()).hexdigest()[:16]
    )
    cached = cache_dir() / "datasets" / f"{key}.gsd"
    if cached.is_file():
        try:
            return PackedDataset.load(cached)
        except ValueError:
            cached.unlink()
    if fingerprint:
        dataset = prepare_folder(path, config, progress, fingerprint)
    else:
        dataset = prepare(source, config, progress)
    dataset.save(cached)
    return dataset
