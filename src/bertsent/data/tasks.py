"""What a model predicts: its task, read from the data's labels or chosen with ``--task``.

A task is one small object the rest of the code asks instead of branching on label
sets: which outputs a prediction carries besides the label and the class
probabilities, and how it is written into ``bertsent.json``.

- ``single-label``: one class per review (positive/negative, fresh/rotten, ...).
- ``aspect``: the sentiment a sentence expresses towards one of its aspects ("The
  screen is gorgeous but the battery dies by noon": screen positive, battery negative).
  The input is the pair (sentence, aspect), written ``sentence [SEP] aspect`` so that
  every method sees one text: the encoder reads it as the pair ``[CLS] sentence [SEP]
  aspect [SEP]`` (BERT-SPC, Song et al. 2019), bag-of-words baselines as the sentence's
  words plus the aspect's.
- ``multi-label``: any number of labels per review (GoEmotions: joy and surprise at
  once), written ``joy;surprise`` in the data and in predictions; one sigmoid per
  label, and a label is predicted when its probability reaches its own threshold
  (tuned on dev; at least the most probable label is always given).
- ``fine-grained``: ordered classes (SST-5's very negative ... very positive, or the
  stars 1-5); each prediction also has an ``intensity``, the expected position on the
  scale mapped to [-1, 1], which orders "Absolutely incredible" above "Good" above
  "Somewhat good" even when all three are the same class.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from bertsent.errors import ConfigError, DataError

# the SST scale; a label set made of 3 or more of these, both ends included, is ordered
FIVE_POINT = ("very negative", "negative", "neutral", "positive", "very positive")
TASK_NAMES = ("auto", "single-label", "fine-grained", "aspect", "multi-label")
LABEL_SEPARATOR = ";"  # joins the labels of one multi-label review
# joins a sentence and its aspect into one model input; the BERT separator token, so
# the tokenizer encodes the joined text as the pair (see encoders.tokenization)
PAIR_SEPARATOR = " [SEP] "
# the label of a review a model declined to classify (a row of zero probabilities: an
# LLM whose reply named no label); it counts as wrong, never as a guessed class
ABSTAINED = "abstained"
ASPECT_COLUMN = "aspect"
INTENSITY_DESCRIPTION = (
    "the expected place on the label scale, from -1 (lowest class) to +1 (highest); orders "
    "'Absolutely incredible' > 'Good' > 'Somewhat good' within one class"
)
LABELS_DESCRIPTION = (
    "every label at or above its threshold (at least the most probable), most probable "
    "first: 'label' as a list"
)


class Task:
    """One class per review, chosen by the largest probability."""

    name: ClassVar[str] = "single-label"
    output_names: ClassVar[tuple[str, ...]] = ()  # what ``outputs`` returns, by name
    input_names: ClassVar[tuple[str, ...]] = ("text",)  # what one prediction needs
    # one review in, one class out: what the behaviour suite and the report assume
    one_text_one_label: ClassVar[bool] = True
    # what a JSON prediction (``predict --json``, the HTTP service) carries besides
    # label, score and scores, for the service's schema: name -> (type, description)
    response_fields: ClassVar[dict[str, tuple[Any, str]]] = {}

    def __init__(self, labels: Sequence[str]) -> None:
        self.labels = list(labels)

    def outputs(self, probabilities: np.ndarray) -> dict[str, np.ndarray]:
        """Per-review outputs besides ``label`` and ``scores``: (n,) arrays by name."""
        return {}

    def model_input(self, text: str, fields: Mapping[str, object], where: str) -> str:
        """What the model reads for one review given with its other ``fields`` (a row)."""
        return plain_text(text, where)

    def listed(self, label: str, probabilities: np.ndarray) -> dict[str, Any]:
        """The :attr:`response_fields` that restate one decided ``label`` (with its row
        of class probabilities) in another shape; those :meth:`outputs` gives are not here."""
        return {}

    def decide(self, probabilities: np.ndarray) -> list[str]:
        """The predicted label of each (n, classes) probability row: the most probable
        (``abstained`` for a row of zeros)."""
        chosen = np.asarray(probabilities).argmax(axis=1)
        return [
            self.labels[i] if ok else ABSTAINED
            for i, ok in zip(chosen, answered(probabilities), strict=True)
        ]

    def names(self, label: str) -> list[str]:
        """The class names one label cell stands for."""
        return [label]

    def canonical(self, label: str) -> str:
        """A gold cell as :meth:`decide` writes a prediction, so the two compare as strings."""
        return label

    def correct(self, probabilities: np.ndarray, gold: Sequence[str]) -> np.ndarray:
        """(n,) booleans: the prediction is the gold label (every label, for multi-label)."""
        return np.asarray(self.decide(probabilities)) == np.asarray(gold)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Task) and (self.to_dict(), self.labels) == (
            other.to_dict(),
            other.labels,
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.labels})"


class FineGrainedTask(Task):
    """Ordered classes, and an intensity score: the expected scale position in [-1, 1]."""

    name = "fine-grained"
    output_names = ("intensity",)
    response_fields: ClassVar[dict[str, tuple[Any, str]]] = {
        "intensity": (float | None, f"{INTENSITY_DESCRIPTION}; null for an abstention")
    }

    def __init__(self, labels: Sequence[str]) -> None:
        super().__init__(labels)
        scale = ordinal_scale(labels)
        if scale is None:
            raise ConfigError(
                f"a fine-grained task needs ordered labels; these are {', '.join(labels)}",
                hint=f"use 3 or more of: {', '.join(FIVE_POINT)} (both ends), or numbers such "
                "as 1-5 stars",
            )
        self.scale = scale
        # each model column's place on the scale, from -1 (lowest) to +1 (highest)
        place = scale_positions(scale)
        self.positions = np.array([place[label] for label in self.labels], dtype=np.float64)

    def intensity(self, probabilities: np.ndarray) -> np.ndarray:
        """(n,) expected scale positions of (n, classes) probabilities, in [-1, 1]; NaN
        for an abstention (a row of zeros has no position, and 0 would read as neutral)."""
        rows = np.asarray(probabilities, dtype=np.float64)
        return np.where(rows.sum(axis=1) > 0, rows @ self.positions, np.nan)

    def outputs(self, probabilities: np.ndarray) -> dict[str, np.ndarray]:
        return {"intensity": self.intensity(probabilities)}

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "scale": self.scale}


class AspectTask(Task):
    """The sentiment of a sentence towards one aspect: inputs are (text, aspect) pairs."""

    name = "aspect"
    input_names = ("text", ASPECT_COLUMN)
    one_text_one_label = False

    def model_input(self, text: str, fields: Mapping[str, object], where: str) -> str:
        return join_aspect(plain_text(text, where), aspect_field(fields, where))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "separator": PAIR_SEPARATOR}


class MultiLabelTask(Task):
    """Any number of labels per review: each label whose probability reaches its threshold.

    ``thresholds`` default to 0.5; :meth:`tune_thresholds` sets each to the value that
    maximises that label's F1 on dev.
    """

    name = "multi-label"
    one_text_one_label = False
    response_fields: ClassVar[dict[str, tuple[Any, str]]] = {
        "labels": (list[str], LABELS_DESCRIPTION)
    }

    def __init__(
        self, labels: Sequence[str], thresholds: Mapping[str, float] | None = None
    ) -> None:
        super().__init__(labels)
        thresholds = thresholds or {}
        self.thresholds = np.array([float(thresholds.get(label, 0.5)) for label in self.labels])

    def targets(self, gold: Sequence[str]) -> np.ndarray:
        """(n, labels) 0/1 matrix of ``joy;surprise``-style gold strings."""
        index = {label: i for i, label in enumerate(self.labels)}
        matrix = np.zeros((len(gold), len(self.labels)), dtype=np.float32)
        for row, names in enumerate(gold):
            for name in split_labels(names):
                matrix[row, index[name]] = 1.0
        return matrix

    def chosen(self, probabilities: np.ndarray) -> np.ndarray:
        """(n, labels) booleans: at or above each threshold, and always the most probable."""
        probabilities = np.asarray(probabilities)
        chosen = probabilities >= self.thresholds
        chosen[np.arange(len(probabilities)), probabilities.argmax(axis=1)] = True
        return chosen

    def decide(self, probabilities: np.ndarray) -> list[str]:
        return [
            LABEL_SEPARATOR.join(np.asarray(self.labels)[row].tolist())
            for row in self.chosen(probabilities)
        ]

    def names(self, label: str) -> list[str]:
        return split_labels(label)

    def listed(self, label: str, probabilities: np.ndarray) -> dict[str, Any]:
        return {
            "labels": sorted(
                self.names(label), key=lambda name: -probabilities[self.labels.index(name)]
            )
        }

    def canonical(self, label: str) -> str:
        """'surprise; joy' -> 'joy;surprise': the labels in the model's order."""
        names = set(split_labels(label))
        return LABEL_SEPARATOR.join(name for name in self.labels if name in names)

    def correct(self, probabilities: np.ndarray, gold: Sequence[str]) -> np.ndarray:
        return np.asarray((self.chosen(probabilities) == self.targets(gold).astype(bool)).all(1))

    def tune_thresholds(self, probabilities: np.ndarray, gold: Sequence[str]) -> None:
        """Per label, the threshold in 0.05 ... 0.95 with the best F1 on these examples;
        of equal ones, the nearest 0.5. A label these examples never have keeps 0.5:
        every threshold scores F1 0 there, and the first of them, 0.05, would call the
        label for almost every review."""
        truth = self.targets(gold).astype(bool)
        grid = np.round(np.arange(0.05, 0.951, 0.05), 2)
        for column in range(len(self.labels)):
            if not truth[:, column].any():
                self.thresholds[column] = 0.5
                continue
            scores = []
            for threshold in grid:
                predicted = probabilities[:, column] >= threshold
                hits = float((predicted & truth[:, column]).sum())
                scores.append(2 * hits / max(predicted.sum() + truth[:, column].sum(), 1))
            best = np.flatnonzero(np.isclose(scores, max(scores)))
            self.thresholds[column] = grid[best[np.argmin(np.abs(grid[best] - 0.5))]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "separator": LABEL_SEPARATOR,
            "thresholds": dict(zip(self.labels, self.thresholds.tolist(), strict=True)),
        }


