"""`compare` and `learning_curve` end to end on small data, and the derived recommendation."""

from __future__ import annotations

import json
import logging
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

import bertsent.comparison.learning_curve as curve_module
from bertsent.atomic import written_by
from bertsent.comparison.compare import compare
from bertsent.comparison.learning_curve import (
    bert_config_for,
    label_advice,
    learning_curve,
    subsample,
    with_full_data,
)
from bertsent.comparison.recommend import recommend
from bertsent.data import DatasetSplits, Split
from bertsent.data.splits import held_out_splits
from bertsent.errors import ConfigError, DataError, OutputExistsError, TrainingInterrupted
from bertsent.models import SentimentClassifier, create
from bertsent.training.config import TrainingConfig
from tests.conftest import FixedClassifier, synthetic_reviews


def tiny_bert(model_dir: Path) -> TrainingConfig:
    return TrainingConfig(
        model=str(model_dir), epochs=3, batch_size=16, learning_rate=3e-3, max_length=32
    )


@pytest.fixture(scope="module")
def comparison(
    tiny_model_dir: Path, synthetic_splits: DatasetSplits, tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict[str, Any], Path]:
    output = tmp_path_factory.mktemp("compare")
    result = compare(
        synthetic_splits,
        methods=["bow-svm", "tfidf-lr", "bert"],
        output_dir=output,
        config=tiny_bert(tiny_model_dir),
        command="bertsent compare --test",
    )
    return result, output


def test_compare_measures_every_method_on_the_same_test_split(
    comparison: tuple[dict[str, Any], Path], synthetic_splits: DatasetSplits
) -> None:
    result, output = comparison
    assert [row["method"] for row in result["rows"]] == ["bow-svm", "tfidf-lr", "bert"]
    for row in result["rows"]:
        low, high = row["accuracy_ci"]
        assert 0 <= low <= row["accuracy"] <= high <= 1
        assert row["seeds"] == 1 and row["accuracy_sd"] == 0.0  # one run: no spread
        assert 0 <= row["behaviour_pass_rate"] <= 1
        assert {"negation", "sarcasm", "contrast"} <= set(row["failure_rates"])
        assert row["reviews_per_second"] > 0 and row["latency_p50_ms"] > 0
        assert row["size_bytes"] > 0 and row["parameters"] > 0
    assert result["splits"]["sizes"]["test"] == len(synthetic_splits.test)
    assert set(result["paired"]) == {"bow-svm", "tfidf-lr"}
    assert result["recommendation"][0] == "**Use BERT when**"
    markdown = (output / "compare.md").read_text()
    assert "| BOW + SVM |" in markdown and "When to use which" in markdown
    assert " ± " not in markdown  # a spread is shown only with several seeds
    assert "`bertsent compare --test`" in markdown
    assert json.loads((output / "compare.json").read_text())["rows"] == result["rows"]
    assert Image.open(output / "compare.png").size[0] > 1000


def test_compare_reuses_models_trained_on_the_same_data(
    comparison: tuple[dict[str, Any], Path], tiny_model_dir: Path, synthetic_splits: DatasetSplits
) -> None:
    first, output = comparison
    weights = output / "models" / "bert-seed42" / "model.safetensors"
    modified = weights.stat().st_mtime_ns
    again = compare(
        synthetic_splits,
        methods=["bow-svm", "bert"],
        output_dir=output,
        config=tiny_bert(tiny_model_dir),
    )
    assert weights.stat().st_mtime_ns == modified
    assert again["rows"][1]["accuracy"] == first["rows"][2]["accuracy"]
    assert again["rows"][1]["train_seconds"] == first["rows"][2]["train_seconds"]
    # another recipe on the same data is another model: trained again, not reused
    shorter = TrainingConfig(**{**tiny_bert(tiny_model_dir).to_dict(), "epochs": 1})
    compare(synthetic_splits, methods=["bert"], output_dir=output, config=shorter)
    assert weights.stat().st_mtime_ns != modified
    saved = json.loads((weights.parent / "bertsent.json").read_text())
    assert saved["training_config"]["epochs"] == 1


