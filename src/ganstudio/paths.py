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


def write_text_atomically(path: Path, text: str) -> None:
    """Write a text file through a temporary file beside it, renamed over it: a crash leaves the
    old file or the new one, never half of one. Readable as the umask allows."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.chmod(0o666 & ~umask())
    os.replace(tmp, path)


def umask() -> int:
    """The process's umask (reading it means setting it: set back at once)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask
