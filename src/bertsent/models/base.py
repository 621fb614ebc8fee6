"""One kind of classifier: every method has the same surface, like scikit-learn estimators."""

from __future__ import annotations

import inspect
import json
import platform
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from importlib import metadata as distributions
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np

from bertsent.atomic import atomic_directory
from bertsent.data.splits import (
    TRAIN_HASHES_FILE,
    DatasetSplits,
    Split,
    carve,
    save_text_hashes,
    training_text_hashes,
    validate,
)
from bertsent.data.tasks import Task, task_from_record
from bertsent.encoders.pretrained import resolve_model
from bertsent.errors import ConfigError, ModelError

METADATA_FILE = "bertsent.json"
FORMAT_VERSION = 1
DAMAGED_HINT = "retrain the model, or copy the model folder again"


class SentimentClassifier(ABC):
    """``fit(texts, labels) -> self``, ``predict``, ``predict_proba``, ``save`` and ``load``.

    As in scikit-learn, the constructor only stores its keyword arguments (so
    ``get_params``, ``set_params``, ``repr`` and ``sklearn.base.clone`` work); learned
    state lives in attributes ending in ``_`` (``labels_`` holds the class names in
    ``predict_proba`` column order). ``save`` and ``load`` are written once, here; a
    method supplies ``_write_model`` and ``_from_saved``.
    """

    method: ClassVar[str]
    fitted_attribute: ClassVar[str]  # set by fit and load: its absence means "not fitted"
    resumable: ClassVar[bool] = False  # fit(work_dir=, resume=, callbacks=) keeps checkpoints
    has_encoder: ClassVar[bool] = False  # a transformer to explain (attention, [CLS] vectors)
    needs_labels: ClassVar[bool] = True  # False: works with no labelled examples (zero-shot)
    # the data a method can learn: several labels per review, (sentence, aspect) pairs
    takes_multi_label: ClassVar[bool] = False
    takes_aspects: ClassVar[bool] = True
    labels_: list[str]
    metadata_: dict[str, Any]  # bertsent.json of a loaded model
    _task: Task | None  # as set; None: read from the saved record or the labels
    history_: list[dict[str, Any]]  # one entry per epoch or per setting tried on dev
    best_: dict[str, Any]  # the setting model selection kept, e.g. {"epoch": 3} or {"C": 0.1}
    fit_record_: dict[str, Any]  # how the last fit ran: seconds, examples/s, precision...
    # hashes of the training texts (see training_text_hashes); None: not recorded
    train_hashes_: np.ndarray | None

    @classmethod
    def _parameter_names(cls) -> list[str]:
        signature = inspect.signature(cls.__init__)
        return [
            name
            for name, parameter in signature.parameters.items()
            if name != "self" and parameter.kind is parameter.KEYWORD_ONLY
        ]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor's arguments (scikit-learn's estimator protocol)."""
        return {name: getattr(self, name) for name in self._parameter_names()}

    def set_params(self, **params: Any) -> Self:
        """Change constructor arguments; unknown names are refused, as in scikit-learn."""
        known = self._parameter_names()
        for name, value in params.items():
            if name not in known:
                raise ValueError(
                    f"{type(self).__name__} has no parameter '{name}' (has: {', '.join(known)})"
                )
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        defaults = {
            name: parameter.default
            for name, parameter in inspect.signature(type(self).__init__).parameters.items()
        }
        changed = [
            f"{name}={value!r}"
            for name, value in self.get_params().items()
            if value is not defaults.get(name) and value != defaults.get(name)
        ]
        return f"{type(self).__name__}({', '.join(changed)})"

    def _record_fit(self, seconds: float, examples: int, **details: Any) -> None:
        """Keep how the fit ran, for the saved metadata (``fit_record_``); ``details`` add
        entries or replace the computed ones."""
        self.fit_record_ = {
            "seconds": round(seconds, 1),
            "examples_per_second": round(examples / max(seconds, 1e-9), 2),
            **details,
        }

    @property
    def task_(self) -> Task:
        """The task (see :mod:`bertsent.data.tasks`): as saved, as set, or read from the labels."""
        task: Task | None = getattr(self, "_task", None)
        if task is None or task.labels != self.labels_:
            recorded = getattr(self, "metadata_", {}).get("task")
            task = task_from_record(recorded, self.labels_)
            self._task = task
        return task

    @task_.setter
    def task_(self, task: Task) -> None:
        self._task = task

    def _fitted_task(self, task: Task | None) -> None:
        """Set by ``fit``: its task (None: read from the labels). The task and the saved
        record of an earlier fit or load go, so a refit on other data is not judged by
        them (a multi-label refit as single-label kept its sigmoids)."""
        self._task = task
        self.metadata_ = {}

    def describe(self) -> str:
        """What is trained, for log lines: the method, or the checkpoint a fine-tune starts from."""
        return self.method

    def check_settings(self) -> None:  # noqa: B027 - a hook: most methods have nothing to check
        """Refuse impossible settings before any data is read."""

    def check_labels(self, labels: Sequence[str], task: Task) -> None:  # noqa: B027 - a hook
        """Refuse settings these labels cannot take, once the data is read and before
        anything trains (a teacher included)."""

    def extra_files(
        self, metadata: dict[str, Any], dev_report: dict[str, Any]
    ) -> Callable[[Path], None] | None:
        """Files the training pipeline writes beside the model (history, figures, a card)."""
        return None

    @abstractmethod
    def fit(
        self,
        texts: Sequence[str],
        labels: Sequence[str],
        *,
        eval_texts: Sequence[str] | None = None,
        eval_labels: Sequence[str] | None = None,
    ) -> Self:
        """Learn from labelled texts; ``eval_*`` is a dev set for model selection."""

    @abstractmethod
    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """(n, n_classes) class probabilities, columns in ``labels_`` order."""

    def predict(self, texts: Sequence[str]) -> list[str]:
        """The predicted label of each text: the most probable class (a multi-label
        model: every label at or above its threshold, ``;``-joined)."""
        probabilities = self.predict_proba(texts)  # first: an unfitted model says so
        return self.task_.decide(probabilities)

    def predict_scores(
        self, texts: Sequence[str], digits: int | None = None
    ) -> list[dict[str, Any]]:
        """For each text its ``label``, that label's probability ``score``, all ``scores``
        and the task's own outputs (``intensity`` for a fine-grained model).

        This is the shape ``bertsent predict --json`` prints; ``digits`` rounds the numbers.
        """

        return prediction_rows(self.labels_, self.task_, self.predict_proba(texts), digits)

    @abstractmethod
    def count_parameters(self) -> int:
        """How many learned numbers the model holds (weights, biases, calibration)."""

    def save(
        self,
        path: str | Path,
        metadata: dict[str, Any] | None = None,
        extras: Callable[[Path], None] | None = None,
        *,
        overwrite: bool = False,
    ) -> Path:
        """Write the model to a directory atomically and return its path.

        Args:
            path: Target directory; an existing model there is replaced only once the
                new one is complete.
            metadata: Extra entries for ``bertsent.json`` (data, metrics, history...).
            extras: Called with the temporary folder to add files (figures, card).
            overwrite: Replace whatever is at ``path``, not only an earlier model.
        """
        require_fitted(self)
        return self._write_directory(
            path, self._write_model, self._saved_settings(), metadata, extras, overwrite=overwrite
        )

    @abstractmethod
    def _write_model(self, folder: Path) -> None:
        """Write the learned state (weights, vocabulary...) into ``folder``."""

    def _saved_settings(self) -> dict[str, Any]:
        """What ``bertsent.json`` records to rebuild the classifier: its parameters."""
        return {"params": self.get_params(), "best": self.best_, "history": self.history_}

    def _write_directory(
        self,
        path: str | Path,
        write_model: Callable[[Path], None],
        settings: dict[str, Any],
        metadata: dict[str, Any] | None,
        extras: Callable[[Path], None] | None,
        *,
        overwrite: bool = False,
    ) -> Path:
        """Write the model files, ``bertsent.json`` and any extras into ``path`` atomically."""
        target = Path(path)
        with atomic_directory(
            target, METADATA_FILE, "bertsent model folder", overwrite=overwrite or None
        ) as temporary:
            write_model(temporary)
            hashes = getattr(self, "train_hashes_", None)
            if hashes is not None:
                save_text_hashes(temporary, hashes)
            (temporary / METADATA_FILE).write_text(
                self._metadata_record(settings, metadata), encoding="utf-8"
            )
            if extras is not None:
                extras(temporary)
        return target

    def _remember_training_texts(self, texts: Sequence[str], *also: np.ndarray | None) -> None:
        """Keep the hashes of ``texts`` (and of texts ``also`` seen, e.g. by a teacher)."""
        hashes = training_text_hashes(texts)
        for more in also:
            if more is not None:
                hashes = np.union1d(hashes, more)
        self.train_hashes_ = hashes

    def _restore(self, metadata: dict[str, Any], path: str | Path) -> None:
        """Set what ``load`` reads back besides the weights: metadata and training-text hashes."""
        self.metadata_ = metadata
        self.best_ = metadata.get("best", {})
        self.history_ = metadata.get("history", [])
        self.train_hashes_ = read_train_hashes(path)
        listed = metadata.get("train_texts")
        if not isinstance(listed, dict):  # saved before the hashes were: nothing to check
            return
        file = Path(path) / TRAIN_HASHES_FILE
        if self.train_hashes_ is None:  # lost in a copy: the overlap guard must not go quiet
            raise ModelError(
                f"{file} is missing, though {METADATA_FILE} lists it: without it the overlap "
                "with the training texts cannot be checked",
                hint=DAMAGED_HINT,
            )
        if listed.get("count") not in (None, len(self.train_hashes_)):
            raise ModelError(
                f"{file} is damaged ({len(self.train_hashes_)} hashes, {METADATA_FILE} lists "
                f"{listed.get('count')})",
                hint=DAMAGED_HINT,
            )

    def _metadata_record(self, settings: dict[str, Any], metadata: dict[str, Any] | None) -> str:
        """The ``bertsent.json`` text: format, method, labels, settings, provenance."""
        record = {
            "format_version": FORMAT_VERSION,
            "method": self.method,
            "labels": self.labels_,
            "task": self.task_.to_dict(),
            **settings,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "versions": package_versions(),
            **(metadata or {}),
        }
        hashes = getattr(self, "train_hashes_", None)
        if hashes is not None:
            record["train_texts"] = {
                "file": TRAIN_HASHES_FILE,
                "count": len(hashes),
                "hash": "blake2b-64 of the NFKC, case-folded letters and digits",
            }
        return json.dumps(record, indent=2)

    @classmethod
    def load(cls, path: str | Path, **options: Any) -> Self:
        """Read a model written by ``save``; ``options`` are the method's (e.g. ``backend``).

        Raises:
            ModelError: the folder is missing, damaged, or its parts disagree.
        """
        metadata = read_metadata(path)
        if metadata.get("method", cls.method) != cls.method:  # bertsent.models.load picks
            raise ModelError(
                f"{path} holds a {metadata['method']} model, not {cls.method}",
                hint="load it with bertsent.models.load(path), which reads the method",
            )
        classifier = cls._from_saved(Path(path), metadata, **options)
        if classifier.labels_ != metadata["labels"]:
            raise ModelError(
                f"{path}: the saved model's labels {classifier.labels_} differ from "
                f"{METADATA_FILE}'s {metadata['labels']}",
                hint=DAMAGED_HINT,
            )
        classifier._restore(metadata, path)
        return classifier

    @classmethod
    @abstractmethod
    def _from_saved(cls, path: Path, metadata: dict[str, Any], **options: Any) -> Self:
        """A classifier with ``labels_`` and its learned state read from ``path``."""


def prediction_rows(
    labels: Sequence[str], task: Task, probabilities: np.ndarray, digits: int | None = None
) -> list[dict[str, Any]]:
    """``label``, ``score``, ``scores`` and the task's outputs for each probability row:
    the shape of ``predict --json`` and of the HTTP service's predictions."""

    def number(value: float) -> float:
        return float(value) if digits is None else round(float(value), digits)

    outputs = task.outputs(probabilities)  # e.g. a fine-grained model's intensity
    decided = task.decide(probabilities)
    results = []
    for i, row in enumerate(probabilities):
        scores = {label: number(p) for label, p in zip(labels, row, strict=True)}
        label = decided[i]
        # the most probable chosen (0 for an abstention)
        score = max(scores.get(name, 0.0) for name in task.names(label))
        extra = {  # NaN (an abstention's intensity) is null in JSON
            name: None if np.isnan(values[i]) else number(values[i])
            for name, values in outputs.items()
        }
        # e.g. a multi-label model's labels as a list, ordered before any rounding
        listed = task.listed(label, row)
        results.append({"label": label, "score": score, "scores": scores, **extra, **listed})
    return results


