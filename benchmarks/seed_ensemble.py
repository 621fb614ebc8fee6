"""Several seeds of one recipe: each alone, their averaged probabilities, their averaged weights.

A question users ask once one seed falls short of a target: would two or three runs of
the same recipe, put together, get there? Two standard answers, measured on the same
split:

- *ensemble*: score the review with every model and average the class probabilities
  (each pair of runs, and all of them). It costs one forward pass per model at
  prediction time. Each is compared, paired, with the mean of its own members.
- *weight average* ("model soup", Wortsman et al. 2022): average the weights into one
  model of the original size and cost. It only works where the runs stay in one basin
  of the loss; runs whose heads start from different random draws may not.

The models must come from one data set with the same labels (saved by ``bertsent
train``). Prints a table and writes JSON under benchmarks/results/. ``--save-average``
keeps the averaged model, scored on dev, for ``levers.py`` (behaviour, paired by seed:
the folder carries its first member's training settings, seed included, so average
members of one seed).

    python benchmarks/seed_ensemble.py --data ../shared/data/sst-fine \\
        runs/sst5-seed1 runs/sst5-seed7 --name sst5
"""

from __future__ import annotations

import argparse
import functools
import itertools
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load_file, save_file

from bertsent.atomic import check_replaceable
from bertsent.data.tasks import MultiLabelTask
from bertsent.errors import OutputExistsError
from bertsent.evaluation.evaluate import data_split
from bertsent.evaluation.metrics import bootstrap_accuracy_interval, task_report
from bertsent.models import load
from bertsent.models.base import METADATA_FILE
from bertsent.pipeline import headline_metrics
from results_file import save_results

RESULTS = Path(__file__).parent / "results"
WEIGHTS = "model.safetensors"


def probabilities(model: Any, texts: list[str]) -> tuple[np.ndarray, list[str]]:
    return model.predict_proba(texts), list(model.labels_)


def weight_average(model_dirs: list[Path], into: Path) -> Path:
    """A copy of the first model folder whose weights are the mean of all the models'."""
    shutil.copytree(model_dirs[0], into)
    states = [load_file(str(folder / WEIGHTS)) for folder in model_dirs]
    mean = {
        name: np.mean([state[name].astype(np.float64) for state in states], axis=0).astype(
            states[0][name].dtype
        )
        for name in states[0]
    }
    save_file(mean, str(into / WEIGHTS), metadata={"format": "pt"})
    return into


def check_soup(
    parser: argparse.ArgumentParser, into: Path, member_dirs: list[Path], members: list[Any]
) -> None:
    """Refuse, before any scoring, a soup that ``--save-average`` could not save as a
    model of its own: one for ``levers.py`` to pair by seed, guarded against overlap."""
    if into.resolve() in {folder.resolve() for folder in member_dirs}:
        parser.error("--save-average would replace one of the models averaged")
    try:
        check_replaceable(into, METADATA_FILE, "bertsent model folder")
    except OutputExistsError as error:
        parser.error(str(error))
    for folder, model in zip(member_dirs, members, strict=True):
        if model.method != "bert":
            parser.error(f"{folder}: a {model.method} model; only fine-tunes are averaged")
        if isinstance(model.task_, MultiLabelTask):
            parser.error(f"{folder}: a multi-label model (this script compares argmax answers)")
        if model.train_hashes_ is None:
            parser.error(f"{folder}: records no training texts, so the soup's could not be checked")
        if model.config.seed != members[0].config.seed:
            parser.error(
                f"{folder}: seed {model.config.seed}, not {member_dirs[0]}'s "
                f"{members[0].config.seed}: the soup is paired by its seed"
            )


