"""Tasks beyond positive/negative, each against its best baseline on the same split.

For every task given as ``--task NAME=MODEL_DIR`` (a BERT model trained with
``bertsent train --data DATA``), this trains the scikit-learn baselines on the same
data, scores all of them on the dev split (our test splits are held out), and reports
the metric, the best baseline and the paired bootstrap difference. Fine-grained models
also report how they order "Absolutely incredible" > "Good" > "Somewhat good" by their
intensity score. Prints a table and writes benchmarks/results/tasks.json.

    bertsent train --data ../shared/data/sst-fine --output runs/sst5
    python benchmarks/tasks.py --task intensity=runs/sst5
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np

from bertsent.data import load_dataset
from bertsent.data.tasks import FineGrainedTask
from bertsent.evaluation.metrics import bootstrap_accuracy_interval, classification_report
from bertsent.models import create, load

RESULTS = Path(__file__).parent / "results"
BASELINES = ("bow-svm", "tfidf-lr", "nbsvm")
INTENSITY_ORDER = ("Absolutely incredible", "Good", "Somewhat good")


def score(model: Any, texts: list[str], labels: list[str]) -> tuple[dict[str, Any], np.ndarray]:
    probabilities = model.predict_proba(texts)
    report = classification_report(labels, probabilities, model.labels_)
    gold = np.array([model.labels_.index(label) for label in labels])
    return report, (probabilities.argmax(axis=1) == gold).astype(float)


def measure(name: str, model_dir: str) -> dict[str, Any]:
    bert = load(model_dir)
    data = bert.metadata_["data"]["spec"]
    splits = load_dataset(data)
    texts, labels = list(splits.dev.texts), list(splits.dev.labels)
    report, bert_correct = score(bert, texts, labels)
    rows: dict[str, Any] = {"bert": {"accuracy": report["accuracy"], "macro_f1": report["macro_f1"],
                                     "accuracy_ci": report["accuracy_ci"]}}  # fmt: skip
    correct = {}
    for method in BASELINES:
        # baselines select on 10% carved from train, as bertsent compare does
        baseline = create(method, seed=42).fit(splits.train.texts, splits.train.labels)
        base_report, correct[method] = score(baseline, texts, labels)
        rows[method] = {"accuracy": base_report["accuracy"], "macro_f1": base_report["macro_f1"]}
    best = max(BASELINES, key=lambda m: rows[m]["accuracy"])
    difference = bert_correct - correct[best]
    result: dict[str, Any] = {
        "task": name,
        "model": model_dir,
        "data": data,
        "split": "dev",
        "n": len(texts),
        "task_kind": bert.task_.to_dict(),
        "methods": rows,
        "best_baseline": best,
        "difference_vs_best": round(float(difference.mean()), 4),
        "difference_ci": list(bootstrap_accuracy_interval(difference)),
    }
    if isinstance(bert.task_, FineGrainedTask):
        scored = bert.predict_scores(list(INTENSITY_ORDER))
        intensity = {text: round(s["intensity"], 4) for text, s in zip(INTENSITY_ORDER, scored,
                                                                         strict=True)}  # fmt: skip
        values = list(intensity.values())
        result["intensity"] = intensity
        result["intensity_ordered"] = all(a > b for a, b in itertools.pairwise(values))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", action="append", required=True, metavar="NAME=MODEL_DIR")
    args = parser.parse_args()
    results = [measure(*spec.split("=", 1)) for spec in args.task]
    print(f"{'task':<12}{'data':<28}{'BERT':>8}{'best baseline':>24}{'difference [95% CI]':>28}")
    for r in results:
        best = r["best_baseline"]
        low, high = r["difference_ci"]
        print(
            f"{r['task']:<12}{r['data']:<28}{100 * r['methods']['bert']['accuracy']:>7.2f}%"
            f"{best:>14} {100 * r['methods'][best]['accuracy']:>7.2f}%"
            f"{100 * r['difference_vs_best']:>+12.2f} [{100 * low:+.2f}, {100 * high:+.2f}]"
        )
        if "intensity" in r:
            print(f"{'':<12}intensity: {r['intensity']} ordered: {r['intensity_ordered']}")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "tasks.json"
    out.write_text(json.dumps({"bertsent": "benchmarks/tasks.py", "tasks": results}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
