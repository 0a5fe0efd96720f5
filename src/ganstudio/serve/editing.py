"""REST routes that change an image the user brings: `/v1/invert` brings it into a model,
`/v1/vary`, `/v1/interpolate` and `/v1/edit` make variations, morphs and slider moves of it
(`ganstudio.editing.Editor`), `/v1/redraw` keeps part of it and redraws the masked part under new
conditions (`ganstudio.redraw`). The work runs on the model's own worker thread, one edit at a time
per server (an inversion optimises for seconds); an inverted image is remembered (by its bytes,
model and conditions), so the next edit of the same image starts at once. Every file is marked
and kept like a generated one."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
from collections import OrderedDict
from typing import Any

from fastapi import FastAPI, HTTPException

from ganstudio.data.images import parse_color
from ganstudio.pipeline import MAX_SEED
from ganstudio.serve.batcher import Batcher
from ganstudio.serve.inputs import decode_base64_image
from ganstudio.serve.schemas import (
    ERRORS,
    EditRequest,
    EditSource,
    GenerateResponse,
    ImageOut,
    InterpolateRequest,
    InvertRequest,
    RedrawRequest,
    Settings,
    VaryRequest,
)

MIME = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp", "svg": "image/svg+xml"}


def image_outs(
    studio: Any,
    result: Any,
    files: list[bytes],
    fmt: str,
    operation: str,
    params: dict[str, Any],
    keep: bool = True,
    sketch: bytes | None = None,
) -> list[ImageOut]:
    """Each marked file kept for download, recorded in the history with the request's `params`
    and `sketch` (a PNG; unless not `keep`: a preview), and described (id, url, seed, label,
    record, data)."""
    out = []
    for image, data in zip(result.images, files, strict=True):
        image_id = studio.keep(data, MIME[fmt]) if keep else ""
        if keep:
            studio.history.add(image_id, operation, params, image.record, data, MIME[fmt], sketch)
        out.append(
            ImageOut(
                id=image_id,
                url=f"/v1/images/{image_id}" if keep else "",
                mime=MIME[fmt],
                seed=image.record["seed"],
                label=image.record["label"],
                metadata=image.record,
                data=base64.b64encode(data).decode(),
            )
        )
    return out


async def respond(
    studio: Any,
    pipe: Any,
    result: Any,
    fmt: str,
    background: str,
    operation: str,
    params: dict[str, Any],
    keep: bool = True,
) -> GenerateResponse:
    """Encode a result's images as marked files on a worker thread, keep and record them."""
    (outcome,) = await asyncio.to_thread(Batcher.encode, [result], [(fmt, background)])
    if isinstance(outcome, Exception):
        raise outcome
    images = image_outs(studio, result, outcome[1], fmt, operation, params, keep)
    return GenerateResponse(model=pipe.model_id, images=images, notes=result.notes)


class Inversions:
    """Each model's Editor (its inversion encoder and fitted slider directions stay loaded) and
    the most recently inverted images, keyed by model, image bytes and conditions."""

    def __init__(self, studio: Any, settings: Settings) -> None:
        self.studio, self.settings = studio, settings
        self.editors: dict[str, Any] = {}
        self.latents: OrderedDict[tuple, Any] = OrderedDict()
        self.lock = asyncio.Semaphore(1)  # one edit at a time: each keeps the CPU busy for seconds

    def check(self, body: EditSource) -> None:
        if body.prompt is not None and len(body.prompt) > self.settings.max_prompt_chars:
            raise HTTPException(
                400, f"the prompt has {len(body.prompt)} characters; at most {self.settings.max_prompt_chars}"
            )
        parse_color(body.background)  # a bad colour is a 400 before anything runs

    async def editor(self, model: str | None) -> tuple[Any, Any, Batcher]:
        from ganstudio.editing import Editor

        name, pipe, batcher = await asyncio.to_thread(self.studio.pipe, model)
        if name not in self.editors or self.editors[name].pipe is not pipe:  # a reloaded model
            self.editors[name] = Editor(pipe)
        return self.editors[name], pipe, batcher

    async def latent(self, editor: Any, batcher: Batcher, image: str, label: Any, prompt: Any) -> Any:
        """The image's latent in the editor's model: remembered, else inverted (the first image a
        model sees also fits its inversion encoder, about a minute, cached on disk)."""
        picture = decode_base64_image(image, self.settings, "image")  # size-checked before decoding
        key = (id(editor), hashlib.sha256(image.encode()).hexdigest(), label, prompt)
        if key not in self.latents:
            steps = self.settings.invert_steps
            self.latents[key] = await batcher.call(editor.invert, picture, label, prompt, steps)
            while len(self.latents) > self.settings.inversions_kept:
                self.latents.popitem(last=False)
        self.latents.move_to_end(key)
        return self.latents[key]


