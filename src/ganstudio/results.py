"""What generation returns: the images, one metadata record per image, and how they are saved
(marked as AI-generated; existing files are never overwritten unless asked)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from ganstudio.imaging import make_grid
from ganstudio.provenance import save_png


def _file_stem(prefix: str, record: dict[str, Any]) -> str:
    name = record.get("label") or record.get("prompt") or ""
    label = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40].strip("-")
    return f"{prefix}-{label}-{record['seed']:06d}" if label else f"{prefix}-{record['seed']:06d}"


def describe_sketch(sketch: Any) -> str | None:
    """What the image record says about the sketch: its file name, or that one was given."""
    if sketch is None:
        return None
    return Path(sketch).name if isinstance(sketch, str | Path) else "drawing"


def fresh_path(path: Path, overwrite: bool = False) -> Path:
    """`path`, or when it exists (and `overwrite` is off) the first free `stem-2.ext`, `stem-3.ext`…"""
    if overwrite or not path.exists():
        return path
    n = 2
    while (candidate := path.with_name(f"{path.stem}-{n}{path.suffix}")).exists():
        n += 1
    return candidate


@dataclass
class GenerationResult:
    """Generated images and one metadata record per image (seed, conditions, model id)."""

    images: list[Image.Image]
    metadata: list[dict[str, Any]]
    grid_columns: int = 8
    tensors: torch.Tensor | None = field(default=None, repr=False)  # (B, C, H, W) in [-1, 1]
    notes: list[str] = field(default_factory=list)  # what the caller should know (a prompt cut short…)
    row_labels: list[str] | None = None  # written left of each grid row (class grids, prompt grids)

    def grid(self, scale: int = 2) -> Image.Image:
        return make_grid(
            self.images,
            columns=min(self.grid_columns, len(self.images)),
            scale=scale,
            row_labels=self.row_labels,
        )

    def save(
        self, out_dir: str | Path, prefix: str = "image", grid: bool = True, overwrite: bool = False
    ) -> list[Path]:
        """Write one marked PNG per image (named by its label or prompt and seed) and, if `grid`,
        grid.png; returns the paths. Existing files are kept: a taken name gets a `-2`, `-3`…
        suffix unless `overwrite`."""
        out_dir = Path(out_dir)
        if out_dir.exists() and not out_dir.is_dir():
            raise ValueError(f"--out {out_dir} is a file; give a folder to write the images into")
        paths = [
            save_png(image, fresh_path(out_dir / f"{_file_stem(prefix, record)}.png", overwrite), record)
            for image, record in zip(self.images, self.metadata, strict=True)
        ]
        if grid and self.images:
            paths.append(self.save_grid(fresh_path(out_dir / "grid.png", overwrite)))
        return paths

    def save_grid(self, path: str | Path, scale: int = 2) -> Path:
        """Write the grid as a PNG marked as AI-generated, recording every image's seed and label."""
        record = dict(
            self.metadata[0],
            seed=[r["seed"] for r in self.metadata],
            label=sorted({r["label"] for r in self.metadata if r["label"]}) or None,
            prompt=list(dict.fromkeys(r["prompt"] for r in self.metadata if r.get("prompt"))) or None,
        )
        return save_png(self.grid(scale), path, record)


def save_animation(
    result: GenerationResult, path: str | Path, ms_per_frame: int = 120, scale: int = 4
) -> Path:
    """The images of a result as an animated WebP or GIF (by the suffix), there and back, each
    frame upscaled by `scale`, with the AI-generated marking in its comment/XMP where the format
    has one (PNG strips carry the full record)."""
    path = Path(path)
    if path.suffix.lower() not in (".webp", ".gif"):
        raise ValueError(f"{path}: an animation is written as .webp or .gif")
    frames = [im.resize((im.width * scale, im.height * scale), Image.NEAREST) for im in result.images]
    frames = frames + frames[-2:0:-1]  # ping-pong
    path.parent.mkdir(parents=True, exist_ok=True)
    note = json.dumps(
        {"ai_generated": True, "model": result.metadata[0]["model"], "operation": "interpolate"}
    )
    options = {"comment": note.encode()} if path.suffix.lower() == ".gif" else {"xmp": note.encode()}
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=ms_per_frame, loop=0, **options)
    return path