def test_compare_keeps_an_encoder_method_under_settings_it_does_not_read(
    tiny_model_dir: Path, synthetic_splits: DatasetSplits, tmp_path: Path
) -> None:
    """Zero-shot reads the encoder, max length and truncation: R-Drop (--recipe robust)
    neither changes it nor goes into its record, and a rerun reuses it."""
    robust = TrainingConfig(model=str(tiny_model_dir), max_length=32, r_drop=1.0)
    compare(synthetic_splits, methods=["zero-shot"], output_dir=tmp_path, config=robust)
    folder = tmp_path / "models" / "zero-shot-seed42"
    weights = folder / "model.safetensors"
    modified = weights.stat().st_mtime_ns
    recorded = json.loads((folder / "bertsent.json").read_text())["training_config"]
    assert (recorded["model"], recorded["max_length"], recorded["r_drop"]) == (
        str(tiny_model_dir),
        32,
        0.0,
    )
    for again in (robust, replace(robust, r_drop=0.0)):
        compare(synthetic_splits, methods=["zero-shot"], output_dir=tmp_path, config=again)
        assert weights.stat().st_mtime_ns == modified  # reused
    shorter = replace(robust, max_length=16)  # a setting it reads: made again
    compare(synthetic_splits, methods=["zero-shot"], output_dir=tmp_path, config=shorter)
    assert weights.stat().st_mtime_ns != modified


def test_a_setting_the_data_cannot_take_is_refused_before_any_method_trains(
    tiny_model_dir: Path, synthetic_splits: DatasetSplits, tmp_path: Path
) -> None:
    ordinal = replace(tiny_bert(tiny_model_dir), ordinal_smoothing=0.2)  # two classes
    with pytest.raises(ConfigError, match=r"ordinal-smoothing 0\.2 needs ordered classes"):
        compare(synthetic_splits, methods=["bow-svm", "bert"], output_dir=tmp_path, config=ordinal)
    with pytest.raises(ConfigError, match=r"ordinal-smoothing 0\.2 needs ordered classes"):
        learning_curve(synthetic_splits, methods=["bow-svm", "bert"], sizes=[20],
                       output_dir=tmp_path, config=ordinal)  # fmt: skip
    assert list(tmp_path.iterdir()) == []  # not even the baseline was trained


def test_a_start_point_that_saw_the_test_texts_is_refused_before_any_method_trains(
    tiny_model_dir: Path, synthetic_splits: DatasetSplits, tmp_path: Path
) -> None:
    """`compare --model runs/mr-mlm` on rotten-tomatoes: the start point was pre-trained on
    the test snippets, which `evaluate` refuses, and compare scored them."""
    import shutil

    from bertsent.data.splits import save_text_hashes, training_text_hashes

    start = tmp_path / "pretrained"
    shutil.copytree(tiny_model_dir, start)
    save_text_hashes(start, training_text_hashes(synthetic_splits.split("test").texts))
    with pytest.raises(DataError, match=r"test: 40 of 40 texts \(100\.0%\) are texts the model"):
        compare(synthetic_splits, methods=["bow-svm", "bert"], output_dir=tmp_path / "cmp",
                config=tiny_bert(start))  # fmt: skip
    assert not (tmp_path / "cmp" / "models").exists()  # not even the baseline was trained
    with pytest.raises(DataError, match=r"test: 40 of 40 texts"):
        learning_curve(synthetic_splits, methods=["bow-svm", "bert"], sizes=[20],
                       output_dir=tmp_path / "curve", config=tiny_bert(start))  # fmt: skip
    assert not (tmp_path / "curve").exists()


def test_held_out_splits_without_a_test_split(synthetic_splits: DatasetSplits) -> None:
    assert held_out_splits(synthetic_splits) is synthetic_splits
    no_test = DatasetSplits("d", synthetic_splits.train, synthetic_splits.dev)
    fair = held_out_splits(no_test)
    assert fair.test is not None and fair.test.texts == synthetic_splits.dev.texts
    assert len(fair.train) + len(fair.dev) == len(synthetic_splits.train)
    assert not set(fair.dev.texts) & set(fair.test.texts) - set(fair.train.texts)
    assert "no test split" in fair.notes[-1]


def _row(method: str, accuracy: float, **overrides: Any) -> dict[str, Any]:
    row = {
        "method": method,
        "name": method.upper(),
        "accuracy": accuracy,
        "failure_rates": {"negation": 0.7, "sarcasm": 0.5, "contrast": 0.5},
        "latency_p50_ms": 1.0,
        "reviews_per_second": 10_000.0,
        "size_bytes": 1_000_000,
        "train_seconds": 5.0,
    }
    return {**row, **overrides}


