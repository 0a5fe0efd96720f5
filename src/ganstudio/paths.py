"""Where ganstudio keeps files it can rebuild: prepared datasets, caption embeddings, sketches,
metric features, downloaded weights. `GANSTUDIO_CACHE` moves it; deleting it loses nothing."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    return Path(os.environ.get("GANSTUDIO_CACHE", Path.home() / ".cache" / "ganstudio"))
