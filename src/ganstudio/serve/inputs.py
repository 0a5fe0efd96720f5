"""What the server reads from clients, checked before it is used: the per-client request limit,
uploaded images (size and pixel count before decoding), base64 drawings; and how a model is
described to them."""

from __future__ import annotations

import base64
import binascii
import io
import time
from collections import defaultdict, deque
from typing import Any

from fastapi import HTTPException
from PIL import Image

from ganstudio.editing import Editor
from ganstudio.pipeline import GenerationPipeline
from ganstudio.serve.schemas import Settings


class Limits:
    """Requests per client per minute (sliding window)."""

    def __init__(self, per_minute: int, what: str = "requests") -> None:
        self.per_minute, self.what, self.seen = per_minute, what, defaultdict(deque)

    def check(self, client: str) -> None:
        now, window = time.monotonic(), self.seen[client]
        while window and now - window[0] > 60:
            window.popleft()
        if len(window) >= self.per_minute:
            raise HTTPException(
                429, f"more than {self.per_minute} {self.what} a minute from {client}; slow down"
            )
        window.append(now)


def describe_model(name: str, pipe: GenerationPipeline) -> dict[str, Any]:
    stats = pipe.dataset_info.get("attributes", {})
    return {
        "name": name,
        "model_id": pipe.model_id,
        "resolution": pipe.dataset_info.get("resolution"),
        "channels": pipe.dataset_info.get("channels"),
        "classes": pipe.class_names,
        "attributes": [
            {"name": a, **{k: stats.get(a, {}).get(k) for k in ("min", "max", "mean")}}
            for a in pipe.attribute_names
        ],
        "prompts": pipe.spec.has_text,
        "sketches": pipe.spec.has_sketch,
        "guidance": pipe.guidance(),
        "directions": Editor(pipe).direction_names(),  # what /v1/edit moves along (and class:NAME)
    }


def decode_upload(data: bytes, settings: Settings, what: str) -> Image.Image:
    """An uploaded image, its size checked before it is decoded (no decompression bombs)."""
    if len(data) > settings.max_upload_bytes:
        raise HTTPException(413, f"{what} is {len(data):,} bytes; the limit is {settings.max_upload_bytes:,}")
    try:
        image = Image.open(io.BytesIO(data))
        if image.width * image.height > settings.max_pixels:
            raise HTTPException(
                413,
                f"{what} is {image.width} x {image.height} pixels; the limit is {settings.max_pixels:,} pixels",
            )
        image.load()
    except Image.DecompressionBombError:
        raise HTTPException(
            413, f"{what} has more pixels than the limit of {settings.max_pixels:,}"
        ) from None
    except (OSError, SyntaxError, ValueError) as error:
        raise HTTPException(400, f"{what} is not an image this server can read ({error})") from None
    return image


def decode_base64_image(text: str, settings: Settings, what: str = "sketch") -> Image.Image:
    """A base64 (or data: URL) image field, its size checked before it is decoded."""
    if text.startswith("data:"):
        text = text.split(",", 1)[-1]
    if len(text) > settings.max_upload_bytes * 4 // 3 + 4:
        raise HTTPException(413, f"the {what} is larger than {settings.max_upload_bytes:,} bytes")
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise HTTPException(400, f"{what} must be base64 (a PNG or JPEG file, or a data: URL)") from None
    return decode_upload(data, settings, f"the {what}")


def sketch_png(sketch: Image.Image, side: int = 256) -> bytes:
    """The user's drawing as the history keeps it: a greyscale PNG at most `side` pixels a side
    (the studio canvas's size, so recalling it draws the same images)."""
    image = sketch.convert("L")
    image.thumbnail((side, side))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
