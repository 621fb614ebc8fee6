"""Every method is one kind of estimator: parameters in __init__, clone, repr, one save/load."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone

from bertsent.data.splits import DatasetSplits
from bertsent.data.tasks import AspectTask
from bertsent.errors import ConfigError, DataError
from bertsent.models import METHODS, classifier_class, load
from bertsent.models.baselines import TfidfLrClassifier
from bertsent.models.bert import BertClassifier
from bertsent.models.lstm import LstmClassifier
from bertsent.pipeline import train
from bertsent.training.config import TrainingConfig


@pytest.mark.parametrize("method", METHODS)
def test_get_params_are_the_constructor_arguments(method: str) -> None:
    cls = classifier_class(method)
    params = cls().get_params()
    assert params and set(params) == set(cls._parameter_names())
    rebuilt = cls(**params)
    assert rebuilt.get_params() == params


def test_clone_gives_an_unfitted_copy_with_the_same_parameters(
    synthetic_splits: DatasetSplits,
) -> None:
    fitted = TfidfLrClassifier(C=0.3, seed=5).fit(
        synthetic_splits.train.texts, synthetic_splits.train.labels
    )
    copy = clone(fitted)
    assert type(copy) is TfidfLrClassifier and copy.get_params() == {"C": 0.3, "seed": 5}
    assert not hasattr(copy, "pipeline_") and hasattr(fitted, "pipeline_")
    config = TrainingConfig(epochs=2, learning_rate=1e-4)
    bert = clone(BertClassifier(config=config, batch_size=8))
    assert bert.config == config and bert.config is not config and bert.batch_size == 8


def test_set_params_changes_one_and_refuses_unknown_names() -> None:
    model = LstmClassifier().set_params(hidden_size=32, epochs=2)
    assert (model.hidden_size, model.epochs) == (32, 2)
    with pytest.raises(ValueError, match=r"has no parameter 'hidden'.*hidden_size"):
        model.set_params(hidden=3)


def test_repr_shows_the_parameters_that_differ_from_the_defaults() -> None:
    assert repr(TfidfLrClassifier()) == "TfidfLrClassifier()"
    assert repr(TfidfLrClassifier(C=0.1)) == "TfidfLrClassifier(C=0.1)"
    assert repr(LstmClassifier(epochs=3, seed=1)) == "LstmClassifier(epochs=3, seed=1)"


def test_train_takes_a_ready_classifier_and_saves_its_parameters(
    synthetic_splits: DatasetSplits, tmp_path: Path
) -> None:
    run = train(synthetic_splits, output_dir=tmp_path / "model", method=TfidfLrClassifier(C=3.0))
    saved = json.loads((tmp_path / "model" / "bertsent.json").read_text())
    assert saved["method"] == "tfidf-lr" and saved["params"]["C"] == 3.0
    assert [entry["C"] for entry in run.history] == [3.0]  # no search: C was fixed
    assert saved["training"]["seconds"] >= 0 and saved["training"]["examples_per_second"] > 0
    reloaded = load(tmp_path / "model")
    texts = synthetic_splits.dev.texts
    assert np.allclose(reloaded.predict_proba(texts), run.model.predict_proba(texts))


def test_a_model_whose_parts_disagree_on_labels_is_refused(
    synthetic_splits: DatasetSplits, tmp_path: Path
) -> None:
    from bertsent.errors import ModelError

    train(synthetic_splits, output_dir=tmp_path / "model", method="tfidf-lr")
    file = tmp_path / "model" / "bertsent.json"
    file.write_text(json.dumps({**json.loads(file.read_text()), "labels": ["a", "b"]}))
    with pytest.raises(ModelError, match=r"labels \['negative', 'positive'\] differ"):
        load(tmp_path / "model")


def test_a_refit_on_single_label_data_forgets_an_earlier_multi_label_fit(
    synthetic_splits: DatasetSplits,
) -> None:
    """The task of the earlier fit stayed while the label names matched: a sigmoid per
    label then decided the single-label refit's reviews."""
    texts, labels = synthetic_splits.train.texts, synthetic_splits.train.labels
    both = ["negative;positive" if i % 7 == 0 else label for i, label in enumerate(labels)]
    model = TfidfLrClassifier().fit(texts, both)
    assert model.task_.name == "multi-label"
    model.fit(texts, labels)
    assert model.task_.name == "single-label"
    assert set(model.predict(texts)) <= {"negative", "positive"}


def test_an_lstm_refit_forgets_the_task_of_an_earlier_fit_or_load(
    synthetic_splits: DatasetSplits,
) -> None:
    """A loaded aspect LSTM refitted on plain reviews stayed an aspect model: its files
    and server then asked each review for an aspect."""
    texts, labels = synthetic_splits.train.texts, synthetic_splits.train.labels
    model = LstmClassifier(epochs=1).fit(texts, labels)
    model.task_ = AspectTask(model.labels_)  # as an aspect model's record loads it
    model.fit(texts, labels)
    assert model.task_.name == "single-label"