def test_recommendation_follows_the_numbers() -> None:
    bert = _row(
        "bert",
        0.85,
        failure_rates={"negation": 0.2, "sarcasm": 0.45, "contrast": 0.1},
        latency_p50_ms=12.0,
        reviews_per_second=300.0,
        size_bytes=90_000_000,
        train_seconds=700.0,
    )
    # the BiLSTM fails fewer sarcasm cases than BOW: BERT is held to it there
    lstm_rates = {"negation": 0.7, "sarcasm": 0.4, "contrast": 0.5}
    comparison = {
        "rows": [_row("bow-svm", 0.76), _row("tfidf-lr", 0.78),
                 _row("lstm", 0.74, failure_rates=lstm_rates), bert],
        "paired": {"bow-svm": {"difference": 0.09, "ci": [0.07, 0.11]},
                   "tfidf-lr": {"difference": 0.07, "ci": [0.05, 0.09]}},
    }  # fmt: skip
    text = "\n".join(recommend(comparison))
    assert "+7.0% above TFIDF-LR" in text and "32% fewer errors" in text
    assert "negation, contrast" in text and "negation 20% vs 70% for BOW-SVM" in text
    assert "sarcasm 45% vs 40% for LSTM" in text
    assert "12x the single-review latency" in text and "33x BERT's 300" in text

    comparison["paired"]["tfidf-lr"] = {"difference": 0.01, "ci": [-0.01, 0.03]}
    assert "is not significant" in "\n".join(recommend(comparison))

    curve = {
        "methods": {
            "bert": {"name": "BERT", "sizes": [100, 300, 1000], "mean": [0.60, 0.75, 0.80]},
            "bow-svm": {"name": "BOW", "sizes": [100, 300, 1000], "mean": [0.62, 0.66, 0.72]},
        }
    }
    text = "\n".join(recommend(comparison, curve))
    assert "at least 300 labelled reviews" in text and "fewer than 300" in text
    assert "trained on 300 reviews BERT reaches 75.0%, as much as BOW trained on 1,000" in text
    curve["methods"]["bert"]["mean"] = [0.70, 0.75, 0.80]
    assert "stays ahead at every size measured" in "\n".join(recommend(comparison, curve))
    curve["methods"]["bert"]["mean"] = [0.60, 0.61, 0.62]
    assert "a baseline matched or beat BERT" in "\n".join(recommend(comparison, curve))
    # ahead, behind, ahead: the baseline's line quotes where the baseline leads
    curve["methods"]["bert"]["mean"] = [0.70, 0.60, 0.80]
    text = "\n".join(recommend(comparison, curve))
    assert (
        "fewer than 1,000 labelled reviews: at 300 BOW reaches 66.0% against BERT's 60.0%" in text
    )

    # zero-shot's one point, at no labels, holds at every size BERT was trained on
    curve["methods"]["zero-shot"] = {"name": "Zero-shot", "needs_labels": False, "sizes": [0],
                                     "mean": [0.74]}  # fmt: skip
    text = "\n".join(recommend(comparison, curve))
    assert "at 300 Zero-shot reaches 74.0% against BERT's 60.0%" in text
    del curve["methods"]["zero-shot"]
    # exactly ten points fewer failures is clearly fewer (0.3 - 0.2 < 0.1 in floats)
    bert["failure_rates"]["sarcasm"] = 0.2
    lstm_rates["sarcasm"] = 0.3
    assert "sarcasm 20% vs 30% for LSTM" in "\n".join(recommend(comparison)).split("**Use a")[0]

    # a "baseline" slower than BERT (an LLM, SetFit) is no reason of throughput
    for row, rate in zip(comparison["rows"][:3], (2.0, 3.0, 1.0), strict=True):
        row["reviews_per_second"] = rate
    assert "throughput or hardware cost" not in "\n".join(recommend(comparison))


# the recipe of the learning curves below: the default one from encoder "enc"
RECIPE = TrainingConfig(model="enc").to_dict()


def saved_run(folder: Path, method: str, seed: int, accuracy: float, **data: Any) -> dict[str, Any]:
    """A compare run whose model folder records how it was trained (encoder "enc" and no
    generated examples unless ``data`` says otherwise)."""
    model_dir = folder / f"{method}-seed{seed}"
    model_dir.mkdir(parents=True)
    metadata = {
        "format_version": 1,
        "method": method,
        "training_config": {"model": data.pop("encoder", "enc"), **data.pop("recipe", {})},
        "data": {"augmented": None, **data},
    }
    (model_dir / "bertsent.json").write_text(json.dumps(metadata))
    return {"method": method, "seed": seed, "accuracy": accuracy, "train_seconds": 1.0,
            "model_dir": str(model_dir)}  # fmt: skip


def test_a_learning_curve_of_other_data_is_refused_before_training(
    synthetic_splits: DatasetSplits, tmp_path: Path
) -> None:
    curve = {"dataset": "rotten-tomatoes", "train_size": 10270, "test_size": 1282, "methods": {}}
    with pytest.raises(DataError, match="the learning curve is of rotten-tomatoes"):
        compare(synthetic_splits, methods=["bow-svm"], output_dir=tmp_path, learning_curve=curve)
    assert not (tmp_path / "models").exists()
    # the same name and sizes, other data (a relabelled copy of one file): refused too
    splits = held_out_splits(synthetic_splits, 42)
    relabelled = replace(splits, train=replace(splits.train, labels=splits.train.labels[::-1]))
    same_shape = {"dataset": splits.name, "train_size": len(splits.train),
                  "test_size": len(splits.split("test")), "methods": {},
                  "data_fingerprint": relabelled.fingerprint()}  # fmt: skip
    with pytest.raises(DataError, match="the learning curve is of"):
        compare(synthetic_splits, methods=["bow-svm"], output_dir=tmp_path,
                learning_curve=same_shape)  # fmt: skip
    assert not (tmp_path / "models").exists()


