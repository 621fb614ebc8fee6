"""``bertsent compare``: every method on the same splits, measured the same way, in one loop.

For each method and seed a model is trained (or reused when the saved one was trained on
identical data), then scored on the held-out split: accuracy with a 95% bootstrap
interval, macro-F1, the behaviour suite, training time, throughput, single-review
latency, size on disk and parameter count. The result is written as JSON, Markdown and
a PNG chart, and ends with a recommendation derived from those numbers.
"""

from __future__ import annotations

import json
import logging
import shutil
import statistics
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from bertsent.atomic import marked, write_text_atomic
from bertsent.comparison.learning_curve import (
    CURVE_FILES,
    check_curve_data,
    check_shared_folder,
    methods_for,
    with_full_data,
    write_learning_curve,
)
from bertsent.comparison.recommend import recommend
from bertsent.data import DatasetSplits, load_dataset
from bertsent.data.augment import augment_for_training
from bertsent.data.splits import held_out_splits
from bertsent.data.tasks import is_multi_label
from bertsent.errors import ConfigError, TrainingInterrupted
from bertsent.evaluation.behaviour import run_suite, suite_applies
from bertsent.evaluation.evaluate import check_test_unseen
from bertsent.evaluation.metrics import bootstrap_accuracy_interval, task_report
from bertsent.models import (
    COMPARED_METHODS,
    DISPLAY_NAMES,
    SentimentClassifier,
    classifier_class,
    load,
    method_recipe,
    read_metadata,
)
from bertsent.training.config import TrainingConfig, same_recipe

logger = logging.getLogger(__name__)

LATENCY_SAMPLES = 50
COMPARE_FILES = ("compare.json", "compare.md", "compare.png")


def default_folder(data: str) -> Path:
    """Where ``compare`` and ``learning-curve`` write for ``data`` unless told, and where
    ``report`` looks for them: ``runs/compare-imdb`` for ``hub:stanfordnlp/imdb``."""
    return Path("runs") / f"compare-{Path(data.replace(':', '-')).stem or 'data'}"


def directory_size(path: Path) -> int:
    return sum(file.stat().st_size for file in path.rglob("*") if file.is_file())


def measure_speed(model: SentimentClassifier, texts: Sequence[str]) -> dict[str, float]:
    """Batch throughput over ``texts`` and p50/p95 latency of one review at a time."""
    model.predict_proba(list(texts[:32]))  # warm-up: lazy imports, allocator, thread pools
    started = time.perf_counter()
    model.predict_proba(list(texts))
    throughput = len(texts) / (time.perf_counter() - started)
    latencies = []
    for text in texts[:LATENCY_SAMPLES]:
        started = time.perf_counter()
        model.predict_proba([text])
        latencies.append((time.perf_counter() - started) * 1000)
    p50, p95 = np.percentile(latencies, [50, 95])
    return {
        "reviews_per_second": round(throughput, 1),
        "latency_p50_ms": round(float(p50), 2),
        "latency_p95_ms": round(float(p95), 2),
    }


