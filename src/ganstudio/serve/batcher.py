"""Concurrent generate requests on one model, gathered into shared forward passes.

Each request is checked and prepared on its own (`GenerationPipeline.prepare`, so a bad request
fails alone); the batcher then waits a few milliseconds for company, up to `max_images`, and
draws the whole group with one `GenerationPipeline.run` on the model's worker thread. The event
loop never runs torch: 50 waiting clients cost about what one batch of their images does.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ganstudio.pipeline import GenerationPipeline, Request
from ganstudio.results import GenerationResult


class Batcher:
    def __init__(self, pipe: GenerationPipeline, max_images: int = 256, max_wait_ms: float = 5.0) -> None:
        self.pipe, self.max_images, self.max_wait = pipe, max_images, max_wait_ms / 1000
        self.worker = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="generate"
        )  # one model, one thread
        self.queue: asyncio.Queue[tuple[Request, asyncio.Future]] | None = None
        self.task: asyncio.Task | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.batches = 0  # forward groups run, for the load bench

    async def call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Run `fn` on the model's worker thread (torch work stays off the event loop)."""
        return await asyncio.get_running_loop().run_in_executor(
            self.worker, functools.partial(fn, *args, **kwargs)
        )

    async def generate(self, **options: Any) -> GenerationResult:
        """Check and prepare one request (ValueError for a bad one), then draw it with whatever
        other requests arrive within the wait."""
        request = await self.call(self.pipe.prepare, **options)
        loop = asyncio.get_running_loop()
        if self.task is None or self.loop is not loop:  # first use, or a new event loop (tests)
            self.queue, self.loop = asyncio.Queue(), loop
            self.task = loop.create_task(self._drain())
        future = asyncio.get_running_loop().create_future()
        await self.queue.put((request, future))
        return await future

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            group = [await self.queue.get()]
            size, deadline = len(group[0][0].z), loop.time() + self.max_wait
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
                size += len(item[0].z)
            try:
                results = await self.call(self.pipe.run, [request for request, _ in group])
            except Exception as error:  # noqa: BLE001 - handed to every waiting request
                for _, future in group:
                    if not future.done():
                        future.set_exception(error)
                continue
            self.batches += 1
            for (_, future), result in zip(group, results, strict=True):
                if not future.done():  # a client that went away has cancelled its future
                    future.set_result(result)

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        self.worker.shutdown(wait=False, cancel_futures=True)
