"""Training sketches of a dataset: users' own where metadata.jsonl gives a `sketch` file, else
the image's extracted outline; extracted once and cached by dataset fingerprint."""

from __future__ import annotations

import torch
from safetensors.torch import load_file

from ganstudio.conditioning.sketch import extract_sketches
from ganstudio.data.packed import PackedDataset, save_atomic
from ganstudio.paths import cache_dir

EXTRACTION_VERSION = 1  # bump when extract_sketches changes, so cached sketches are rebuilt


def dataset_sketches(dataset: PackedDataset) -> torch.Tensor:
    """(N, 1, R, R) uint8 sketches, 255 = stroke."""
    path = cache_dir() / "sketches" / f"{dataset.fingerprint}-v{EXTRACTION_VERSION}.safetensors"
    sketches = None
    if path.is_file():
        try:
            sketches = load_file(str(path))["sketches"]
        except (OSError, ValueError, KeyError):
            sketches = None
    if sketches is None or sketches.shape[0] != len(dataset):
        sketches = extract_sketches(dataset.images)
        save_atomic({"sketches": sketches.contiguous()}, path)
    if dataset.sketches is not None:
        given = dataset.sketch_given[:, None, None, None]
        sketches = torch.where(given, dataset.sketches, sketches)
    return sketches