@pytest.mark.parametrize("method", ["zero-shot", "llm"])
def test_a_zero_shot_or_llm_refit_forgets_the_task_of_an_earlier_fit_or_load(
    method: str, tiny_model_dir: Path
) -> None:
    """A loaded five-class zero-shot model refit on two labels stayed fine-grained, and
    then refused to predict or save."""
    options = {
        "zero-shot": {"config": TrainingConfig(model=str(tiny_model_dir)), "descriptions": "p;n"},
        "llm": {"endpoint": "http://127.0.0.1:9/v1", "cache": None},
    }[method]
    model = classifier_class(method)(**options).fit(["a fine film", "a dull film"], ["p", "n"])
    model.task_ = AspectTask(model.labels_)  # as an aspect model's record loads it
    model.fit(["a fine film", "a dull film"], ["p", "n"])
    assert model.task_.name == "single-label"


def test_a_refit_of_a_loaded_bert_reads_nothing_more_from_its_folder(
    trained_model_dir: Path, synthetic_splits: DatasetSplits
) -> None:
    """A server built on a loaded model refitted in the process explained the old
    weights: its explainer read them from the folder the model was loaded from."""
    from dataclasses import replace

    from bertsent.serve.app import explainer_for

    model = load(trained_model_dir)
    model.set_params(config=replace(model.config, epochs=1, threads=1))  # type: ignore[attr-defined]
    train_split = synthetic_splits.train
    model.fit(train_split.texts[:64], train_split.labels[:64])
    explainer = explainer_for(model)
    texts = ["a superb film", "a dull mess"]
    np.testing.assert_allclose(
        explainer.predict_proba(texts), model.predict_proba(texts), atol=1e-5
    )


def test_a_class_loads_only_its_own_methods_folder(
    synthetic_splits: DatasetSplits, tmp_path: Path
) -> None:
    """TfidfLrClassifier.load read a bow-svm folder, and a later save relabelled it."""
    from bertsent.errors import ModelError
    from bertsent.models.baselines import BowSvmClassifier

    train_split = synthetic_splits.train
    folder = BowSvmClassifier().fit(train_split.texts, train_split.labels).save(tmp_path / "bow")
    with pytest.raises(ModelError, match="holds a bow-svm model, not tfidf-lr"):
        TfidfLrClassifier.load(folder)
    assert type(load(folder)) is BowSvmClassifier


@pytest.mark.parametrize("method", ["setfit", "zero-shot"])
def test_checkpoint_options_are_refused_by_a_method_that_keeps_none(method: str) -> None:
    with pytest.raises(ConfigError, match=f"resume: the {method} method keeps no checkpoints"):
        classifier_class(method)().fit(["a fine film"] * 2, ["pos", "neg"], resume=True)


def test_fit_refuses_a_teacher_encoder_it_would_not_train() -> None:
    config = TrainingConfig(teacher_model="sentence-transformers/all-mpnet-base-v2")
    with pytest.raises(ConfigError, match="fit learns from a fine-tuned teacher"):
        BertClassifier(config=config).fit(["a fine film", "a dull film"], ["pos", "neg"])


@pytest.mark.parametrize(("name", "value"), [("epochs", 0), ("batch_size", 0), ("dropout", 1.0)])
def test_an_lstm_setting_out_of_range_is_named(name: str, value: float) -> None:
    with pytest.raises(ConfigError, match=f"lstm setting {name}={value!r} is out of range"):
        LstmClassifier(**{name: value}).fit(["a fine film", "a dull film"] * 5, ["p", "n"] * 5)


@pytest.mark.parametrize("method", ["tfidf-lr", "lstm", "bert"])
def test_fit_checks_its_data_as_the_command_line_does(method: str, tiny_model_dir: Path) -> None:
    """A raw KeyError, minutes of fine-tuning on one class, or a dev set dropped without
    a word, before."""
    options = {"config": TrainingConfig(model=str(tiny_model_dir))} if method == "bert" else {}
    model = classifier_class(method)(**options)
    texts, labels = ["a fine film", "a dull film"] * 5, ["pos", "neg"] * 5
    with pytest.raises(DataError, match=r"dev row 2: label 'neutral' never occurs in train"):
        model.fit(texts, labels, eval_texts=texts[:2], eval_labels=["pos", "neutral"])
    with pytest.raises(DataError, match=r"train has 1 class \(pos\)"):
        model.fit(texts, ["pos"] * 10)
    with pytest.raises(DataError, match="the dev split is empty"):
        model.fit(texts, labels, eval_texts=[], eval_labels=[])
    with pytest.raises(ConfigError, match="eval_texts and eval_labels go together"):
        model.fit(texts, labels, eval_texts=texts[:2])


