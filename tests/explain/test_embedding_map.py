from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import bertsent.explain.embedding_map as embedding_module
from bertsent.cli import main
from bertsent.data.splits import Split
from bertsent.errors import ConfigError, DataError
from bertsent.explain.embedding_map import embedding_map, project
from bertsent.explain.figures import plot_embedding_map, write_embedding_map_html
from bertsent.models import SentimentClassifier, load
from tests.conftest import synthetic_reviews


def test_projection_is_deterministic_for_a_seed() -> None:
    vectors = np.random.default_rng(0).normal(size=(60, 8))
    first, second = project(vectors, seed=3), project(vectors, seed=3)
    for name in ("tsne", "pca"):
        assert first[name].shape == (60, 2)
        np.testing.assert_array_equal(first[name], second[name])


@pytest.mark.parametrize("count", [2, 6, 12, 28])
def test_every_class_gets_a_colour_of_its_own(count: int) -> None:
    """tab10 gave the eleventh class on the tenth's colour; the SVG repeated from the seventh."""
    from bertsent.explain.figures import class_colours

    colours = class_colours([f"label {i}" for i in range(count)])
    assert len(set(colours.values())) == count


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


def test_a_model_the_suite_does_not_apply_to_is_mapped_from_its_reviews_alone(
    trained_model_dir: Path,
) -> None:
    # emotion labels have no positive and negative side: the map was refused outright
    emotions = load(trained_model_dir)
    emotions.labels_ = ["anger", "joy"]
    texts, labels = synthetic_reviews(40, seed=5)
    gold = ["joy" if label == "positive" else "anger" for label in labels]
    result = embedding_map(emotions, Split("test", texts, gold), sample=30, behaviour_per_test=3)
    assert result.kinds == ["review"] * 30
    assert set(result.gold) == set(result.predicted) | {"anger", "joy"} == {"anger", "joy"}


def test_a_sample_the_probe_cannot_score_is_refused_before_embedding(
    classifier: SentimentClassifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_embedding(*arguments: Any) -> np.ndarray:
        raise AssertionError("embedded before the sample was checked")

    monkeypatch.setattr(embedding_module, "cls_vectors", no_embedding)
    texts, labels = synthetic_reviews(40, seed=5)
    with pytest.raises(DataError) as error:
        embedding_map(classifier, Split("test", texts, labels), sample=6)
    assert error.value.message == (
        "the sample of 6 reviews of the test split has 3 'positive', 3 'negative'; the linear "
        "probe's 5 folds need 5 or more reviews in each of 2 classes"
    )
    assert error.value.hint == (
        "raise --sample (the test split has 40 reviews), or map a larger --split"
    )
    with pytest.raises(ConfigError, match="--sample 0: must be at least 1"):
        embedding_map(classifier, Split("test", texts, labels), sample=0)


@pytest.mark.parametrize("sample", ["0", "-3"])
def test_a_sample_below_one_is_refused_by_the_command(
    sample: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 0 failed after a minute of embedding; -3 silently dropped the last 3 reviews
    with pytest.raises(SystemExit) as stopped:
        main(["embed-map", "MODEL", "--sample", sample, "--output", str(tmp_path)])
    assert stopped.value.code == 2
    assert f"argument --sample: must be at least 1, got {sample}" in capsys.readouterr().err
