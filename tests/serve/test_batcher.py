"""Micro-batching merges concurrent requests and bounds its queue."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from bertsent.serve.batcher import MicroBatcher, Overloaded


def length_scores(texts: list[str]) -> np.ndarray:
    """A stand-in model whose answer identifies its input: row i = (len(text_i), 1)."""
    return np.array([[len(text), 1.0] for text in texts])


def test_concurrent_submissions_share_one_forward_pass() -> None:
    batches: list[int] = []

    async def scenario() -> list[np.ndarray]:
        batcher = MicroBatcher(
            length_scores,
            max_batch_size=64,
            max_wait_s=0.05,
            on_batch=lambda n, s: batches.append(n),
        )
        batcher.start()
        results = await asyncio.gather(*(batcher.submit(["x" * i] * 2) for i in range(1, 6)))
        await batcher.stop()
        return results

    results = asyncio.run(scenario())
    assert batches == [10]  # five requests of two texts, one pass
    assert [int(r[0, 0]) for r in results] == [1, 2, 3, 4, 5]  # each got its own rows
    assert all(r.shape == (2, 2) for r in results)


def test_full_queue_refuses_with_a_retry_hint() -> None:
    async def scenario() -> tuple[int, int]:
        batcher = MicroBatcher(length_scores, max_wait_s=0.2, max_queue_texts=3)
        batcher.start()
        waiting = [asyncio.ensure_future(batcher.submit(["a"])) for _ in range(3)]
        await asyncio.sleep(0)
        with pytest.raises(Overloaded) as refused:
            await batcher.submit(["b"])
        answers = await asyncio.gather(*waiting)
        await batcher.stop()
        return refused.value.retry_after_s, len(answers)

    retry_after, answered = asyncio.run(scenario())
    assert retry_after >= 1 and answered == 3


def test_stop_finishes_queued_work_and_then_refuses() -> None:
    async def scenario() -> np.ndarray:
        batcher = MicroBatcher(length_scores, max_wait_s=0.1)
        batcher.start()
        pending = asyncio.ensure_future(batcher.submit(["abc"]))
        await asyncio.sleep(0)
        await batcher.stop()
        with pytest.raises(Overloaded):
            await batcher.submit(["late"])
        return await pending

    assert int(asyncio.run(scenario())[0, 0]) == 3


def test_cancelled_work_frees_its_place_and_is_never_scored() -> None:
    """A request that timed out or whose client left: its texts leave the queue count at
    once (no 503s on its account) and never reach the model."""
    scored: list[int] = []
    cancelled: list[int] = []

    async def scenario() -> tuple[int, np.ndarray]:
        batcher = MicroBatcher(
            length_scores,
            max_wait_s=0.2,
            max_queue_texts=4,
            on_batch=lambda n, s: scored.append(n),
            on_cancel=cancelled.append,
        )
        batcher.start()
        first = asyncio.ensure_future(batcher.submit(["a"]))  # opens a 0.2 s batch window
        gone = asyncio.ensure_future(batcher.submit(["b", "c", "d"]))
        await asyncio.sleep(0.01)
        gone.cancel()  # what a timeout or a disconnect does to the request
        await asyncio.sleep(0)
        queued_after_cancel = batcher.queued_texts
        kept = await batcher.submit(["e" * 5, "f" * 6, "g" * 7])  # fits only if "gone" left
        await first
        await batcher.stop()
        return queued_after_cancel, kept

    queued_after_cancel, kept = asyncio.run(scenario())
    assert queued_after_cancel == 1
    assert [int(row[0]) for row in kept] == [5, 6, 7]
    assert cancelled == [3]
    assert sum(scored) == 4  # "a" and the three kept; none of the cancelled


def test_a_text_that_fails_the_model_fails_its_own_request_only() -> None:
    """An LLM server refusing one over-long review failed every request merged with it."""

    def refuses_long_texts(texts: list[str]) -> np.ndarray:
        if any(len(text) > 100 for text in texts):
            raise ValueError("a text past the context window")
        return length_scores(texts)

    async def scenario() -> list[object]:
        batcher = MicroBatcher(refuses_long_texts, max_batch_size=64, max_wait_s=0.05)
        batcher.start()
        requests = [["short"], ["x" * 500], ["also short"]]
        results = await asyncio.gather(
            *(batcher.submit(texts) for texts in requests), return_exceptions=True
        )
        assert batcher.queued_texts == 0  # each job counted out once
        await batcher.stop()
        return results

    short, long, also_short = asyncio.run(scenario())
    assert isinstance(long, ValueError)
    assert int(short[0, 0]) == 5 and int(also_short[0, 0]) == 10  # type: ignore[index]
