"""Unlabelled review sentences for distillation: a sample of IMDb's 50k unlabelled reviews,
cut into sentences of snippet length.

A teacher labels these for ``bertsent train --teacher T --distill-texts FILE``. Whole
IMDb reviews average about 230 words, ten times a Rotten Tomatoes snippet, and would
cost ten times as much per example; single sentences match the snippets' length.
IMDb and Rotten Tomatoes are different corpora (user reviews, critics' snippets), so
no rotten-tomatoes dev or test text can be among them; ``bertsent evaluate`` checks
that anyway, since the student remembers every text it was trained on.

    python benchmarks/imdb_sentences.py --count 15000 --output runs/imdb-sentences.csv
"""

from __future__ import annotations

import argparse
import csv
import random
import re
from collections.abc import Iterable
from pathlib import Path

from bertsent.atomic import atomic_file

UNSUP = Path(__file__).resolve().parents[2] / "shared" / "data" / "imdb" / "unsup.csv"
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'])")
MARKUP = re.compile(r"<br\s*/?>|<[^>]+>")


def review_sentences(review: str, shortest: int, longest: int) -> list[str]:
    """The sentences of one review with between ``shortest`` and ``longest`` words."""
    text = MARKUP.sub(" ", review)
    sentences = (" ".join(s.split()) for s in SENTENCE_END.split(text))
    return [s for s in sentences if shortest <= len(s.split()) <= longest]


def write_texts(path: Path, texts: Iterable[str]) -> None:
    """A one-column ``text`` CSV, as ``--distill-texts`` reads, written in one step."""
    with atomic_file(path) as partial, partial.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["text"])
        writer.writerows([text] for text in texts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, default=UNSUP)
    parser.add_argument("--output", type=Path, default=Path("runs/imdb-sentences.csv"))
    parser.add_argument("--count", type=int, default=15_000)
    parser.add_argument("--shortest", type=int, default=6, help="fewest words a sentence keeps")
    parser.add_argument("--longest", type=int, default=40, help="most words a sentence keeps")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not args.input.is_file():
        raise SystemExit(f"{args.input}: not found (the public datasets beside the checkout)")

    with args.input.open(newline="", encoding="utf-8") as handle:
        reviews = [row["text"] for row in csv.DictReader(handle)]
    # one sentence per review, from as many reviews as needed: many films and writers
    rng = random.Random(args.seed)
    rng.shuffle(reviews)
    chosen: dict[str, None] = {}
    for review in reviews:
        sentences = review_sentences(review, args.shortest, args.longest)
        if sentences:
            chosen.setdefault(rng.choice(sentences))
        if len(chosen) == args.count:
            break

    write_texts(args.output, chosen)
    words = sum(len(s.split()) for s in chosen) / max(len(chosen), 1)
    print(f"{len(chosen):,} sentences ({words:.1f} words on average) -> {args.output}")


if __name__ == "__main__":
    main()
