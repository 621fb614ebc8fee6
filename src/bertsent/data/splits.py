"""Labelled splits, their validation, and deterministic ways to make them."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from bertsent.data.tasks import (
    is_aspect_data,
    is_multi_label,
    label_names,
    split_aspect,
    split_labels,
)
from bertsent.errors import DataError

# PTB bracket tokens (SST, MR) stand where other copies of a sentence have brackets
_PTB_BRACKETS = re.compile(r"-(?:lrb|rrb|lsb|rsb|lcb|rcb)-")
NOT_ALPHANUMERIC = re.compile(r"[\W_]+")
HASH_BYTES = 8


@dataclass(frozen=True)
class Split:
    """Texts with their label names, and where each came from (for error messages)."""

    name: str
    texts: list[str]
    labels: list[str]
    origins: list[str] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        if len(self.texts) != len(self.labels):
            raise DataError(f"{self.name}: {len(self.texts)} texts but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.texts)

    def where(self, index: int) -> str:
        """Where example ``index`` came from, e.g. 'dev.csv line 12'."""
        return self.origins[index] if self.origins else f"{self.name} row {index + 1}"

    def subset(self, indices: Sequence[int], name: str | None = None) -> Split:
        """A new split holding the examples at ``indices``, in that order."""
        return Split(
            name=name or self.name,
            texts=[self.texts[i] for i in indices],
            labels=[self.labels[i] for i in indices],
            origins=[self.where(i) for i in indices],
        )

    def extended(self, texts: Sequence[str], labels: Sequence[str], source: str) -> Split:
        """A new split with ``texts`` appended, each from '``source`` N' (for error messages)."""
        return Split(
            name=self.name,
            texts=[*self.texts, *texts],
            labels=[*self.labels, *labels],
            origins=[self.where(i) for i in range(len(self))]
            + [f"{source} {i + 1}" for i in range(len(texts))],
        )

    def label_counts(self) -> dict[str, int]:
        return dict(sorted(Counter(self.labels).items()))


@dataclass(frozen=True)
class DatasetSplits:
    """A dataset ready for training: train and dev splits, an optional test split.

    ``labels`` are the class names in model output order (sorted train labels).
    ``notes`` say how splits were made, e.g. that dev was carved from train.
    """

    name: str
    train: Split
    dev: Split
    test: Split | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def labels(self) -> list[str]:
        """Class names; a multi-label dataset's ``joy;surprise`` cells count each name."""
        return label_names(self.train.labels)

    def split(self, name: str) -> Split:
        """Return the split called ``name`` (train, dev or test)."""
        chosen = {"train": self.train, "dev": self.dev, "validation": self.dev, "test": self.test}
        if name not in chosen:
            raise DataError(f"unknown split '{name}'", hint="use train, dev or test")
        result = chosen[name]
        if result is None:
            raise DataError(
                f"dataset '{self.name}' has no {name} split",
                hint="evaluate on --split dev, or provide a test.csv",
            )
        return result

    def fingerprint(self) -> str:
        """SHA-256 over every split's texts and labels: equal data, equal fingerprint."""
        digest = hashlib.sha256()
        for split in (self.train, self.dev, self.test):
            if split is None:
                continue
            digest.update(f"\x00split:{split.name}\x00".encode())
            for text, label in zip(split.texts, split.labels, strict=True):
                digest.update(f"{text}\x1f{label}\x1e".encode())
        return digest.hexdigest()

    def overlap_with_train(self) -> dict[str, int]:
        """How many examples of each evaluation split also occur, verbatim, in train."""
        seen = set(self.train.texts)
        result = {"dev": sum(t in seen for t in self.dev.texts)}
        if self.test is not None:
            result["test"] = sum(t in seen for t in self.test.texts)
        return result

    def summary(self) -> dict[str, object]:
        """Sizes, label counts, overlap and notes, for metadata and reports."""
        splits = {"train": self.train, "dev": self.dev, "test": self.test}
        return {
            "name": self.name,
            "labels": self.labels,
            "sizes": {k: len(v) for k, v in splits.items() if v is not None},
            "label_counts": {k: v.label_counts() for k, v in splits.items() if v is not None},
            "duplicates_of_train": self.overlap_with_train(),
            "fingerprint": self.fingerprint(),
            "notes": self.notes,
        }