def test_comparison_completes_the_learning_curve(tmp_path: Path) -> None:
    curve = {
        "dataset": "d", "train_size": 500, "test_size": 50, "model": "enc", "augment": "none",
        "training_config": RECIPE, "min_updates": 10,
        "methods": {"bert": {"name": "BERT", "sizes": [100], "mean": [0.7], "sd": [0.0],
                             "runs": [{"size": 100, "seed": 42, "accuracy": 0.7}]}},
    }  # fmt: skip
    comparison = {
        "dataset": "d",
        "splits": {"sizes": {"train": 500, "dev": 10, "test": 50}},
        "runs": [saved_run(tmp_path, "bert", s, a) for s, a in ((42, 0.8), (43, 0.9))],
    }
    merged = with_full_data(curve, comparison)
    assert merged["methods"]["bert"]["sizes"] == [100, 500]
    assert merged["methods"]["bert"]["mean"] == [0.7, 0.85]
    assert curve["methods"]["bert"]["sizes"] == [100]  # the input is left alone
    comparison["dataset"] = "other"  # another dataset's numbers are not quoted as this one's
    with pytest.raises(DataError, match=r"the learning curve is of d \(500 train / 50 test"):
        with_full_data(curve, comparison)


def test_learning_curve_runs_and_plots(synthetic_splits: DatasetSplits, tmp_path: Path) -> None:
    result = learning_curve(
        synthetic_splits, methods=["bow-svm", "tfidf-lr"], sizes=[20, "all"], seeds=2,
        output_dir=tmp_path,
    )  # fmt: skip
    entry = result["methods"]["tfidf-lr"]
    assert entry["sizes"] == [20, len(synthetic_splits.train)]
    assert len(entry["runs"]) == 4 and all(0 <= m <= 1 for m in entry["mean"])
    assert json.loads((tmp_path / "learning-curve.json").read_text()) == {
        "bertsent": "learning-curve",
        **result,
    }
    assert result["model"] == TrainingConfig().model and result["augment"] == "none"
    assert result["training_config"] == TrainingConfig().to_dict()  # the recipe, for merging
    assert Image.open(tmp_path / "learning-curve.png").size[0] > 500


def test_subsample_and_small_data_recipe(synthetic_splits: DatasetSplits) -> None:
    small = subsample(synthetic_splits, 40, seed=1)
    assert len(small.train) == 40 and small.train.label_counts() == {"negative": 20, "positive": 20}
    assert subsample(synthetic_splits, 40, seed=2).train.texts != small.train.texts
    assert subsample(synthetic_splits, 10_000, seed=1) is synthetic_splits
    recipe = bert_config_for(TrainingConfig(batch_size=32), size=100, min_updates=60)
    assert recipe.epochs == 15 and recipe.eval_steps == 12  # 4 steps/epoch, ~5 evaluations
    assert bert_config_for(TrainingConfig(), size=10_000, min_updates=60).epochs == 3


def test_seeds_give_mean_and_spread(synthetic_splits: DatasetSplits, tmp_path: Path) -> None:
    result = compare(synthetic_splits, methods=["lstm"], seeds=2, output_dir=tmp_path)
    (row,) = result["rows"]
    assert row["seeds"] == 2 and len(result["runs"]) == 2
    assert {run["seed"] for run in result["runs"]} == {42, 43}
    accuracies = [run["accuracy"] for run in result["runs"]]
    assert row["accuracy"] == pytest.approx(sum(accuracies) / 2, abs=1e-4)
    assert accuracies[0] != accuracies[1]  # the seeds differ, so a zero spread would be wrong
    # the sample standard deviation of the seeds' accuracies: |a - b| / sqrt(2) for two
    assert row["accuracy_sd"] == pytest.approx(statistics.stdev(accuracies), abs=1e-4)
    assert row["accuracy_sd"] == pytest.approx(
        abs(accuracies[0] - accuracies[1]) / 2**0.5, abs=1e-4
    )
    spread = f"{row['accuracy']:.2%} ± {row['accuracy_sd']:.2%} ["
    assert spread in (tmp_path / "compare.md").read_text()


