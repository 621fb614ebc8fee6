"""One CUDA GPU: bertsent's GPU recipe against plain transformers, training and scoring.

In one run, on sst2 (67,349 training phrases, 872 dev sentences):

1. fine-tune with bertsent's defaults on a GPU (auto precision: bf16 where the card has
   it, else fp16; batch 32, learning rate 5e-5, as on a CPU) and with the plain Trainer
   recipe (AutoModelForSequenceClassification, the same batch and rate, fp32), same epochs;
2. score the sst2 training sentences with the bertsent model in fp32, bf16 and fp16
   weights and with ``pipeline(batch_size=256)``; dev accuracy of each precision.

Prints a table and writes benchmarks/results/gpu.json with ``train_examples_per_second``
and ``reviews_per_second`` per recipe, the GPU's name and the dev accuracies. Takes
about 5 minutes on one H100-class card:

    python benchmarks/gpu.py --data ../shared/data/sst2
    python benchmarks/gpu.py --train-limit 2000 --score-limit 5000  # a quick smoke test
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

import bertsent
from bertsent.data import DatasetSplits, Split, load_dataset
from bertsent.hardware import describe, device_name
from bertsent.models import load
from bertsent.training.config import TrainingConfig

sys.path.insert(0, str(Path(__file__).parent))
from finetune import plain_trainer_recipe  # the same plain recipe as on CPUs
from results_file import save_results

RESULTS = Path(__file__).parent / "results"
TARGETS = {"train_examples_per_second": 10_000, "reviews_per_second": 50_000, "vs_pipeline": 10}


def limited(splits: DatasetSplits, train_limit: int | None) -> DatasetSplits:
    if not train_limit or train_limit >= len(splits.train):
        return splits
    train = splits.train
    return replace(
        splits, train=Split("train", train.texts[:train_limit], train.labels[:train_limit])
    )


def score_speed(model: Any, texts: list[str]) -> float:
    """Reviews/s of ``model.predict_proba`` over ``texts`` after a warm-up pass."""
    model.predict_proba(texts[:2048])
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    started = time.perf_counter()
    model.predict_proba(texts)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return len(texts) / (time.perf_counter() - started)


def pipeline_speed(model_dir: Path, texts: list[str], device: str) -> float:
    from transformers import pipeline

    classify = pipeline(
        "text-classification", model=str(model_dir), device=0 if device == "cuda" else -1
    )
    classify(texts[:512], batch_size=256, truncation=True)
    started = time.perf_counter()
    classify(texts, batch_size=256, truncation=True)
    return len(texts) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="../shared/data/sst2")
    parser.add_argument("--epochs", type=float, default=2.0)
    parser.add_argument("--train-limit", type=int, help="train on the first N examples only")
    parser.add_argument("--score-limit", type=int, help="score the first N training texts only")
    parser.add_argument("--skip-plain", action="store_true", help="skip the plain Trainer run")
    parser.add_argument("--output", default=str(RESULTS / "gpu.json"))
    args = parser.parse_args()
    device = device_name()
    if device != "cuda":
        print("warning: no CUDA GPU found; this runs on the CPU (use only as a smoke test)")

    splits = limited(load_dataset(args.data), args.train_limit)
    config = TrainingConfig(epochs=args.epochs).validate()
    work = Path(tempfile.mkdtemp(prefix="bertsent-gpu-"))
    results: dict[str, Any] = {"training": {}, "scoring": {}}
    try:
        # 1. fine-tuning: bertsent's device defaults, then the plain recipe (batch 32, fp32)
        # no generated examples: the plain arm trains on the data alone (auto added 3,208
        # to sst2's 20,000, so the two arms trained on different sets)
        run = bertsent.train(splits, config, work / "model", augment="none")
        trained = run.model.config_  # type: ignore[attr-defined]  # as it ran
        results["training"]["bertsent"] = {
            "train_examples_per_second": run.train_examples_per_second,
            "train_seconds": run.train_seconds,
            "train_examples": len(splits.train.texts),
            "dev_accuracy": run.dev_report["accuracy"],
            "precision": run.model.fit_record_["precision"],
            "batch_size": trained.batch_size,
            "learning_rate": trained.learning_rate,
        }
        if not args.skip_plain:
            plain_config = config.resolved()  # the same batch 32 and lr 5e-5, in fp32
            results["training"]["plain transformers Trainer"] = {
                **plain_trainer_recipe(splits, plain_config, work / "plain"),
                "train_examples": len(splits.train.texts),
            }

        # 2. scoring the training sentences: each precision, then the pipeline
        texts = list(splits.train.texts[: args.score_limit])
        dev_gold = np.asarray(splits.dev.labels)
        half = ["torch-bf16", "torch-fp16"] if device == "cuda" else ["torch-bf16"]
        for backend in ["torch", *half]:
            model = load(run.output_dir, backend=backend, device=device)
            dev_predicted = np.asarray(model.predict(splits.dev.texts))
            results["scoring"][f"bertsent {backend}"] = {
                "reviews_per_second": score_speed(model, texts),
                "dev_accuracy": float((dev_predicted == dev_gold).mean()),
            }
            del model
        results["scoring"]["pipeline batch_size=256"] = {
            "reviews_per_second": pipeline_speed(run.output_dir, texts, device)
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)

    scoring = results["scoring"]
    fp32_accuracy = scoring["bertsent torch"]["dev_accuracy"]
    best = max(
        (k for k in scoring if k.startswith("bertsent")),
        key=lambda k: scoring[k]["reviews_per_second"],
    )
    summary = {
        "best_scoring_backend": best,
        "vs_pipeline": scoring[best]["reviews_per_second"]
        / scoring["pipeline batch_size=256"]["reviews_per_second"],
        "half_precision_accuracy_differences": {
            k: v["dev_accuracy"] - fp32_accuracy
            for k, v in scoring.items()
            if "dev_accuracy" in v and k != "bertsent torch"
        },
        "targets": TARGETS,
    }

    from rich.console import Console
    from rich.table import Table

    table = Table("work", "recipe", "examples or reviews/s", "dev accuracy", title=describe()["gpu"]
                  if device == "cuda" else "CPU (smoke test)")  # fmt: skip
    for name, r in results["training"].items():
        table.add_row("train", name, f"{r['train_examples_per_second']:,.0f}",
                      f"{r['dev_accuracy']:.4f}")  # fmt: skip
    for name, r in scoring.items():
        accuracy = r.get("dev_accuracy")
        table.add_row("score", name, f"{r['reviews_per_second']:,.0f}",
                      "-" if accuracy is None else f"{accuracy:.4f}")  # fmt: skip
    Console().print(table)
    print(json.dumps(summary, indent=2))
    record = {
        "benchmark": "gpu",
        "data": splits.name,
        "sizes": {"train": len(splits.train), "dev": len(splits.dev), "scored": len(texts)},
        "epochs": args.epochs,
        "hardware": describe(),
        "versions": {"torch": torch.__version__, "bertsent": bertsent.__version__},
        "results": results,
        "summary": summary,
        "date": time.strftime("%Y-%m-%d"),
    }
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    save_results(output, record)
    print(f"results written to {output}")


if __name__ == "__main__":
    main()
