"""Accuracy against training-set size, several seeds per size: how much labelled data
each method needs on the user's own data.

Each point trains on a stratified random subset of exactly that many training reviews
(the seed picks the subset and the model's initialisation), selects on dev and is scored
on the held-out split. Small BERT runs get more epochs so that every run makes at least
``min_updates`` optimiser steps, as the few-sample fine-tuning literature advises
(Mosbach et al. 2021); each run's epochs are recorded.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import math
import statistics
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from bertsent.atomic import (
    atomic_file,
    check_files_in_folder,
    marked,
    write_text_atomic,
    written_by,
)
from bertsent.data import DatasetSplits, load_dataset
from bertsent.data.splits import Split, held_out_splits, stratified_split
from bertsent.data.tasks import (
    MultiLabelTask,
    is_aspect_data,
    is_multi_label,
    label_names,
    split_labels,
)
from bertsent.errors import ConfigError, DataError, ModelError, TrainingInterrupted
from bertsent.evaluation.evaluate import check_test_unseen
from bertsent.models import (
    DISPLAY_NAMES,
    ENCODER_METHODS,
    classifier_class,
    create,
    method_recipe,
    read_metadata,
)
from bertsent.training.config import TrainingConfig, recipe_changes

logger = logging.getLogger(__name__)

DEFAULT_SIZES = (100, 300, 1000, 3000)
CURVE_FILES = ("learning-curve.json", "learning-curve.png")
# learning-curve and compare share a folder (compare reads the curve from it); each
# one's JSON, when it starts {"bertsent": "<command>"}, marks that command's files there
# as theirs to replace (a user's file of the same name does not)
OUTPUT_MARKERS = {"learning-curve.json": "learning-curve", "compare.json": "compare"}
METHOD_COLOURS = {
    "bow-svm": "#1f77b4",
    "tfidf-lr": "#2ca02c",
    "nbsvm": "#9467bd",
    "lstm": "#8c564b",
    "bert": "#d95f02",
    "zero-shot": "#7f7f7f",
    "setfit": "#e7298a",
}


def stratified_picks(labels: Sequence[str]) -> Iterator[str]:
    """The label of each next row of a growing stratified subset of rows with ``labels``.

    Sainte-Laguë apportionment: the first ``k`` picks are exactly ``k`` rows, each label
    about its share of them (the share rounded, wherever those roundings add up to
    ``k``). Each pick only adds to the earlier ones, so a larger subset holds a smaller
    one (largest remainders, though as close, can take a row from a label when ``k``
    grows: the Alabama paradox).
    """
    counts = Counter(labels)
    taken = Counter[str]()
    # (minus the label's priority, the label): ties go to the label sorted first
    waiting: list[tuple[float, str]] = [(-float(n), label) for label, n in counts.items()]
    heapq.heapify(waiting)
    while waiting:
        _, label = heapq.heappop(waiting)
        yield label
        taken[label] += 1
        if taken[label] < counts[label]:
            heapq.heappush(waiting, (-counts[label] / (2 * taken[label] + 1), label))


def label_quotas(labels: Sequence[str], size: int) -> Counter[str]:
    """Rows of each label in a stratified subset of ``size`` rows (see :func:`stratified_picks`)."""
    return Counter(itertools.islice(stratified_picks(labels), size))


def subsample(splits: DatasetSplits, size: int, seed: int) -> DatasetSplits:
    """``splits`` with exactly ``size`` random examples of train (all when larger),
    stratified by label; for one seed, a smaller size's examples are among a larger one's."""
    train = splits.train
    if size >= len(train):
        return splits
    rng = np.random.default_rng(seed)
    rows_by_label: dict[str, list[int]] = {}
    for index, label in enumerate(train.labels):
        rows_by_label.setdefault(label, []).append(index)
    quotas = label_quotas(train.labels, size)
    kept: list[int] = []
    for label in sorted(rows_by_label):  # each label's shuffle depends on the seed alone
        rows = np.array(rows_by_label[label])
        rng.shuffle(rows)
        kept += rows[: quotas[label]].tolist()
    order = np.array(kept)
    rng.shuffle(order)
    return replace(splits, train=train.subset(order.tolist(), name="train"))


def required_per_class(method: str, multi_label: bool) -> int:
    """Training examples of each class ``method`` needs: one (a class never trained on
    cannot be predicted or scored), more where the method says so (e.g. 5 to calibrate
    an SVM on 5 folds; that check is for one label per review)."""
    needed: int = getattr(classifier_class(method), "min_per_class", 1)
    return 1 if multi_label else max(1, needed)


def class_counts(quotas: Counter[str], multi_label: bool) -> Counter[str]:
    """Examples of each class in a subset with ``quotas`` rows per label cell (a
    ``joy;surprise`` row counts for both)."""
    counts = Counter[str]()
    for cell, rows in quotas.items():
        for name in split_labels(cell) if multi_label else [cell]:
            counts[name] += rows
    return counts


def smallest_size(labels: Sequence[str], needed: int, multi_label: bool) -> int | None:
    """The fewest rows whose stratified subset has ``needed`` examples of every class
    (None: not even all of them)."""
    counts = Counter[str]()
    short = set(label_names(labels))
    for size, cell in enumerate(stratified_picks(labels), start=1):
        for name in split_labels(cell) if multi_label else [cell]:
            counts[name] += 1
            if counts[name] >= needed:
                short.discard(name)
        if not short:
            return size
    return None


def check_subset_sizes(train: Split, plan: dict[str, list[int]]) -> None:
    """Refuse, before anything trains, a size whose subset is too small for a method.

    How many examples of each class a subset holds depends on its size alone (the seed
    only picks which), so one check per size covers every seed.

    Raises:
        ConfigError: naming the size, the method, the class and its count, and the
            smallest size that gives every class enough.
    """
    multi_label = is_multi_label(train.labels)
    classes = label_names(train.labels)
    for method, sizes in plan.items():
        if not classifier_class(method).needs_labels:  # trains on none (zero-shot)
            continue
        needed = required_per_class(method, multi_label)
        for size in sizes:
            counts = class_counts(label_quotas(train.labels, size), multi_label)
            label = min(classes, key=lambda name: counts[name])
            if counts[label] >= needed:
                continue
            smallest = smallest_size(train.labels, needed, multi_label)
            if smallest is not None:
                hint = (
                    f"use sizes of {smallest} or more (the smallest whose subset has {needed} "
                    f"of every class), or leave {method} out"
                )
            else:
                everything = class_counts(Counter(train.labels), multi_label)
                scarce = min(classes, key=lambda name: everything[name])
                hint = f"train has only {everything[scarce]} of '{scarce}': leave {method} out"
            raise ConfigError(
                f"--sizes {size}: a stratified subset of {size} training examples has "
                f"{counts[label]} of class '{label}', and {method} needs at least {needed} "
                "of each class",
                hint=hint,
            )


def bert_config_for(config: TrainingConfig, size: int, min_updates: int) -> TrainingConfig:
    """The recipe with enough epochs for ``min_updates`` steps and about 5 evaluations."""
    batch_size = config.resolved().batch_size
    assert batch_size is not None  # resolved
    steps_per_epoch = math.ceil(size / (batch_size * config.gradient_accumulation_steps))
    epochs = max(config.epochs, math.ceil(min_updates / steps_per_epoch))
    total_steps = math.ceil(epochs * steps_per_epoch)
    return replace(config, epochs=epochs, eval_steps=max(1, total_steps // 5))


# what learning-curve trains unless told: a baseline of each kind and BERT
CURVE_METHODS = ("bow-svm", "tfidf-lr", "bert")


def methods_for(splits: DatasetSplits, methods: Sequence[str], *, chosen: bool) -> list[str]:
    """The ``methods`` that can learn this data: the default list loses those that
    cannot (said in the log); a method the user chose that cannot is refused, before
    anything trains.

    Raises:
        ConfigError: naming the chosen method and what in the data it cannot take.
    """
    kinds = []
    if is_multi_label(splits.train.labels):
        kinds.append(("several labels per review", "takes_multi_label"))
    if is_aspect_data(splits.train.texts):
        kinds.append(("(sentence, aspect) pairs", "takes_aspects"))
    usable = []
    for method in methods:
        missing = [kind for kind, able in kinds if not getattr(classifier_class(method), able)]
        if not missing:
            usable.append(method)
        elif chosen:
            raise ConfigError(
                f"--methods {method}: it cannot learn {' and '.join(missing)}, which this data has",
                hint="leave it out of --methods (or drop --methods: the default list keeps the "
                "methods that can)",
            )
    if len(usable) < len(methods):
        logger.info("measuring %s: the others cannot learn this data", ", ".join(usable))
    return usable


def learning_curve(
    data: str | DatasetSplits,
    *,
    methods: Sequence[str] | None = None,
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
        ``{"dataset", "test_size", "model", "training_config", "augment", "methods":
        {method: {"name", "sizes", "mean", "sd", "runs"}}, "advice"}``, also written to
        ``learning-curve.json`` with ``learning-curve.png``. ``model`` is the encoder the
        encoder methods start from, ``training_config`` their recipe; ``augment`` is
        always ``"none"``: the points train on real reviews alone.

    Raises:
        OutputExistsError: a file to write is in a folder of the user's, before training.
        ConfigError: a method has no size to train at, a size's subset has too few
            examples of a class for a method, or BERT is given a setting the data cannot
            take, before training.
        TrainingInterrupted: a BERT run was stopped; nothing is written.
    """
    config = (config or TrainingConfig()).validate()
    check_curve_folder(Path(output_dir), overwrite=overwrite)
    loaded = (
        load_dataset(data, text_column=text_column, label_column=label_column)
        if isinstance(data, str)
        else data
    )
    splits = held_out_splits(loaded, config.seed)
    fingerprint = splits.fingerprint()  # of the data compare sees: before dev is cut
    if len(splits.dev) > max_dev:
        fraction = max_dev / len(splits.dev)
        dev, _ = stratified_split(splits.dev, (fraction, 1 - fraction), ("dev", "rest"), 0)
        splits = replace(splits, dev=dev)
    test = splits.split("test")
    methods = methods_for(splits, methods or CURVE_METHODS, chosen=methods is not None)
    resolved = sorted(
        {len(splits.train) if s == "all" else min(int(s), len(splits.train)) for s in sizes}
    )
    # a method without labels has one point, at 0 (and holds at every size); the others
    # need labelled reviews of every class
    plan = {
        method: [s for s in resolved if s > 0] if classifier_class(method).needs_labels else [0]
        for method in methods
    }
    idle = [method for method, method_sizes in plan.items() if not method_sizes]
    if idle:
        raise ConfigError(
            f"--sizes {','.join(map(str, sizes))} gives {', '.join(idle)} nothing to train "
            "on: a method that needs labels has no point at 0",
            hint="add a size of 2 or more (e.g. --sizes 0,100,1000), or leave "
            f"{', '.join(idle)} out",
        )
    check_subset_sizes(splits.train, plan)
    if "bert" in plan:  # a setting the data cannot take, refused before any training
        config.check_labels(splits.labels, is_multi_label(splits.train.labels))
    # nor a test split the training data, or a start point, holds (as evaluate refuses)
    check_test_unseen(config, splits.train.texts, test.texts, list(plan), f"{splits.name} test")
    result: dict[str, Any] = {
        "dataset": splits.name,
        "data_fingerprint": fingerprint,  # names and sizes can match other data
        "train_size": len(splits.train),
        "dev_size": len(splits.dev),
        "test_size": len(test),
        "min_updates": min_updates,
        "model": config.model,  # the encoder the encoder methods start from
        # the recipe: compare's encoder runs are merged only when they trained with it
        "training_config": config.to_dict(),
        "augment": "none",
        "methods": {},
    }
    # the subset depends on the seed; a method that learns nothing from it runs once
    seeds_at = {
        size: range(config.seed, config.seed + (seeds if size else 1))
        for size in {0, *resolved}  # 0: the methods that need no labels
    }
    planned = sum(len(seeds_at[size]) for method_sizes in plan.values() for size in method_sizes)
    finished = 0
    for method, method_sizes in plan.items():
        runs = []
        for size in method_sizes:
            for seed in seeds_at[size]:
                subset = subsample(splits, size, seed)
                recipe = replace(config, seed=seed)
                if method == "bert":
                    recipe = bert_config_for(recipe, size, min_updates)
                model = create(method, seed=seed, config=recipe)
                started = time.perf_counter()
                try:
                    model.fit(
                        subset.train.texts,
                        subset.train.labels,
                        eval_texts=subset.dev.texts,
                        eval_labels=subset.dev.labels,
                    )
                except TrainingInterrupted:
                    # the run's checkpoint was in a temporary folder, now deleted
                    raise TrainingInterrupted(
                        f"learning-curve stopped while training {method} on {size} examples "
                        f"(seed {seed}), after {finished} of {planned} runs; nothing was "
                        "written, and no checkpoint was kept",
                        hint="run the command again to start over; fewer --sizes or --seeds "
                        "make it shorter",
                    ) from None
                seconds = time.perf_counter() - started
                if isinstance(model.task_, MultiLabelTask):  # thresholds from dev, as `train`
                    dev_probabilities = model.predict_proba(subset.dev.texts)
                    model.task_.tune_thresholds(dev_probabilities, subset.dev.labels)
                probabilities = model.predict_proba(test.texts)
                accuracy = float(model.task_.correct(probabilities, test.labels).mean())
                run = {"size": size, "seed": seed, "accuracy": round(accuracy, 4),
                       "train_seconds": round(seconds, 1)}  # fmt: skip
                if method == "bert":
                    run["epochs"] = recipe.epochs
                runs.append(run)
                finished += 1
                logger.info("%s, %d examples, seed %d: accuracy %.4f", method, size, seed, accuracy)
        by_size = {s: [r["accuracy"] for r in runs if r["size"] == s] for s in method_sizes}
        result["methods"][method] = {
            "name": DISPLAY_NAMES.get(method, method),
            "needs_labels": classifier_class(method).needs_labels,
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

    A method that needs no labels (zero-shot) competes at every size with its one score;
    a size some method that needs labels lacks is left out. Consecutive sizes with the
    same winner form one range; a range ends where the next winner was first measured
    ahead, so N is a measured size, not an interpolation.
    """
    methods = curve["methods"]
    labelled = [
        set(entry["sizes"]) for entry in methods.values() if entry.get("needs_labels", True)
    ]
    # only sizes where every method that learns from labels was measured: at a size the
    # comparison added for some methods alone, one of them would win by default
    sizes = sorted(set.intersection(*labelled)) if labelled else [0]
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


def check_curve_data(
    curve: dict[str, Any],
    dataset: str,
    train_size: int,
    test_size: int,
    fingerprint: str | None = None,
) -> None:
    """Refuse a learning curve of other data: its numbers would be quoted as this data's.

    Raises:
        DataError: the curve's dataset, split sizes or data fingerprint (where both
            record one: two files of one name and size, relabelled) differ from the
            comparison's.
    """
    theirs = (curve.get("dataset"), curve.get("train_size"), curve.get("test_size"))
    recorded = curve.get("data_fingerprint")
    other_data = None not in (recorded, fingerprint) and recorded != fingerprint
    if theirs != (dataset, train_size, test_size) or other_data:
        raise DataError(
            f"the learning curve is of {theirs[0]} ({theirs[1]} train / {theirs[2]} test "
            f"reviews), this comparison of {dataset} ({train_size} / {test_size}): its "
            "numbers would be quoted as this data's",
            hint="pass the curve `bertsent learning-curve` wrote for this data, or none "
            "(a compare folder's own learning-curve.json is read too: delete it there)",
        )


def with_full_data(curve: dict[str, Any], comparison: dict[str, Any]) -> dict[str, Any]:
    """The curve extended by the comparison's full-train runs (same data, same test split).

    ``compare`` trains every method on all of train anyway; those runs are the curve's
    last point, so nobody has to train BERT on the full set twice. A method's runs are
    added only when they trained as the curve's points do (see :func:`trained_otherwise`);
    the advice is then made again, from every point.

    Raises:
        DataError: the curve is of other data (see :func:`check_curve_data`).
    """
    sizes = comparison["splits"]["sizes"]
    check_curve_data(
        curve,
        comparison["dataset"],
        sizes["train"],
        sizes["test"],
        comparison["splits"].get("fingerprint"),
    )
    merged = json.loads(json.dumps(curve))  # deep copy
    for method, entry in merged["methods"].items():
        runs = [run for run in comparison["runs"] if run["method"] == method]
        if not runs or curve["train_size"] in entry["sizes"] or not entry.get("needs_labels", True):
            continue
        reason = trained_otherwise(method, runs, curve)
        if reason is not None:
            logger.warning("%s: the comparison's runs are not added to the learning curve: %s",
                           method, reason)  # fmt: skip
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
    merged["advice"] = label_advice(merged)
    return merged


def trained_otherwise(method: str, runs: list[dict[str, Any]], curve: dict[str, Any]) -> str | None:
    """Why ``compare``'s ``runs`` of ``method`` are not points of ``curve`` (None: they are).

    The curve trains on real reviews alone, its encoder methods with its recipe (a BERT
    point's epochs and evaluation steps follow its size); compare (``--augment auto``)
    may add generated examples, and its flags (``--recipe robust``, ``--epochs``,
    ``--model``) change the recipe. Each run's model folder records both. Seeds and
    evaluation steps may differ.
    """
    for run in runs:
        folder = run.get("model_dir")
        if folder is None:
            return "the comparison does not name its model folders"
        try:
            metadata = read_metadata(folder)
        except ModelError as error:
            return f"what its model was trained on is unknown ({error.message})"
        added = (metadata.get("data") or {}).get("augmented")
        if added:
            return (
                f"{folder} was trained with {added['added']} generated examples "
                f"({', '.join(added['kinds'])}), the curve on reviews alone (compare with "
                "--augment none to add them)"
            )
        if method not in ENCODER_METHODS:
            continue
        # curves made before the recipe was recorded took only --model: the default recipe
        recorded = curve.get("training_config") or (
            {"model": curve["model"]} if curve.get("model") else None
        )
        if recorded is None:
            return "the curve does not record its recipe (made by an older bertsent)"
        ran = metadata.get("training_config") or {}
        try:
            recipe = TrainingConfig.from_dict(recorded)
        except ConfigError as error:
            return f"the curve's recipe is unknown here ({error.message})"
        if method == "bert":
            recipe = bert_config_for(recipe, curve["train_size"], curve["min_updates"])
        recipe = replace(
            recipe, seed=ran.get("seed", recipe.seed), eval_steps=ran.get("eval_steps")
        )
        changes = recipe_changes(ran, method_recipe(method, recipe))
        if changes is None:
            return f"{folder} records training settings this bertsent does not know"
        if changes:
            return (
                f"{folder} was trained otherwise ({'; '.join(changes)}: the run's -> the curve's)"
            )
    return None


# what the JSONs held before they were marked: an earlier version's folder stays ours
UNMARKED_KEYS = {"learning-curve": {"dataset", "train_size", "methods"},
                 "compare": {"dataset", "rows", "paired"}}  # fmt: skip


def is_output_of(path: Path, command: str) -> bool:
    """Whether ``path`` is the JSON that ``command`` (learning-curve or compare) wrote:
    marked, or, from before the mark, a small JSON object with all of its keys."""
    if written_by(path, command):
        return True
    try:
        if path.stat().st_size > 50_000_000:  # not ours: never read a large file whole
            return False
        content = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(content, dict) and UNMARKED_KEYS[command] <= content.keys()


def check_shared_folder(folder: Path, files: Sequence[str], what: str, *, overwrite: bool) -> None:
    """Refuse to replace ``files`` in ``folder`` that are not ours (or ``overwrite``).

    Each command's files are ours where its own JSON beside them is (``compare.*`` by
    ``compare.json``, ``learning-curve.*`` by ``learning-curve.json``; see
    :func:`is_output_of`): one command's mark does not give it the other's names.

    Raises:
        OutputExistsError: ``folder`` is a file, or naming the first file in the way.
    """
    for name in files:
        marker = name.split(".", 1)[0] + ".json"
        ours = overwrite or is_output_of(Path(folder) / marker, OUTPUT_MARKERS[marker])
        check_files_in_folder(folder, [name], what, replaceable=ours)


def check_curve_folder(output: Path, *, overwrite: bool) -> None:
    """Refuse to replace ``learning-curve.*`` files the user keeps in ``output``."""
    check_shared_folder(output, CURVE_FILES, "bertsent learning-curve", overwrite=overwrite)


def write_learning_curve(result: dict[str, Any], output: Path) -> None:
    """The JSON first, marked: once it is there a rerun knows the figure is ours too."""
    content = json.dumps(marked("learning-curve", result), indent=2)
    write_text_atomic(output / "learning-curve.json", content)
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
