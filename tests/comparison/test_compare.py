"""`compare` and `learning_curve` end to end on small data, and the derived recommendation."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from bertsent.comparison.compare import compare
from bertsent.comparison.learning_curve import (
    bert_config_for,
    label_advice,
    learning_curve,
    subsample,
    with_full_data,
)
from bertsent.comparison.recommend import recommend
from bertsent.data import DatasetSplits
from bertsent.data.splits import held_out_splits
from bertsent.training.config import TrainingConfig


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
    comparison = {
        "rows": [_row("bow-svm", 0.76), _row("tfidf-lr", 0.78), bert],
        "paired": {"bow-svm": {"difference": 0.09, "ci": [0.07, 0.11]},
                   "tfidf-lr": {"difference": 0.07, "ci": [0.05, 0.09]}},
    }  # fmt: skip
    text = "\n".join(recommend(comparison))
    assert "+7.0% above TFIDF-LR" in text and "32% fewer errors" in text
    assert "negation, contrast" in text and "sarcasm 45% vs 50%" in text
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


def test_comparison_completes_the_learning_curve() -> None:
    curve = {
        "dataset": "d", "train_size": 500, "test_size": 50,
        "methods": {"bert": {"name": "BERT", "sizes": [100], "mean": [0.7], "sd": [0.0],
                             "runs": [{"size": 100, "seed": 42, "accuracy": 0.7}]}},
    }  # fmt: skip
    comparison = {
        "dataset": "d",
        "splits": {"sizes": {"train": 500, "dev": 10, "test": 50}},
        "runs": [{"method": "bert", "seed": s, "accuracy": a, "train_seconds": 1.0}
                 for s, a in ((42, 0.8), (43, 0.9))],
    }  # fmt: skip
    merged = with_full_data(curve, comparison)
    assert merged["methods"]["bert"]["sizes"] == [100, 500]
    assert merged["methods"]["bert"]["mean"] == [0.7, 0.85]
    assert curve["methods"]["bert"]["sizes"] == [100]  # the input is left alone
    comparison["dataset"] = "other"
    assert with_full_data(curve, comparison) == curve


def test_learning_curve_runs_and_plots(synthetic_splits: DatasetSplits, tmp_path: Path) -> None:
    result = learning_curve(
        synthetic_splits, methods=["bow-svm", "tfidf-lr"], sizes=[20, "all"], seeds=2,
        output_dir=tmp_path,
    )  # fmt: skip
    entry = result["methods"]["tfidf-lr"]
    assert entry["sizes"] == [20, len(synthetic_splits.train)]
    assert len(entry["runs"]) == 4 and all(0 <= m <= 1 for m in entry["mean"])
    assert json.loads((tmp_path / "learning-curve.json").read_text()) == result
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

    curve = {"methods": {
        "zero-shot": {"name": "Zero-shot", "needs_labels": False, "sizes": [0], "mean": [0.70]},
        "setfit": {"name": "SetFit", "sizes": [16, 64, 256], "mean": [0.65, 0.74, 0.78]},
        "bert": {"name": "BERT", "sizes": [16, 64, 256], "mean": [0.55, 0.72, 0.80]},
    }}  # fmt: skip
    assert label_advice(curve) == (
        "With fewer than 64 labels, use Zero-shot (70.0%); at 64 labels, SetFit (74.0%); "
        "from 256 labels on, BERT (80.0%)."
    )
    curve["methods"]["zero-shot"]["mean"] = [0.9]
    assert label_advice(curve) == "At every size measured, use Zero-shot."