@pytest.mark.parametrize("method", ["bert", "zero-shot"])
@pytest.mark.parametrize("backend", ["onnx", "torch-bf16"])
def test_fit_refuses_a_backend_that_runs_a_trained_model(backend: str, method: str) -> None:
    """fit trained with PyTorch and then found no ONNX session, ran bf16 as fp32, or
    (a model loaded with one, refit) kept predicting with the old export."""
    model = classifier_class(method)(backend=backend)
    with pytest.raises(ConfigError, match=f"backend='{backend}' runs a trained model"):
        model.fit(["a fine film", "a dull film"] * 5, ["p", "n"] * 5)


def test_threads_hold_for_the_bilstm_too(synthetic_splits: DatasetSplits, tmp_path: Path) -> None:
    """`train --method lstm --threads 1` used every core: only a fine-tune set them."""
    import torch

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        train(synthetic_splits, TrainingConfig(threads=1), tmp_path / "lstm", method="lstm")
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_fit_leaves_the_parameters_as_given(
    tiny_model_dir: Path, synthetic_splits: DatasetSplits, tmp_path: Path
) -> None:
    """scikit-learn's contract: the recipe as it ran (batch size and learning rate filled
    in) is a fitted attribute, saved with the model; the parameter stays as given."""
    config = TrainingConfig(model=str(tiny_model_dir), epochs=1, max_length=32, teacher_cache="")
    model = BertClassifier(config=config)
    params = model.get_params()
    run = train(synthetic_splits, None, tmp_path / "m", method=model)
    assert model.get_params() == params and model.config.learning_rate is None
    assert run.model.config_.learning_rate == 5e-5 and run.model.config_.batch_size == 32
    saved = json.loads((tmp_path / "m" / "bertsent.json").read_text())
    assert saved["training_config"]["learning_rate"] == 5e-5
    assert load(tmp_path / "m").get_params()["config"].batch_size == 32


def test_a_saved_bilstm_scores_with_the_threads_and_batch_it_is_loaded_with(
    synthetic_splits: DatasetSplits, tmp_path: Path
) -> None:
    """`predict --threads / --batch-size` (and serve's) did nothing for the BiLSTM."""
    import torch

    train(synthetic_splits, TrainingConfig(), tmp_path / "lstm", method="lstm")
    texts = synthetic_splits.test.texts
    default = load(tmp_path / "lstm")
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        small = load(tmp_path / "lstm", threads=1, batch_size=3)
        assert torch.get_num_threads() == 1 and small.scoring_batch_size == 3  # type: ignore[attr-defined]
        assert np.allclose(small.predict_proba(texts), default.predict_proba(texts), atol=1e-6)
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize(("method", "params"), [("setfit", {"max_pairs": 4}), ("zero-shot", {})])
def test_texts_a_pretrained_encoder_has_seen_count_as_seen(
    method: str, params: dict[str, int], tiny_model_dir: Path, tmp_path: Path
) -> None:
    """Those of a `bertsent pretrain` folder (or any bertsent model) a method starts from."""
    import shutil

    from bertsent.data.splits import save_text_hashes, text_hashes, training_text_hashes
    from bertsent.models import create

    start = tmp_path / "pretrained"
    shutil.copytree(tiny_model_dir, start)  # as `bertsent pretrain` leaves it
    save_text_hashes(start, training_text_hashes(["a review read in pre-training"]))
    config = TrainingConfig(model=str(start), max_length=16)
    texts, labels = ["great film", "awful film", "fine film", "dull film"], ["p", "n", "p", "n"]
    model = create(method, config=config, **params).fit(texts, labels)
    assert model.train_hashes_ is not None
    assert np.isin(text_hashes(["a review read in pre-training", "great film"]),
                   model.train_hashes_).all()  # fmt: skip


def test_only_the_fine_tune_refuses_settings_it_reads_for_these_labels() -> None:
    """Label smoothing and class weights shape BERT's loss; SetFit and zero-shot never
    read them, so the same recipe trains those on several labels per review."""
    from bertsent.data.tasks import MultiLabelTask
    from bertsent.models import create

    recipe = TrainingConfig(label_smoothing=0.1)
    emotions = MultiLabelTask(["anger", "joy"])
    with pytest.raises(ConfigError, match=r"--label-smoothing 0\.1 applies to single-label"):
        create("bert", config=recipe).check_labels(emotions.labels, emotions)
    for method in ("setfit", "zero-shot"):
        create(method, config=recipe).check_labels(emotions.labels, emotions)
    TfidfLrClassifier().check_labels(emotions.labels, emotions)  # no recipe at all