TASK_KINDS: tuple[type[Task], ...] = (Task, FineGrainedTask, AspectTask, MultiLabelTask)


def answered(probabilities: np.ndarray) -> np.ndarray:
    """(n,) booleans: the row names a class; False for a row of zeros (an abstention)."""
    return np.asarray(probabilities).max(axis=1, initial=0.0) > 0


def split_labels(value: str) -> list[str]:
    """The label names of a ``joy;surprise`` cell.

    >>> split_labels("joy; surprise")
    ['joy', 'surprise']
    """
    return [name.strip() for name in value.split(LABEL_SEPARATOR) if name.strip()]


def is_aspect_data(texts: Sequence[str]) -> bool:
    """True when every text is a ``sentence [SEP] aspect`` pair (and there are some)."""
    return bool(texts) and all(PAIR_SEPARATOR in text for text in texts)


def is_multi_label(gold: Sequence[str]) -> bool:
    """True when some label cell names several labels (``joy;surprise``)."""
    return any(LABEL_SEPARATOR in value for value in gold)


def label_names(gold: Sequence[str]) -> list[str]:
    """The sorted class names of gold cells, each multi-label cell split into its names."""
    if is_multi_label(gold):
        return sorted({name for value in gold for name in split_labels(value)})
    return sorted(set(gold))