def normalise_text(text: str) -> str:
    """The letters and digits of ``text``, case-folded: what survives re-tokenising a corpus.

    Copies of one review differ in case, spacing and punctuation ("it 's a charming
    journey ." in SST, "It's a charming journey." in Rotten Tomatoes); both become
    "itsacharmingjourney".

    >>> normalise_text("It 's a -LRB- charming -RRB- journey .")
    'itsacharmingjourney'
    """
    return NOT_ALPHANUMERIC.sub("", fold_text(text))


def fold_text(text: str) -> str:
    """``text`` in NFKC, case-folded, with PTB bracket tokens ("-lrb-") blanked out."""
    return _PTB_BRACKETS.sub(" ", unicodedata.normalize("NFKC", text).casefold())


def text_hashes(texts: Iterable[str]) -> np.ndarray:
    """8-byte BLAKE2b digests of the normalised texts, as uint64, in input order."""
    digests = b"".join(
        hashlib.blake2b(normalise_text(text).encode(), digest_size=HASH_BYTES).digest()
        for text in texts
    )
    return np.frombuffer(digests, dtype="<u8").astype(np.uint64)


# texts without a letter or digit (e.g. only emoji) all normalise to "": never a match
_EMPTY_HASH = text_hashes([""])


# sorted 8-byte hashes of the normalised training texts (numpy .npy, never pickled),
# saved in every model folder (and pre-trained encoder folder) that saw them
TRAIN_HASHES_FILE = "train_texts.npy"


def save_text_hashes(folder: Path, hashes: np.ndarray) -> None:
    """Write ``hashes`` (from :func:`training_text_hashes`) as ``folder/TRAIN_HASHES_FILE``."""
    np.save(folder / TRAIN_HASHES_FILE, hashes.astype("<u8"), allow_pickle=False)


def training_text_hashes(texts: Iterable[str]) -> np.ndarray:
    """The sorted, distinct hashes of training texts: ~8 bytes a text, to find them again.

    Saved with a model so that ``evaluate`` can count scored texts the model was
    trained on, whatever the file or dataset is called.
    """
    return np.setdiff1d(text_hashes(texts), _EMPTY_HASH)


def validate(splits: DatasetSplits) -> DatasetSplits:
    """Check that the splits can train and evaluate a classifier.

    Raises:
        DataError: a train class with fewer than 2 examples, an empty dev or test
            split, or a dev/test label that never occurs in train (naming the first
            place it occurs).
    """
    multi_label = is_multi_label(splits.train.labels)
    if multi_label:
        for part in (s for s in (splits.train, splits.dev, splits.test) if s is not None):
            for index, value in enumerate(part.labels):
                if not split_labels(value):
                    raise DataError(f"{part.where(index)}: no label in '{value}'")

    def names(value: str) -> list[str]:
        return split_labels(value) if multi_label else [value]

    counts = Counter(name for value in splits.train.labels for name in names(value))
    spellings: dict[str, list[str]] = {}
    for label in sorted(counts, key=lambda name: -counts[name]):  # the usual spelling first
        spellings.setdefault(label.casefold(), []).append(label)
    for usual, *others in (group for group in spellings.values() if len(group) > 1):
        label = others[-1]  # "Positive" beside "positive": one class mis-cased
        first = next(i for i, v in enumerate(splits.train.labels) if label in names(v))
        raise DataError(
            f"{splits.train.where(first)}: label '{label}' differs from '{usual}' only in "
            "case; they would be two classes (and two positives make no scale)",
            hint="write every label of one class the same way",
        )
    if len(counts) < 2:
        raise DataError(
            f"{splits.name}: train has {len(counts)} class ({', '.join(counts) or 'none'}); "
            "a classifier needs at least 2"
        )
    for label, count in sorted(counts.items()):
        if count < 2:
            first = next(i for i, v in enumerate(splits.train.labels) if label in names(v))
            where = splits.train.where(first)
            raise DataError(
                f"{where}: class '{label}' has only {count} example in train; "
                "each class needs at least 2",
                hint="add examples of this class or remove it",
            )
    for split in (splits.dev, splits.test):
        if split is None:
            continue
        if not split:
            raise DataError(
                f"{splits.name}: the {split.name} split is empty",
                hint="add examples to it (dev selects the model, test scores it)",
            )
        for index, label in ((i, n) for i, v in enumerate(split.labels) for n in names(v)):
            if label not in counts:
                raise DataError(
                    f"{split.where(index)}: label '{label}' never occurs in train "
                    f"(train labels: {', '.join(sorted(counts))})",
                    hint="fix the label, or add training examples of it",
                )
    return splits