def package_versions() -> dict[str, str]:
    """Versions of the packages that shape a saved model, read without importing them."""
    versions = {"python": platform.python_version()}
    for name in ("bertsent", "torch", "transformers", "scikit-learn", "safetensors"):
        try:
            versions[name] = distributions.version(name)
        except distributions.PackageNotFoundError:
            continue
    return versions


def fit_lists(
    texts: Sequence[str],
    labels: Sequence[str],
    eval_texts: Sequence[str] | None,
    eval_labels: Sequence[str] | None,
) -> tuple[list[str], list[str], list[str] | None, list[str] | None]:
    """``fit``'s inputs as lists: numpy arrays and pandas columns, as scikit-learn takes
    them, have no truth value to test (``if eval_texts``) and no ``+``."""
    return (
        list(texts),
        list(labels),
        None if eval_texts is None else list(eval_texts),
        None if eval_labels is None else list(eval_labels),
    )


def train_and_dev(
    texts: Sequence[str],
    labels: Sequence[str],
    eval_texts: Sequence[str] | None,
    eval_labels: Sequence[str] | None,
    seed: int,
) -> tuple[Split, Split]:
    """The training split and the dev split for model selection (10% of train if none),
    checked as ``--data`` is (see :func:`bertsent.data.splits.validate`): two classes or
    more, a non-empty dev whose labels train has.

    Raises:
        ConfigError: ``eval_texts`` without ``eval_labels``, or the other way round.
        DataError: naming the example (``dev row 3``) and what is wrong with it.
    """
    if (eval_texts is None) != (eval_labels is None):
        raise ConfigError("eval_texts and eval_labels go together: give both, or neither")
    train = Split("train", list(texts), list(labels))
    if eval_texts is None or eval_labels is None:
        train, dev = carve(train, (0.9, 0.1), ("train", "dev"), seed, "the training texts")
    else:
        dev = Split("dev", list(eval_texts), list(eval_labels))
    validate(DatasetSplits("the training data", train, dev))
    return train, dev


