from __future__ import annotations

from pathlib import Path

import numpy as np

from bertsent.data.splits import Split
from bertsent.explain.embedding_map import embedding_map, project
from bertsent.explain.figures import plot_embedding_map, write_embedding_map_html
from bertsent.models import SentimentClassifier
from tests.conftest import synthetic_reviews


def test_projection_is_deterministic_for_a_seed() -> None:
    vectors = np.random.default_rng(0).normal(size=(60, 8))
    first, second = project(vectors, seed=3), project(vectors, seed=3)
    for name in ("tsne", "pca"):
        assert first[name].shape == (60, 2)
        np.testing.assert_array_equal(first[name], second[name])


def test_fine_tuning_separates_the_classes(classifier: SentimentClassifier, tmp_path: Path) -> None:
    texts, labels = synthetic_reviews(80, seed=5)
    result = embedding_map(
        classifier, Split("test", texts, labels), sample=60, behaviour_per_test=3
    )
    kinds = set(result.kinds)
    assert kinds == {"review", "sarcasm", "negation"}
    assert result.kinds.count("review") == 60
    for stage in ("before", "after"):
        assert result.stages[stage]["tsne"].shape == (len(result.texts), 2)
    assert result.stages["after"]["silhouette"] > result.stages["before"]["silhouette"]
    assert result.stages["after"]["probe_accuracy"] >= 0.9
    assert plot_embedding_map(result, tmp_path / "map.png").stat().st_size > 10_000
    page = write_embedding_map_html(result, tmp_path / "map.html").read_text()
    assert page.count("<title>") == 2 * len(result.texts) + 1
