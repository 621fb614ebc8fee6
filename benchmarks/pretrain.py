"""Does more masked-LM pre-training before the fine-tune pay? (issue 14)

Two cases from Gururangan et al. (2020) and Sun et al. (2019):

- ``--case tapt``: task-adaptive pre-training on the rotten-tomatoes training texts
  (``bertsent pretrain --data rotten-tomatoes``), then the default fine-tune, against
  the same fine-tune of the packaged encoder; dev and test accuracy.
- ``--case imdb``: domain pre-training on the first ``--unlabelled`` reviews of
  ``../shared/data/imdb/unsup.csv`` (capped at ``--minutes``), then fine-tuning on a
  stratified IMDb subset (train, dev for selection and a held-out part for the score,
  all carved from ``imdb/train.csv``, disjoint from unsup).

Both arms use the same seeds, so each seed is a paired comparison. Reported: each
arm's mean and standard deviation over seeds, and the paired difference with two
intervals: the 95% bootstrap interval over reviews of the per-review difference
averaged over seeds (how sure we are on this test set), and the range of the per-seed
differences. Writes benchmarks/results/pretrain-<case>.json.

    python benchmarks/pretrain.py --case tapt --seeds 42,7,1
    python benchmarks/pretrain.py --case imdb --unlabelled 8000 --minutes 30 \\
        --train 600 --dev 300 --test 1000 --max-length 128
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

import bertsent
from bertsent.data import DatasetSplits, load_dataset, read_split
from bertsent.data.splits import stratified_split
from bertsent.evaluation.metrics import bootstrap_accuracy_interval
from bertsent.hardware import describe
from bertsent.pipeline import pretrain, train
from bertsent.training.config import TrainingConfig
from results_file import save_results

RESULTS = Path(__file__).parent / "results"
IMDB = Path(__file__).resolve().parents[2] / "shared" / "data" / "imdb"
SUN_ET_AL_IMDB_ERROR = {"without": 5.40, "with in-domain pre-training": 4.37}  # BERT-base


def imdb_subset(train_size: int, dev_size: int, test_size: int, seed: int) -> DatasetSplits:
    everything = read_split(IMDB / "train.csv", "all")
    total = len(everything)
    sizes = (train_size, dev_size, test_size)
    fractions = (*(size / total for size in sizes), 1 - sum(sizes) / total)
    train_part, dev, test, _ = stratified_split(
        everything, fractions, ("train", "dev", "test", "rest"), seed
    )
    return DatasetSplits(name="imdb-subset", train=train_part, dev=dev, test=test)


def unlabelled_file(count: int, folder: Path) -> Path:
    """The first ``count`` unsup reviews as a one-column CSV for ``bertsent pretrain``."""
    path = folder / "imdb-unsup-subset.csv"
    with (
        open(IMDB / "unsup.csv", newline="", encoding="utf-8") as source,
        open(path, "w", newline="", encoding="utf-8") as target,
    ):
        writer = csv.writer(target)
        writer.writerow(["text"])
        for number, row in enumerate(csv.DictReader(source)):
            if number == count:
                break
            writer.writerow([row["text"]])
    return path


def score(run: Any, splits: DatasetSplits) -> dict[str, Any]:
    """Dev and held-out accuracy of a trained run, with the per-review correctness."""
    scores: dict[str, Any] = {"best_epoch": run.best.get("epoch")}
    for name in ("dev", "test"):
        split = getattr(splits, name)
        right = np.array(run.model.predict(split.texts)) == np.array(split.labels)
        scores[f"{name}_accuracy"] = float(right.mean())
        scores[f"{name}_correct"] = right.astype(float)
    return scores


def paired(without: list[dict[str, Any]], with_: list[dict[str, Any]], name: str) -> dict:
    pairs = list(zip(without, with_, strict=True))
    per_seed = [w[f"{name}_accuracy"] - b[f"{name}_accuracy"] for b, w in pairs]
    per_review = np.mean([w[f"{name}_correct"] - b[f"{name}_correct"] for b, w in pairs], axis=0)
    return {
        "mean_difference": round(float(np.mean(per_seed)), 4),
        "bootstrap_95_over_reviews": list(bootstrap_accuracy_interval(per_review)),
        "per_seed": [round(value, 4) for value in per_seed],
    }


def summary(runs: list[dict[str, Any]], name: str) -> dict[str, float]:
    values = [run[f"{name}_accuracy"] for run in runs]
    return {"mean": round(float(np.mean(values)), 4), "sd": round(float(np.std(values, ddof=1)), 4)
            if len(values) > 1 else 0.0}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", choices=("tapt", "imdb"), required=True)
    parser.add_argument("--seeds", default="42,7,1")
    parser.add_argument("--pretrain-epochs", type=float, default=1.0)
    parser.add_argument("--minutes", type=float, default=30.0, help="pre-training cap")
    parser.add_argument("--unlabelled", type=int, default=8000, help="imdb: unsup reviews")
    parser.add_argument("--train", type=int, default=600, help="imdb: labelled train size")
    parser.add_argument("--dev", type=int, default=300)
    parser.add_argument("--test", type=int, default=1000)
    parser.add_argument("--max-length", type=int, default=None)
    args = parser.parse_args()
    seeds = [int(seed) for seed in args.seeds.split(",")]
    lengths = {"max_length": args.max_length} if args.max_length else {}

    with tempfile.TemporaryDirectory(prefix="bertsent-pretrain-") as work:
        folder = Path(work)
        if args.case == "tapt":
            splits, corpus = load_dataset("rotten-tomatoes"), "rotten-tomatoes"
        else:
            splits = imdb_subset(args.train, args.dev, args.test, seed=42)
            corpus = str(unlabelled_file(args.unlabelled, folder))
        pretrained = folder / "pretrained"
        config = TrainingConfig(epochs=args.pretrain_epochs, seed=42, **lengths)
        started = time.perf_counter()
        record = pretrain(corpus, pretrained, config, max_minutes=args.minutes)
        pretrain_seconds = time.perf_counter() - started
        print(json.dumps({k: record[k] for k in ("texts", "steps", "planned_steps",
                                                  "held_out_mlm_loss")}), flush=True)  # fmt: skip
        arms: dict[str, list[dict[str, Any]]] = {"default": [], "pre-trained": []}
        for seed in seeds:
            for arm, model in (("default", TrainingConfig().model), ("pre-trained", pretrained)):
                fine_tune = TrainingConfig(model=str(model), seed=seed, **lengths)
                started = time.perf_counter()
                run = train(splits, fine_tune, folder / f"{arm}-{seed}")
                scores = score(run, splits)
                scores["seconds"] = round(time.perf_counter() - started, 1)
                arms[arm].append(scores)
                print(json.dumps({"arm": arm, "seed": seed, **{k: v for k, v in scores.items()
                                  if not k.endswith("_correct")}}), flush=True)  # fmt: skip

    result = {
        "benchmark": f"pretrain-{args.case}",
        "data": splits.name,
        "sizes": {name: len(getattr(splits, name)) for name in ("train", "dev", "test")},
        "pretraining": {
            **{k: v for k, v in record.items() if k != "history"},
            "wall_seconds": round(pretrain_seconds, 1),
        },
        "fine_tune_config": TrainingConfig(**lengths).to_dict(),
        "seeds": seeds,
        "arms": {
            arm: {
                "dev": summary(runs, "dev"),
                "test": summary(runs, "test"),
                "runs": [{k: v for k, v in r.items() if not k.endswith("_correct")} for r in runs],
            }
            for arm, runs in arms.items()
        },
        "pre-trained_minus_default": {
            name: paired(arms["default"], arms["pre-trained"], name) for name in ("dev", "test")
        },
        "hardware": {**describe(), "machine": platform.machine()},
        "versions": {"torch": torch.__version__, "bertsent": bertsent.__version__},
        "date": time.strftime("%Y-%m-%d"),
    }
    if args.case == "imdb":
        result["sun_et_al_2019_imdb_error_percent"] = SUN_ET_AL_IMDB_ERROR
    print(f"{'arm':<12} {'dev (mean ± sd)':>18} {'test (mean ± sd)':>18}")
    for arm, values in result["arms"].items():
        print(f"{arm:<12} {values['dev']['mean']:>10.2%} ± {values['dev']['sd']:.2%} "
              f"{values['test']['mean']:>10.2%} ± {values['test']['sd']:.2%}")  # fmt: skip
    for name, difference in result["pre-trained_minus_default"].items():
        low, high = difference["bootstrap_95_over_reviews"]
        print(f"pre-trained - default, {name}: {difference['mean_difference']:+.2%} "
              f"[{low:+.2%}, {high:+.2%}], per seed {difference['per_seed']}")  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    output = RESULTS / f"pretrain-{args.case}.json"
    save_results(output, result)
    print(f"written: {output}")


if __name__ == "__main__":
    main()
