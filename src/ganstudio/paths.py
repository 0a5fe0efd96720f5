"""Where ganstudio keeps files it can rebuild: prepared datasets, caption embeddings, sketches,
metric features, downloaded weights. `GANSTUDIO_CACHE` moves it; deleting it loses nothing."""

from __future__ import annotations

import os
from pathlib import Path


def config_home() -> Path:
    """The user's settings: the C2PA signer (c2pa/), the opt-out list (opt-out.txt).
    `GANSTUDIO_CONFIG` moves it."""
    return Path(os.environ.get("GANSTUDIO_CONFIG", Path.home() / ".config" / "ganstudio"))


def cache_dir() -> Path:
    return Path(os.environ.get("GANSTUDIO_CACHE", Path.home() / ".cache" / "ganstudio"))
