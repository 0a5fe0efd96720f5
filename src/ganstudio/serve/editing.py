"""REST routes that change an image the user brings: `/v1/redraw` keeps part of an image and
redraws the masked part under new conditions (`ganstudio.redraw`). The work runs on the model's
own worker thread, one edit at a time per server (an edit optimises for seconds), and its files
are marked and kept like generated ones."""

from __future__ import annotations

import asyncio
import base64
import secrets
from typing import Any

from fastapi import FastAPI, HTTPException

from ganstudio.data.images import parse_color
from ganstudio.serve.batcher import Batcher
from ganstudio.serve.inputs import decode_base64_image
from ganstudio.serve.schemas import ERRORS, GenerateResponse, ImageOut, RedrawRequest, Settings

MIME = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp", "svg": "image/svg+xml"}


def image_outs(
    studio: Any, result: Any, files: list[bytes], fmt: str, operation: str, params: dict[str, Any]
) -> list[ImageOut]:
    """Each marked file kept for download, recorded in the history with the request's `params`,
    and described (id, url, seed, label, record, data)."""
    out = []
    for image, data in zip(result.images, files, strict=True):
        image_id = studio.keep(data, MIME[fmt])
        studio.history.add(image_id, operation, params, image.record, data, MIME[fmt])
        out.append(
            ImageOut(
                id=image_id,
                url=f"/v1/images/{image_id}",
                mime=MIME[fmt],
                seed=image.record["seed"],
                label=image.record["label"],
                metadata=image.record,
                data=base64.b64encode(data).decode(),
            )
        )
    return out


def add_editing_routes(app: FastAPI, studio: Any, settings: Settings, api: list) -> None:
    editing = asyncio.Semaphore(1)  # one edit at a time: each keeps the CPU busy for seconds

    @app.post(
        "/v1/redraw", tags=["edit"], dependencies=api, responses=ERRORS, response_model=GenerateResponse
    )
    async def redraw_route(body: RedrawRequest) -> GenerateResponse:
        """Keep the part of `image` the mask leaves clear and redraw the masked part to the prompt,
        class, sketch or attributes; `n` versions, each marked as AI-generated."""
        from ganstudio.editing import Editor
        from ganstudio.redraw import redraw

        if body.prompt is not None and len(body.prompt) > settings.max_prompt_chars:
            raise HTTPException(
                400, f"the prompt has {len(body.prompt)} characters; at most {settings.max_prompt_chars}"
            )
        image = decode_base64_image(body.image, settings, "image")
        mask = decode_base64_image(body.mask, settings, "mask")
        sketch = decode_base64_image(body.sketch, settings, "sketch") if body.sketch else None
        parse_color(body.background)
        name, pipe, batcher = await asyncio.to_thread(studio.pipe, body.model)
        seed = body.seed if body.seed is not None else secrets.randbelow(2**31)
        options = dict(label=body.label, prompt=body.prompt, sketch=sketch, attributes=body.attributes)
        async with editing:
            result = await batcher.call(
                redraw, Editor(pipe), image, mask, n=body.n, seed=seed, strength=body.strength, **options
            )
        (outcome,) = await asyncio.to_thread(Batcher.encode, [result], [(body.format, body.background)])
        if isinstance(outcome, Exception):
            raise outcome
        return GenerateResponse(
            model=pipe.model_id,
            images=image_outs(
                studio,
                result,
                outcome[1],
                body.format,
                "redraw",
                body.model_dump(exclude={"image", "mask", "sketch"})
                | {"seed": seed, "sketch": body.sketch is not None},
            ),
            notes=result.notes,
        )
