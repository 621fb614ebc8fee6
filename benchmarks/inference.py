"""Inference speed on this CPU: the plain transformers pipeline against bertsent's backends.

For each (model, evaluation split) pair it measures, in one run and on the same texts:
the ``transformers`` text-classification pipeline one text at a time and with
``batch_size=32``, and bertsent's engine (length-sorted batches, dynamic padding) with
each backend (torch, onnx, onnx-int8, torch with bf16 weights where the CPU has bf16
units, and ``auto``: the choice ``bertsent export`` recorded). Per method: reviews/s
over the whole split, p50/p95 latency of one review alone, accuracy. It also measures
this CPU's matrix-multiply rate (fp32 in PyTorch, fp32 and u8s8 INT8 in ONNX Runtime)
and reports each throughput as a fraction of the best one.
Prints a table and writes benchmarks/results/inference.json.

Models must be exported first (``bertsent export MODEL --onnx --int8``). Each model is
scored only on its own dataset's held-out split; the script checks that no evaluated
sentence is in the model's training data.

    python benchmarks/inference.py \\
        --pair runs/rt-model:rotten-tomatoes:test \\
        --pair runs/sst-model:../shared/data/sst2:dev:../shared/data/sst-binary
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bertsent.data import load_dataset
from bertsent.encoders.engine import cpu_threads
from bertsent.hardware import cpu_has_fast_bf16, describe
from bertsent.models import load
from results_file import save_results

RESULTS = Path(__file__).parent / "results"
SPEEDUP_TARGET = 5.0  # best backend vs pipeline batch 32
ACCURACY_TOLERANCE = 0.003  # 0.3 points of fp32 torch
P50_TARGET_MS = 5.0


def percentile_ms(seconds: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(seconds) * 1000, q))


def single_latencies(predict_one: Callable[[str], Any], texts: Sequence[str]) -> list[float]:
    """Seconds for each text scored alone, after two warm-up calls."""
    for text in texts[:2]:
        predict_one(text)
    seconds = []
    for text in texts:
        started = time.perf_counter()
        predict_one(text)
        seconds.append(time.perf_counter() - started)
    return seconds


def best_rate(run: Callable[[], Any], flops: float, trials: int = 5, repeats: int = 10) -> float:
    """GFLOP/s of the fastest of ``trials`` timings (clock ramps and page faults only slow)."""
    run()
    best = float("inf")
    for _ in range(trials):
        started = time.perf_counter()
        for _ in range(repeats):
            run()
        best = min(best, (time.perf_counter() - started) / repeats)
    return flops / best / 1e9


def gemm_rates(threads: int) -> dict[str, float]:
    """GFLOP/s of a 1024^3 matrix product: torch fp32, ONNX Runtime fp32 and u8s8 INT8."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    n = 1024
    flops = 2.0 * n**3
    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    rates = {"torch_fp32": best_rate(lambda: torch.mm(a, b), flops)}

    def session(node: Any, a_type: int, b_type: int, out_type: int) -> Any:
        inputs = [helper.make_tensor_value_info("a", a_type, [n, n]),
                  helper.make_tensor_value_info("b", b_type, [n, n])]  # fmt: skip
        output = helper.make_tensor_value_info("y", out_type, [n, n])
        model = helper.make_model(
            helper.make_graph([node], "gemm", inputs, [output]),
            opset_imports=[helper.make_opsetid("", 17)],
        )
        onnx.checker.check_model(model)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        return ort.InferenceSession(model.SerializeToString(), options)

    fp32 = session(
        helper.make_node("MatMul", ["a", "b"], ["y"]),
        TensorProto.FLOAT, TensorProto.FLOAT, TensorProto.FLOAT,
    )  # fmt: skip
    feed = {"a": a.numpy(), "b": b.numpy()}
    rates["onnxruntime_fp32"] = best_rate(lambda: fp32.run(None, feed), flops)
    int8 = session(
        helper.make_node("MatMulInteger", ["a", "b"], ["y"]),
        TensorProto.UINT8, TensorProto.INT8, TensorProto.INT32,
    )  # fmt: skip
    rng = np.random.default_rng(0)
    feed8 = {"a": rng.integers(0, 255, (n, n), dtype=np.uint8),
             "b": rng.integers(-127, 127, (n, n), dtype=np.int8)}  # fmt: skip
    rates["onnxruntime_int8"] = best_rate(lambda: int8.run(None, feed8), flops)
    return rates


