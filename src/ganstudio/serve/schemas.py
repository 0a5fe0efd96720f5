"""The server's settings and the API's request and response models (the OpenAPI schema)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ganstudio.modelfolder import bundled_models
from ganstudio.pipeline import MAX_GUIDANCE, MAX_SEED


@dataclass
class Settings:
    models: list[str] = field(
        default_factory=lambda: sorted(bundled_models(), key=lambda n: n != "fashion-mnist")
    )
    token: str | None = None
    data_root: Path | None = None
    runs_dir: Path = Path("runs/studio")
    max_upload_bytes: int = 8 << 20  # sketches and images to verify
    max_zip_bytes: int = 512 << 20  # an uploaded dataset, unpacked
    max_pixels: int = 4096 * 4096
    max_n: int = 64
    max_prompt_chars: int = 300
    requests_per_minute: int = 600  # per client address
    max_jobs: int = 1  # training jobs running at once
    max_images_kept: int = 5000  # generated files kept for download (oldest dropped first)
    cors_origins: list[str] = field(default_factory=list)
    allowed_hosts: list[str] = field(default_factory=list)  # host names besides IPs and localhost ("*": any)
    max_upload_disk_bytes: int = 2 << 30  # every unpacked upload together
    failed_logins_per_minute: int = 20  # wrong tokens per client before 429
    batch_wait_ms: float = 5.0
    invert_steps: int = 150  # optimisation steps when an image is brought into a model (editing)
    inversions_kept: int = 32  # inverted images remembered, so sliders and variations start at once
    workers: int = 1  # server processes (ganstudio serve --workers); more than one: no training jobs


class ErrorOut(BaseModel):
    error: str = Field(description="what went wrong and what to do, in words")


ERRORS = {
    code: {"model": ErrorOut, "description": text}
    for code, text in (
        (400, "the request cannot be served (a bad value; the message says which)"),
        (401, "missing or wrong access token"),
        (403, "refused: a host name this server does not answer to, or a cross-site request"),
        (404, "no such model, image or job"),
        (413, "an upload or image over the server's limits"),
        (422, "the request does not match the schema"),
        (429, "too many requests (or wrong tokens) from this client"),
        (500, "internal error (details in the server log only)"),
        (507, "the server's upload space is full"),
    )
}


class GenerateRequest(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    model: str | None = Field(None, description="a model name from /v1/models; default: the first")
    prompt: str | None = Field(None, description="what to draw, in words (models trained with captions)")
    label: str | int | None = Field(None, description="a class name or index")
    attributes: dict[str, float] | None = Field(
        None, description="attribute name → value in the trained range"
    )
    sketch: str | None = Field(None, description="a drawing as base64 PNG/JPEG (a data: URL works)")
    n: int = Field(4, ge=1, description="how many images (the server caps it)")
    seed: int | None = Field(None, ge=0, le=MAX_SEED, description="image i uses seed + i; none = random")
    truncation: float = Field(1.0, ge=0.0, le=1.0)
    guidance: float | None = Field(None, ge=0.0, le=MAX_GUIDANCE, description="none = the model's default")
    format: Literal["png", "jpeg", "webp", "svg"] = Field(
        "png", description="svg: traced into colour vector paths (transparency kept; no pixel watermark)"
    )
    background: str = Field(
        "white",
        max_length=32,
        description="colour a transparent image is composed on in JPEG (name or #rrggbb)",
    )
    negative: str | None = Field(
        None, description="what to steer away from, in words (a negative prompt; text-conditioned models)"
    )
    negative_strength: float = Field(
        1.0, gt=0.0, le=3.0, description="how far the negative prompt pushes away"
    )
    upscale: Literal[1, 4] = Field(
        1,
        description="4: each image four times larger (the model's GAN upscaler, else Lanczos with a "
        "note), marked after enlarging",
    )
    infer_label: bool = True
    strict: bool = Field(
        False,
        description="refuse (422) a prompt the model does not cover (far from every training caption) "
        "instead of drawing the nearest thing it knows with a note",
    )
    on_copy: Literal["warn", "block", "allow"] = Field(
        "warn",
        description="an image that copies a training image: a note (warn), drawn again with the next "
        "unused seed (block), or recorded only (allow); each image's metadata holds the check",
    )


class RedrawRequest(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    model: str | None = Field(None, description="a model name from /v1/models; default: the first")
    image: str = Field(description="the image to change, base64 PNG/JPEG/WebP (a data: URL works)")
    mask: str = Field(
        description="base64 PNG: white (or opaque, on a transparent layer) where to redraw, black or "
        "clear where to keep; any size (squeezed to the model's like the image)"
    )
    prompt: str | None = Field(None, description="what the redrawn part should show, in words")
    label: str | int | None = Field(None, description="a class name or index for the redrawn image")
    attributes: dict[str, float] | None = Field(None, description="attribute name → value")
    sketch: str | None = Field(None, description="an outline for the whole image, base64")
    n: int = Field(4, ge=1, le=16, description="how many versions")
    seed: int | None = Field(
        None, ge=0, le=MAX_SEED, description="version i starts from seed + i; none = random"
    )
    strength: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="0: the redrawn part blends into the kept part; 1: it follows the conditions",
    )
    format: Literal["png", "jpeg", "webp", "svg"] = "png"
    background: str = Field("white", max_length=32, description="JPEG background for transparent images")


class EditSource(BaseModel):
    """An image brought into a model (inverted) for editing; the inversion is remembered, so the
    same image sent again with another edit starts at once."""

    model_config = ConfigDict(strict=True, extra="forbid")

    model: str | None = Field(None, description="a model name from /v1/models; default: the first")
    image: str = Field(description="the image to edit, base64 PNG/JPEG/WebP (a data: URL works)")
    label: str | int | None = Field(None, description="the class the image shows, if known")
    prompt: str | None = Field(None, description="words for what the image shows (text models)")
    format: Literal["png", "jpeg", "webp", "svg"] = "png"
    background: str = Field("white", max_length=32, description="JPEG background for transparent images")
    keep: bool = Field(
        True, description="false: a preview (a slider being dragged), marked but neither kept nor recorded"
    )


class InvertRequest(EditSource):
    pass


class VaryRequest(EditSource):
    strength: float = Field(
        0.3, ge=0.0, le=1.0, description="0: the same image … 1: a new item with the same conditions"
    )
    n: int = Field(8, ge=1, le=16, description="how many variations")
    seed: int | None = Field(None, ge=0, le=MAX_SEED, description="variation i uses seed + i; none = random")


class InterpolateRequest(EditSource):
    image_b: str = Field(description="the image to morph towards, base64")
    label_b: str | int | None = Field(None, description="the class of image_b, if known")
    frames: int = Field(8, ge=2, le=16, description="images from the first to the second, both included")
    strip: bool = Field(True, description="also return the frames side by side as one marked image")


class EditRequest(EditSource):
    direction: str = Field(
        max_length=80,
        description="an attribute (brightness, coverage; saturation, hue on colour models), pca1…pca5, "
        "or class:NAME",
    )
    strengths: list[Annotated[float, Field(ge=-3.0, le=3.0)]] = Field(
        [1.0],
        min_length=1,
        max_length=9,
        description="how far along the direction, in standard deviations, one image each (−3 … 3)",
    )


class ImageOut(BaseModel):
    id: str
    url: str
    mime: str
    seed: int
    label: str | None
    metadata: dict[str, Any]
    data: str = Field(description="the marked file, base64")


class GenerateResponse(BaseModel):
    model: str
    images: list[ImageOut]
    notes: list[str]


class JobRequest(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    data: str = Field(description="a folder under the server's data root, or fashion-mnist / emoji")
    kimg: float | None = Field(None, gt=0, le=100_000)
    minutes: float | None = Field(None, gt=0, le=24 * 60)
    preset: str = Field(
        "cpu-32", max_length=64, description="a preset name (ganstudio train --help lists them)"
    )
    sketch: bool = False
