"""The llm method's client against a chat-completions server: accuracy, abstentions,
seconds per review, and a rerun served from the cache.

    python benchmarks/llm.py                        # starts benchmarks/chat_server.py
    python benchmarks/llm.py --endpoint URL --llm-model NAME   # a real server you run

Scores the first ``--limit`` (200) rotten-tomatoes test reviews, then scores them again
with the same cache: the rerun must send no request. Without ``--endpoint`` the server
is the stand-in of ``chat_server.py`` (a lexicon, not a language model): the accuracy
then measures that lexicon, and the timing measures our client. Writes
benchmarks/results/llm.json.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bertsent.data import load_dataset
from bertsent.evaluation.metrics import classification_report
from bertsent.models.llm import LlmClassifier
from results_file import save_results

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint", help="a running server (default: start the stand-in)")
    parser.add_argument("--llm-model", default="lexicon")
    parser.add_argument("--limit", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()

    server = None
    endpoint = args.endpoint
    if endpoint is None:
        script = Path(__file__).with_name("chat_server.py")
        server = subprocess.Popen(
            [sys.executable, str(script), "0"], stdout=subprocess.PIPE, text=True
        )
        assert server.stdout is not None
        found = re.search(r"(http://\S+/v1)", server.stdout.readline())
        assert found, "the stand-in server printed no address"
        endpoint = found.group(1)
    splits = load_dataset("rotten-tomatoes")
    assert splits.test is not None
    texts, gold = splits.test.texts[: args.limit], splits.test.labels[: args.limit]
    rows = []
    try:
        with tempfile.TemporaryDirectory() as folder:
            model = LlmClassifier(
                endpoint=endpoint,
                llm_model=args.llm_model,
                concurrency=args.concurrency,
                cache=str(Path(folder) / "answers.sqlite"),
            ).fit(splits.train.texts, splits.train.labels)
            for run in ("first run", "rerun (same cache)"):
                started = time.perf_counter()
                probabilities = model.predict_proba(texts)
                seconds = time.perf_counter() - started
                report = classification_report(gold, probabilities, model.labels_)
                rows.append({
                    "run": run, "reviews": len(texts), "accuracy": round(report["accuracy"], 4),
                    "accuracy_ci": report["accuracy_ci"], "abstained": report["abstained"],
                    "requests": model.calls_, "seconds": round(seconds, 2),
                    "seconds_per_review": round(seconds / len(texts), 4),
                })  # fmt: skip
    finally:
        if server is not None:
            server.terminate()
    majority = max(np.mean(np.array(gold) == label) for label in set(gold))
    result = {
        "server": "stand-in lexicon server (benchmarks/chat_server.py)"
        if args.endpoint is None
        else endpoint,
        "llm_model": args.llm_model,
        "concurrency": args.concurrency,
        "majority_class_accuracy": round(float(majority), 4),
        "runs": rows,
    }
    print(f"{'run':<20} {'accuracy':>9} {'abstained':>9} {'requests':>8} {'s/review':>9}")
    for row in rows:
        print(f"{row['run']:<20} {row['accuracy']:>9.1%} {row['abstained']:>9} "
              f"{row['requests']:>8} {row['seconds_per_review']:>9.4f}")  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    save_results((RESULTS / "llm.json"), result)
    print(f"written: {RESULTS / 'llm.json'}")


if __name__ == "__main__":
    main()