def join_aspect(text: str, aspect: str) -> str:
    """One model input for ``text`` judged on ``aspect``.

    >>> join_aspect("The battery dies by noon", "battery")
    'The battery dies by noon [SEP] battery'
    """
    return f"{text}{PAIR_SEPARATOR}{aspect.strip()}"


def aspect_field(fields: Mapping[str, object], where: str) -> str:
    """The aspect in a row's ``fields``, checked; ``where`` names the row in errors."""
    value = fields.get(ASPECT_COLUMN)
    if not isinstance(value, str) or not value.strip():
        state = (
            "missing"
            if value is None
            else "empty"
            if isinstance(value, str)
            else f"not text ({type(value).__name__} {value!r})"
        )
        raise DataError(
            f"{where}: field '{ASPECT_COLUMN}' is {state}",
            hint="an aspect model judges a text towards an aspect: give each row one",
        )
    return plain_text(value, where, ASPECT_COLUMN).strip()


def plain_text(value: str, where: str, field: str = "text") -> str:
    """``value`` of ``field``, checked to hold no separator token: the encoder would read
    a text holding one as a (sentence, aspect) pair, which no model was trained on."""
    if (token := PAIR_SEPARATOR.strip()) in value:
        raise DataError(
            f"{where}: '{token}' is reserved in '{field}' (it joins a sentence to its aspect)",
            hint=f"remove '{token}' from the {field}; an aspect model takes the aspect "
            f"in its own '{ASPECT_COLUMN}' field",
        )
    return value


def split_aspect(text: str) -> tuple[str, str | None]:
    """(sentence, aspect) of a joined input; (text, None) for a plain text."""
    sentence, separator, aspect = text.rpartition(PAIR_SEPARATOR)
    return (sentence, aspect) if separator else (text, None)


def aspect_missing(text: str, aspect: str) -> bool:
    """True when ``aspect`` does not occur in ``text`` (case-insensitive, as words)."""
    pattern = r"(?<!\w)" + re.escape(aspect.strip().lower()) + r"(?!\w)"
    return re.search(pattern, text.lower()) is None