def flops_per_review(config: Any, tokens: float) -> float:
    """Multiply-adds x 2 of one forward pass at ``tokens`` tokens (encoder + pooler/head)."""
    hidden, layers, inner = config.hidden_size, config.num_hidden_layers, config.intermediate_size
    per_layer = (
        2 * tokens * (4 * hidden * hidden + 2 * hidden * inner) + 4 * tokens * tokens * hidden
    )
    return layers * per_layer + 2 * hidden * hidden


def measure_pair(
    model_dir: str, data: str, split: str, train_data: str, backends: list[str], singles: int
) -> dict[str, Any]:
    from transformers import pipeline

    splits = load_dataset(data)
    chosen = splits.split(split)
    texts, gold = list(chosen.texts), np.asarray(chosen.labels)
    reference = load(model_dir)
    # held out: none of the scored sentences may be in the model's training data
    seen = set(load_dataset(train_data).split("train").texts)
    overlap = sum(text in seen for text in texts)
    if overlap:
        raise SystemExit(f"{overlap} of the {data} [{split}] texts are in {train_data} train")
    print(f"\n{model_dir} on {splits.name} [{split}]: {len(texts)} reviews")
    tokenizer = reference.tokenizer_  # type: ignore[attr-defined]
    lengths = [len(ids) for ids in tokenizer(texts, truncation=True, max_length=128)["input_ids"]]
    mean_tokens = float(np.mean(lengths))
    flops = flops_per_review(reference.model_.config, mean_tokens)  # type: ignore[attr-defined]
    rows: dict[str, dict[str, float]] = {}
    sample = texts[:singles]

    # the plain transformers pipeline, as a user would call it
    classify = pipeline("text-classification", model=model_dir, device=-1)
    options = {"truncation": True, "max_length": 128}
    single = single_latencies(lambda t: classify(t, **options), sample)
    started = time.perf_counter()
    one_by_one = [classify(t, **options)[0]["label"] for t in texts]
    seconds = time.perf_counter() - started
    rows["pipeline, one at a time"] = {
        "reviews_per_s": len(texts) / seconds,
        "p50_ms": percentile_ms(single, 50), "p95_ms": percentile_ms(single, 95),
        "accuracy": float((np.asarray(one_by_one) == gold).mean()),
    }  # fmt: skip
    started = time.perf_counter()
    batched = [r["label"] for r in classify(texts, batch_size=32, **options)]
    seconds = time.perf_counter() - started
    rows["pipeline, batch_size=32"] = {
        "reviews_per_s": len(texts) / seconds, "p50_ms": float("nan"), "p95_ms": float("nan"),
        "accuracy": float((np.asarray(batched) == gold).mean()),
    }  # fmt: skip

    for backend in backends:
        model = load(model_dir, backend=backend)
        name = f"bertsent {backend}"
        if backend == "auto":
            name = f"bertsent auto (= {model.backend})"  # type: ignore[attr-defined]

        def predict(batch: Sequence[str], model: Any = model) -> np.ndarray:
            return model.predict_proba(batch)  # type: ignore[no-any-return]

        single = single_latencies(lambda t: predict([t]), sample)
        predict(texts[:64])
        started = time.perf_counter()
        probabilities = predict(texts)
        seconds = time.perf_counter() - started
        predicted = np.asarray(model.labels_)[probabilities.argmax(1)]
        rows[name] = {
            "reviews_per_s": len(texts) / seconds,
            "p50_ms": percentile_ms(single, 50), "p95_ms": percentile_ms(single, 95),
            "accuracy": float((predicted == gold).mean()),
        }  # fmt: skip
        print(f"  {name}: {rows[name]['reviews_per_s']:.0f}/s")
    for row in rows.values():
        row["gflop_per_s"] = row["reviews_per_s"] * flops / 1e9
    return {
        "model": model_dir, "data": splits.name, "split": split, "reviews": len(texts),
        "mean_tokens": mean_tokens, "gflop_per_review": flops / 1e9, "methods": rows,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--pair", action="append", required=True, metavar="MODEL:DATA:SPLIT[:TRAIN_DATA]"
    )
    parser.add_argument("--backends", default="torch,onnx,onnx-int8,auto")
    parser.add_argument("--singles", type=int, default=300, help="reviews timed alone")
    parser.add_argument("--output", default=str(RESULTS / "inference.json"))
    args = parser.parse_args()
    if "torch" not in args.backends.split(","):  # the accuracy band is measured against it
        parser.error("--backends needs torch: the others are held to its accuracy")

    threads = cpu_threads()
    torch.set_num_threads(threads)
    backends = args.backends.split(",")
    if cpu_has_fast_bf16():
        backends.insert(-1, "torch-bf16")
    else:
        print(
            "torch bf16 skipped: this CPU has no AMX / AVX-512 BF16 (bf16 is emulated, ~20x slower)"
        )
    rates = gemm_rates(threads)
    results = []
    for pair in args.pair:
        model_dir, data, split, *trained_on = pair.split(":")
        train_data = trained_on[0] if trained_on else data
        results.append(measure_pair(model_dir, data, split, train_data, backends, args.singles))

    # measured before and after the models, the best of both: a rate, not a lucky sample
    rates = {k: max(v, rates[k]) for k, v in gemm_rates(threads).items()}
    peak = max(rates.values())

    from rich.console import Console
    from rich.table import Table

    console = Console(width=160)
    console.print(
        "matrix rate (1024^3, GFLOP/s): " + ", ".join(f"{k} {v:.0f}" for k, v in rates.items())
    )
    for result in results:
        methods = result["methods"]
        baseline = methods["pipeline, batch_size=32"]["reviews_per_s"]
        reference = methods["bertsent torch"]["accuracy"]
        table = Table(
            "method", "reviews/s", "x pipeline b32", "p50 ms", "p95 ms", "accuracy",
            "GFLOP/s", "of best GEMM",
            title=f"{result['data']} [{result['split']}], {result['reviews']} reviews, "
            f"{result['mean_tokens']:.1f} tokens, {result['gflop_per_review']:.2f} GFLOP/review",
        )  # fmt: skip
        for name, row in methods.items():
            row["speedup_vs_pipeline_b32"] = row["reviews_per_s"] / baseline
            row["fraction_of_best_gemm"] = row["gflop_per_s"] / peak
            table.add_row(
                name, f"{row['reviews_per_s']:.0f}", f"{row['speedup_vs_pipeline_b32']:.2f}",
                f"{row['p50_ms']:.2f}", f"{row['p95_ms']:.2f}", f"{100 * row['accuracy']:.2f}%",
                f"{row['gflop_per_s']:.0f}", f"{100 * row['fraction_of_best_gemm']:.0f}%",
            )  # fmt: skip
        console.print(table)
        eligible = {
            name: row for name, row in methods.items()
            if name.startswith("bertsent") and row["accuracy"] >= reference - ACCURACY_TOLERANCE
        }  # fmt: skip
        best = max(eligible, key=lambda name: eligible[name]["reviews_per_s"])
        result["targets"] = {
            "best_backend_within_accuracy": best,
            "speedup": eligible[best]["speedup_vs_pipeline_b32"],
            "speedup_met": eligible[best]["speedup_vs_pipeline_b32"] >= SPEEDUP_TARGET,
            "best_p50_ms": min(row["p50_ms"] for row in eligible.values()),
            "p50_met": min(row["p50_ms"] for row in eligible.values()) < P50_TARGET_MS,
        }
        console.print(result["targets"])
    record = {
        "machine": {"platform": platform.platform(), "processor": platform.processor(),
                    "threads": threads, **describe()},
        "gemm_gflop_per_s": rates,
        "results": results,
    }  # fmt: skip
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    save_results(Path(args.output), record)
    print(f"written to {args.output}")


if __name__ == "__main__":
    main()