def add_editing_routes(app: FastAPI, studio: Any, settings: Settings, api: list) -> None:
    inversions = Inversions(studio, settings)
    editing = inversions.lock
    post = dict(tags=["edit"], dependencies=api, responses=ERRORS, response_model=GenerateResponse)

    def params(body: EditSource, **extra: Any) -> dict[str, Any]:
        return body.model_dump(exclude={"image", "image_b"}) | extra

    @app.post("/v1/invert", **post)
    async def invert_route(body: InvertRequest) -> GenerateResponse:
        """Bring an image into the model: its closest reconstruction (what the edits start from).
        The inversion is remembered for the next edit of the same image."""
        inversions.check(body)
        editor, pipe, batcher = await inversions.editor(body.model)
        async with editing:
            latent = await inversions.latent(editor, batcher, body.image, body.label, body.prompt)
            result = await batcher.call(editor.render, [latent], "invert")
        return await respond(
            studio, pipe, result, body.format, body.background, "invert", params(body, seed=0), body.keep
        )

    @app.post("/v1/vary", **post)
    async def vary_route(body: VaryRequest) -> GenerateResponse:
        """`n` variations of an image: 0 keeps it, 1 draws a new item with the same conditions."""
        inversions.check(body)
        editor, pipe, batcher = await inversions.editor(body.model)
        seed = body.seed if body.seed is not None else secrets.randbelow(2**31)
        if seed > MAX_SEED - (body.n - 1):
            raise HTTPException(400, f"seed {seed} + n − 1 must stay below {MAX_SEED + 1}")
        async with editing:
            latent = await inversions.latent(editor, batcher, body.image, body.label, body.prompt)
            result = await batcher.call(editor.vary, latent, body.strength, body.n, seed)
        return await respond(
            studio, pipe, result, body.format, body.background, "vary", params(body, seed=seed), body.keep
        )

    @app.post("/v1/interpolate", **post)
    async def interpolate_route(body: InterpolateRequest) -> GenerateResponse:
        """A morph from `image` to `image_b` in `frames` images and, with `strip`, the frames side
        by side as one more marked image (the last one)."""
        inversions.check(body)
        editor, pipe, batcher = await inversions.editor(body.model)
        async with editing:
            a = await inversions.latent(editor, batcher, body.image, body.label, body.prompt)
            b = await inversions.latent(editor, batcher, body.image_b, body.label_b, body.prompt)
            result = await batcher.call(editor.interpolate, a, b, body.frames)
        if body.strip:
            strip = result.grid(scale=1)
            record = strip.record | {"operation": "interpolate-strip", "seed": 0, "label": None}
            result = type(result)(
                [*result.images, strip], [*result.metadata, record], tensors=None, notes=result.notes
            )
        return await respond(
            studio, pipe, result, body.format, body.background, "interpolate", params(body, seed=0), body.keep
        )

    @app.post("/v1/edit", **post)
    async def edit_route(body: EditRequest) -> GenerateResponse:
        """The image moved along a slider direction, one image per strength (0 = as it is)."""
        inversions.check(body)
        editor, pipe, batcher = await inversions.editor(body.model)

        def moved(latent: Any) -> Any:
            edited = [editor.edit(latent, body.direction, s) for s in body.strengths]
            return editor.render(edited, "edit", direction=body.direction)

        async with editing:
            latent = await inversions.latent(editor, batcher, body.image, body.label, body.prompt)
            result = await batcher.call(moved, latent)
        return await respond(
            studio, pipe, result, body.format, body.background, "edit", params(body, seed=0), body.keep
        )

    @app.post("/v1/redraw", **post)
    async def redraw_route(body: RedrawRequest) -> GenerateResponse:
        """Keep the part of `image` the mask leaves clear and redraw the masked part to the prompt,
        class, sketch or attributes; `n` versions, each marked as AI-generated."""
        from ganstudio.redraw import redraw

        if body.prompt is not None and len(body.prompt) > settings.max_prompt_chars:
            raise HTTPException(
                400, f"the prompt has {len(body.prompt)} characters; at most {settings.max_prompt_chars}"
            )
        image = decode_base64_image(body.image, settings, "image")
        mask = decode_base64_image(body.mask, settings, "mask")
        sketch = decode_base64_image(body.sketch, settings, "sketch") if body.sketch else None
        parse_color(body.background)
        editor, pipe, batcher = await inversions.editor(body.model)
        seed = body.seed if body.seed is not None else secrets.randbelow(2**31)
        options = dict(label=body.label, prompt=body.prompt, sketch=sketch, attributes=body.attributes)
        async with editing:
            result = await batcher.call(
                redraw, editor, image, mask, n=body.n, seed=seed, strength=body.strength, **options
            )
        used = body.model_dump(exclude={"image", "mask", "sketch"})
        used |= {"seed": seed, "sketch": body.sketch is not None}
        return await respond(studio, pipe, result, body.format, body.background, "redraw", used)
