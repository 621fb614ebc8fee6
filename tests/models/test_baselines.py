"""The baselines: same surface as BERT, selection on dev, and pickle-free save/load."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
from scipy import sparse

from bertsent.data import DatasetSplits
from bertsent.errors import ConfigError, ModelError
from bertsent.models import ENCODER_METHODS, METHODS, classifier_class, create, load
from bertsent.models.baselines import LEGACY_PIPELINE_FILE, LinearBaseline
from bertsent.models.linear_state import SPEC_FILE
from bertsent.models.nbsvm import NBSVM

# the methods that learn from labels alone, with no pre-trained encoder or server
BASELINES = [
    method
    for method in METHODS
    if method not in ENCODER_METHODS and classifier_class(method).needs_labels
]


@pytest.fixture(scope="module", params=BASELINES)
def fitted(request: pytest.FixtureRequest, synthetic_splits: DatasetSplits) -> object:
    splits = synthetic_splits
    model = create(request.param, seed=3)
    return model.fit(
        splits.train.texts,
        splits.train.labels,
        eval_texts=splits.dev.texts,
        eval_labels=splits.dev.labels,
    )


def test_learns_the_synthetic_task(fitted, synthetic_splits: DatasetSplits) -> None:
    test = synthetic_splits.test
    probabilities = fitted.predict_proba(test.texts)
    assert probabilities.shape == (len(test), 2)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert fitted.labels_ == ["negative", "positive"]
    accuracy = np.mean(np.array(fitted.predict(test.texts)) == np.array(test.labels))
    assert accuracy >= 0.9, f"{fitted.method} only reached {accuracy:.2f}"
    assert fitted.count_parameters() > 0
    assert fitted.predict_proba([]).shape == (0, 2)


def test_selection_on_dev_is_recorded(fitted) -> None:
    assert fitted.history_, "one entry per setting tried"
    best_score = max(entry["dev_accuracy"] for entry in fitted.history_)
    assert fitted.best_["dev_accuracy"] == best_score
    if isinstance(fitted, LinearBaseline):
        assert [entry["C"] for entry in fitted.history_] == list(fitted.c_grid)


def test_save_load_round_trip_without_unpickling(
    fitted, synthetic_splits: DatasetSplits, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    texts = synthetic_splits.test.texts
    folder = fitted.save(tmp_path / "model", metadata={"note": "kept"})
    assert not any(
        p.suffix in {".pkl", ".pickle", ".joblib", ".bin", ".pt"} for p in folder.iterdir()
    )

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("loading a model must never unpickle")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    loaded = load(folder)
    assert type(loaded) is type(fitted)
    assert loaded.labels_ == fitted.labels_
    assert loaded.metadata_["note"] == "kept"
    assert loaded.count_parameters() == fitted.count_parameters()
    np.testing.assert_array_equal(loaded.predict_proba(texts), fitted.predict_proba(texts))


@pytest.mark.parametrize("method", ["bow-svm", "tfidf-lr", "nbsvm"])
def test_three_classes_round_trip_exactly(method: str, tmp_path: Path) -> None:
    """One calibrator per class for the calibrated models; the same probabilities back."""
    texts = [f"{word} film {i}" for i in range(12) for word in ("great", "awful", "average")]
    labels = [label for _ in range(12) for label in ("pos", "neg", "mixed")]
    model = create(method).fit(texts, labels)
    loaded = load(model.save(tmp_path / "model"))
    probe = ["great", "awful average", "a film", "unseen words"]
    np.testing.assert_array_equal(loaded.predict_proba(probe), model.predict_proba(probe))
    assert loaded.labels_ == ["mixed", "neg", "pos"]


def test_loading_refuses_unexpected_classes(
    synthetic_splits: DatasetSplits, tmp_path: Path
) -> None:
    model = create("bow-svm").fit(synthetic_splits.train.texts, synthetic_splits.train.labels)
    folder = model.save(tmp_path / "model")
    spec = json.loads((folder / SPEC_FILE).read_text())
    spec["linear"]["class"] = "FunctionTransformer"  # a class that would call any function
    (folder / SPEC_FILE).write_text(json.dumps(spec))
    with pytest.raises(ModelError, match="refusing to load unexpected class 'FunctionTransformer'"):
        load(folder)


def test_a_model_saved_by_bertsent_0_1_is_named(tmp_path: Path) -> None:
    model = create("tfidf-lr").fit(["good", "bad"] * 10, ["pos", "neg"] * 10)
    folder = model.save(tmp_path / "model")
    for name in (SPEC_FILE, "pipeline.safetensors"):
        (folder / name).unlink()
    (folder / LEGACY_PIPELINE_FILE).write_bytes(b"PK")
    with pytest.raises(ModelError, match="saved by an earlier bertsent"):
        load(folder)


def test_unfitted_and_unknown_methods_fail_clearly() -> None:
    with pytest.raises(ModelError, match="not fitted"):
        create("tfidf-lr").predict(["fine"])
    with pytest.raises(ConfigError, match="unknown method 'svm'"):
        create("svm")


def test_nbsvm_is_linear_in_naive_bayes_scaled_features() -> None:
    features = sparse.csr_matrix(np.array([[1, 0, 1], [1, 0, 1], [0, 1, 1], [0, 1, 1]]))
    model = NBSVM(C=1.0).fit(features, ["pos", "pos", "neg", "neg"])
    # a word seen only in positives gets a positive weight, one seen only in negatives a
    # negative weight, and a word seen everywhere has a log-count ratio of zero
    assert model.coef_.shape == (1, 3)
    assert model.coef_[0, 0] > 0 > model.coef_[0, 1]
    assert model.coef_[0, 2] == pytest.approx(0.0)
    three = NBSVM().fit(sparse.eye(3, format="csr"), ["a", "b", "c"])
    assert three.coef_.shape == (3, 3)
    assert list(three.predict(sparse.eye(3, format="csr"))) == ["a", "b", "c"]


def test_multiclass_baseline(tmp_path: Path) -> None:
    texts = [f"{word} film number {i}" for i in range(30) for word in ("great", "okay", "awful")]
    labels = [label for _ in range(30) for label in ("positive", "neutral", "negative")]
    model = create("nbsvm").fit(texts, labels)
    assert model.labels_ == ["negative", "neutral", "positive"]
    assert model.predict(["an okay film", "an awful film"]) == ["neutral", "negative"]
    assert load(model.save(tmp_path / "m")).predict(["great"]) == ["positive"]


def test_every_method_saves_its_training_text_hashes(
    fitted, synthetic_splits: DatasetSplits, tmp_path: Path
) -> None:
    from bertsent.data.splits import training_text_hashes
    from bertsent.models.base import TRAIN_HASHES_FILE

    expected = training_text_hashes(synthetic_splits.train.texts)
    folder = fitted.save(tmp_path / "model")
    saved = np.load(folder / TRAIN_HASHES_FILE, allow_pickle=False)
    assert saved.dtype == np.uint64 and np.array_equal(saved, expected)
    assert np.array_equal(load(folder).train_hashes_, expected)


def test_calibrated_baselines_name_a_class_too_small_for_their_folds() -> None:
    from bertsent.errors import DataError

    texts = ["a gem", "a delight", "a mess", "a bore", "a wreck", "a slog", "dull", "flat"]
    labels = ["pos", "pos", "neg", "neg", "neg", "neg", "neg", "neg"]
    for method in ("bow-svm", "nbsvm"):
        with pytest.raises(
            DataError, match="each class needs at least 5 training examples; 'pos' has 2"
        ):
            create(method).fit(
                texts, labels, eval_texts=["a joy", "a chore"], eval_labels=["pos", "neg"]
            )
    create("tfidf-lr").fit(
        texts, labels, eval_texts=["a joy", "a chore"], eval_labels=["pos", "neg"]
    )
