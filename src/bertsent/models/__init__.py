"""Classifiers. Every method shares the :class:`SentimentClassifier` surface."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bertsent.errors import ConfigError, ModelError
from bertsent.models.base import METADATA_FILE, SentimentClassifier, read_metadata
from bertsent.training.config import TrainingConfig

__all__ = [
    "COMPARED_METHODS",
    "DISPLAY_NAMES",
    "ENCODER_METHODS",
    "METADATA_FILE",
    "METHODS",
    "SentimentClassifier",
    "available_methods",
    "classifier_class",
    "create",
    "load",
    "method_recipe",
    "read_metadata",
]


# where each method's class lives, imported only when that method is used: loading a
# BERT model does not import scikit-learn, a TF-IDF model does not import transformers
_CLASSES = {
    "bow-svm": ("bertsent.models.baselines", "BowSvmClassifier"),
    "tfidf-lr": ("bertsent.models.baselines", "TfidfLrClassifier"),
    "nbsvm": ("bertsent.models.baselines", "NbSvmClassifier"),
    "lstm": ("bertsent.models.lstm", "LstmClassifier"),
    "bert": ("bertsent.models.bert", "BertClassifier"),
    "zero-shot": ("bertsent.models.zero_shot", "ZeroShotClassifier"),
    "setfit": ("bertsent.models.setfit", "SetFitClassifier"),
    "llm": ("bertsent.models.llm", "LlmClassifier"),
}


def classifier_class(method: str) -> type[SentimentClassifier]:
    """The class implementing ``method`` (one of :data:`METHODS`)."""
    import importlib

    module, name = _CLASSES[method]
    cls: type[SentimentClassifier] = getattr(importlib.import_module(module), name)
    return cls


# Method names in the order comparisons list them: no labels first, then simplest first,
# the fine-tuned encoder last.
METHODS = ("zero-shot", "llm", "bow-svm", "tfidf-lr", "nbsvm", "lstm", "setfit", "bert")
# what `bertsent compare` trains unless told: every method that runs on this machine
# alone (the llm method needs the user's server)
COMPARED_METHODS = tuple(method for method in METHODS if method != "llm")
# the methods whose saved models run on the encoder backends (torch, bf16, ONNX, INT8)
ENCODER_METHODS = ("bert", "zero-shot", "setfit")
DISPLAY_NAMES = {
    "zero-shot": "Zero-shot (embeddings)",
    "setfit": "SetFit (few-shot)",
    "llm": "LLM (prompted)",
    "bow-svm": "BOW + SVM",
    "tfidf-lr": "TF-IDF + LR",
    "nbsvm": "NB-SVM",
    "lstm": "BiLSTM",
    "bert": "BERT (fine-tuned)",
}


def method_recipe(method: str, config: TrainingConfig) -> TrainingConfig:
    """The part of ``config`` that ``method`` trains with, every other setting at its
    default: what its saved models record, so that recipes are compared on what counts."""
    return config.keeping(getattr(classifier_class(method), "recipe_settings", None))


def available_methods() -> list[str]:
    return list(METHODS)


def create(
    method: str, *, seed: int = 42, config: TrainingConfig | None = None, **params: Any
) -> SentimentClassifier:
    """A new, unfitted classifier of ``method``; ``config`` only shapes the encoder
    methods (:data:`ENCODER_METHODS`); ``params`` are the class's own (e.g. the zero-shot
    label ``descriptions``).

    Raises:
        ConfigError: ``method`` is not one of :data:`METHODS`, or a parameter is not its.
    """
    if method not in METHODS:
        raise ConfigError(f"unknown method '{method}'", hint=f"choose one of: {', '.join(METHODS)}")
    cls = classifier_class(method)
    unknown = sorted(set(params) - set(cls._parameter_names()))
    if unknown:
        raise ConfigError(f"method '{method}' has no setting {', '.join(unknown)}")
    if method in ENCODER_METHODS:
        base = config or TrainingConfig()
        config = TrainingConfig.from_dict({**base.to_dict(), "seed": seed})
        return cls(config=config, **params)  # type: ignore[call-arg]
    return cls(seed=seed, **params)  # type: ignore[call-arg]


def load(
    path: str | Path,
    backend: str = "torch",
    threads: int | None = None,
    device: str = "cpu",
    batch_size: int | None = None,
) -> SentimentClassifier:
    """Load any saved bertsent model directory, whatever method made it.

    ``backend`` picks how a BERT model runs: ``torch``, ``torch-bf16`` / ``torch-fp16``
    (half-precision weights), its measured ``onnx`` / ``onnx-int8`` export, or ``auto``:
    the fastest backend measured by ``bertsent export`` on this kind of machine whose
    accuracy stays within 0.3 points of ``torch``. ``threads`` sets ONNX Runtime's
    intra-op threads; ``device`` is where PyTorch backends run (``cpu`` or ``cuda``);
    ``batch_size`` is how many texts one forward pass scores (default: by device).

    >>> model = load("runs/demo/model")  # doctest: +SKIP
    >>> model.predict(["This is not a bad film"])  # doctest: +SKIP
    ['fresh']
    """
    method = read_metadata(path).get("method")
    if method not in METHODS:
        raise ModelError(f"{path}: unknown method '{method}' (known: {', '.join(METHODS)})")
    if method in ENCODER_METHODS:
        return classifier_class(method).load(
            path, backend=backend, threads=threads, device=device, batch_size=batch_size
        )
    if backend not in ("torch", "auto"):
        raise ConfigError(
            f"{path}: the '{backend}' backend is for BERT models; this one is '{method}'",
            hint="drop --backend",
        )
    if method == "lstm":  # PyTorch too: its threads and batch
        return classifier_class(method).load(path, threads=threads, batch_size=batch_size)
    return classifier_class(method).load(path)
