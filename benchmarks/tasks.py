"""Tasks beyond positive/negative, each against its best baseline on the same split.

For every task given as ``--task NAME=MODEL_DIR`` (a BERT model trained with
``bertsent train --data DATA``), this trains the scikit-learn baselines on the same
data, scores all of them on the dev split (our test splits are held out), and reports
the metric, the best baseline and the paired bootstrap difference. Fine-grained models
also report how they order "Absolutely incredible" > "Good" > "Somewhat good" by their
intensity score; aspect models, their accuracy on the aspects of sentences whose
aspects carry different labels and what they say about each aspect of "The screen is
gorgeous but the battery dies by noon" (baselines read "sentence [SEP] aspect" as one
bag of words). Prints a table and writes benchmarks/results/tasks.json (or
``--output``).

    bertsent train --data ../shared/data/sst-fine --output runs/sst5
    bertsent train --data ../shared/data/absa/laptops --epochs 5 --metric macro_f1 \
        --output runs/absa-laptops
    python benchmarks/tasks.py --task intensity=runs/sst5 --task aspects-laptops=runs/absa-laptops

``--against MODEL_DIR=REFERENCE_DIR`` also scores a second BERT model wherever MODEL_DIR
is scored (the same recipe without a lever) with the paired difference.
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import f1_score

from bertsent.data import load_dataset
from bertsent.data.tasks import (
    AspectTask,
    FineGrainedTask,
    MultiLabelTask,
    join_aspect,
    split_aspect,
)
from bertsent.evaluation.metrics import (
    bootstrap_accuracy_interval,
    classification_report,
    multi_label_report,
)
from bertsent.models import create, load
from results_file import save_results

RESULTS = Path(__file__).parent / "results"
BASELINES = ("bow-svm", "tfidf-lr", "nbsvm")
INTENSITY_ORDER = ("Absolutely incredible", "Good", "Somewhat good")
HEADLINE = ("accuracy", "accuracy_ci", "macro_f1", "macro_f1_at_0_5", "thresholds")
TWO_ASPECTS = ("The screen is gorgeous but the battery dies by noon", ("screen", "battery"))


def score(model: Any, texts: list[str], labels: list[str]) -> tuple[dict[str, Any], np.ndarray]:
    """The task's report and the per-example 0/1 correctness (every label, multi-label)."""
    probabilities = model.predict_proba(texts)
    if isinstance(model.task_, MultiLabelTask):
        return multi_label_scores(model.labels_, probabilities, labels)
    report = classification_report(labels, probabilities, model.labels_)
    return report, model.task_.correct(probabilities, labels).astype(float)


def multi_label_scores(
    names: list[str], probabilities: np.ndarray, gold: list[str]
) -> tuple[dict[str, Any], np.ndarray]:
    """Macro-F1 at 0.5 and at thresholds tuned on dev without scoring what they were
    tuned on: each half of dev is decided with the thresholds of the other half."""
    halves = np.random.default_rng(0).permutation(len(gold)) % 2 == 0
    chosen = np.zeros(probabilities.shape, dtype=bool)
    for tune, apply in ((halves, ~halves), (~halves, halves)):
        task = MultiLabelTask(names)
        task.tune_thresholds(probabilities[tune], [g for g, t in zip(gold, tune, strict=True) if t])
        chosen[apply] = task.chosen(probabilities[apply])
    truth = MultiLabelTask(names).targets(gold).astype(bool)
    at_half = multi_label_report(gold, probabilities, MultiLabelTask(names))
    report = {
        "accuracy": float((chosen == truth).all(axis=1).mean()),
        # over the labels dev has, as multi_label_report's (and so "at 0.5" here) is
        "macro_f1": float(
            f1_score(truth, chosen, average=None, zero_division=0)[truth.any(axis=0)].mean()
        ),
        "macro_f1_at_0_5": at_half["macro_f1"],
        "thresholds": "cross-fitted on the two halves of dev",
    }
    return report, (chosen == truth).all(axis=1).astype(float)


def mixed_sentences(texts: list[str], labels: list[str]) -> np.ndarray:
    """(n,) True for the aspects of sentences whose aspects carry different labels: there
    the sentence alone cannot decide, only reading the aspect can."""
    sentences = [split_aspect(text)[0] for text in texts]
    seen: dict[str, set[str]] = {}
    for sentence, label in zip(sentences, labels, strict=True):
        seen.setdefault(sentence, set()).add(label)
    return np.array([len(seen[sentence]) > 1 for sentence in sentences])


