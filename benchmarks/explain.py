"""How long explaining one review takes on this CPU: attention, IG, faithfulness, figures.

Runs each step on the first N test reviews of the model's dataset (plus the issue's
"This movie was not very good") after one warm-up, and reports median and p95 seconds
per review. Target: the full explanation (numbers and both figures) under 2 s.
Prints a table and writes benchmarks/results/explain.json.

    python benchmarks/explain.py runs/demo/model
    python benchmarks/explain.py runs/compare-rotten-tomatoes/models/bert-seed42 --reviews 30
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from bertsent.evaluation.evaluate import data_split
from bertsent.explain.attention import attention_maps
from bertsent.explain.attributions import faithfulness, integrated_gradients
from bertsent.explain.explanation import explain_text, write_explanation
from bertsent.explain.tokens import encode_text
from bertsent.hardware import describe
from bertsent.models import load
from results_file import save_results

RESULTS = Path(__file__).parent / "results"
TARGET_SECONDS = 2.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model_dir")
    parser.add_argument("--reviews", type=int, default=30)
    parser.add_argument("--steps", type=int, default=50, help="integration steps")
    args = parser.parse_args()
    if args.reviews < 1:
        parser.error("--reviews must be at least 1")

    model = load(args.model_dir)
    dataset, test = data_split(model, None, "test")
    texts = ["This movie was not very good", *test.texts[: args.reviews - 1]]
    explain_text(model, texts[0], steps=args.steps)  # warm-up
    timings: dict[str, list[float]] = {
        "attention": [], "integrated gradients": [], "faithfulness": [], "explanation": [],
        "figures": [], "explanation + figures": [],
    }  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        for text in texts:
            started = time.perf_counter()
            maps = attention_maps(model, text)
            timings["attention"].append(time.perf_counter() - started)
            started = time.perf_counter()
            attribution = integrated_gradients(model, text, steps=args.steps)
            timings["integrated gradients"].append(time.perf_counter() - started)
            started = time.perf_counter()
            target = model.labels_.index(attribution.label)
            faithfulness(model, attribution.encoded, target, {"ig": attribution.scores,
                         "attention": maps.cls_rollout()})  # fmt: skip
            timings["faithfulness"].append(time.perf_counter() - started)
            started = time.perf_counter()
            explanation = explain_text(model, text, steps=args.steps)
            middle = time.perf_counter()
            write_explanation(explanation, Path(folder))
            finished = time.perf_counter()
            timings["explanation"].append(middle - started)
            timings["figures"].append(finished - middle)
            timings["explanation + figures"].append(finished - started)

    lengths = [len(encode_text(model, text).pieces) for text in texts]
    rows = {
        name: {"median_s": float(np.median(values)), "p95_s": float(np.percentile(values, 95))}
        for name, values in timings.items()
    }
    print(f"{len(texts)} {dataset} reviews, {np.mean(lengths):.1f} tokens on average, "
          f"{args.steps} IG steps, {torch.get_num_threads()} threads")  # fmt: skip
    print(f"{'step':<24}{'median s':>10}{'p95 s':>10}")
    for name, row in rows.items():
        print(f"{name:<24}{row['median_s']:>10.3f}{row['p95_s']:>10.3f}")
    worst = rows["explanation + figures"]["p95_s"]
    verdict = "meets" if worst < TARGET_SECONDS else "misses"
    print(f"p95 of a full explanation {worst:.2f} s {verdict} the {TARGET_SECONDS:.0f} s target")
    RESULTS.mkdir(parents=True, exist_ok=True)
    result = {
        "model": args.model_dir,
        "dataset": dataset,
        "reviews": len(texts),
        "mean_tokens": float(np.mean(lengths)),
        "steps": args.steps,
        "threads": torch.get_num_threads(),
        "hardware": describe(),
        "platform": platform.platform(),
        "timings": rows,
        "target_seconds": TARGET_SECONDS,
        "meets_target": worst < TARGET_SECONDS,
    }
    save_results((RESULTS / "explain.json"), result)
    print(f"written: {RESULTS / 'explain.json'}")


if __name__ == "__main__":
    main()
