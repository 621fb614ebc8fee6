"""Datasets: one way to name them, used by every command through ``--data``.

- ``rotten-tomatoes`` (default): Rotten Tomatoes critic snippets, split by movie;
- a directory with ``train.csv`` and ``dev.csv`` (optionally ``test.csv``), or with a
  single ``all.csv`` that is split here;
- a single ``.csv``/``.tsv``/``.jsonl``/``.parquet`` file, split here (80/10/10,
  stratified, seeded);
- ``hub:NAME[:CONFIG]``: a Hugging Face Hub dataset through ``datasets``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from bertsent.data import hub, rotten_tomatoes
from bertsent.data.readers import SUPPORTED_SUFFIXES, Record, column_names, iter_records
from bertsent.data.splits import (
    DatasetSplits,
    Split,
    carve,
    carve_dev,
    grouped_split,
    sentence_groups,
    validate,
)
from bertsent.data.tasks import (
    ASPECT_COLUMN,
    LABEL_SEPARATOR,
    aspect_field,
    is_aspect_data,
    join_aspect,
    plain_text,
)
from bertsent.errors import ConfigError, DataError

__all__ = [
    "DEFAULT_DATASET",
    "DatasetSplits",
    "Record",
    "Split",
    "iter_records",
    "load_dataset",
    "read_split",
    "read_unlabelled",
    "single_file",
]

logger = logging.getLogger(__name__)

DEFAULT_DATASET = rotten_tomatoes.NAME
SPLIT_FRACTIONS = (0.8, 0.1, 0.1)
SPLIT_STEMS = ("train", "dev", "test", "all")  # the files a dataset folder is read from
MULTI_LABEL_COLUMN = "labels"  # read when a file has no "label" column
LABEL_COLUMNS = ("label", MULTI_LABEL_COLUMN)  # either makes a file labelled

SPLIT_SEED = 42  # splits made here (80/10/10, a dev carved from train): one for every run


def load_dataset(
    spec: str = DEFAULT_DATASET,
    *,
    text_column: str = "text",
    label_column: str = "label",
    seed: int = SPLIT_SEED,
) -> DatasetSplits:
    """Resolve a dataset name to validated train/dev(/test) splits.

    Args:
        spec: ``rotten-tomatoes``, a directory, a file, or ``hub:NAME[:CONFIG]``.
        text_column: Column holding the review text (files and hub datasets).
        label_column: Column holding the label name.
        seed: Seed for splits made here (a file without splits, a dev carved from train).

    Returns:
        Validated splits; exact train duplicates in dev/test are counted in ``summary()``.

    Raises:
        DataError: naming the file, line and field of anything unusable.

    >>> splits = load_dataset("rotten-tomatoes")  # doctest: +SKIP
    >>> len(splits.train), splits.labels  # doctest: +SKIP
    (10246, ['fresh', 'rotten'])
    """
    if spec == rotten_tomatoes.NAME:
        if (text_column, label_column) != ("text", "label"):  # not one of its columns
            raise ConfigError(
                f"--text-column {text_column} / --label-column {label_column}: the built-in "
                f"{spec} dataset has its own columns",
                hint="the column options name the columns of a file or folder given with --data",
            )
        splits = rotten_tomatoes.load()
    elif spec.startswith("hub:"):
        name, _, config = spec[4:].partition(":")
        if not name:
            raise DataError(f"'{spec}': missing dataset name", hint="e.g. hub:stanfordnlp/imdb")
        splits = hub.load(name, config or None, text_column, label_column, seed)
    else:
        splits = _load_path(Path(spec), text_column, label_column, seed)
    validate(splits)
    for split_name, count in splits.overlap_with_train().items():
        if count:
            logger.warning(
                "%s: %d %s examples also occur verbatim in train", splits.name, count, split_name
            )
    return splits


def single_file(spec: str) -> Path | None:
    """The path ``spec`` names when it is one data file, not a named dataset, folder or hub id.

    ``evaluate`` scores such a file whole; training splits it 80/10/10.
    """
    if spec == rotten_tomatoes.NAME or spec.startswith("hub:"):
        return None
    path = Path(spec)
    return path if path.is_file() else None


def read_unlabelled(spec: str, text_column: str = "text") -> tuple[list[str], str]:
    """Texts for pre-training, and what they are.

    A named dataset, or a folder with a labelled ``train.*``, gives its training texts
    only (the texts a model is scored on stay unseen: task-adaptive pre-training); any
    other file gives all its texts (labels not needed), any other folder all its data
    files'.

    Raises:
        DataError: nothing to read, or a file with no texts (naming it).
    """
    path = Path(spec)
    by_stem = data_files(path) if path.is_dir() else {}
    if spec == rotten_tomatoes.NAME or spec.startswith("hub:"):
        splits = load_dataset(spec, text_column=text_column)
        return list(splits.train.texts), f"the {len(splits.train):,} training texts of {spec}"
    labelled = "train" in by_stem and any(
        column in column_names(by_stem["train"]) for column in LABEL_COLUMNS
    )
    if labelled and "dev" not in by_stem:
        # training carves its dev from this train file (a test file beside it is not
        # read): that dev stays unseen too
        train = read_split(by_stem["train"], "train", text_column)
        train, _, _ = carve_dev(train, SPLIT_SEED, str(by_stem["train"]))
        texts = list(train.texts)  # aspect pairs as training reads (and hashes) them
        return texts, f"the {len(texts):,} training texts of {spec}"
    if "train" in by_stem and ("dev" in by_stem or "test" in by_stem):
        # a dataset folder: its training texts, labelled or not, never the scored ones
        texts = _texts_to_pretrain_on([by_stem["train"]], text_column)
        return texts, f"the {len(texts):,} training texts of {spec}"
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in SUPPORTED_SUFFIXES)
        if not files:
            raise DataError(f"{path}: no {', '.join(SUPPORTED_SUFFIXES)} files")
    elif path.is_file():
        files = [path]
    else:
        raise DataError(f"{spec}: no such file, folder or dataset")
    texts = _texts_to_pretrain_on(files, text_column)
    return texts, f"{len(texts):,} texts from {', '.join(file.name for file in files)}"


def _texts_to_pretrain_on(files: Sequence[Path], text_column: str) -> list[str]:
    """Every text of ``files``, labels or none; a file with no rows is named."""
    texts = []
    for file in files:
        found = [record.text for record in iter_records(file, text_column, None)]
        if not found:
            raise DataError(f"{file}: no texts to pre-train on (the file has no rows)")
        texts += found
    return texts


def read_split(
    path: Path, name: str, text_column: str = "text", label_column: str = "label"
) -> Split:
    """Read one labelled file into a Split, keeping each row's origin for error messages.

    With an ``aspect`` column each text is the pair (text, aspect) of an aspect task.
    Without a ``label`` column, a ``labels`` one (``joy;surprise``) is read: multi-label.
    """
    columns = column_names(path) if label_column == "label" else []
    if MULTI_LABEL_COLUMN in columns and "label" not in columns:
        label_column = MULTI_LABEL_COLUMN
    records = list(iter_records(path, text_column, label_column, keep_row=True))
    if not records:
        raise DataError(f"{path}: no rows")
    if label_column != MULTI_LABEL_COLUMN:  # one label per row: a ';' is a slip, not several
        for record in records:
            if record.label and LABEL_SEPARATOR in record.label:
                raise DataError(
                    f"{path.parent / record.where}: '{record.label}' in the single-label "
                    f"column '{label_column}' holds '{LABEL_SEPARATOR}'",
                    hint=f"several labels per review go in a '{MULTI_LABEL_COLUMN}' column "
                    "(joy;surprise); a label name cannot contain ';'",
                )
    texts = [plain_text(r.text, f"{path.parent / r.where}") for r in records]
    if any(ASPECT_COLUMN in r.row for r in records):  # jsonl rows name their own fields
        texts = [
            join_aspect(text, aspect_field(r.row, f"{path.parent / r.where}"))
            for text, r in zip(texts, records, strict=True)
        ]
    return Split(
        name=name,
        texts=texts,
        labels=[r.label or "" for r in records],
        origins=[r.where for r in records],
    )


def data_files(folder: Path) -> dict[str, Path]:
    """A dataset folder's data files by stem (``train``, ``dev``...).

    Raises:
        DataError: two files share a split's stem (``train.csv`` beside an old
            ``train.tsv``): which one to read would be left to the order the folder
            lists them in. Other files may share theirs (texts to pre-train on).
    """
    files: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in SUPPORTED_SUFFIXES:
            continue
        if path.stem in files and path.stem in SPLIT_STEMS:
            raise DataError(
                f"{folder}: both {files[path.stem].name} and {path.name} could be the "
                f"'{path.stem}' split",
                hint="keep one of them in the folder (move or rename the other)",
            )
        files[path.stem] = path
    return files


def _load_path(path: Path, text_column: str, label_column: str, seed: int) -> DatasetSplits:
    if path.is_dir():
        files = data_files(path)
        if "train" in files and "dev" in files:
            return DatasetSplits(
                name=path.name,
                train=read_split(files["train"], "train", text_column, label_column),
                dev=read_split(files["dev"], "dev", text_column, label_column),
                test=read_split(files["test"], "test", text_column, label_column)
                if "test" in files
                else None,
            )
        if "train" in files:
            train = read_split(files["train"], "train", text_column, label_column)
            train, dev, how = carve_dev(train, seed, str(files["train"]))
            note = f"dev carved from {files['train'].name} ({how})"
            test = (
                read_split(files["test"], "test", text_column, label_column)
                if "test" in files
                else None
            )
            return DatasetSplits(name=path.name, train=train, dev=dev, test=test, notes=[note])
        if "all" in files:
            if beside := [files[stem].name for stem in ("dev", "test") if stem in files]:
                raise DataError(
                    f"{path}: {files['all'].name} is split 80/10/10, so "
                    f"{' and '.join(beside)} beside it would go unread",
                    hint=f"rename {files['all'].name} to train{files['all'].suffix} to "
                    f"keep {' and '.join(beside)} (dev is carved from train without one)",
                )
            return _split_single_file(files["all"], text_column, label_column, seed, path.name)
        raise DataError(
            f"{path}: no train.csv/dev.csv (or all.csv) in this directory",
            hint="a dataset directory holds train.csv and dev.csv, optionally test.csv",
        )
    if path.is_file():
        return _split_single_file(path, text_column, label_column, seed, path.stem)
    raise DataError(
        f"dataset '{path}' not found",
        hint="use rotten-tomatoes, a directory, a .csv/.tsv/.jsonl/.parquet file, or hub:NAME",
    )


def _split_single_file(
    path: Path, text_column: str, label_column: str, seed: int, name: str
) -> DatasetSplits:
    corpus = read_split(path, "all", text_column, label_column)
    names = ("train", "dev", "test")
    if is_aspect_data(corpus.texts):  # a sentence's other aspects stay in its own part
        sentences = sentence_groups(corpus.texts)
        train, dev, test = grouped_split(corpus, sentences, SPLIT_FRACTIONS, names)
        if empty := [part.name for part in (train, dev, test) if not part]:
            raise DataError(
                f"{path}: {len(set(sentences))} sentences are too few to split 80/10/10 by "
                f"sentence: {' and '.join(empty)} would be empty",
                hint="add rows, or give a dev set of its own (a folder with train.csv and dev.csv)",
            )
        note = f"{path.name} split 80/10/10 by sentence (sentence hash)"
    else:
        train, dev, test = carve(corpus, SPLIT_FRACTIONS, names, seed, str(path))
        note = f"{path.name} split 80/10/10 (stratified, seed {seed})"
    return DatasetSplits(name=name, train=train, dev=dev, test=test, notes=[note])