def stratified_split(
    split: Split, fractions: Sequence[float], names: Sequence[str], seed: int
) -> list[Split]:
    """Shuffle ``split`` with ``seed`` and cut each class by ``fractions`` (summing to 1).

    Every class appears in every part when it has enough examples, so a carved dev
    split never misses a class that train has. Copies of one text (equal once case,
    spacing and punctuation are ignored: SST's phrases repeat by the thousand), whatever
    their labels, go into one part with the class of the first, so a test text is not
    also a training text; where keeping them together would leave a part without a class
    (a few texts, each many times), that class is cut by rows as before. With no copies
    the cut is exactly the ungrouped one.
    """
    rng = np.random.default_rng(seed)
    parts: list[list[int]] = [[] for _ in fractions]
    copies: dict[str, list[int]] = {}
    for index, text in enumerate(split.texts):
        copies.setdefault(normalise_text(text) or text, []).append(index)
    by_label: dict[str, list[list[int]]] = {}
    for group in copies.values():
        by_label.setdefault(split.labels[group[0]], []).append(group)
    for label in sorted(by_label):
        groups = by_label[label]
        rng.shuffle(groups)  # with one text a group, the permutation of the indices alone
        sizes = np.concatenate([[0], np.cumsum([len(group) for group in groups])])
        targets = np.round(np.cumsum(fractions)[:-1] * sizes[-1]).astype(int)
        # the group boundary nearest each target (with one text a group, the target)
        bounds = np.abs(sizes[None, :] - targets[:, None]).argmin(axis=1)
        cuts = sizes[bounds]
        flat = np.array([index for group in groups for index in group])
        rows = np.split(flat, targets)
        whole = np.split(flat, cuts)
        # keep copies together unless that empties a part the row cut would fill
        chosen = (
            whole if all(len(w) or not len(r) for w, r in zip(whole, rows, strict=True)) else rows
        )
        for part, chunk in zip(parts, chosen, strict=True):
            part.extend(chunk.tolist())
    result = []
    for part, name in zip(parts, names, strict=True):
        order = np.array(part)
        rng.shuffle(order)
        result.append(split.subset(order.tolist(), name=name))
    return result


def carve(
    split: Split, fractions: Sequence[float], names: Sequence[str], seed: int, source: str
) -> list[Split]:
    """:func:`stratified_split` for training data: every part must get examples.

    Raises:
        DataError: naming ``source`` (e.g. the file), the parts that would be empty and
            how many examples of each class are enough.
    """
    parts = stratified_split(split, fractions, names, seed)
    empty = [part.name for part in parts if not part]
    if empty:
        shares = "/".join(f"{round(f * 100)}" for f in fractions)
        counts = ", ".join(f"{count} {label}" for label, count in split.label_counts().items())
        raise DataError(
            f"{source}: {len(split)} rows ({counts}) are too few to split {shares} into "
            f"{', '.join(names)}: {' and '.join(empty)} would be empty; each class needs at "
            f"least {minimum_per_class(fractions)} rows",
            hint="add rows, or give a dev set of its own (a folder with train.csv and dev.csv)",
        )
    return parts


