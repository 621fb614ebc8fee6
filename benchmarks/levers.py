"""Recipes compared over seeds: held-out accuracy and behaviour, mean and sd, paired.

Each recipe is a set of saved models, one per seed, trained with ``bertsent train``
(the commands are in the README's "Is BERT worth it?" section). This script scores
every model itself: accuracy on one split (test by default), the behaviour suite's
failure rate per category, and whether the model orders "Absolutely incredible" >
"Good" > "Somewhat good" (by the intensity score on a fine-grained scale, as the
suite's intensity tests do, else by the positive log-odds). The first recipe is the
reference; each other recipe gets its mean difference over the seeds both share
(paired by seed). Prints a table and writes JSON under benchmarks/results/.

    python benchmarks/levers.py --data rotten-tomatoes \\
        --recipe default=runs/rt-seed42,runs/rt-seed7,runs/rt-seed1 \\
        --recipe contrast=runs/rt-contrast-seed42,runs/rt-contrast-seed7,runs/rt-contrast-seed1

``--reference-from benchmarks/results/levers-rotten-tomatoes.json:contrast+intensity``
takes the reference's runs as scored before, instead of models that must still exist
(``default=FILE:RECIPE`` labels them ``default``).
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
from pathlib import Path
from typing import Any

from bertsent.evaluation.behaviour import positive_strength, run_suite
from bertsent.evaluation.evaluate import evaluate
from bertsent.models import load
from results_file import save_results

RESULTS = Path(__file__).parent / "results"
INTENSITY_ORDER = ("Absolutely incredible", "Good", "Somewhat good")
CATEGORIES = ("negation", "sarcasm", "contrast", "intensity", "invariance")


def score_model(model_dir: str, data: str, split: str) -> dict[str, Any]:
    model = load(model_dir)
    report = evaluate(model, data, split=split)
    suite = run_suite(model)
    # by the intensity score on a fine-grained scale (issue 13), else the positive log-odds
    strength, measure = positive_strength(model, list(INTENSITY_ORDER))
    ordered = all(strength[a] > strength[b] for a, b in itertools.pairwise(INTENSITY_ORDER))
    metadata = model.metadata_  # type: ignore[attr-defined]
    return {
        "model": model_dir,
        "seed": (metadata.get("training_config") or {}).get("seed"),
        "dev_accuracy": metadata["metrics"]["dev"]["accuracy"],
        f"{split}_accuracy": report["accuracy"],
        "failure_rates": {c: suite["categories"][c]["failure_rate"] for c in CATEGORIES},
        "intensity_ordered": ordered,
        "intensity_measure": measure,  # "intensity" or "log_odds"
        "intensity_strength": {text: round(strength[text], 3) for text in INTENSITY_ORDER},
        # the evaluation training kept, and what --average-last's average scored on dev
        "selected": metadata.get("best"),
    }


def spread(summarised: dict[str, Any]) -> str:
    """``±sd`` in points, or as wide a blank for one seed."""
    return f"±{100 * summarised['sd']:.2f}" if summarised["sd"] is not None else " " * 5


def summary(values: list[float]) -> dict[str, float | None]:
    sd = statistics.stdev(values) if len(values) > 1 else None  # one seed: no spread known
    return {"mean": statistics.fmean(values), "sd": sd, "n": len(values)}


def stored_recipe(spec: str, data: str, split: str) -> dict[str, list[dict[str, Any]]]:
    """``[LABEL=]FILE:RECIPE`` -> {LABEL or RECIPE: its scored runs}, refusing another
    data set or split (a label names runs whose recipe was measured under another name)."""
    label, _, stored = spec.rpartition("=")
    path, _, name = stored.rpartition(":")
    record = json.loads(Path(path).read_text())
    if (record["data"], record["split"]) != (data, split):
        raise SystemExit(f"{path} scored {record['data']} {record['split']}, not {data} {split}")
    if name not in record["recipes"]:
        raise SystemExit(f"{path} has no recipe {name!r}: {', '.join(record['recipes'])}")
    here = scoring_setup()
    if record.get("scored_with") != here:  # paired runs must be scored alike
        print(
            f"warning: {path} was scored with {record.get('scored_with', 'an unrecorded setup')}"
            f", this run with {here}: its pairs may differ by the scoring, not the recipe"
        )
    return {label or name: record["recipes"][name]["runs"]}


def scoring_setup() -> dict[str, Any]:
    """What decides the scores besides the models: the machine (whose CPU flags say
    which precision ``auto`` scores in) and the bertsent version."""
    import bertsent
    from bertsent.hardware import cpu_flags, describe

    info = describe()
    return {"device": info["device"], "cpu_flags": cpu_flags(),
            "bertsent": bertsent.__version__}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="rotten-tomatoes")
    parser.add_argument("--split", default="test")
    parser.add_argument(
        "--recipe", action="append", required=True, metavar="NAME=DIR[,DIR...]",
        help="a recipe's models, one per seed; the first recipe is the reference",
    )  # fmt: skip
    parser.add_argument(
        "--reference-from", metavar="[LABEL=]FILE:RECIPE",
        help="the reference: a recipe's runs as scored in an earlier results file of this "
        "script (same data and split; training is deterministic per machine and seed)",
    )  # fmt: skip
    parser.add_argument("--name", help="results file suffix (default: the data name)")
    args = parser.parse_args()
    out = RESULTS / f"levers-{args.name or Path(args.data).name}.json"
    reference_file = (args.reference_from or "").rpartition("=")[2].rpartition(":")[0]
    if reference_file and Path(reference_file).resolve() == out.resolve():
        parser.error(f"{out} is the --reference-from file: give --name for the new results")

    recipes: dict[str, list[dict[str, Any]]] = {}
    if args.reference_from:
        recipes.update(stored_recipe(args.reference_from, args.data, args.split))
    for spec in args.recipe:
        name, _, dirs = spec.partition("=")
        recipes[name] = [score_model(d, args.data, args.split) for d in dirs.split(",")]
    metric = f"{args.split}_accuracy"
    reference_name, reference = next(iter(recipes.items()))
    by_seed = {run["seed"]: run for run in reference}
    table: dict[str, Any] = {}
    for name, runs in recipes.items():
        row: dict[str, Any] = {
            "dev_accuracy": summary([r["dev_accuracy"] for r in runs]),
            metric: summary([r[metric] for r in runs]),
            "failure_rates": {
                c: summary([r["failure_rates"][c] for r in runs]) for c in CATEGORIES
            },
            "intensity_ordered": sum(r["intensity_ordered"] for r in runs),
            "runs": runs,
        }
        paired = [r[metric] - by_seed[r["seed"]][metric] for r in runs if r["seed"] in by_seed]
        if name != reference_name and paired:
            row[f"{metric}_paired_difference"] = summary(paired)
        table[name] = row

    header = f"{'recipe':<28}{'dev':>14}{args.split:>14}{'vs ref':>9}" + "".join(
        f"{c[:9]:>11}" for c in CATEGORIES
    )
    print(header + f"{'ordered':>9}")
    for name, row in table.items():
        dev, held = row["dev_accuracy"], row[metric]
        diff = row.get(f"{metric}_paired_difference", {}).get("mean")
        cells = [
            f"{name:<28}",
            f"{100 * dev['mean']:>8.2f}{spread(dev)}",
            f"{100 * held['mean']:>8.2f}{spread(held)}",
            f"{100 * diff:>+9.2f}" if diff is not None else f"{'':>9}",
            *(f"{100 * row['failure_rates'][c]['mean']:>10.1f}%" for c in CATEGORIES),
            f"{row['intensity_ordered']:>6}/{len(row['runs'])}",
        ]
        print("".join(cells))
    RESULTS.mkdir(exist_ok=True)
    record = {"bertsent": "benchmarks/levers.py", "data": args.data, "split": args.split,
              "reference": reference_name, "scored_with": scoring_setup(),
              "recipes": table}  # fmt: skip
    save_results(out, record)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