def measure(
    name: str, model_dir: str, data: str | None = None, reference: str | None = None
) -> dict[str, Any]:
    """Score ``model_dir`` and the baselines on the dev split of ``data`` (default: the
    data the model was trained on), and against another BERT model (``reference``, e.g.
    the same recipe without a lever) paired on the same examples."""
    bert = load(model_dir)
    data = data or bert.metadata_["data"]["spec"]
    splits = load_dataset(data)
    texts, labels = list(splits.dev.texts), list(splits.dev.labels)
    report, bert_correct = score(bert, texts, labels)
    rows: dict[str, Any] = {"bert": {key: report[key] for key in HEADLINE if key in report}}
    against: dict[str, Any] = {}
    if reference:
        reference_report, reference_correct = score(load(reference), texts, labels)
        paired = bert_correct - reference_correct
        against = {
            "model": reference,
            **{key: reference_report[key] for key in HEADLINE if key in reference_report},
            "difference": round(float(paired.mean()), 4),
            "difference_ci": list(bootstrap_accuracy_interval(paired)),
        }
    correct = {}
    # the baselines that can fit the task: one logistic regression per label for multi-label
    baselines = ("tfidf-lr",) if isinstance(bert.task_, MultiLabelTask) else BASELINES
    for method in baselines:
        # baselines select on 10% carved from train, as bertsent compare does
        baseline = create(method, seed=42).fit(splits.train.texts, splits.train.labels)
        base_report, correct[method] = score(baseline, texts, labels)
        rows[method] = {key: base_report[key] for key in HEADLINE if key in base_report}
    best = max(baselines, key=lambda m: rows[m]["accuracy"])
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
        "macro_f1_difference": round(rows["bert"]["macro_f1"] - rows[best]["macro_f1"], 4),
    }
    if against:
        result["reference"] = against
    if isinstance(bert.task_, FineGrainedTask):
        scored = bert.predict_scores(list(INTENSITY_ORDER))
        intensity = {text: round(s["intensity"], 4) for text, s in zip(INTENSITY_ORDER, scored,
                                                                         strict=True)}  # fmt: skip
        values = list(intensity.values())
        result["intensity"] = intensity
        result["intensity_ordered"] = all(a > b for a, b in itertools.pairwise(values))
    if isinstance(bert.task_, AspectTask):
        mixed = mixed_sentences(texts, labels)
        result["mixed_sentences"] = {
            "aspects": int(mixed.sum()),
            "bert": round(float(bert_correct[mixed].mean()), 4),
            "bert_others": round(float(bert_correct[~mixed].mean()), 4),
            best: round(float(correct[best][mixed].mean()), 4),
        }
        sentence, aspects = TWO_ASPECTS
        answers = bert.predict([join_aspect(sentence, aspect) for aspect in aspects])
        result["two_aspects"] = {"text": sentence, **dict(zip(aspects, answers, strict=True))}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", action="append", required=True, metavar="NAME=MODEL_DIR")
    parser.add_argument(
        "--data",
        action="append",
        default=[],
        metavar="NAME=DATA",
        help="score task NAME on DATA's dev split (a model trained on several datasets, "
        "scored on each; the baselines train on DATA)",
    )
    parser.add_argument(
        "--against",
        action="append",
        default=[],
        metavar="MODEL_DIR=REFERENCE_DIR",
        help="also score REFERENCE_DIR where MODEL_DIR is scored, with the paired difference",
    )
    parser.add_argument("--output", default="tasks.json", help="file name under results/")
    args = parser.parse_args()
    data_for = dict(spec.split("=", 1) for spec in args.data)
    reference_for = dict(spec.split("=", 1) for spec in args.against)
    tasks = [spec.split("=", 1) for spec in args.task]
    results = [
        measure(name, model_dir, data_for.get(name), reference_for.get(model_dir))
        for name, model_dir in tasks
    ]
    print(f"{'task':<12}{'data':<28}{'BERT':>8}{'best baseline':>24}{'difference [95% CI]':>28}")
    for r in results:
        best = r["best_baseline"]
        low, high = r["difference_ci"]
        print(
            f"{r['task']:<12}{r['data']:<28}{100 * r['methods']['bert']['accuracy']:>7.2f}%"
            f"{best:>14} {100 * r['methods'][best]['accuracy']:>7.2f}%"
            f"{100 * r['difference_vs_best']:>+12.2f} [{100 * low:+.2f}, {100 * high:+.2f}]"
        )
        print(f"{'':<12}macro-F1: BERT {r['methods']['bert']['macro_f1']:.4f}, {best} "
              f"{r['methods'][best]['macro_f1']:.4f}")  # fmt: skip
        if "intensity" in r:
            print(f"{'':<12}intensity: {r['intensity']} ordered: {r['intensity_ordered']}")
        if "mixed_sentences" in r:
            print(f"{'':<12}sentences with differing aspects: {r['mixed_sentences']}")
        if "two_aspects" in r:
            print(f"{'':<12}{r['two_aspects']}")
        if "reference" in r:
            ref = r["reference"]
            low, high = ref["difference_ci"]
            print(f"{'':<12}against {ref['model']}: {100 * ref['accuracy']:.2f}% / "
                  f"{ref['macro_f1']:.4f}, paired {100 * ref['difference']:+.2f} "
                  f"[{100 * low:+.2f}, {100 * high:+.2f}]")  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / args.output
    save_results(out, {"bertsent": "benchmarks/tasks.py", "tasks": results})
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
