"""Accuracy against training-set size, several seeds per size: how much labelled data
each method needs on the user's own data.

Each point trains on a stratified random subset of train (the seed picks the subset and
the model's initialisation), selects on dev and is scored on the held-out split. Small
BERT runs get more epochs so that every run makes at least ``min_updates`` optimiser
steps, as the few-sample fine-tuning literature advises (Mosbach et al. 2021); each
run's epochs are recorded.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import statistics
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from bertsent.atomic import atomic_file, check_output_folder, write_text_atomic
from bertsent.data import DatasetSplits, load_dataset
from bertsent.data.splits import held_out_splits, stratified_split
from bertsent.hardware import default_batch_size, device_name
from bertsent.models import DISPLAY_NAMES, classifier_class, create
from bertsent.training.config import TrainingConfig

logger = logging.getLogger(__name__)

DEFAULT_SIZES = (100, 300, 1000, 3000)
CURVE_FILES = ("learning-curve.json", "learning-curve.png")
# learning-curve and compare share a folder (compare reads the curve from it); either
# one's JSON marks it as theirs, whose files they may replace
OUTPUT_MARKERS = ("compare.json", "learning-curve.json")
METHOD_COLOURS = {
    "bow-svm": "#1f77b4",
    "tfidf-lr": "#2ca02c",
    "nbsvm": "#9467bd",
    "lstm": "#8c564b",
    "bert": "#d95f02",
    "zero-shot": "#7f7f7f",
    "setfit": "#e7298a",
}


def subsample(splits: DatasetSplits, size: int, seed: int) -> DatasetSplits:
    """``splits`` with a stratified random ``size`` examples of train (all when larger)."""
    if size >= len(splits.train):
        return splits
    fraction = size / len(splits.train)
    kept, _ = stratified_split(splits.train, (fraction, 1 - fraction), ("train", "rest"), seed)
    return replace(splits, train=kept)


def bert_config_for(config: TrainingConfig, size: int, min_updates: int) -> TrainingConfig:
    """The recipe with enough epochs for ``min_updates`` steps and about 5 evaluations."""
    batch_size = config.batch_size or default_batch_size(device_name())
    steps_per_epoch = math.ceil(size / (batch_size * config.gradient_accumulation_steps))
    epochs = max(config.epochs, math.ceil(min_updates / steps_per_epoch))
    total_steps = math.ceil(epochs * steps_per_epoch)
    return replace(config, epochs=epochs, eval_steps=max(1, total_steps // 5))


def learning_curve(
    data: str | DatasetSplits,
    *,
    methods: Sequence[str] = ("bow-svm", "tfidf-lr", "bert"),
    sizes: Sequence[int | str] = DEFAULT_SIZES,
    seeds: int = 3,
    output_dir: str | Path = "runs/learning-curve",
    config: TrainingConfig | None = None,
    min_updates: int = 60,
    max_dev: int = 500,
    text_column: str = "text",
    label_column: str = "label",
    overwrite: bool = False,
) -> dict[str, Any]:
    """Train every method at every size with ``seeds`` seeds; write JSON and a figure.

    Args:
        sizes: Training-set sizes; ``"all"`` means the full train split.
        seeds: Subsets and models per size (seeds 42, 43, ...).
        min_updates: Fewest optimiser steps a BERT run makes (small sizes get more epochs).
        max_dev: Select on at most this many dev examples (stratified), to keep the many
            BERT evaluations affordable; scores are always on the full held-out split.
        overwrite: Replace ``learning-curve.*`` files in ``output_dir`` even when the
            folder is not a learning-curve or compare output (otherwise refused).

    Returns:
        ``{"dataset", "test_size", "methods": {method: {"name", "sizes", "mean", "sd",
        "runs"}}}``, also written to ``learning-curve.json`` with ``learning-curve.png``.

    Raises:
        OutputExistsError: a file to write is in a folder of the user's, before training.
    """
    config = (config or TrainingConfig()).validate()
    check_curve_folder(Path(output_dir), overwrite=overwrite)
    loaded = (
        load_dataset(data, text_column=text_column, label_column=label_column)
        if isinstance(data, str)
        else data
    )
    splits = held_out_splits(loaded, config.seed)
    if len(splits.dev) > max_dev:
        fraction = max_dev / len(splits.dev)
        dev, _ = stratified_split(splits.dev, (fraction, 1 - fraction), ("dev", "rest"), 0)
        splits = replace(splits, dev=dev)
    test = splits.split("test")
    resolved = sorted(
        {len(splits.train) if s == "all" else min(int(s), len(splits.train)) for s in sizes}
    )
    result: dict[str, Any] = {
        "dataset": splits.name,
        "train_size": len(splits.train),
        "dev_size": len(splits.dev),
        "test_size": len(test),
        "min_updates": min_updates,
        "methods": {},
    }
    for method in methods:
        runs = []
        needs_labels = classifier_class(method).needs_labels
        # a method without labels has one point, at 0 (and holds at every size); the
        # others need at least one labelled review per class
        method_sizes = [s for s in resolved if s > 0] if needs_labels else [0]
        for size in method_sizes:
            # the subset depends on the seed; a method that learns nothing from it runs once
            run_seeds = range(config.seed, config.seed + (seeds if size else 1))
            for seed in run_seeds:
                subset = subsample(splits, size, seed)
                recipe = replace(config, seed=seed)
                if method == "bert":
                    recipe = bert_config_for(recipe, size, min_updates)
                model = create(method, seed=seed, config=recipe)
                started = time.perf_counter()
                model.fit(
                    subset.train.texts,
                    subset.train.labels,
                    eval_texts=subset.dev.texts,
                    eval_labels=subset.dev.labels,
                )
                seconds = time.perf_counter() - started
                probabilities = model.predict_proba(test.texts)
                accuracy = float(model.task_.correct(probabilities, test.labels).mean())
                run = {"size": size, "seed": seed, "accuracy": round(accuracy, 4),
                       "train_seconds": round(seconds, 1)}  # fmt: skip
                if method == "bert":
                    run["epochs"] = recipe.epochs
                runs.append(run)
                logger.info("%s, %d examples, seed %d: accuracy %.4f", method, size, seed, accuracy)
        by_size = {s: [r["accuracy"] for r in runs if r["size"] == s] for s in method_sizes}
        result["methods"][method] = {
            "name": DISPLAY_NAMES.get(method, method),
            "needs_labels": needs_labels,
            "sizes": method_sizes,
            "mean": [round(statistics.fmean(v), 4) for v in by_size.values()],
            "sd": [round(statistics.stdev(v), 4) if len(v) > 1 else 0.0 for v in by_size.values()],
            "runs": runs,
        }
    result["advice"] = label_advice(result)
    check_curve_folder(Path(output_dir), overwrite=overwrite)  # nothing new appeared meanwhile
    write_learning_curve(result, Path(output_dir))
    return result


def label_advice(curve: dict[str, Any]) -> str | None:
    """ "With fewer than N labels, use X": the most accurate method at each measured size.

    A method that needs no labels (zero-shot) competes at every size with its one score.
    Consecutive sizes with the same winner form one range; a range ends where the next
    winner was first measured ahead, so N is a measured size, not an interpolation.
    """
    methods = curve["methods"]
    sizes = sorted({size for entry in methods.values() for size in entry["sizes"]})
    winners: list[tuple[int, str, float]] = []
    for size in sizes:
        scored = []
        for entry in methods.values():
            points = dict(zip(entry["sizes"], entry["mean"], strict=True))
            score = points.get(size) if entry.get("needs_labels", True) else points.get(0)
            if score is not None:
                scored.append((score, entry["name"]))
        if scored:
            score, name = max(scored)
            winners.append((size, name, score))
    if len({name for _, name, _ in winners}) < 2:
        return f"At every size measured, use {winners[0][1]}." if winners else None
    # consecutive sizes with the same winner: (name, first size, last size, scores)
    ranges = []
    for name, group in itertools.groupby(winners, key=lambda winner: winner[1]):
        run = list(group)
        ranges.append((name, run[0][0], run[-1][0], [score for _, _, score in run]))
    parts = []
    for i, (name, first, last, scores) in enumerate(ranges):
        low, high = min(scores), max(scores)
        shown = f"{low:.1%}" + (f" to {high:.1%}" if high > low else "")
        if i == 0:
            parts.append(f"with fewer than {ranges[1][1]} labels, use {name} ({shown})")
        elif i == len(ranges) - 1:
            parts.append(f"from {first} labels on, {name} ({shown})")
        elif first == last:
            parts.append(f"at {first} labels, {name} ({shown})")
        else:
            parts.append(f"from {first} to {last} labels, {name} ({shown})")
    sentence = "; ".join(parts)
    return sentence[0].upper() + sentence[1:] + "."


def with_full_data(curve: dict[str, Any], comparison: dict[str, Any]) -> dict[str, Any]:
    """The curve extended by the comparison's full-train runs (same data, same test split).

    ``compare`` trains every method on all of train anyway; those runs are the curve's
    last point, so nobody has to train BERT on the full set twice.
    """
    sizes = comparison["splits"]["sizes"]
    same = curve["dataset"] == comparison["dataset"] and curve["test_size"] == sizes["test"]
    if not same or sizes["train"] != curve["train_size"]:
        logger.warning("learning curve and comparison are on different data; not merged")
        return curve
    merged = json.loads(json.dumps(curve))  # deep copy
    for method, entry in merged["methods"].items():
        runs = [run for run in comparison["runs"] if run["method"] == method]
        if not runs or curve["train_size"] in entry["sizes"] or not entry.get("needs_labels", True):
            continue
        accuracies = [run["accuracy"] for run in runs]
        entry["sizes"].append(curve["train_size"])
        entry["mean"].append(round(statistics.fmean(accuracies), 4))
        entry["sd"].append(round(statistics.stdev(accuracies), 4) if len(runs) > 1 else 0.0)
        entry["runs"] += [
            {"size": curve["train_size"], "seed": run["seed"], "accuracy": run["accuracy"],
             "train_seconds": run["train_seconds"], "from": "compare"}
            for run in runs
        ]  # fmt: skip
    return merged


def check_curve_folder(output: Path, *, overwrite: bool) -> None:
    """Refuse to replace ``learning-curve.*`` files the user keeps in ``output``."""
    check_output_folder(
        output, CURVE_FILES, OUTPUT_MARKERS, "bertsent learning-curve", overwrite=overwrite
    )


def write_learning_curve(result: dict[str, Any], output: Path) -> None:
    write_text_atomic(output / "learning-curve.json", json.dumps(result, indent=2))
    plot_learning_curve(result, output / "learning-curve.png")


def plot_learning_curve(result: dict[str, Any], path: Path) -> Path:
    """Mean accuracy against training size (log scale), shaded by one standard deviation;
    a method that needs no labels is a dashed line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4.5))
    for method, entry in result["methods"].items():
        if not entry.get("needs_labels", True):  # one score, good at every size
            axis.axhline(entry["mean"][0], linestyle="--", color=METHOD_COLOURS.get(method),
                         label=f"{entry['name']} (no labels)")  # fmt: skip
            continue
        sizes = np.array(entry["sizes"])
        mean, sd = np.array(entry["mean"]), np.array(entry["sd"])
        (line,) = axis.plot(
            sizes,
            mean,
            marker="o",
            label=entry["name"],
            linewidth=2.5 if method == "bert" else 1.5,
            color=METHOD_COLOURS.get(method),
        )
        axis.fill_between(sizes, mean - sd, mean + sd, alpha=0.2, color=line.get_color())
    axis.set_xscale("log")
    axis.set_xlabel("labelled training reviews (log scale)")
    axis.set_ylabel(f"test accuracy ({result['test_size']} reviews)")
    seeds = max(len({r["seed"] for r in e["runs"]}) for e in result["methods"].values())
    axis.set_title(f"{result['dataset']}: learning curves, mean ± sd over {seeds} seeds")
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    with atomic_file(path) as temporary:
        figure.savefig(temporary, dpi=120, format="png")
    plt.close(figure)
    return path
