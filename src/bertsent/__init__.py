"""bertsent: fine-tune, compare, explain and deploy BERT-family sentiment classifiers.

>>> import bertsent  # doctest: +SKIP
>>> model = bertsent.load("runs/demo/model")  # doctest: +SKIP
>>> model.predict(["This is not a bad film"])  # doctest: +SKIP
"""

from __future__ import annotations

__version__ = "0.1.0"

from bertsent.data import load_dataset
from bertsent.errors import BertsentError, ConfigError, DataError, ModelError
from bertsent.evaluation.evaluate import evaluate
from bertsent.models import load
from bertsent.models.bert import BertClassifier
from bertsent.training.config import TrainingConfig
from bertsent.training.run import train

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