def test_zero_shot_is_one_point_at_no_labels_and_the_advice_names_the_crossing(
    synthetic_splits: DatasetSplits, tiny_model_dir: Path, tmp_path: Path
) -> None:
    config = TrainingConfig(model=str(tiny_model_dir))
    result = learning_curve(
        synthetic_splits, methods=["zero-shot", "tfidf-lr"], sizes=[0, 20, "all"], seeds=2,
        output_dir=tmp_path, config=config,
    )  # fmt: skip
    zero_shot, tfidf = result["methods"]["zero-shot"], result["methods"]["tfidf-lr"]
    assert zero_shot["sizes"] == [0] and len(zero_shot["runs"]) == 1  # nothing to resample
    assert zero_shot["needs_labels"] is False
    assert tfidf["sizes"] == [20, len(synthetic_splits.train)]  # no model from 0 labels
    assert result["advice"] == label_advice(result)
    assert Image.open(tmp_path / "learning-curve.png").size[0] > 500
    # without 0 among the sizes, zero-shot still has its one point there
    again = learning_curve(
        synthetic_splits, methods=["zero-shot", "tfidf-lr"], sizes=[20], seeds=1,
        output_dir=tmp_path / "no-zero", config=config,
    )  # fmt: skip
    assert again["methods"]["zero-shot"]["sizes"] == [0]

    curve = {"methods": {
        "zero-shot": {"name": "Zero-shot", "needs_labels": False, "sizes": [0], "mean": [0.70]},
        "setfit": {"name": "SetFit", "sizes": [16, 64, 256], "mean": [0.65, 0.74, 0.78]},
        "bert": {"name": "BERT", "sizes": [16, 64, 256], "mean": [0.55, 0.72, 0.80]},
    }}  # fmt: skip
    assert label_advice(curve) == (
        "With fewer than 64 labels, use Zero-shot (70.0%); at 64 labels, SetFit (74.0%); "
        "from 256 labels on, BERT (80.0%)."
    )
    # a size only SetFit was measured at (compare's full-train runs, say) crowns no one
    curve["methods"]["setfit"] = {"name": "SetFit", "sizes": [16, 64, 256, 1000],
                                  "mean": [0.65, 0.74, 0.78, 0.79]}  # fmt: skip
    assert label_advice(curve).endswith("from 256 labels on, BERT (80.0%).")
    curve["methods"]["zero-shot"]["mean"] = [0.9]
    assert label_advice(curve) == "At every size measured, use Zero-shot."


def labelled_splits(train_counts: dict[str, int], per_class: int = 4) -> DatasetSplits:
    """Splits with ``train_counts`` training reviews of each label (``per_class`` of each
    in dev and test), each label told by a word of its own: learnable in a second."""
    texts, _ = synthetic_reviews(sum(train_counts.values()) + 2 * per_class * len(train_counts))
    words = iter(texts)

    def split(name: str, counts: dict[str, int]) -> Split:
        labels = [label for label, count in counts.items() for _ in range(count)]
        return Split(name, [f"{next(words)} {label}word" for label in labels], labels)

    others = dict.fromkeys(train_counts, per_class)
    return DatasetSplits("d", split("train", train_counts), split("dev", others),
                         split("test", others))  # fmt: skip


def no_training(method: str, **options: Any) -> SentimentClassifier:
    raise AssertionError(f"{method} was trained: the sizes should have been refused first")


def test_a_subset_with_too_few_of_a_class_is_refused_before_any_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # bow-svm calibrates on 5 folds: at 20 of these 66 reviews the rare class has only 2;
    # at 2 reviews the subset had one class only, a scikit-learn traceback mid-curve
    splits = labelled_splits({"negative": 30, "neutral": 6, "positive": 30})
    monkeypatch.setattr(curve_module, "create", no_training)
    with pytest.raises(ConfigError) as error:
        learning_curve(splits, methods=["tfidf-lr", "bow-svm"], sizes=[20, "all"],
                       output_dir=tmp_path)  # fmt: skip
    assert error.value.message == (
        "--sizes 20: a stratified subset of 20 training examples has 2 of class 'neutral', "
        "and bow-svm needs at least 5 of each class"
    )
    assert error.value.hint is not None and "use sizes of 50 or more" in error.value.hint
    assert Counter(subsample(splits, 50, seed=42).train.labels)["neutral"] == 5
    assert Counter(subsample(splits, 49, seed=42).train.labels)["neutral"] == 4
    with pytest.raises(ConfigError, match="has 0 of class 'neutral', and tfidf-lr needs at"):
        learning_curve(splits, methods=["tfidf-lr"], sizes=[2, 40], output_dir=tmp_path)
    scarce = labelled_splits({"negative": 30, "neutral": 3, "positive": 30})
    with pytest.raises(ConfigError) as error:
        learning_curve(scarce, methods=["nbsvm"], sizes=["all"], output_dir=tmp_path)
    assert error.value.hint == "train has only 3 of 'neutral': leave nbsvm out"
    assert list(tmp_path.iterdir()) == []