def _train_or_reuse(
    method: str,
    seed: int,
    splits: DatasetSplits,
    folder: Path,
    config: TrainingConfig,
    reuse: bool,
    augment: str | Sequence[str],
) -> tuple[SentimentClassifier, float]:
    """A model trained on exactly these splits (plus ``augment``'s generated examples),
    and the seconds its training took."""
    from bertsent.pipeline import checkpoint_dir, train

    if reuse and (folder / "bertsent.json").is_file():
        metadata = read_metadata(folder)
        encoder = classifier_class(method).has_encoder
        trained_on, _ = augment_for_training(splits, augment, seed=seed, encoder=encoder)
        same_data = metadata.get("data", {}).get("fingerprint") == trained_on.fingerprint()
        # the other methods take only the seed from the config, which names the folder
        saved_recipe = metadata.get("training_config")
        recipe = method_recipe(method, replace(config, seed=seed))
        same = saved_recipe is None or same_recipe(saved_recipe, recipe)
        if same_data and same and metadata.get("method") == method:
            logger.info("reusing %s (trained on the same data and recipe)", folder)
            return load(folder), float(metadata["training"]["seconds"])
        logger.info("retraining %s: its data or recipe differs", folder)
    # a fine-tune this comparison left unfinished (Ctrl-C, a crash) is its own: it is
    # continued, unless --retrain asks for a fresh start
    work_dir = checkpoint_dir(folder)
    resume = classifier_class(method).resumable and work_dir.is_dir()
    if resume and not reuse:
        shutil.rmtree(work_dir)
        resume = False
    elif resume:
        logger.info("continuing the unfinished training of %s from %s", folder, work_dir)
    try:
        run = train(
            splits, replace(config, seed=seed), folder, method=method, augment=augment,
            resume=resume,
        )  # fmt: skip
    except TrainingInterrupted as stop:
        raise TrainingInterrupted(
            stop.message,
            hint="run the same `bertsent compare` command again to continue from that "
            "checkpoint (--retrain starts that model over)",
        ) from None
    except ConfigError as error:
        if not resume or not error.message.startswith("--resume: "):
            raise
        # compare continued the fine-tune by itself: the flag named is not the user's
        raise ConfigError(
            f"{folder}: an unfinished fine-tune of this comparison was trained otherwise: "
            + error.message.removeprefix("--resume: this run differs from the interrupted one: "),
            hint=f"rerun with the settings it was started with, or add --retrain (or delete "
            f"{work_dir}) to start that model over",
        ) from None
    return run.model, run.train_seconds