def require_fitted(model: SentimentClassifier, attribute: str | None = None) -> None:
    """Raise a clear error when a model is used before ``fit`` or ``load``."""
    if not hasattr(model, attribute or model.fitted_attribute):
        raise ModelError(
            f"this {model.method} classifier is not fitted yet", hint="call fit() or load() first"
        )


def read_train_hashes(path: str | Path) -> np.ndarray | None:
    """The training-text hashes saved in a model folder; None when it has none (older models).

    Raises:
        ModelError: the file is there but damaged.
    """
    file = Path(path) / TRAIN_HASHES_FILE
    if not file.is_file():
        return None
    try:
        hashes = np.load(file, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise ModelError(f"{file} is damaged ({exc})", hint=DAMAGED_HINT) from None
    if hashes.ndim != 1 or hashes.dtype.kind != "u" or hashes.dtype.itemsize != 8:
        raise ModelError(f"{file} is damaged (not a list of 8-byte hashes)", hint=DAMAGED_HINT)
    return hashes.astype(np.uint64)


def start_point_hashes(name: str | None) -> np.ndarray | None:
    """What a model that a fit starts from or learns from (``--model``, ``--teacher``)
    was trained on: the hashes recorded in the folder ``name`` resolves to; None for a
    Hub id, the packaged encoder or a model that records none.

    Raises:
        ModelError: the file is there but damaged.
    """
    return read_train_hashes(resolve_model(name)) if name else None


def check_safetensors(file: Path) -> None:
    """Open a weights file's header, so a damaged copy is named instead of a deep traceback.

    The header lists every tensor's byte range; an empty, cut-off or foreign file fails here.

    Raises:
        ModelError: naming the file.
    """
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(file), framework="numpy") as weights:  # numpy: no torch import
            weights.keys()
    except (SafetensorError, OSError) as exc:
        raise ModelError(
            f"{file} is damaged or incomplete, not a readable safetensors file ({exc})",
            hint=DAMAGED_HINT,
        ) from None


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The ``bertsent.json`` of a model directory.

    Raises:
        ModelError: the directory or its metadata is missing or unreadable.
    """
    directory = Path(path)
    if not directory.is_dir():
        raise ModelError(
            f"model directory '{directory}' not found", hint="train one with `bertsent train`"
        )
    file = directory / METADATA_FILE
    if not file.is_file():
        raise ModelError(
            f"{directory}: no {METADATA_FILE}, so this is not a bertsent model directory",
            hint="point to a folder written by `bertsent train`",
        )
    try:
        metadata: dict[str, Any] = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelError(f"{file}: unreadable metadata ({exc})") from None
    if metadata.get("format_version", 0) > FORMAT_VERSION:
        raise ModelError(
            f"{file}: written by a newer bertsent (format {metadata['format_version']})",
            hint="upgrade bertsent",
        )
    return metadata
