"""Concurrent generate requests on one model, gathered into shared forward passes.

Requests wait in a queue; the worker takes everything that arrived (waiting a few milliseconds
for company, up to `max_images`) and, on the model's own thread, checks and prepares each one
(`GenerationPipeline.prepare`: a bad request fails alone) and draws all of them with one
`GenerationPipeline.run`; the marked files are encoded while the next group is drawn. The event
loop never runs torch, and a group costs one hand-over between threads, not one per request: 50
waiting clients cost about what one batch of their images does.

A large group's files are encoded and signed in a separate process: in a thread, the C2PA
signing's Python side held the interpreter lock against the drawing thread, and the server used
1.2 of the 2 cores the pipeline alone keeps busy (bench/serve_load.py). Small groups (a studio
user, the tests) stay on a thread and start no process.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import io
import multiprocessing
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from PIL import Image

from ganstudio.data.images import parse_color
from ganstudio.pipeline import GenerationPipeline
from ganstudio.results import GenerationResult

Outcome = tuple[GenerationResult, list[bytes]] | Exception
POOL_MIN_IMAGES = 32  # groups this large are encoded in the encoder process


def marked_files(items: list[tuple]) -> list[bytes | Exception]:
    """In the encoder process: each (mode, size, pixels, record, ingredients, format,
    background) as the marked file `GeneratedImage.save` writes (XMP, then the C2PA signature)."""
    from ganstudio.provenance.metadata import format_of, marked_bytes

    out: list[bytes | Exception] = []
    for mode, size, pixels, record, ingredients, fmt, background in items:
        try:
            image, fmt = Image.frombytes(mode, size, pixels), format_of(None, fmt)
            out.append(marked_bytes(image, fmt, record, f"image.{fmt.lower()}", ingredients, background))
        except Exception as error:  # noqa: BLE001 - one image fails alone
            out.append(ValueError(str(error)))
    return out


class Batcher:
    def __init__(self, pipe: GenerationPipeline, max_images: int = 256, max_wait_ms: float = 5.0) -> None:
        self.pipe, self.max_images, self.max_wait = pipe, max_images, max_wait_ms / 1000
        self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="generate")  # one model
        self.encoder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="encode")
        self.pool: ProcessPoolExecutor | None = None  # started by the first large group
        self.queue: asyncio.Queue[tuple[dict[str, Any], str, asyncio.Future]] | None = None
        self.task: asyncio.Task | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.batches = self.images = 0  # groups and images drawn (health, tests, the load bench)

    async def call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Run `fn` on the model's worker thread (torch work stays off the event loop)."""
        return await asyncio.get_running_loop().run_in_executor(
            self.worker, functools.partial(fn, *args, **kwargs)
        )

    async def generate(
        self,
        format: str = "png",
        background: str = "white",
        **options: Any,  # noqa: A002
    ) -> tuple[GenerationResult, list[bytes]]:
        """One request (`GenerationPipeline.__call__`'s options), drawn with whatever other requests
        arrive within the wait: the result and each image as a marked file of `format`. A bad
        request raises its ValueError."""
        loop = asyncio.get_running_loop()
        if self.task is None or self.loop is not loop:  # first use, or a new event loop (tests)
            self.queue, self.loop = asyncio.Queue(), loop
            self.task = loop.create_task(self._drain())
        future = loop.create_future()
        await self.queue.put((options, (format, background), future))
        return await future

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            group = [await self.queue.get()]
            size, deadline = group[0][0].get("n", 1), loop.time() + self.max_wait
            while size < self.max_images:
                try:
                    item = self.queue.get_nowait()
                except asyncio.QueueEmpty:
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        break
                    try:
                        item = await asyncio.wait_for(self.queue.get(), remaining)
                    except TimeoutError:
                        break
                group.append(item)
                size += item[0].get("n", 1)
            try:
                outcomes = await self.call(self._draw, [options for options, _, _ in group])
            except Exception as error:  # noqa: BLE001 - handed to every waiting request
                outcomes = [error] * len(group)
            self.batches += 1
            self.images += size
            # files are encoded on another thread while the next group is drawn
            loop.create_task(self._deliver(group, outcomes))

    async def _deliver(self, group: list, outcomes: list) -> None:
        formats = [fmt for _, fmt, _ in group]
        try:
            if sum(len(o.images) for o in outcomes if not isinstance(o, Exception)) >= POOL_MIN_IMAGES:
                outcomes = await self._encode_in_pool(outcomes, formats)
            else:
                outcomes = await asyncio.get_running_loop().run_in_executor(
                    self.encoder, self.encode, outcomes, formats
                )
        except Exception as error:  # noqa: BLE001
            outcomes = [error] * len(group)
        for (_, _, future), outcome in zip(group, outcomes, strict=True):
            if future.done():  # a client that went away has cancelled its future
                continue
            if isinstance(outcome, Exception):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)

    async def _encode_in_pool(self, outcomes: list, formats: list[tuple[str, str]]) -> list[Outcome]:
        """The group's files from the encoder process, in one round trip (pixels and records go
        over the pipe, files come back); a pool that died is started again next time."""
        items = []
        for outcome, (fmt, background) in zip(outcomes, formats, strict=True):
            if not isinstance(outcome, Exception):
                colour = parse_color(background)
                items += [
                    (im.mode, im.size, im.tobytes(), im.record, list(im.ingredients), fmt, colour)
                    for im in outcome.images
                ]
        if self.pool is None:
            self.pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        try:
            files = await asyncio.wrap_future(self.pool.submit(marked_files, items))
        except BrokenProcessPool:
            self.pool = None
            raise
        encoded: list[Outcome] = []
        at = 0
        for outcome in outcomes:
            if isinstance(outcome, Exception):
                encoded.append(outcome)
                continue
            mine = files[at : at + len(outcome.images)]
            at += len(outcome.images)
            problem = next((f for f in mine if isinstance(f, Exception)), None)
            encoded.append(problem if problem is not None else (outcome, mine))
        return encoded

    @staticmethod
    def encode(outcomes: list, formats: list[tuple[str, str]]) -> list[Outcome]:
        """Each result's images as marked files of its (format, background); an error stays one."""
        encoded: list[Outcome] = []
        for outcome, fmt in zip(outcomes, formats, strict=True):
            if isinstance(outcome, Exception):
                encoded.append(outcome)
                continue
            try:
                files = []
                for image in outcome.images:
                    buffer = io.BytesIO()
                    image.save(buffer, format=fmt[0], background=fmt[1])  # marked, as the CLI's files
                    files.append(buffer.getvalue())
                encoded.append((outcome, files))
            except Exception as error:  # noqa: BLE001 - one request's files fail alone
                encoded.append(error)
        return encoded

    def _draw(self, requests: list[dict[str, Any]]) -> list[GenerationResult | Exception]:
        """On the worker thread: prepare each request (a bad one fails alone), draw the valid
        ones together."""
        outcomes: list[GenerationResult | Exception | None] = [None] * len(requests)
        prepared, where = [], []
        for i, options in enumerate(requests):
            try:
                prepared.append(self.pipe.prepare(**options))
                where.append(i)
            except Exception as error:  # noqa: BLE001 - whatever one request raises is its own
                outcomes[i] = error
        try:
            results = self.pipe.run(prepared) if prepared else []
        except Exception:  # noqa: BLE001 - the shared pass failed: draw each alone to find the culprit
            results = []
            for request in prepared:
                try:
                    results.append(self.pipe.run([request])[0])
                except Exception as error:  # noqa: BLE001
                    results.append(error)
        for i, result in zip(where, results, strict=True):
            outcomes[i] = result
        return outcomes

    def shutdown(self) -> None:
        """From any thread: stop taking requests and let the threads end (requests already being
        drawn finish; the pipeline is freed with the last reference)."""
        if self.task is not None and self.loop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.task.cancel)
        self.worker.shutdown(wait=False, cancel_futures=True)
        self.encoder.shutdown(wait=False, cancel_futures=True)
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        self.worker.shutdown(wait=False, cancel_futures=True)
        self.encoder.shutdown(wait=False, cancel_futures=True)
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)