def compare(
    data: str | DatasetSplits,
    *,
    methods: Sequence[str] | None = None,
    seeds: int = 1,
    output_dir: str | Path = "runs/compare",
    config: TrainingConfig | None = None,
    reuse: bool = True,
    learning_curve: dict[str, Any] | None = None,
    command: str | None = None,
    text_column: str = "text",
    label_column: str = "label",
    overwrite: bool = False,
    augment: str | Sequence[str] = "auto",
) -> dict[str, Any]:
    """Train and measure every method in ``methods`` on the same splits.

    Args:
        data: Dataset name or splits; without a test split, see :func:`held_out_splits`.
        methods: Method names, e.g. ``("tfidf-lr", "bert")``.
        seeds: Train each method with seeds 42, 43, ...; tables show mean and spread.
        output_dir: Models go to ``models/METHOD-seedN``; the table to ``compare.*``.
        config: The BERT fine-tuning recipe (default: the seed recipe).
        reuse: Keep a model already in ``output_dir`` when it was trained on the same data.
        learning_curve: Results of :func:`bertsent.comparison.learning_curve.learning_curve`
            on the same data: completed with this comparison's full-train runs, rewritten
            to ``output_dir`` and used by the recommendation.
        command: The command line that made the comparison, recorded with the table.
        overwrite: Replace ``compare.*`` (and ``learning-curve.*``) files in
            ``output_dir`` even when the folder is not a compare or learning-curve
            output (otherwise refused). Models there are only ever replaced by models.
        augment: Generated examples added to every method's training set (see
            :func:`bertsent.pipeline.train`); dev and test stay real reviews.

    Returns:
        ``{"dataset", "splits", "rows": [...per method], "runs": [...per seed],
        "recommendation": [...]}``, also written to ``compare.json``.

    Raises:
        OutputExistsError: a file to write is in a folder of the user's, before training.
        ConfigError: a BERT setting the data cannot take, before training.
        DataError: ``learning_curve`` is of other data, before training.
    """
    config = (config or TrainingConfig()).validate()
    output = Path(output_dir)
    written = COMPARE_FILES + (CURVE_FILES if learning_curve is not None else ())
    check_shared_folder(output, written, "bertsent compare", overwrite=overwrite)
    loaded = (
        load_dataset(data, text_column=text_column, label_column=label_column)
        if isinstance(data, str)
        else data
    )
    splits = held_out_splits(loaded, config.seed)
    test = splits.split("test")
    if learning_curve is not None:  # before the training, not after it
        check_curve_data(
            learning_curve, splits.name, len(splits.train), len(test), splits.fingerprint()
        )
    methods = methods_for(splits, methods or COMPARED_METHODS, chosen=methods is not None)
    if "bert" in methods:  # a setting the data cannot take, refused before any training
        config.check_labels(splits.labels, is_multi_label(splits.train.labels))
    # nor a test split the training data, or a start point, holds (as evaluate refuses)
    check_test_unseen(config, splits.train.texts, test.texts, methods, f"{splits.name} test")
    runs, correctness = [], {}
    for method in methods:
        correct_by_seed = []
        for seed in range(config.seed, config.seed + seeds):
            folder = output / "models" / f"{method}-seed{seed}"
            model, train_seconds = _train_or_reuse(
                method, seed, splits, folder, config, reuse, augment
            )
            probabilities = model.predict_proba(test.texts)
            report = task_report(model.task_, test.labels, probabilities)
            correct_by_seed.append(model.task_.correct(probabilities, test.labels))
            # the suite scores single positive/negative reviews: not aspects or emotions
            behaviour = run_suite(model) if suite_applies(model) else None
            runs.append(
                {
                    "method": method,
                    "seed": seed,
                    "model_dir": str(folder),
                    "accuracy": round(report["accuracy"], 4),
                    "accuracy_ci": report["accuracy_ci"],
                    "macro_f1": round(report["macro_f1"], 4),
                    "ece": round(report["ece"], 4),
                    "behaviour": behaviour,
                    "train_seconds": round(train_seconds, 1),
                    **measure_speed(model, test.texts),
                    "size_bytes": directory_size(folder),
                    "parameters": model.count_parameters(),
                    "selected": model.best_,
                }
            )
            logger.info("%s seed %d: test accuracy %.4f", method, seed, report["accuracy"])
        correctness[method] = np.mean(correct_by_seed, axis=0)  # (n,) per-example mean
    rows = [_summarise(method, runs, correctness[method]) for method in methods]
    result = {
        "dataset": splits.name,
        "splits": splits.summary(),
        "evaluated_on": "test",
        "seeds": seeds,
        "command": command,
        "augment": augment if isinstance(augment, str) else list(augment),
        "rows": rows,
        "runs": runs,
        "paired": _paired_differences(correctness),
    }
    # nothing new appeared meanwhile (the models written since are no marker)
    check_shared_folder(output, written, "bertsent compare", overwrite=overwrite)
    if learning_curve is not None:
        learning_curve = with_full_data(learning_curve, result)
        write_learning_curve(learning_curve, output)
    result["recommendation"] = recommend(result, learning_curve)
    write_comparison(result, output)
    return result


def _summarise(method: str, runs: list[dict[str, Any]], correct: np.ndarray) -> dict[str, Any]:
    """One table row: means over seeds (and spreads where there are several)."""
    mine = [run for run in runs if run["method"] == method]

    def mean(key: str) -> float:
        return float(statistics.fmean(run[key] for run in mine))

    def spread(key: str) -> float:
        return float(statistics.stdev(run[key] for run in mine)) if len(mine) > 1 else 0.0

    categories: dict[str, float] = {}
    suites = [run["behaviour"] for run in mine if run["behaviour"] is not None]
    for category in suites[0]["categories"] if suites else []:
        rates = [suite["categories"][category]["failure_rate"] for suite in suites]
        categories[category] = round(statistics.fmean(rates), 4)
    return {
        "method": method,
        "name": DISPLAY_NAMES.get(method, method),
        "seeds": len(mine),
        "accuracy": round(mean("accuracy"), 4),
        "accuracy_sd": round(spread("accuracy"), 4),
        "accuracy_ci": list(bootstrap_accuracy_interval(correct)),
        "macro_f1": round(mean("macro_f1"), 4),
        "behaviour_pass_rate": round(statistics.fmean(s["pass_rate"] for s in suites), 4)
        if suites
        else None,
        "failure_rates": categories,
        "train_seconds": round(mean("train_seconds"), 1),
        "reviews_per_second": round(mean("reviews_per_second"), 1),
        "latency_p50_ms": round(mean("latency_p50_ms"), 2),
        "latency_p95_ms": round(mean("latency_p95_ms"), 2),
        "size_bytes": int(mean("size_bytes")),
        "parameters": int(mean("parameters")),
    }


