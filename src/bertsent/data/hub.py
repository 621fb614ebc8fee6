"""Datasets from the Hugging Face Hub, through the `datasets` library."""

from __future__ import annotations

from pathlib import Path

from bertsent.data.splits import DatasetSplits, Split, stratified_split
from bertsent.data.tasks import LABEL_SEPARATOR
from bertsent.errors import DataError, HubUnavailableError, MissingDependencyError

DEV_NAMES = ("validation", "dev", "valid")


def load(
    name: str, config: str | None, text_column: str, label_column: str, seed: int
) -> DatasetSplits:
    """Load ``name`` (a Hub id, or a local dataset folder) and map it to our splits.

    Integer labels with a ClassLabel feature become their names, lists of them a
    multi-label cell (``joy;surprise``). Without a validation split, 10% of train
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
        raw_labels = part[label_column]
        names = getattr(feature, "names", None)
        # a list of class ids per row (GoEmotions' `labels`): a multi-label cell, joy;surprise
        item_names = getattr(getattr(feature, "feature", None), "names", None)
        if item_names:
            raw_labels = [LABEL_SEPARATOR.join(item_names[v] for v in ids) for ids in raw_labels]
        if not names:
            for index, value in enumerate(raw_labels):
                if value is None or not str(value).strip():
                    raise DataError(
                        f"hub:{name} [{split_name}] row {index + 1}: field '{label_column}' "
                        "is empty"
                    )
        labels = [names[v] if names else str(v) for v in raw_labels]
        texts = part[text_column]
        for index, text in enumerate(texts):
            if not isinstance(text, str) or not text.strip():
                raise DataError(f"hub:{name} [{split_name}] row {index + 1}: empty text")
        if -1 in raw_labels and names:  # unlabelled rows, e.g. GLUE test splits
            keep = [i for i, v in enumerate(raw_labels) if v != -1]
            texts, labels = [texts[i] for i in keep], [labels[i] for i in keep]
        origins = [f"hub:{name} [{split_name}] row {i + 1}" for i in range(len(texts))]
        return Split(name=our_name, texts=list(texts), labels=labels, origins=origins)

    train = convert("train", "train")
    notes = [f"hub:{name}" + (f" ({config})" if config else "")]
    dev_name = next((n for n in DEV_NAMES if n in loaded), None)
    if dev_name:
        dev = convert(dev_name, "dev")
    else:
        train, dev = stratified_split(train, (0.9, 0.1), ("train", "dev"), seed)
        notes.append(f"dev carved from train (10%, stratified, seed {seed})")
    test = convert("test", "test") if "test" in loaded else None
    if test is not None and len(test) == 0:
        test = None
    return DatasetSplits(name=f"hub:{name}", train=train, dev=dev, test=test, notes=notes)
