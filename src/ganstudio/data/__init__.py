"""Datasets: user folders, packed `.gsd` files and built-in real datasets, all as PackedDataset."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ganstudio.config import DataConfig
from ganstudio.data import builtin  # noqa: F401  (registers the built-in datasets)
from ganstudio.data.folder import ProgressFn, fingerprint_source, prepare_folder
from ganstudio.data.packed import PackedDataset
from ganstudio.data.rights import OptOut, check_packed
from ganstudio.data.source import DataSource
from ganstudio.paths import cache_dir
from ganstudio.registry import DATASETS

__all__ = ["DataSource", "PackedDataset", "load_dataset", "prepare"]


def prepare(
    source: str | DataSource, config: DataConfig, progress: ProgressFn | None = None
) -> PackedDataset:
    """Build a PackedDataset from a built-in name (`name` or `name:test`) or an image folder."""
    source = source if isinstance(source, DataSource) else DataSource.parse(source)
    if source.kind == "builtin":
        return DATASETS.get(source.name)(config, source.split)
    if source.kind == "folder":
        return prepare_folder(Path(source.name), config, progress)
    dataset = PackedDataset.load(Path(source.name))
    check_packed(dataset.manifest, dataset.excluded, OptOut.load(config.opt_out), Path(source.name))
    return dataset


def load_dataset(
    source: str | Path | DataSource, config: DataConfig, progress: ProgressFn | None = None
) -> PackedDataset:
    """A packed file as is; a folder or built-in prepared once and cached by fingerprint."""
    source = source if isinstance(source, DataSource) else DataSource.parse(source)
    path = Path(source.name)
    if source.kind == "packed":
        dataset = PackedDataset.load(path)
        check_packed(dataset.manifest, dataset.excluded, OptOut.load(config.opt_out), path)
        if dataset.resolution != config.resolution:
            raise ValueError(
                f"{path} is packed at {dataset.resolution} px but the config asks for {config.resolution} px; "
                f"re-run `ganstudio prepare` with --resolution {config.resolution} or set data.resolution"
            )
        return dataset
    options = json.dumps([config.resolution, config.fit, config.background, config.channels])
    fingerprint = fingerprint_source(path, config) if source.kind == "folder" else None
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