def carve_dev(train: Split, seed: int, source: str) -> tuple[Split, Split, str]:
    """10% of ``train`` as dev, and how: stratified (:func:`carve`), or for aspect pairs
    by sentence, so that no sentence (with its other aspects) is in both."""
    if is_aspect_data(train.texts):
        carved, dev = grouped_split(
            train, sentence_groups(train.texts), (0.9, 0.1), ("train", "dev")
        )
        return carved, dev, "10% of sentences, by sentence hash"
    carved, dev = carve(train, (0.9, 0.1), ("train", "dev"), seed, source)
    return carved, dev, f"10%, stratified, seed {seed}"


def sentence_groups(texts: Sequence[str]) -> list[str]:
    """The sentence of each aspect pair, as the group that keeps it in one part.

    Spellings of one sentence that differ only in case, spacing or punctuation are one
    group, named by the first seen, so that data without such copies splits as it did
    when groups were the sentences as written.
    """
    first: dict[str, str] = {}
    sentences = [split_aspect(text)[0] for text in texts]
    return [first.setdefault(normalise_text(sentence), sentence) for sentence in sentences]


def minimum_per_class(fractions: Sequence[float]) -> int:
    """The fewest rows of a class with which (and with any more) :func:`stratified_split`
    gives every part at least one of them and the first part, train, two.

    >>> minimum_per_class((0.8, 0.1, 0.1)), minimum_per_class((0.9, 0.1))
    (8, 5)
    """

    def enough(n: int) -> bool:
        bounds = np.round(np.cumsum(fractions)[:-1] * n).astype(int)
        sizes = np.diff([0, *bounds, n])
        return bool(sizes[0] >= 2 and (sizes >= 1).all())

    return next(n for n in range(2, 10_000) if all(enough(m) for m in range(n, n + 200)))


def grouped_split(
    split: Split, groups: Sequence[str], fractions: Sequence[float], names: Sequence[str]
) -> list[Split]:
    """Split so that each group (e.g. a movie) lands in exactly one part.

    Groups are ordered by a hash of their name, which is stable across machines and
    library versions, then filled into the parts until each holds its share of rows.
    """
    rows_by_group: dict[str, list[int]] = {}
    for index, group in enumerate(groups):
        rows_by_group.setdefault(group, []).append(index)
    ordered = sorted(rows_by_group, key=lambda g: hashlib.sha256(g.encode()).hexdigest())
    targets = np.cumsum(fractions) * len(split)
    parts: list[list[int]] = [[] for _ in fractions]
    filled, part = 0, 0
    for group in ordered:
        while part < len(parts) - 1 and filled >= targets[part]:
            part += 1
        parts[part].extend(rows_by_group[group])
        filled += len(rows_by_group[group])
    return [split.subset(p, name=n) for p, n in zip(parts, names, strict=True)]


def held_out_splits(splits: DatasetSplits, seed: int = 42) -> DatasetSplits:
    """Splits for a fair comparison: select on dev, report on a split nobody selected on.

    With a test split nothing changes. Without one (e.g. ``../shared/data`` sets, whose
    test splits are held back) the official dev split becomes the reported one and a
    new dev split for model selection is carved from train (10%, stratified).
    """
    if splits.test is not None:
        return splits
    train, dev, _ = carve_dev(splits.train, seed, f"{splits.name} train")
    note = (
        f"no test split: models select on 10% carved from train ({len(dev)}) and are "
        f"reported on the official dev split ({len(splits.dev)})"
    )
    return replace(
        splits,
        train=train,
        dev=dev,
        test=replace(splits.dev, name="test"),
        notes=[*splits.notes, note],
    )
