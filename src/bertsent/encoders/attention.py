"""Switching a transformers model to eager attention, the path that returns its weights."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def eager_attention(model: Any) -> Iterator[None]:
    """Fused attention kernels return no weights; switch to the eager path for a while."""
    previous = model.config._attn_implementation
    model.set_attn_implementation("eager")
    try:
        yield
    finally:
        model.set_attn_implementation(previous)
