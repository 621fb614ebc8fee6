"""SetFit: contrastive pairs move the encoder; the logistic regression becomes one linear layer."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from bertsent.data import DatasetSplits
from bertsent.errors import ConfigError
from bertsent.models import load
from bertsent.models.setfit import SetFitClassifier, contrastive_pairs
from bertsent.training.config import TrainingConfig


def test_pairs_are_half_same_label_half_other_and_capped() -> None:
    labels = ["a"] * 3 + ["b"] * 5
    pairs = contrastive_pairs(labels, pairs_per_example=4, max_pairs=1000, seed=0)
    assert len(pairs) == 2 * 4 * len(labels)
    assert Counter(target for _, _, target in pairs) == {1.0: 32, 0.0: 32}
    for i, j, target in pairs:
        assert (labels[i] == labels[j]) == (target == 1.0)
    assert len(contrastive_pairs(labels, 4, max_pairs=10, seed=0)) == 10
    assert contrastive_pairs(labels, 4, 1000, seed=1) != pairs


def separation(model: SetFitClassifier, texts: list[str], labels: list[str]) -> float:
    """Mean cosine of same-label pairs minus that of different-label pairs."""
    vectors = model.embed(texts)
    cosines = vectors @ vectors.T
    same = np.equal.outer(np.array(labels), np.array(labels))
    off_diagonal = ~np.eye(len(texts), dtype=bool)
    return float(cosines[same & off_diagonal].mean() - cosines[~same].mean())


def test_contrastive_steps_pull_same_labels_together_and_the_head_is_the_regression(
    tiny_model_dir: Path, synthetic_splits: DatasetSplits, tmp_path: Path
) -> None:
    from sklearn.linear_model import LogisticRegression

    train, test = synthetic_splits.train, synthetic_splits.test
    config = TrainingConfig(model=str(tiny_model_dir), max_length=32)
    untouched = SetFitClassifier(config=config, pairs_per_example=1, max_pairs=0)
    untouched.fit(train.texts, train.labels)  # no pairs: the pre-trained encoder
    model = SetFitClassifier(config=config, max_pairs=960, learning_rate=5e-3, pair_batch_size=32)
    model.fit(train.texts, train.labels, eval_texts=test.texts, eval_labels=test.labels)
    before = separation(untouched, test.texts, test.labels)
    after = separation(model, test.texts, test.labels)
    assert after > before + 0.02, (before, after)  # a random encoder: every cosine near 1
    # well above chance (0.5); 0.78-0.8 on different runs of this tiny random encoder
    assert model.history_[0]["dev_accuracy"] >= 0.7

    # the saved linear layer gives exactly the regression's probabilities
    regression = LogisticRegression(C=model.C, max_iter=2000)
    regression.fit(model.embed(train.texts), train.labels)
    expected = regression.predict_proba(model.embed(test.texts))
    np.testing.assert_allclose(model.predict_proba(test.texts), expected, atol=1e-4)
    loaded = load(model.save(tmp_path / "setfit"))
    assert type(loaded) is SetFitClassifier and loaded.labels_ == ["negative", "positive"]
    np.testing.assert_allclose(loaded.predict_proba(test.texts), expected, atol=1e-4)
    own = ("max_pairs", "learning_rate", "pair_batch_size")
    assert [loaded.get_params()[name] for name in own] == [960, 5e-3, 32]  # its own recipe
    reading = json.loads((tmp_path / "setfit" / "sentence_bert_config.json").read_text())
    assert reading["max_seq_length"] == 32  # SentenceTransformer(folder) reads as it trained


def test_three_labels_and_refusals(tiny_model_dir: Path) -> None:
    config = TrainingConfig(model=str(tiny_model_dir), max_length=16)
    texts = [f"{word} film {i}" for i in range(8) for word in ("great", "awful", "average")]
    labels = [label for _ in range(8) for label in ("pos", "neg", "mixed")]
    model = SetFitClassifier(config=config, max_pairs=32).fit(np.array(texts), np.array(labels))
    assert model.labels_ == ["mixed", "neg", "pos"]  # numpy arrays are texts and labels too
    assert SetFitClassifier(max_pairs=32).get_params()["config"] is None
    model.set_params(config=None).fit(texts, labels)  # the packaged encoder's default recipe
    assert model.config is None and model.config_.model == TrainingConfig().model  # as given
    model.set_params(config=config)
    assert model.predict_proba(texts).shape == (24, 3) == model.predict_proba(np.array(texts)).shape
    with pytest.raises(ConfigError, match="at least two labels"):
        SetFitClassifier(config=config).fit(["a", "b"], ["pos", "pos"])
    with pytest.raises(ConfigError, match="not multi-label"):
        SetFitClassifier(config=config).fit(["a", "b"], ["joy;fear", "anger"])
    # an export only scores: refused before any training (it failed after all of it)
    with pytest.raises(ConfigError, match="backend='onnx' runs a trained model"):
        SetFitClassifier(config=config, backend="onnx").fit(texts, labels)


def test_aspect_pairs_are_embedded_with_the_segments_predictions_give_them(
    tiny_model_dir: Path,
) -> None:
    """The regression is fitted on the vectors the saved model computes: the aspect of
    a ``sentence [SEP] aspect`` pair in segment 1 (it was fitted on segment 0 vectors)."""
    config = TrainingConfig(model=str(tiny_model_dir), max_length=24)
    texts = [
        f"the {good} was {word} but the {bad} was {other} [SEP] {aspect}"
        for good, bad in (("screen", "battery"), ("food", "service"))
        for word, other in (("great", "awful"), ("fine", "poor"))
        for aspect in (good, bad)
    ]
    labels = ["positive", "negative"] * 4
    model = SetFitClassifier(config=config, max_pairs=16).fit(texts, labels)
    weight, bias = model.model_.weight.numpy(), model.model_.bias.numpy()
    logits = model.embed(texts) @ weight.T + bias
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(model.predict_proba(texts), expected, atol=1e-5)


def test_the_shared_schedule_flags_set_setfits_own_and_resume_is_refused(
    tiny_model_dir: Path, dataset_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bertsent.cli import main

    output = tmp_path / "setfit"
    code = main(["-q", "train", "--data", str(dataset_dir), "--method", "setfit",
                 "--model", str(tiny_model_dir), "--max-length", "16", "--epochs", "2",
                 "--learning-rate", "1e-3", "--batch-size", "512",
                 "--output", str(output)])  # fmt: skip
    assert code == 0
    own = json.loads((output / "bertsent.json").read_text())["setfit"]
    assert (own["epochs"], own["learning_rate"], own["pair_batch_size"]) == (2, 1e-3, 512)
    from bertsent.cli import build_parser
    from bertsent.cli.train import setfit_params

    explicit = build_parser().parse_args(["train", "--output", "x", "--method", "setfit",
                                          "--epochs", "3"])  # fmt: skip
    assert setfit_params(explicit) == {"epochs": 3}  # given, though it is train's default
    assert main(["train", "--data", str(dataset_dir), "--method", "setfit", "--epochs", "1.5",
                 "--output", str(tmp_path / "half")]) == 2  # fmt: skip
    assert "whole passes" in capsys.readouterr().err
    assert main(["train", "--data", str(dataset_dir), "--method", "tfidf-lr", "--resume",
                 "--output", str(tmp_path / "tfidf")]) == 2  # fmt: skip
    assert "the tfidf-lr method keeps none" in capsys.readouterr().err