def _paired_differences(correctness: dict[str, np.ndarray]) -> dict[str, Any]:
    """Accuracy of ``bert`` minus each other method on the same examples, with a 95%
    paired bootstrap interval (the examples are resampled together)."""
    if "bert" not in correctness:
        return {}
    result = {}
    for method, correct in correctness.items():
        if method == "bert":
            continue
        difference = correctness["bert"] - correct  # (n,) in [-1, 1]
        low, high = bootstrap_accuracy_interval(difference)
        result[method] = {"difference": round(float(difference.mean()), 4), "ci": [low, high]}
    return result


def write_comparison(result: dict[str, Any], output: Path) -> None:
    """``compare.json`` (marked, so that a rerun knows the folder is ours), ``compare.md``
    and ``compare.png`` in ``output``, each atomically."""
    from bertsent.evaluation.plots import plot_comparison

    write_text_atomic(output / "compare.json", json.dumps(marked("compare", result), indent=2))
    write_text_atomic(output / "compare.md", comparison_markdown(result))
    plot_comparison(result, output / "compare.png")


def _size(size: int) -> str:
    return f"{size / 1e6:.1f} MB" if size >= 1e5 else f"{size / 1e3:.0f} kB"


def _count(count: int) -> str:
    return f"{count / 1e6:.1f} M" if count >= 1e5 else f"{count / 1e3:.0f} k"


def _rate(rate: float | None) -> str:
    return "n/a" if rate is None else f"{rate:.1%}"


def comparison_markdown(result: dict[str, Any]) -> str:
    """The comparison table and the recommendation, as Markdown."""
    sizes = result["splits"]["sizes"]
    lines = [
        f"# Comparison on {result['dataset']}",
        "",
        f"Train {sizes['train']}, dev {sizes['dev']} (model selection), "
        f"test {sizes['test']} (reported). Seeds per method: {result['seeds']}.",
        *(f"{note}." for note in result["splits"]["notes"]),
        "",
        "| method | accuracy [95% CI] | macro-F1 | behaviour pass | train time "
        "| reviews/s | latency p50 / p95 | size | parameters |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in result["rows"]:
        low, high = row["accuracy_ci"]
        spread = f" ± {row['accuracy_sd']:.2%}" if row["seeds"] > 1 else ""
        lines.append(
            f"| {row['name']} | {row['accuracy']:.2%}{spread} [{low:.1%}, {high:.1%}] "
            f"| {row['macro_f1']:.3f} | {_rate(row['behaviour_pass_rate'])} "
            f"| {row['train_seconds']:.0f} s | {row['reviews_per_second']:,.0f} "
            f"| {row['latency_p50_ms']:.1f} / {row['latency_p95_ms']:.1f} ms "
            f"| {_size(row['size_bytes'])} | {_count(row['parameters'])} |"
        )
    categories = list(result["rows"][0]["failure_rates"])
    if categories:
        lines += [
            "",
            "Behaviour suite failure rates (lower is better):",
            "",
            "| method | " + " | ".join(categories) + " |",
            "|---|" + "---|" * len(categories),
        ]
    for row in result["rows"] if categories else []:
        rates = " | ".join(f"{row['failure_rates'][c]:.0%}" for c in categories)
        lines.append(f"| {row['name']} | {rates} |")
    if result["paired"]:
        lines += ["", "BERT minus each method, same test examples (95% paired bootstrap):", ""]
        for method, entry in result["paired"].items():
            low, high = entry["ci"]
            lines.append(
                f"- {DISPLAY_NAMES.get(method, method)}: {entry['difference']:+.2%} "
                f"[{low:+.2%}, {high:+.2%}]"
            )
    lines += ["", "## When to use which", "", *result["recommendation"], ""]
    if result.get("command"):
        lines += [f"Made with `{result['command']}`.", ""]
    return "\n".join(lines)
