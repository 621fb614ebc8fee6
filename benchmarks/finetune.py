"""Fine-tuning speed and accuracy: bertsent against a plain Hugging Face Trainer recipe.

Both runs use the same model, data, epochs, batch size, learning rate, warmup, weight
decay and max length, with dynamic padding and per-epoch evaluation, best epoch on
dev. The plain recipe is what the transformers documentation teaches:
AutoModelForSequenceClassification + Trainer with its defaults (random batches).
Examples/s is the Trainer's ``train_samples_per_second`` for both (evaluation time
included). Prints a table and writes JSON under benchmarks/results/.

    python benchmarks/finetune.py                      # rotten-tomatoes, both runs
    python benchmarks/finetune.py --data ../shared/data/sst2 --only bertsent --epochs 1
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import transformers

import bertsent
from bertsent.data import DatasetSplits, load_dataset
from bertsent.encoders.pretrained import resolve_model
from bertsent.hardware import describe
from bertsent.training.config import TrainingConfig
from results_file import save_results

RESULTS = Path(__file__).parent / "results"


def plain_trainer_recipe(
    splits: DatasetSplits, config: TrainingConfig, work: Path
) -> dict[str, Any]:
    """The textbook recipe: tokenizer truncation, DataCollatorWithPadding, Trainer defaults."""
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
        set_seed,
    )

    set_seed(config.seed)
    source = resolve_model(config.model)
    tokenizer = AutoTokenizer.from_pretrained(source)
    labels = splits.labels
    index = {label: i for i, label in enumerate(labels)}
    model = AutoModelForSequenceClassification.from_pretrained(
        source, num_labels=len(labels), id2label=dict(enumerate(labels)), label2id=index
    )

    def encode(split: Any) -> list[dict[str, Any]]:
        encoded = tokenizer(split.texts, truncation=True, max_length=config.max_length)
        return [
            {"input_ids": ids, "attention_mask": mask, "labels": index[label]}
            for ids, mask, label in zip(
                encoded["input_ids"], encoded["attention_mask"], split.labels, strict=True
            )
        ]

    def accuracy(prediction: Any) -> dict[str, float]:
        return {
            "accuracy": float((prediction.predictions.argmax(-1) == prediction.label_ids).mean())
        }

    args = TrainingArguments(
        output_dir=str(work),
        num_train_epochs=config.epochs,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size,
        learning_rate=config.learning_rate,
        weight_decay=config.weight_decay,
        warmup_steps=config.warmup_ratio,
        eval_strategy="epoch",
        save_strategy="epoch",
        save_total_limit=2,
        load_best_model_at_end=True,
        metric_for_best_model="accuracy",
        seed=config.seed,
        report_to="none",
        disable_tqdm=True,
        logging_strategy="no",
    )
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=encode(splits.train),
        eval_dataset=encode(splits.dev),
        data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=accuracy,
    )
    output = trainer.train()
    result = {
        "train_examples_per_second": output.metrics["train_samples_per_second"],
        "train_seconds": output.metrics["train_runtime"],
        "dev_accuracy": trainer.evaluate()["eval_accuracy"],
    }
    if splits.test is not None:
        result["test_accuracy"] = trainer.evaluate(encode(splits.test))["eval_accuracy"]
    return result


def bertsent_recipe(
    splits: DatasetSplits, config: TrainingConfig, work: Path, keep: str | None = None
) -> dict[str, Any]:
    # the plain Trainer reads the real reviews alone: so does this run (no generated examples)
    # --keep: trained there directly, so an earlier model there (and its onnx/ export) is
    # replaced as a whole, and a folder of the user's is refused, as `bertsent train` does
    run = bertsent.train(splits, config, Path(keep) if keep else work / "model", augment="none")
    result = {
        "train_examples_per_second": run.train_examples_per_second,
        "train_seconds": run.train_seconds,
        "dev_accuracy": run.dev_report["accuracy"],
        "best_epoch": run.best.get("epoch"),
        "precision": run.model.fit_record_["precision"],
        "batch_size": run.model.config_.batch_size,  # type: ignore[attr-defined]
        "learning_rate": run.model.config_.learning_rate,  # type: ignore[attr-defined]
    }
    if splits.test is not None:
        report = bertsent.evaluate(run.model, splits, split="test")
        result["test_accuracy"] = report["accuracy"]
        result["test_accuracy_ci"] = report["accuracy_ci"]
        result["test_macro_f1"] = report["macro_f1"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", default="rotten-tomatoes")
    parser.add_argument("--only", choices=("bertsent", "plain"), help="run one recipe only")
    defaults = TrainingConfig()
    parser.add_argument("--model", default=defaults.model)
    parser.add_argument("--epochs", type=float, default=defaults.epochs)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--learning-rate", type=float, default=None)
    parser.add_argument("--max-length", type=int, default=defaults.max_length)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--keep", help="also save bertsent's model to this directory")
    parser.add_argument(
        "--output", help="JSON path (default: benchmarks/results/finetune-<data>.json)"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    splits = load_dataset(args.data)
    config = (
        TrainingConfig(
            model=args.model,
            epochs=args.epochs,
            batch_size=args.batch_size,
            learning_rate=args.learning_rate,
            max_length=args.max_length,
            seed=args.seed,
        )
        .validate()
        .resolved()
    )
    recipes = {"plain transformers Trainer": plain_trainer_recipe, "bertsent": bertsent_recipe}
    if args.only:
        recipes = {
            k: v for k, v in recipes.items() if (k == "bertsent") == (args.only == "bertsent")
        }
    results: dict[str, Any] = {}
    for name, recipe in recipes.items():
        work = Path(tempfile.mkdtemp(prefix="bertsent-bench-"))
        try:
            print(f"--- {name} ---", flush=True)
            started = time.perf_counter()
            extra = {"keep": args.keep} if recipe is bertsent_recipe else {}
            results[name] = recipe(splits, config, work, **extra)
            results[name]["wall_seconds"] = round(time.perf_counter() - started, 1)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    from rich.console import Console
    from rich.table import Table

    table = Table(
        "recipe",
        "dev accuracy",
        "test accuracy",
        "train examples/s",
        "train time (s)",
        title=f"Fine-tuning {config.model} on {splits.name}",
    )
    for name, r in results.items():
        test = r.get("test_accuracy")
        table.add_row(
            name,
            f"{r['dev_accuracy']:.4f}",
            "-" if test is None else f"{test:.4f}",
            f"{r['train_examples_per_second']:.1f}",
            f"{r['train_seconds']:.0f}",
        )
    Console().print(table)
    summary: dict[str, Any] = {}
    if len(results) == 2:
        plain, ours = results["plain transformers Trainer"], results["bertsent"]
        summary = {
            "speedup_examples_per_second": round(
                ours["train_examples_per_second"] / plain["train_examples_per_second"], 3
            ),
            "dev_accuracy_difference": round(ours["dev_accuracy"] - plain["dev_accuracy"], 4),
        }
        if "test_accuracy" in ours:
            summary["test_accuracy_difference"] = round(
                ours["test_accuracy"] - plain["test_accuracy"], 4
            )
        print(json.dumps(summary))
    record = {
        "benchmark": "finetune",
        "data": splits.name,
        "sizes": {
            "train": len(splits.train),
            "dev": len(splits.dev),
            "test": len(splits.test or []),
        },
        "config": config.to_dict(),
        "results": results,
        "summary": summary,
        "hardware": {
            **describe(),
            "machine": platform.machine(),
            "processor": platform.processor(),
        },
        "versions": {
            "torch": torch.__version__,
            "numpy": np.__version__,
            "transformers": transformers.__version__,
            "bertsent": bertsent.__version__,
        },
        "date": time.strftime("%Y-%m-%d"),
    }
    # one recipe's run does not replace the file that holds both recipes' numbers
    suffix = f"-{args.only}-only" if args.only else ""
    output = Path(args.output) if args.output else RESULTS / f"finetune-{splits.name}{suffix}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    save_results(output, record)
    print(f"results written to {output}")


if __name__ == "__main__":
    main()