def test_sizes_that_leave_a_method_nothing_to_train_on_are_refused(tmp_path: Path) -> None:
    # --sizes 0 wrote an empty curve, then failed in matplotlib's log scale
    splits = labelled_splits({"negative": 20, "positive": 20})
    with pytest.raises(ConfigError) as error:
        learning_curve(splits, methods=["tfidf-lr", "bow-svm"], sizes=[0], output_dir=tmp_path)
    assert error.value.message == (
        "--sizes 0 gives tfidf-lr, bow-svm nothing to train on: a method that needs labels "
        "has no point at 0"
    )
    assert list(tmp_path.iterdir()) == []


def test_every_run_trains_on_exactly_its_recorded_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 5 classes of 12: rounding each class's share of 16 (3.2) trained on 15
    splits = labelled_splits(dict.fromkeys(["a", "b", "c", "d", "e"], 12))
    trained: list[int] = []

    def counted(method: str, **options: Any) -> SentimentClassifier:
        model = create(method, **options)
        fit = model.fit

        def fit_and_count(texts: Sequence[str], labels: Sequence[str], **more: Any) -> Any:
            trained.append(len(texts))
            return fit(texts, labels, **more)

        model.fit = fit_and_count  # type: ignore[method-assign]
        return model

    monkeypatch.setattr(curve_module, "create", counted)
    result = learning_curve(splits, methods=["tfidf-lr"], sizes=[16, 33], seeds=2,
                            output_dir=tmp_path)  # fmt: skip
    assert trained == [run["size"] for run in result["methods"]["tfidf-lr"]["runs"]]
    assert trained == [16, 16, 33, 33]
    for seed in (42, 43):
        small, large = (subsample(splits, size, seed).train for size in (16, 33))
        assert set(small.texts) < set(large.texts)  # one seed's subsets nest
        assert sorted(Counter(small.labels).values()) == [3, 3, 3, 3, 4]


def test_merging_the_full_data_point_makes_the_advice_again(tmp_path: Path) -> None:
    curve = {
        "dataset": "d", "train_size": 500, "test_size": 50, "model": "enc",
        "training_config": RECIPE, "min_updates": 10,
        "methods": {
            "bow-svm": {"name": "BOW", "sizes": [100], "mean": [0.7], "sd": [0.0], "runs": []},
            "tfidf-lr": {"name": "TF-IDF", "sizes": [100], "mean": [0.6], "sd": [0.0], "runs": []},
        },
    }  # fmt: skip
    curve["advice"] = label_advice(curve)
    assert curve["advice"] == "At every size measured, use BOW."
    comparison = {
        "dataset": "d",
        "splits": {"sizes": {"train": 500, "dev": 10, "test": 50}},
        "runs": [
            saved_run(tmp_path, "bow-svm", 42, 0.75),
            saved_run(tmp_path, "tfidf-lr", 42, 0.8),
        ],
    }
    merged = with_full_data(curve, comparison)
    assert merged["methods"]["tfidf-lr"]["sizes"] == [100, 500]
    assert (
        merged["advice"]
        == label_advice(merged)
        == ("With fewer than 500 labels, use BOW (70.0%); from 500 labels on, TF-IDF (80.0%).")
    )


