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

from ganstudio.data.images import parse_color
from ganstudio.imaging import make_grid
from ganstudio.provenance import save_marked
from ganstudio.provenance.metadata import FORMATS
from ganstudio.provenance.watermark import shipped

MAX_GRID_IMAGES = 256  # a grid shows at most this many images (the files hold every one)


class GeneratedImage(Image.Image):
    """A generated image (a PIL image): `save` writes it marked as AI-generated with its
    `record` (seed, conditions, model), as PNG, JPEG or WebP by the file's suffix, so the obvious
    `result.images[0].save("out.jpg")` publishes a marked file. Images derived from it (resize,
    crop, convert) are plain PIL images again: they are no longer what the model drew."""

    record: dict[str, Any]
    ingredients: list[tuple[str, bytes]]  # inputs named in its C2PA manifest (the user's sketch)

    @classmethod
    def of(
        cls, image: Image.Image, record: dict[str, Any], ingredients: list | None = None
    ) -> GeneratedImage:
        image.__class__ = cls
        image.record = record
        image.ingredients = list(ingredients or [])
        return image

    def save(
        self,
        fp: Any,
        format: str | None = None,
        background: Any = (255, 255, 255),
        **params: Any,  # noqa: A002
    ) -> Any:
        """Write the marked file; a transparent image saved as JPEG is composed on `background`
        (a colour name, #rrggbb or an RGB tuple; PNG and WebP keep the transparency)."""
        if params:
            raise ValueError(
                "a generated image is saved with its AI-generated marking and fixed settings; "
                "use image.copy().save(...) for an unmarked file with your own options"
            )
        colour = parse_color(background) if isinstance(background, str) else tuple(background)
        return save_marked(self, fp, self.record, format, self.ingredients, colour)


def _file_stem(prefix: str, record: dict[str, Any]) -> str:
    if isinstance(record.get("frame"), int):  # a morph's frames: morph-000, morph-001 …
        return f"{prefix}-{record['frame']:03d}"
    # the user's own words name the file: a class they asked for, else their prompt (a class the
    # label prior read from the prompt would hide what was asked for), else the inferred class
    given = record.get("label") if not record.get("label_inferred") else None
    name = given or record.get("prompt") or record.get("label") or ""
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
    ingredients: list[tuple[str, bytes]] = field(default_factory=list, repr=False)  # (title, PNG): inputs

    def __post_init__(self) -> None:
        self.images = [
            GeneratedImage.of(im, r, self.ingredients)
            for im, r in zip(self.images, self.metadata, strict=True)
        ]

    def grid(self, scale: int = 2) -> GeneratedImage:
        """The images side by side (at most MAX_GRID_IMAGES of them), marked like the images."""
        shown = self.images[:MAX_GRID_IMAGES]
        columns = min(self.grid_columns, len(shown))
        rows = -(-len(shown) // max(columns, 1))
        labels = self.row_labels[:rows] if self.row_labels else None
        image = make_grid(shown, columns=columns, scale=scale, row_labels=labels)
        record = self.grid_record(len(shown))
        if record.get("watermark"):  # the grid as a whole carries the mark too (each tile has its own)
            image = shipped().mark_image(image)
        return GeneratedImage.of(image, record, self.ingredients)

    def grid_record(self, count: int | None = None) -> dict[str, Any]:
        """The grid's record: every shown image's seed, the labels and prompts."""
        shown = self.metadata[:count]
        return dict(
            shown[0],
            seed=[r["seed"] for r in shown],
            label=sorted({r["label"] for r in shown if r["label"]}) or None,
            prompt=list(dict.fromkeys(r["prompt"] for r in shown if r.get("prompt"))) or None,
        )

    def save(
        self,
        out_dir: str | Path,
        prefix: str = "image",
        grid: bool = True,
        overwrite: bool = False,
        format: str = "png",  # noqa: A002
        background: Any = (255, 255, 255),
    ) -> list[Path]:
        """Write one marked file per image (named by its label or prompt and seed; `format` png,
        jpeg or webp; transparent images keep their alpha in PNG and WebP and are composed on
        `background` in JPEG) and, if `grid`, the grid; returns the paths. Existing files are kept:
        a taken name gets a `-2`, `-3`… suffix unless `overwrite`."""
        out_dir = Path(out_dir)
        if out_dir.exists() and not out_dir.is_dir():
            raise ValueError(f"--out {out_dir} is a file; give a folder to write the images into")
        suffix = "." + format.lower().replace("jpeg", "jpg")
        if suffix not in FORMATS:
            raise ValueError(f"format {format!r}: use png, jpeg, webp or svg")
        paths = [
            image.save(
                fresh_path(out_dir / f"{_file_stem(prefix, image.record)}{suffix}", overwrite),
                background=background,
            )
            for image in self.images
        ]
        if grid and self.images:
            paths.append(self.save_grid(fresh_path(out_dir / f"grid{suffix}", overwrite)))
        return paths

    def save_grid(self, path: str | Path, scale: int = 2) -> Path:
        """Write the grid marked as AI-generated (PNG, JPEG or WebP by the suffix), recording every
        shown image's seed and label."""
        return self.grid(scale).save(path)


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