def ordinal_scale(labels: Sequence[str]) -> list[str] | None:
    """``labels`` from lowest to highest when they form a known scale, else None.

    >>> ordinal_scale(["positive", "very negative", "neutral", "negative", "very positive"])
    ['very negative', 'negative', 'neutral', 'positive', 'very positive']
    >>> ordinal_scale(["2", "10", "1"])
    ['1', '2', '10']
    """
    if len(set(labels)) < 3:
        return None
    folded = {label: label.strip().lower() for label in labels}
    if all(name in FIVE_POINT for name in folded.values()):
        places = {FIVE_POINT.index(name) for name in folded.values()}
        if {0, len(FIVE_POINT) - 1} <= places or {1, 3} <= places:
            return sorted(labels, key=lambda label: FIVE_POINT.index(folded[label]))
        return None
    try:
        return sorted(labels, key=lambda label: float(label))
    except ValueError:
        return None


def scale_positions(labels: Sequence[str]) -> dict[str, float]:
    """Each label's place on its ordered scale, from -1 to +1, 0 the middle: by its
    name's place on the five-point scale or by its value, not by its rank among the
    labels given, so a scale with a gap keeps its middle (stars 1, 3, 4, 5: 3 is 0).

    >>> scale_positions(["negative", "neutral", "positive", "very positive"])
    {'negative': -0.5, 'neutral': 0.0, 'positive': 0.5, 'very positive': 1.0}
    >>> scale_positions(["1", "3", "4", "5"])
    {'1': -1.0, '3': 0.0, '4': 0.5, '5': 1.0}
    """
    folded = [label.strip().lower() for label in labels]
    if all(name in FIVE_POINT for name in folded):
        middle = (len(FIVE_POINT) - 1) / 2
        return {
            label: (FIVE_POINT.index(name) - middle) / middle
            for label, name in zip(labels, folded, strict=True)
        }
    values = {label: float(label) for label in labels}
    low, high = min(values.values()), max(values.values())
    return {label: 2 * (value - low) / (high - low) - 1 for label, value in values.items()}


def detect_task(
    labels: Sequence[str],
    requested: str = "auto",
    texts: Sequence[str] = (),
    gold: Sequence[str] = (),
) -> Task:
    """The task for a model with these classes: ``requested``, or read from the data
    (``texts`` and ``gold`` label cells, when given).

    ``auto`` makes ``joy;surprise`` label cells multi-label, (sentence, aspect) pairs an
    aspect task, ordered label sets (SST-5, star ratings) fine-grained and everything
    else single-label.

    Raises:
        ConfigError: an unknown task, or fine-grained asked for unordered labels.
    """
    if requested not in TASK_NAMES:
        raise ConfigError(f"unknown task '{requested}'", hint=f"use {', '.join(TASK_NAMES)}")
    if requested == "multi-label" and gold and not is_multi_label(gold):
        raise ConfigError(
            f"a multi-label task needs '{LABEL_SEPARATOR}'-joined label cells (joy;surprise)",
            hint="give the data a 'labels' column",
        )
    if requested == "multi-label" or (requested == "auto" and is_multi_label(gold)):
        return MultiLabelTask(labels)
    if is_multi_label(gold):
        raise ConfigError(
            f"the data has several labels per review ('{LABEL_SEPARATOR}'-joined); a "
            f"{requested} model has one",
            hint="train with --task multi-label (or auto)",
        )
    pairs = is_aspect_data(texts)
    if requested == "aspect" and texts and not pairs:
        raise ConfigError(
            "an aspect task needs an aspect for every review",
            hint=f"give the data an '{ASPECT_COLUMN}' column (text,{ASPECT_COLUMN},label)",
        )
    if pairs and requested != "auto" and requested != "aspect":
        raise ConfigError(
            f"the data pairs each review with an aspect; a {requested} model would learn "
            "the pairs and then be asked about reviews alone",
            hint=f"train with --task aspect (or auto), or drop the '{ASPECT_COLUMN}' column",
        )
    if requested == "aspect" or (requested == "auto" and pairs):
        return AspectTask(labels)
    if requested == "fine-grained" or (requested == "auto" and ordinal_scale(labels)):
        return FineGrainedTask(labels)
    return Task(labels)


def task_from_record(record: dict[str, Any] | None, labels: Sequence[str]) -> Task:
    """The task a saved model recorded in ``bertsent.json`` (older models: from its labels)."""
    if not record:
        return detect_task(labels)
    if record.get("name") == MultiLabelTask.name:
        return MultiLabelTask(labels, record.get("thresholds"))
    return detect_task(labels, record.get("name", "auto"))
