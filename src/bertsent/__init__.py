"""bertsent: fine-tune, compare, explain and deploy BERT-family sentiment classifiers.

>>> import bertsent  # doctest: +SKIP
>>> model = bertsent.load("runs/demo/model")  # doctest: +SKIP
>>> model.predict(["This is not a bad film"])  # doctest: +SKIP

The names below are imported on first use, so ``import bertsent`` (and ``bertsent
--help``) does not pay for torch, transformers and scikit-learn up front.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_PUBLIC = {
    "BertClassifier": "bertsent.models.bert",
    "BertsentError": "bertsent.errors",
    "ConfigError": "bertsent.errors",
    "DataError": "bertsent.errors",
    "ModelError": "bertsent.errors",
    "TrainingConfig": "bertsent.training.config",
    "evaluate": "bertsent.evaluation.evaluate",
    "load": "bertsent.models",
    "load_dataset": "bertsent.data",
    "train": "bertsent.pipeline",
}

if TYPE_CHECKING:
    from bertsent.data import load_dataset
    from bertsent.errors import BertsentError, ConfigError, DataError, ModelError
    from bertsent.evaluation.evaluate import evaluate
    from bertsent.models import load
    from bertsent.models.bert import BertClassifier
    from bertsent.pipeline import train
    from bertsent.training.config import TrainingConfig

__all__ = [
    "BertClassifier",
    "BertsentError",
    "ConfigError",
    "DataError",
    "ModelError",
    "TrainingConfig",
    "__version__",
    "evaluate",
    "load",
    "load_dataset",
    "train",
]


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'bertsent' has no attribute {name!r}")
    value = getattr(importlib.import_module(_PUBLIC[name]), name)
    globals()[name] = value  # later lookups skip this function
    return value
