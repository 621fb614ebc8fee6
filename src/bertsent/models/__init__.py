"""Classifiers. Every method shares the :class:`SentimentClassifier` surface."""

from __future__ import annotations

from pathlib import Path

from bertsent.errors import ModelError
from bertsent.models.base import METADATA_FILE, SentimentClassifier, read_metadata

__all__ = ["METADATA_FILE", "SentimentClassifier", "available_methods", "load", "read_metadata"]


def _methods() -> dict[str, type[SentimentClassifier]]:
    from bertsent.models.bert import BertClassifier

    return {BertClassifier.method: BertClassifier}


def available_methods() -> list[str]:
    return sorted(_methods())


def load(path: str | Path) -> SentimentClassifier:
    """Load any saved bertsent model directory, whatever method made it.

    >>> model = load("runs/demo/model")  # doctest: +SKIP
    >>> model.predict(["This is not a bad film"])  # doctest: +SKIP
    ['fresh']
    """
    method = read_metadata(path).get("method")
    methods = _methods()
    if method not in methods:
        raise ModelError(f"{path}: unknown method '{method}' (known: {', '.join(methods)})")
    return methods[method].load(path)