def test_runs_trained_unlike_the_curve_are_not_merged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # compare's default --augment auto adds generated examples to BERT's training set
    curve = {
        "dataset": "d", "train_size": 500, "test_size": 50, "model": "enc", "augment": "none",
        "training_config": RECIPE, "min_updates": 10,
        "methods": {method: {"name": method, "sizes": [100], "mean": [0.7], "sd": [0.0],
                             "runs": []} for method in ("bert", "setfit", "bow-svm")},
    }  # fmt: skip
    generated = {"kinds": ["contrast", "intensity"], "added": 30}
    runs = [
        saved_run(tmp_path, "bert", 42, 0.9, augmented=generated),
        saved_run(tmp_path, "setfit", 42, 0.8, encoder="another-encoder"),
        saved_run(tmp_path, "bow-svm", 42, 0.75, encoder=None),
    ]
    comparison = {"dataset": "d", "splits": {"sizes": {"train": 500, "test": 50}}, "runs": runs}
    with caplog.at_level(logging.WARNING, logger=curve_module.__name__):
        merged = with_full_data(curve, comparison)
    sizes = {method: entry["sizes"] for method, entry in merged["methods"].items()}
    assert sizes == {"bert": [100], "setfit": [100], "bow-svm": [100, 500]}
    warnings = "\n".join(record.getMessage() for record in caplog.records)
    assert "with 30 generated examples (contrast, intensity), the curve on reviews" in warnings
    assert "trained otherwise (--model 'another-encoder' -> 'enc': the run's" in warnings
    runs[0] = saved_run(tmp_path / "plain", "bert", 42, 0.9, recipe={"seed": 42})
    assert with_full_data(curve, comparison)["methods"]["bert"]["sizes"] == [100, 500]
    del curve["training_config"]  # an older curve: the default recipe from its encoder
    assert with_full_data(curve, comparison)["methods"]["bert"]["sizes"] == [100, 500]
    del curve["model"]  # older still: the encoder is unknown too
    assert with_full_data(curve, comparison)["methods"]["bert"]["sizes"] == [100]
    curve["training_config"] = RECIPE
    # compare's flags: --recipe robust, --epochs; seeds and evaluation steps may differ
    for name, (recipe, said) in enumerate([
        ({"r_drop": 1.0}, "--r-drop 1.0 -> 0.0"),
        ({"epochs": 5.0, "eval_steps": 100}, "--epochs 5.0 -> 3.0"),
    ]):  # fmt: skip
        runs[0] = saved_run(tmp_path / str(name), "bert", 42, 0.9, recipe=recipe)
        with caplog.at_level(logging.WARNING, logger=curve_module.__name__):
            assert with_full_data(curve, comparison)["methods"]["bert"]["sizes"] == [100]
        assert f"trained otherwise ({said}: the run's -> the curve's)" in caplog.text
    # on fewer than 60 steps an epoch, the curve's own point would train longer
    runs[0] = saved_run(tmp_path / "short", "bert", 42, 0.9)
    short = {**curve, "min_updates": 60}  # 16 steps of 32 an epoch: 4 epochs
    with caplog.at_level(logging.WARNING, logger=curve_module.__name__):
        assert with_full_data(short, comparison)["methods"]["bert"]["sizes"] == [100]
    assert "(--epochs 3.0 -> 4.0: the run's -> the curve's)" in caplog.text
    # SetFit reads no R-Drop: its run is a point of a curve made with --r-drop
    curve["training_config"] = {**RECIPE, "r_drop": 1.0}
    runs[1] = saved_run(tmp_path / "setfit", "setfit", 42, 0.8)
    merged = with_full_data(curve, comparison)
    assert merged["methods"]["setfit"]["sizes"] == [100, 500]
    assert merged["methods"]["bert"]["sizes"] == [100]  # BERT reads it


def test_a_users_json_of_our_name_does_not_make_the_folder_ours(
    synthetic_splits: DatasetSplits, tmp_path: Path
) -> None:
    (tmp_path / "learning-curve.json").write_text('{"my": "numbers"}')
    (tmp_path / "compare.json").write_text('{"my": "table"}')
    (tmp_path / "compare.md").write_text("# my notes")
    mine = {path.name: path.read_text() for path in tmp_path.iterdir()}
    with pytest.raises(OutputExistsError, match=r"learning-curve\.json is an existing file"):
        learning_curve(synthetic_splits, methods=["tfidf-lr"], sizes=[20], output_dir=tmp_path)
    with pytest.raises(OutputExistsError, match=r"compare\.json is an existing file"):
        compare(synthetic_splits, methods=["tfidf-lr"], output_dir=tmp_path)
    assert {path.name: path.read_text() for path in tmp_path.iterdir()} == mine
    learning_curve(synthetic_splits, methods=["tfidf-lr"], sizes=[20], output_dir=tmp_path,
                   overwrite=True)  # fmt: skip
    assert written_by(tmp_path / "learning-curve.json", "learning-curve")
    # the curve's mark is not compare's: the user's compare.json is still theirs
    with pytest.raises(OutputExistsError, match=r"compare\.json is an existing file"):
        compare(synthetic_splits, methods=["tfidf-lr"], output_dir=tmp_path)
    compare(synthetic_splits, methods=["tfidf-lr"], output_dir=tmp_path, overwrite=True)
    assert written_by(tmp_path / "compare.json", "compare")
    compare(synthetic_splits, methods=["tfidf-lr"], output_dir=tmp_path)  # now ours
    learning_curve(synthetic_splits, methods=["tfidf-lr"], sizes=[20], output_dir=tmp_path)
    # a curve figure whose JSON is gone may be anyone's: compare's mark does not cover it
    (tmp_path / "learning-curve.json").unlink()
    with pytest.raises(OutputExistsError, match=r"learning-curve\.png is an existing file"):
        learning_curve(synthetic_splits, methods=["tfidf-lr"], sizes=[20], output_dir=tmp_path)


