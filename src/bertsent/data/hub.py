"""Datasets from the Hugging Face Hub, through the `datasets` library."""

from __future__ import annotations

from pathlib import Path

from bertsent.data.splits import DatasetSplits, Split, carve_dev
from bertsent.data.tasks import (
    ASPECT_COLUMN,
    LABEL_SEPARATOR,
    aspect_field,
    join_aspect,
    plain_text,
)
from bertsent.errors import DataError, HubUnavailableError, MissingDependencyError

DEV_NAMES = ("validation", "dev", "valid")


def load(
    name: str, config: str | None, text_column: str, label_column: str, seed: int
) -> DatasetSplits:
    """Load ``name`` (a Hub id, or a local dataset folder) and map it to our splits.

    Integer labels with a ClassLabel feature become their names, a list of labels per row
    (ids or names) a multi-label cell (``joy;surprise``), and an ``aspect`` column makes
    an aspect dataset, as in a file. Without a validation split, 10% of train
    (stratified, seeded) becomes dev.

    Raises:
        HubUnavailableError: the Hub cannot be reached and the dataset is not cached.
        DataError: the dataset has no train split or lacks a column.
    """
    try:
        import datasets
    except ImportError:
        raise MissingDependencyError(
            "hub datasets need the 'datasets' package", hint="pip install 'bertsent[hub]'"
        ) from None
    local = name.startswith(("/", "./", "../", "~"))
    if local and not Path(name).expanduser().exists():
        raise DataError(f"hub:{name}: no such local dataset folder")
    try:  # the shell leaves a '~' after 'hub:' as it is; `datasets` would take it for a Hub id
        loaded = datasets.load_dataset(str(Path(name).expanduser()) if local else name, config)
    except (ConnectionError, OSError) as exc:
        raise HubUnavailableError(
            f"dataset 'hub:{name}' could not be loaded from the Hugging Face Hub ({exc})",
            hint="check the network, or download it once and set HF_DATASETS_OFFLINE=1",
        ) from None
    except ValueError as exc:
        raise DataError(f"dataset 'hub:{name}': {exc}") from None
    if "train" not in loaded:
        raise DataError(f"dataset 'hub:{name}' has no train split (splits: {', '.join(loaded)})")

    def convert(split_name: str, our_name: str) -> Split:
        part = loaded[split_name]
        for column in (text_column, label_column):
            if column not in part.column_names:
                raise DataError(
                    f"hub:{name} [{split_name}]: missing column '{column}' "
                    f"(columns found: {', '.join(part.column_names)})",
                    hint="choose the columns with --text-column / --label-column",
                )
        feature = part.features[label_column]
        names = getattr(feature, "names", None)
        item_names = getattr(getattr(feature, "feature", None), "names", None)
        raw_labels, all_texts = part[label_column], part[text_column]
        aspects = part[ASPECT_COLUMN] if ASPECT_COLUMN in part.column_names else None
        texts, labels, origins = [], [], []
        for index, value in enumerate(raw_labels):
            if names and value == -1:  # an unlabelled row, as in GLUE's test splits
                continue
            where = f"hub:{name} [{split_name}] row {index + 1}"
            label = cell_label(value, names, item_names)
            if not label.strip():
                raise DataError(f"{where}: field '{label_column}' is empty")
            text = all_texts[index]
            if not isinstance(text, str) or not text.strip():
                raise DataError(f"{where}: empty text")
            text = plain_text(text, where)
            if aspects is not None:  # an aspect dataset, as in a file with an aspect column
                text = join_aspect(text, aspect_field({ASPECT_COLUMN: aspects[index]}, where))
            texts.append(text)
            labels.append(label)
            origins.append(where)
        return Split(name=our_name, texts=texts, labels=labels, origins=origins)

    train = convert("train", "train")
    notes = [f"hub:{name}" + (f" ({config})" if config else "")]
    dev_name = next((n for n in DEV_NAMES if n in loaded), None)
    if dev_name:
        dev = convert(dev_name, "dev")
    else:
        # as a local file's: aspect pairs by sentence, every part checked non-empty
        train, dev, how = carve_dev(train, seed, f"hub:{name} train")
        notes.append(f"dev carved from train ({how})")
    test = convert("test", "test") if "test" in loaded else None
    if test is not None and len(test) == 0:
        test = None
    return DatasetSplits(name=f"hub:{name}", train=train, dev=dev, test=test, notes=notes)


def cell_label(value: object, names: list[str] | None, item_names: list[str] | None) -> str:
    """One row's label cell: a ClassLabel id's name, or a list of labels joined by ';'.

    >>> cell_label([0, 2], None, ["joy", "fear", "surprise"])
    'joy;surprise'
    >>> cell_label(["joy", "surprise"], None, None)
    'joy;surprise'
    >>> cell_label(["joy", None], None, None)
    'joy'
    """
    if isinstance(value, list):  # a missing item names no label (not "None")
        items = [item for item in value if item is not None]
        return LABEL_SEPARATOR.join(item_names[item] if item_names else str(item) for item in items)
    if value is None:
        return ""
    if names:
        return names[int(value)]  # type: ignore[call-overload]
    return str(value)
