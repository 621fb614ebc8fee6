"""What scaling out costs on one machine: Ray scoring and DDP training against one process.

Scoring: the same ``--rows`` reviews (the rotten-tomatoes test reviews repeated) in
``--shards`` parquet shards, scored by the single-process engine (``predict --input``,
shard after shard, one model load) and by ``predict --engine ray`` with 1 and 2 workers
(local Ray started by the job, as a user without a cluster runs it). The Ray figures
include starting Ray and each actor's model load: the overhead a user pays.

Training: ``bertsent train`` with one process (2 threads) against ``torchrun
--nproc-per-node 2`` (1 thread each, gloo) at the same global batch, on ``--train-rows``
rotten-tomatoes reviews for one epoch; examples/s as the Trainer measures them.

The model is the packaged encoder as a zero-shot classifier (no training needed; the
same 22M-parameter forward pass as a fine-tuned model). Writes
benchmarks/results/scale-ROWS.json (or --output).

    python benchmarks/scale.py --rows 100000 --shards 10
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

from bertsent.data import load_dataset
from bertsent.hardware import describe
from bertsent.inference.cluster import ScoringJob, score_corpus
from bertsent.inference.files import model_fingerprint, predict_file
from bertsent.inference.loading import load_for_inference
from bertsent.pipeline import train
from results_file import save_results

RESULTS = Path(__file__).parent / "results"


def write_shards(folder: Path, rows: int, shards: int) -> list[Path]:
    texts = list(load_dataset("rotten-tomatoes").test.texts)
    repeated = (texts * (rows // len(texts) + 1))[:rows]
    folder.mkdir()
    paths, size = [], -(-rows // shards)
    for number in range(shards):
        part = repeated[number * size : (number + 1) * size]
        path = folder / f"shard-{number:03d}.parquet"
        pd.DataFrame(
            {"id": range(number * size, number * size + len(part)), "text": part}
        ).to_parquet(path, index=False)
        paths.append(path)
    return paths


def score_single(model_dir: Path, shards: list[Path], output: Path) -> dict[str, Any]:
    started = time.perf_counter()
    model = load_for_inference(str(model_dir))
    loaded = time.perf_counter()
    output.mkdir()
    rows = sum(
        predict_file(model, shard, output / f"{shard.name}", progress=False) for shard in shards
    )
    finished = time.perf_counter()
    return {"rows": rows, "wall_seconds": round(finished - started, 1),
            "load_seconds": round(loaded - started, 1),
            "rows_per_second": round(rows / (finished - started), 1)}  # fmt: skip


def score_ray(model_dir: Path, shards_dir: Path, output: Path, workers: int) -> dict[str, Any]:
    job = ScoringJob(str(model_dir), "auto", None, None, "text", "", 1024, str(output))
    model = load_for_inference(str(model_dir))
    started = time.perf_counter()
    result = score_corpus(job, str(shards_dir), model_id=model_fingerprint(model_dir, model),
                          num_workers=workers, progress=False)  # fmt: skip
    wall = time.perf_counter() - started
    return {"rows": result["rows"], "wall_seconds": round(wall, 1),
            "rows_per_second": round(result["rows"] / wall, 1),
            "rows_per_second_after_start": result["rows_per_second"]}  # fmt: skip


def train_examples_per_second(data: Path, output: Path, processes: int) -> dict[str, Any]:
    arguments = ["-m", "bertsent", "-q", "train", "--data", str(data), "--output", str(output),
                 "--epochs", "1", "--batch-size", "32", "--augment", "none"]  # fmt: skip
    launcher = (["-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
                 str(processes)] if processes > 1 else [])  # fmt: skip
    environment = {**os.environ, "OMP_NUM_THREADS": str(max(1, 2 // processes))}
    started = time.perf_counter()
    subprocess.run([sys.executable, *launcher, *arguments], check=True, env=environment,
                   capture_output=True)  # fmt: skip
    wall = time.perf_counter() - started
    metadata = json.loads((output / "bertsent.json").read_text())
    record = metadata["training"]
    return {"processes": processes, "examples_per_second": record["examples_per_second"],
            "train_seconds": record["seconds"], "wall_seconds": round(wall, 1),
            "dev_accuracy": metadata["metrics"]["dev"]["accuracy"]}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--shards", type=int, default=10)
    parser.add_argument("--train-rows", type=int, default=1024)
    parser.add_argument("--skip-training", action="store_true")
    parser.add_argument("--output", help="results file (default: results/scale-ROWS.json)")
    args = parser.parse_args()

    result: dict[str, Any] = {"rows": args.rows, "shards": args.shards}
    with tempfile.TemporaryDirectory(prefix="bertsent-scale-") as work:
        folder = Path(work)
        model_dir = folder / "zero-shot"
        train("rotten-tomatoes", output_dir=model_dir, method="zero-shot")
        shards = write_shards(folder / "shards", args.rows, args.shards)
        scoring = {"single process": score_single(model_dir, shards, folder / "single")}
        print(json.dumps(scoring), flush=True)
        for workers in (1, 2):
            scoring[f"ray, {workers} worker{'s' if workers > 1 else ''}"] = score_ray(
                model_dir, folder / "shards", folder / f"ray-{workers}", workers
            )
            print(json.dumps(scoring), flush=True)
        single = scoring["single process"]["wall_seconds"]
        for values in scoring.values():
            values["wall_vs_single"] = round(values["wall_seconds"] / single, 3)
        result["scoring"] = scoring

        if not args.skip_training:
            splits = load_dataset("rotten-tomatoes")
            data = folder / "rt-subset"
            data.mkdir()
            for name, split, size in (("train", splits.train, args.train_rows),
                                      ("dev", splits.dev, 256)):  # fmt: skip
                pd.DataFrame({"text": split.texts[:size], "label": split.labels[:size]}).to_csv(
                    data / f"{name}.csv", index=False
                )
            result["training"] = [
                train_examples_per_second(data, folder / f"ddp-{n}", n) for n in (1, 2)
            ]
            print(json.dumps(result["training"]), flush=True)

    result["hardware"] = {**describe(), "machine": platform.machine(), "cpus": os.cpu_count()}
    result["date"] = time.strftime("%Y-%m-%d")
    print(f"{'scoring':<18} {'rows/s':>9} {'wall s':>8} {'vs single':>10}")
    for name, values in result["scoring"].items():
        print(f"{name:<18} {values['rows_per_second']:>9.1f} {values['wall_seconds']:>8.1f} "
              f"{values['wall_vs_single']:>9.2f}x")  # fmt: skip
    for values in result.get("training", []):
        print(f"train, {values['processes']} process(es): {values['examples_per_second']} "
              f"examples/s, dev {values['dev_accuracy']:.3f}")  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    output = Path(args.output) if args.output else RESULTS / f"scale-{args.rows}.json"
    save_results(output, result)  # a run of another size keeps the others' files
    print(f"written: {output}")


if __name__ == "__main__":
    main()
