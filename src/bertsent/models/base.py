"""One kind of classifier: every method has the same surface, like scikit-learn estimators."""

from __future__ import annotations

import json
import platform
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from importlib import metadata as distributions
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np

from bertsent.atomic import atomic_directory
from bertsent.data.splits import Split, stratified_split
from bertsent.errors import ModelError

METADATA_FILE = "bertsent.json"
FORMAT_VERSION = 1


class SentimentClassifier(ABC):
    """``fit(texts, labels) -> self``, ``predict``, ``predict_proba``, ``save`` and ``load``.

    The constructor only stores keyword arguments; learned state lives in attributes
    ending in ``_`` (``labels_`` holds the class names in ``predict_proba`` column order).
    """

    method: ClassVar[str]
    labels_: list[str]
    metadata_: dict[str, Any]  # bertsent.json of a loaded model
    history_: list[dict[str, Any]]  # one entry per epoch or per setting tried on dev
    best_: dict[str, Any]  # the setting model selection kept, e.g. {"epoch": 3} or {"C": 0.1}

    @abstractmethod
    def fit(
        self,
        texts: Sequence[str],
        labels: Sequence[str],
        *,
        eval_texts: Sequence[str] | None = None,
        eval_labels: Sequence[str] | None = None,
    ) -> Self:
        """Learn from labelled texts; ``eval_*`` is a dev set for model selection."""

    @abstractmethod
    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """(n, n_classes) class probabilities, columns in ``labels_`` order."""

    def predict(self, texts: Sequence[str]) -> list[str]:
        """The most probable label name for each text."""
        probabilities = self.predict_proba(texts)
        return [self.labels_[i] for i in probabilities.argmax(axis=1)]

    def predict_scores(
        self, texts: Sequence[str], digits: int | None = None
    ) -> list[dict[str, Any]]:
        """For each text its ``label``, that label's probability ``score`` and all ``scores``.

        This is the shape ``bertsent predict --json`` prints; ``digits`` rounds the numbers.
        """
        results = []
        for row in self.predict_proba(texts):
            scores = {
                label: float(p) if digits is None else round(float(p), digits)
                for label, p in zip(self.labels_, row, strict=True)
            }
            label = self.labels_[int(row.argmax())]
            results.append({"label": label, "score": scores[label], "scores": scores})
        return results

    @abstractmethod
    def count_parameters(self) -> int:
        """How many learned numbers the model holds (weights, biases, calibration)."""

    @abstractmethod
    def save(
        self,
        path: str | Path,
        metadata: dict[str, Any] | None = None,
        extras: Callable[[Path], None] | None = None,
    ) -> Path:
        """Write the model to a directory atomically and return its path.

        Args:
            path: Target directory; an existing model there is replaced only once the
                new one is complete.
            metadata: Extra entries for ``bertsent.json`` (data, metrics, history...).
            extras: Called with the temporary folder to add files (figures, card).
        """

    def _write_directory(
        self,
        path: str | Path,
        write_model: Callable[[Path], None],
        settings: dict[str, Any],
        metadata: dict[str, Any] | None,
        extras: Callable[[Path], None] | None,
    ) -> Path:
        """Write the model files, ``bertsent.json`` and any extras into ``path`` atomically."""
        target = Path(path)
        with atomic_directory(target, METADATA_FILE, "bertsent model folder") as temporary:
            write_model(temporary)
            (temporary / METADATA_FILE).write_text(
                self._metadata_record(settings, metadata), encoding="utf-8"
            )
            if extras is not None:
                extras(temporary)
        return target

    def _restore(self, metadata: dict[str, Any]) -> None:
        """Set what ``load`` reads back from ``bertsent.json`` besides the weights."""
        self.metadata_ = metadata
        self.best_ = metadata.get("best", {})
        self.history_ = metadata.get("history", [])

    def _metadata_record(self, settings: dict[str, Any], metadata: dict[str, Any] | None) -> str:
        """The ``bertsent.json`` text: format, method, labels, settings, provenance."""
        record = {
            "format_version": FORMAT_VERSION,
            "method": self.method,
            "labels": self.labels_,
            **settings,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "versions": package_versions(),
            **(metadata or {}),
        }
        return json.dumps(record, indent=2)

    @classmethod
    @abstractmethod
    def load(cls, path: str | Path) -> Self:
        """Read a model written by ``save``."""


def package_versions() -> dict[str, str]:
    """Versions of the packages that shape a saved model, read without importing them."""
    versions = {"python": platform.python_version()}
    for name in ("bertsent", "torch", "transformers", "scikit-learn", "skops"):
        try:
            versions[name] = distributions.version(name)
        except distributions.PackageNotFoundError:
            continue
    return versions


def train_and_dev(
    texts: Sequence[str],
    labels: Sequence[str],
    eval_texts: Sequence[str] | None,
    eval_labels: Sequence[str] | None,
    seed: int,
) -> tuple[Split, Split]:
    """The training split and the dev split for model selection (10% of train if none)."""
    train = Split("train", list(texts), list(labels))
    if eval_texts is None or eval_labels is None:
        carved, dev = stratified_split(train, (0.9, 0.1), ("train", "dev"), seed)
        return carved, dev
    return train, Split("dev", list(eval_texts), list(eval_labels))


def require_fitted(model: SentimentClassifier, attribute: str) -> None:
    """Raise a clear error when a model is used before ``fit`` or ``load``."""
    if not hasattr(model, attribute):
        raise ModelError(
            f"this {model.method} classifier is not fitted yet", hint="call fit() or load() first"
        )


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The ``bertsent.json`` of a model directory.

    Raises:
        ModelError: the directory or its metadata is missing or unreadable.
    """
    directory = Path(path)
    if not directory.is_dir():
        raise ModelError(
            f"model directory '{directory}' not found", hint="train one with `bertsent train`"
        )
    file = directory / METADATA_FILE
    if not file.is_file():
        raise ModelError(
            f"{directory}: no {METADATA_FILE}, so this is not a bertsent model directory",
            hint="point to a folder written by `bertsent train`",
        )
    try:
        metadata: dict[str, Any] = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelError(f"{file}: unreadable metadata ({exc})") from None
    if metadata.get("format_version", 0) > FORMAT_VERSION:
        raise ModelError(
            f"{file}: written by a newer bertsent (format {metadata['format_version']})",
            hint="upgrade bertsent",
        )
    return metadata