def save_average(
    averaged: Any, members: list[Any], member_dirs: list[Path], data: str, into: Path
) -> None:
    """Save the averaged model as a model folder of its own: its dev metrics are its own
    (not its first member's), and its training-text hashes are every member's."""
    _, dev = data_split(averaged, data, "dev")
    report = task_report(averaged.task_, list(dev.labels), averaged.predict_proba(list(dev.texts)))
    averaged.train_hashes_ = functools.reduce(np.union1d, [m.train_hashes_ for m in members])
    metadata = {
        "data": members[0].metadata_.get("data"),
        "metrics": {"dev": headline_metrics(report)},
        "weight_average_of": [str(folder) for folder in member_dirs],
    }
    averaged.save(into, metadata=metadata)


def correct(probs: np.ndarray, labels: list[str], gold: list[str]) -> np.ndarray:
    predicted = np.asarray(labels)[probs.argmax(axis=1)]
    return (predicted == np.asarray(gold)).astype(float)


def row(name: str, hits: np.ndarray, reference: np.ndarray) -> dict[str, Any]:
    paired = hits - reference
    return {
        "name": name,
        "accuracy": round(float(hits.mean()), 4),
        "accuracy_ci": list(bootstrap_accuracy_interval(hits)),
        "vs_members_mean": round(float(paired.mean()), 4),
        "vs_members_mean_ci": list(bootstrap_accuracy_interval(paired)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", type=Path, help="saved model folders (2 or more)")
    parser.add_argument("--data", required=True, help="the data the models were trained on")
    parser.add_argument("--split", default="dev")
    parser.add_argument("--name", required=True, help="results file: seed-ensemble-NAME.json")
    parser.add_argument("--save-average", type=Path, help="keep the weight-averaged model here")
    args = parser.parse_args()
    if len(args.models) < 2:
        parser.error("give at least two model folders")

    models = [load(folder) for folder in args.models]
    if args.save_average:
        check_soup(parser, args.save_average, args.models, models)
    _, split = data_split(models[0], args.data, args.split)  # refuses another dataset's split
    texts, gold = list(split.texts), list(split.labels)
    members = [probabilities(model, texts) for model in models]
    labels = members[0][1]
    for folder, (_, other) in zip(args.models, members, strict=True):
        if other != labels:
            parser.error(f"{folder}: labels {other} differ from {args.models[0]}'s {labels}")
    member_hits = [correct(probs, labels, gold) for probs, _ in members]
    reference = np.mean(member_hits, axis=0)  # each example's share of members right

    rows = [
        row(str(folder), hits, reference)
        for folder, hits in zip(args.models, member_hits, strict=True)
    ]
    # every subset of two or more runs: with three, each pair and all three
    for size in range(2, len(members) + 1):
        for subset in itertools.combinations(range(len(members)), size):
            ensemble = np.mean([members[i][0] for i in subset], axis=0)
            names = " + ".join(args.models[i].name for i in subset)
            rows.append(
                row(
                    f"ensemble {names}",
                    correct(ensemble, labels, gold),
                    np.mean([member_hits[i] for i in subset], axis=0),  # vs its own members
                )
            )
    with tempfile.TemporaryDirectory() as scratch:
        averaged = load(weight_average(args.models, Path(scratch) / "averaged"))
        soup, _ = probabilities(averaged, texts)
        if args.save_average:
            save_average(averaged, models, args.models, args.data, args.save_average)
    rows.append(row("weight average (one model)", correct(soup, labels, gold), reference))

    print(f"{args.split} of {args.data}, {len(texts)} examples")
    print(f"{'':52} {'accuracy':>9} {'vs members':>11}  95% CI")
    for entry in rows:
        low, high = entry["vs_members_mean_ci"]
        print(
            f"{entry['name'][-52:]:52} {100 * entry['accuracy']:8.2f}% "
            f"{100 * entry['vs_members_mean']:+10.2f}  [{100 * low:+.2f}, {100 * high:+.2f}]"
        )
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"seed-ensemble-{args.name}.json"
    record = {"data": args.data, "split": args.split, "n": len(texts), "rows": rows}
    save_results(out, record)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
