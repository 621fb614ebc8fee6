from __future__ import annotations

from pathlib import Path

import pytest

from bertsent.models import SentimentClassifier, load


@pytest.fixture(scope="module")
def classifier(trained_model_dir: Path) -> SentimentClassifier:
    return load(trained_model_dir)
