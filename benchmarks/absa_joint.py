"""Write one aspect dataset from SemEval-14 restaurants and laptops together.

Each domain's train and dev are exactly the splits ``bertsent train`` makes of it (dev
carved by sentence), so a model trained on the joint folder has seen neither domain's
dev sentences, and ``benchmarks/tasks.py --data NAME=../shared/data/absa/laptops``
scores it on each domain's own dev split:

    python benchmarks/absa_joint.py --output runs/absa-joint-data
    bertsent train --data runs/absa-joint-data --model runs/sst-phrases --epochs 10 \
        --metric macro_f1 --output runs/absa-joint
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from bertsent.atomic import atomic_file
from bertsent.data import load_dataset
from bertsent.data.tasks import split_aspect

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "absa"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domains", default="restaurants,laptops")
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args()
    rows: dict[str, list[tuple[str, str, str]]] = {"train": [], "dev": []}
    for domain in args.domains.split(","):
        splits = load_dataset(str(SHARED / domain))
        for name, split in (("train", splits.train), ("dev", splits.dev)):
            for text, label in zip(split.texts, split.labels, strict=True):
                sentence, aspect = split_aspect(text)
                rows[name].append((sentence, aspect or "", label))
        print(f"{domain}: {len(splits.train)} train, {len(splits.dev)} dev aspects")
    args.output.mkdir(parents=True, exist_ok=True)
    for name, split_rows in rows.items():
        with atomic_file(args.output / f"{name}.csv") as path, open(path, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["text", "aspect", "label"])
            writer.writerows(split_rows)
        print(f"wrote {args.output / f'{name}.csv'}: {len(split_rows)} aspects")


if __name__ == "__main__":
    main()
