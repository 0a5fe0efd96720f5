"""Concurrent generate requests on one model, gathered into shared forward passes.

Requests wait in a queue; the worker takes everything that arrived (waiting a few milliseconds
for company, up to `max_images`) and, on the model's own thread, checks and prepares each one
(`GenerationPipeline.prepare`: a bad request fails alone) and draws all of them with one
`GenerationPipeline.run`; the marked files are encoded on a second thread while the next group
is drawn. The event loop never runs torch, and a group costs one hand-over between threads, not
one per request: 50 waiting clients cost about what one batch of their images does.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import io
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ganstudio.pipeline import GenerationPipeline
from ganstudio.results import GenerationResult

Outcome = tuple[GenerationResult, list[bytes]] | Exception


class Batcher:
    def __init__(self, pipe: GenerationPipeline, max_images: int = 256, max_wait_ms: float = 5.0) -> None:
        self.pipe, self.max_images, self.max_wait = pipe, max_images, max_wait_ms / 1000
        self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="generate")  # one model
        self.encoder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="encode")
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

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        self.worker.shutdown(wait=False, cancel_futures=True)
        self.encoder.shutdown(wait=False, cancel_futures=True)
