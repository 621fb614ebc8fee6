"""Start-up: how long ``bertsent predict MODEL "text"`` takes from the shell, per model kind.

Each command runs as a fresh process, as a user types it, alternating between the
commands so that a busy moment on the machine hits them all alike; the table gives the
median and the fastest of ``--repeats`` runs, next to ``bertsent --help`` (the cost of
Python and the CLI alone) measured in the same run. Target: under 3 s for a BERT model
and for TF-IDF. Prints a table and writes benchmarks/results/startup.json.

    python benchmarks/startup.py --bert runs/rt-bench --tfidf runs/rt-tfidf
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from results_file import save_results

RESULTS = Path(__file__).parent / "results"
TARGET_SECONDS = 3.0


def timed(command: list[str]) -> float:
    """Wall seconds of one run of ``command``; a failure stops the benchmark."""
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bert", required=True, help="a saved BERT model (exported or not)")
    parser.add_argument("--tfidf", required=True, help="a saved tfidf-lr model")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--output", default=str(RESULTS / "startup.json"))
    args = parser.parse_args()

    cli = [sys.executable, "-m", "bertsent"]
    text = "not a bad film"
    commands = {
        "bertsent --help": [*cli, "--help"],
        "predict BERT (--backend auto)": [*cli, "predict", args.bert, text],
        "predict BERT (--backend torch)": [*cli, "predict", args.bert, text, "--backend", "torch"],
        "predict TF-IDF": [*cli, "predict", args.tfidf, text],
    }
    for command in commands.values():  # warm the file cache once
        timed(command)
    seconds: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.repeats):
        for name, command in commands.items():
            seconds[name].append(timed(command))

    help_median = statistics.median(seconds["bertsent --help"])
    rows = {}
    print(f"{'command':34} {'median s':>9} {'fastest s':>10} {'minus --help':>13} {'< 3 s':>6}")
    for name, values in seconds.items():
        median = statistics.median(values)
        row = {
            "median_s": round(median, 3),
            "fastest_s": round(min(values), 3),
            "runs_s": [round(v, 3) for v in values],
            "median_minus_help_s": round(median - help_median, 3),
        }
        if name.startswith("predict"):
            row["meets_target"] = median < TARGET_SECONDS
        rows[name] = row
        met = "" if "meets_target" not in row else ("yes" if row["meets_target"] else "NO")
        print(f"{name:34} {median:9.2f} {min(values):10.2f} {median - help_median:13.2f} {met:>6}")
    record = {
        "command": "python " + " ".join(sys.argv),
        "machine": {"platform": platform.platform(), "python": platform.python_version()},
        "target_seconds": TARGET_SECONDS,
        "repeats": args.repeats,
        "results": rows,
    }
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    save_results(Path(args.output), record)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