class StoppedFineTune(FixedClassifier):
    method = "bert"

    def fit(self, texts: Sequence[str], labels: Sequence[str], **_: Any) -> Any:
        raise TrainingInterrupted(
            "training stopped at step 3; checkpoint saved in /tmp/bertsent-train-x1",
            hint="run the same command with --resume to continue",
        )

    def predict_proba(self, texts: Sequence[str]) -> Any:
        raise AssertionError("an interrupted fine-tune is never scored")


def test_an_interrupted_fine_tune_says_that_nothing_was_kept(
    synthetic_splits: DatasetSplits, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the checkpoint is in a temporary folder deleted on the way out: --resume finds nothing
    def stopping(method: str, **options: Any) -> SentimentClassifier:
        return StoppedFineTune() if method == "bert" else create(method, **options)

    monkeypatch.setattr(curve_module, "create", stopping)
    with pytest.raises(TrainingInterrupted) as error:
        learning_curve(synthetic_splits, methods=["tfidf-lr", "bert"], sizes=[20], seeds=1,
                       output_dir=tmp_path)  # fmt: skip
    assert error.value.message == (
        "learning-curve stopped while training bert on 20 examples (seed 42), after 1 of 2 "
        "runs; nothing was written, and no checkpoint was kept"
    )
    assert "--resume" not in str(error.value) and "checkpoint saved" not in str(error.value)
    assert list(tmp_path.iterdir()) == []


def test_a_users_learning_curve_json_in_the_folder_is_not_read_as_a_curve(
    dataset_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bertsent.cli import main

    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "learning-curve.json").write_text('{"my": "notes"}')
    args = ["-q", "compare", "--data", str(dataset_dir), "--methods", "tfidf-lr"]
    assert main([*args, "--output", str(folder)]) == 0  # compared; the curve was not ours
    assert (folder / "learning-curve.json").read_text() == '{"my": "notes"}'
    assert (folder / "compare.json").is_file()
    capsys.readouterr()
    explicit = ["--learning-curve", str(folder / "learning-curve.json")]
    assert main([*args, "--output", str(tmp_path / "c"), *explicit]) == 2
    assert "not a learning curve (no 'methods')" in capsys.readouterr().err


def test_a_folder_written_before_the_json_marks_is_still_ours(
    dataset_dir: Path, tmp_path: Path
) -> None:
    from bertsent.cli import main

    folder = tmp_path / "old"
    curve = learning_curve(str(dataset_dir), methods=["tfidf-lr"], sizes=[20], seeds=1,
                           output_dir=folder)  # fmt: skip
    unmarked = {key: value for key, value in curve.items() if key != "bertsent"}
    (folder / "learning-curve.json").write_text(json.dumps(unmarked))  # as written before
    assert main(["-q", "compare", "--data", str(dataset_dir), "--methods", "tfidf-lr",
                 "--output", str(folder)]) == 0  # fmt: skip
    merged = json.loads((folder / "learning-curve.json").read_text())
    assert merged["bertsent"] == "learning-curve"  # read, merged and written again
    assert merged["methods"]["tfidf-lr"]["sizes"] == [20, curve["train_size"]]


@pytest.mark.slow
def test_compare_continues_the_fine_tune_it_left_unfinished(
    tiny_model_dir: Path, synthetic_splits: DatasetSplits, tmp_path: Path
) -> None:
    from bertsent.pipeline import checkpoint_dir, train
    from tests.callbacks import SendSigint

    config = tiny_bert(tiny_model_dir)
    folder = tmp_path / "models" / f"bert-seed{config.seed}"
    with pytest.raises(TrainingInterrupted):  # as a Ctrl-C inside compare leaves it
        train(synthetic_splits, config, folder, callbacks=[SendSigint(3)])
    # the same compare continues from the checkpoint: another recipe is refused by the
    # resume's own check, which a fresh start would never reach
    with pytest.raises(ConfigError, match=r"unfinished fine-tune .* otherwise: .*--learning-rate"):
        compare(synthetic_splits, methods=["bert"], output_dir=tmp_path,
                config=replace(config, learning_rate=1e-4))  # fmt: skip
    result = compare(synthetic_splits, methods=["bert"], output_dir=tmp_path, config=config)
    assert [run["method"] for run in result["runs"]] == ["bert"]
    assert not checkpoint_dir(folder).exists()  # finished: its checkpoints are gone
    with pytest.raises(TrainingInterrupted):
        train(synthetic_splits, config, tmp_path / "again" / "models" / folder.name,
              callbacks=[SendSigint(3)])  # fmt: skip
    # --retrain (reuse=False) starts over, whatever the unfinished run's recipe was
    compare(synthetic_splits, methods=["bert"], output_dir=tmp_path / "again",
            config=replace(config, learning_rate=1e-4), reuse=False)  # fmt: skip
    assert not checkpoint_dir(tmp_path / "again" / "models" / folder.name).exists()
