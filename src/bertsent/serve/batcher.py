"""Micro-batching: texts of concurrent requests are merged into one forward pass.

Requests wait in a bounded queue; one worker takes up to ``max_batch_size`` texts
(waiting at most ``max_wait_s`` for more once it has some) and runs the model in a
single background thread, so the event loop keeps accepting and answering requests.
A request cancelled while it waits (it timed out, or its client left) is dropped from
the queue's count at once and never scored.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

logger = logging.getLogger(__name__)


class Overloaded(Exception):
    """The queue is full: the client should retry after ``retry_after_s``."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"queue full, retry after {retry_after_s} s")
        self.retry_after_s = retry_after_s


@dataclass
class _Job:
    texts: list[str]
    future: asyncio.Future[np.ndarray] = field(repr=False)
    waiting: bool = True  # counted in ``queued_texts`` until its batch starts


class MicroBatcher:
    """Queue texts, run them in merged batches, hand each request its own rows back.

    >>> batcher = MicroBatcher(model.predict_proba, max_batch_size=32)  # doctest: +SKIP
    >>> probabilities = await batcher.submit(["A fine film."])  # doctest: +SKIP
    """

    def __init__(
        self,
        predict_proba: Callable[[list[str]], np.ndarray],
        *,
        max_batch_size: int = 32,
        max_wait_s: float = 0.002,
        max_queue_texts: int = 512,
        on_batch: Callable[[int, float], None] | None = None,
        on_cancel: Callable[[int], None] | None = None,
    ) -> None:
        self.predict_proba = predict_proba
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_s
        self.max_queue_texts = max_queue_texts
        self.on_batch = on_batch
        self.on_cancel = on_cancel
        self.queued_texts = 0
        self.texts_per_second = 100.0  # updated from each batch, for Retry-After
        self._queue: asyncio.Queue[_Job | None] = asyncio.Queue()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="bertsent-model")
        self._worker: asyncio.Task[None] | None = None
        self._closing = False

    @property
    def running(self) -> bool:
        return self._worker is not None and not self._worker.done() and not self._closing

    def start(self) -> None:
        self._worker = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Finish every queued request, then stop the worker."""
        self._closing = True  # new requests get 503 from here on
        if self._worker is not None:
            self._queue.put_nowait(None)
            await self._worker
        self._executor.shutdown(wait=True)

    async def submit(self, texts: list[str]) -> np.ndarray:
        """(len(texts), n_classes) probabilities; raises ``Overloaded`` when the queue is full."""
        if self.queued_texts + len(texts) > self.max_queue_texts or not self.running:
            backlog = self.queued_texts + len(texts)
            raise Overloaded(max(1, round(backlog / max(self.texts_per_second, 1.0))))
        job = _Job(texts, asyncio.get_running_loop().create_future())
        self.queued_texts += len(texts)
        # cancelling the caller (a timeout, a client gone) cancels the future too
        job.future.add_done_callback(lambda _: self._forget_if_cancelled(job))
        self._queue.put_nowait(job)
        return await job.future

    def _forget_if_cancelled(self, job: _Job) -> None:
        """A job cancelled before its batch started frees its place in the queue now."""
        if job.future.cancelled() and job.waiting:
            job.waiting = False
            self.queued_texts -= len(job.texts)
            if self.on_cancel is not None:
                self.on_cancel(len(job.texts))

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        stopping = False
        while not stopping:
            first = await self._queue.get()
            if first is None:
                break
            if first.future.done():
                continue  # cancelled while it waited
            jobs, size = [first], len(first.texts)
            deadline = loop.time() + self.max_wait_s
            # take what is already waiting, then wait briefly for more
            while size < self.max_batch_size:
                try:
                    job = self._queue.get_nowait()
                except asyncio.QueueEmpty:
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        break
                    try:
                        job = await asyncio.wait_for(self._queue.get(), remaining)
                    except TimeoutError:
                        break
                if job is None:
                    stopping = True  # run this last batch, then stop
                    break
                if not job.future.done():
                    jobs.append(job)
                    size += len(job.texts)
            await self._run_batch(loop, jobs)

    async def _run_batch(self, loop: asyncio.AbstractEventLoop, jobs: list[_Job]) -> None:
        """One forward pass over the jobs' texts; each future gets its own rows."""
        # a job may have been cancelled while the batch waited for more
        jobs = [job for job in jobs if not job.future.done()]
        for job in jobs:
            job.waiting = False
            self.queued_texts -= len(job.texts)
        if jobs:
            await self._score(loop, jobs)

    async def _score(self, loop: asyncio.AbstractEventLoop, jobs: list[_Job]) -> None:
        texts = [text for job in jobs for text in job.texts]
        started = loop.time()
        try:
            probabilities = await loop.run_in_executor(self._executor, self.predict_proba, texts)
        except Exception as error:
            if len(jobs) > 1:  # one request's text must not fail the others merged with it
                logger.warning("batch of %d requests failed (%s): each alone", len(jobs), error)
                for job in jobs:
                    if not job.future.done():
                        await self._score(loop, [job])
                return
            logger.exception("batch of %d texts failed", len(texts))
            if not jobs[0].future.done():
                jobs[0].future.set_exception(error)
            return
        elapsed = loop.time() - started
        self.texts_per_second = 0.8 * self.texts_per_second + 0.2 * len(texts) / max(elapsed, 1e-6)
        if self.on_batch is not None:
            self.on_batch(len(texts), elapsed)
        start = 0
        for job in jobs:
            rows = probabilities[start : start + len(job.texts)]
            start += len(job.texts)
            if not job.future.done():
                job.future.set_result(rows)
