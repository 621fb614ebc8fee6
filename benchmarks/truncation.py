"""Long reviews: which tokens to keep when an IMDb review exceeds the model's length.

Sun et al. (2019) fine-tuned BERT-base on IMDb keeping the first 510 tokens (head,
error 5.63%), the last 510 (tail, 5.44%) or the first 128 and the last 382 (head+tail,
5.42%). This repeats the comparison with the packaged MiniLM on a stratified subset of
``../shared/data/imdb/train.csv`` (the same subset for every strategy; dev carved from
the rest of that file, as there is no dev split), at ``--max-length`` 256 and 512.
Each row: dev accuracy with its 95% bootstrap interval, the share of dev reviews that
were cut, and the paired difference to ``head``. Writes benchmarks/results/truncation.json.

    python benchmarks/truncation.py --train 1000 --dev 500 --lengths 256,512

Rows of lengths not in ``--lengths`` are kept from an earlier run on the same subset.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bertsent.data import DatasetSplits, read_split
from bertsent.data.splits import stratified_split
from bertsent.encoders.pretrained import load_tokenizer
from bertsent.encoders.tokenization import TRUNCATION_STRATEGIES, encode
from bertsent.evaluation.metrics import bootstrap_accuracy_interval
from bertsent.pipeline import train
from bertsent.training.config import TrainingConfig
from results_file import save_results

RESULTS = Path(__file__).parent / "results"
IMDB = Path(__file__).resolve().parents[2] / "shared" / "data" / "imdb" / "train.csv"
SUN_ET_AL_ERROR = {"head": 5.63, "tail": 5.44, "head+tail": 5.42}  # BERT-base, 512 tokens


def subset(train_size: int, dev_size: int, seed: int) -> DatasetSplits:
    everything = read_split(IMDB, "all")
    total = len(everything)
    fractions = (train_size / total, dev_size / total, 1 - (train_size + dev_size) / total)
    train, dev, _ = stratified_split(everything, fractions, ("train", "dev", "rest"), seed)
    return DatasetSplits(name="imdb-subset", train=train, dev=dev, test=None)


def kept_rows(data: str, epochs: float, rerun: set[int]) -> list[dict[str, Any]]:
    """The earlier run's rows for the lengths not rerun now, when it used the same
    subset and epochs: each length is a long run on this CPU, so they can be run apart."""
    path = RESULTS / "truncation.json"
    if not path.is_file():
        return []
    earlier = json.loads(path.read_text())
    if earlier.get("data") != data or earlier.get("epochs") != epochs:
        return []
    return [row for row in earlier["rows"] if row["max_length"] not in rerun]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", type=int, default=1000)
    parser.add_argument("--dev", type=int, default=500)
    parser.add_argument("--lengths", default="256,512")
    parser.add_argument("--epochs", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    splits = subset(args.train, args.dev, args.seed)
    tokenizer = load_tokenizer(TrainingConfig().model)
    lengths = [len(ids) for ids in encode(tokenizer, splits.dev.texts, 100_000, "head")]
    rows, correct = [], {}
    for max_length in (int(value) for value in args.lengths.split(",")):
        for strategy in TRUNCATION_STRATEGIES:
            config = TrainingConfig(
                epochs=args.epochs, max_length=max_length, truncation=strategy, seed=args.seed
            )
            with tempfile.TemporaryDirectory() as folder:
                started = time.perf_counter()
                run = train(splits, config, Path(folder) / "model", augment="none")
                seconds = time.perf_counter() - started
            predicted = run.model.predict(splits.dev.texts)
            right = np.array(predicted) == np.array(splits.dev.labels)
            correct[(max_length, strategy)] = right.astype(float)
            low, high = bootstrap_accuracy_interval(right.astype(float))
            row = {
                "max_length": max_length, "truncation": strategy,
                "dev_accuracy": round(float(right.mean()), 4), "dev_accuracy_ci": [low, high],
                "error_percent": round(100 * (1 - float(right.mean())), 2),
                "dev_reviews_cut": round(float(np.mean(np.array(lengths) > max_length)), 4),
                "seconds": round(seconds, 1), "best_epoch": run.best.get("epoch"),
            }  # fmt: skip
            if strategy != "head":
                difference = right - correct[(max_length, "head")]
                row["minus_head"] = round(float(difference.mean()), 4)
                row["minus_head_ci"] = list(bootstrap_accuracy_interval(difference))
            rows.append(row)
            print(json.dumps(row), flush=True)
    data = f"{IMDB.name}: stratified {args.train} train / {args.dev} dev, seed {args.seed}"
    rows = kept_rows(data, args.epochs, {row["max_length"] for row in rows}) + rows
    result = {
        "data": data,
        "dev_tokens": {"median": int(np.median(lengths)), "mean": round(float(np.mean(lengths)))},
        "epochs": args.epochs,
        "sun_et_al_2019_bert_base_error_percent": SUN_ET_AL_ERROR,
        "rows": rows,
    }
    print(f"{'length':>6} {'truncation':<10} {'dev accuracy':>22} {'cut':>6} {'vs head':>22}")
    for row in rows:
        low, high = row["dev_accuracy_ci"]
        versus = (
            f"{row['minus_head']:+.1%} [{row['minus_head_ci'][0]:+.1%}, "
            f"{row['minus_head_ci'][1]:+.1%}]"
            if "minus_head" in row
            else ""
        )
        print(f"{row['max_length']:>6} {row['truncation']:<10} {row['dev_accuracy']:>8.1%} "
              f"[{low:.1%}, {high:.1%}] {row['dev_reviews_cut']:>6.0%} {versus:>22}")  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    save_results((RESULTS / "truncation.json"), result)
    print(f"written: {RESULTS / 'truncation.json'}")


if __name__ == "__main__":
    main()
