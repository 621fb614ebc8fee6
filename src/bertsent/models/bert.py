"""The fine-tuned BERT-family classifier."""

from __future__ import annotations

import json
import logging
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np

from bertsent.cache import KeyValueCache
from bertsent.data import read_unlabelled
from bertsent.data.tasks import MultiLabelTask, Task, is_multi_label, label_names
from bertsent.encoders.engine import (
    HALF_DTYPES,
    Engine,
    OnnxEngine,
    TorchEngine,
    open_session,
)
from bertsent.encoders.exports import BACKENDS, choose_backend, file_sha256, read_export
from bertsent.encoders.pretrained import load_sequence_classifier, resolve_model
from bertsent.encoders.tokenization import load_rust_tokenizer
from bertsent.errors import ConfigError, ModelError
from bertsent.hardware import resolve_precision, usable_device
from bertsent.models.base import (
    DAMAGED_HINT,
    METADATA_FILE,
    SentimentClassifier,
    check_safetensors,
    read_metadata,
    require_fitted,
    start_point_hashes,
    train_and_dev,
)
from bertsent.progress import progress
from bertsent.training.config import TrainingConfig, check_fits_checkpoint

HISTORY_FILE = "training_history.json"
DYNAMICS_FIGURE = "training_dynamics.png"

logger = logging.getLogger(__name__)


class BertClassifier(SentimentClassifier):
    """A pre-trained encoder with a linear head on [CLS], fine-tuned end to end.

    Args:
        config: Training settings; the default is the seed recipe on the packaged
            all-MiniLM-L6-v2.
        batch_size: Batch size for prediction (default: by device, 64 on a CPU).
        backend: ``torch``, ``torch-bf16`` / ``torch-fp16``, or an exported ``onnx`` /
            ``onnx-int8`` graph (see ``bertsent export``); set by ``load``.

    >>> clf = BertClassifier(config=TrainingConfig(epochs=1))  # doctest: +SKIP
    >>> clf.fit(["a gem", "a mess"] * 4, ["pos", "neg"] * 4)  # doctest: +SKIP
    >>> clf.predict(["not a mess at all"])  # doctest: +SKIP
    """

    method = "bert"
    takes_multi_label = True
    # the TrainingConfig settings fit reads, which a saved model records (None: all)
    recipe_settings: ClassVar[tuple[str, ...] | None] = None
    fitted_attribute = "labels_"
    resumable = True
    has_encoder = True
    session_: Any  # ONNX Runtime session of an exported graph (onnx backends)
    export_: dict[str, Any]  # that graph's measured record (accuracy, agreement)
    # After ``load`` the transformers tokenizer (and, with an ONNX backend, the model) is
    # read from ``_saved_at`` only when something needs it (PyTorch scoring, explain,
    # export): ONNX scoring needs the graph and tokenizer.json alone, and starts seconds
    # sooner without them.
    _saved_at: Path | None = None
    _model: Any = None
    _tokenizer: Any = None
    _rust_tokenizer: Any = None
    _pad_id: int | None = None

    def __init__(
        self,
        *,
        config: TrainingConfig | None = None,
        batch_size: int | None = None,
        backend: str = "torch",
    ) -> None:
        self.config = config
        self.batch_size = batch_size
        self.backend = backend

    def fit(
        self,
        texts: Sequence[str],
        labels: Sequence[str],
        *,
        eval_texts: Sequence[str] | None = None,
        eval_labels: Sequence[str] | None = None,
        work_dir: str | Path | None = None,
        resume: bool = False,
        callbacks: list[Any] | None = None,
    ) -> Self:
        """Fine-tune on ``texts``; the best evaluation on the eval set (or 10% of train) wins.

        ``work_dir`` keeps checkpoints so ``resume=True`` can continue after a crash;
        without it a temporary folder is used and removed.
        """
        from bertsent.training.finetune import fine_tune

        self.refuse_training_backend()
        self._forget_saved_folder()
        config = (self.config or TrainingConfig()).validate()
        if config.teacher_model:
            raise ConfigError(
                f"teacher_model={config.teacher_model!r}: fit learns from a fine-tuned teacher",
                hint="pass teacher=MODEL_DIR, or let bertsent.train (`bertsent train "
                "--teacher-model`) fine-tune the encoder into one first",
            )
        check_fits_checkpoint(config)
        # a bertsent model this one starts from or learns from has seen its training texts too
        inherited = [start_point_hashes(name) for name in (config.model, config.teacher)]
        train, dev = train_and_dev(texts, labels, eval_texts, eval_labels, config.seed)
        class_names = label_names(train.labels)
        multi_label = is_multi_label(train.labels)
        if multi_label and config.teacher:
            raise ConfigError("distillation (--teacher) is for single-label models")
        unlabelled = read_unlabelled(config.distill_texts)[0] if config.distill_texts else []
        soft_targets = None
        if config.teacher:
            device = usable_device()
            soft_targets = teacher_logits(
                config.teacher,
                list(train.texts) + unlabelled,
                class_names,
                precision=resolve_precision(config.precision, device),
                device=device,
                cache=config.teacher_cache,
            )
        if unlabelled:  # the teacher's top class stands in for the missing gold label
            assert soft_targets is not None
            guessed = [class_names[int(np.argmax(row))] for row in soft_targets[len(train) :]]
            train = train.extended(unlabelled, guessed, f"{config.distill_texts} text")
        options: dict[str, Any] = {
            "callbacks": callbacks,
            "teacher_logits": soft_targets,
            "multi_label": multi_label,
        }
        if work_dir is None:
            with tempfile.TemporaryDirectory(prefix="bertsent-train-") as temporary:
                result = fine_tune(config, train, dev, class_names, Path(temporary), **options)
        else:
            result = fine_tune(
                config, train, dev, class_names, Path(work_dir), resume=resume, **options
            )
        # the recipe as it ran (batch size and learning rate filled in); the parameter
        # stays as given, so get_params and clone are the same before and after fit
        self.config_ = result.config
        self.labels_ = class_names
        # multi-label: thresholds 0.5 until tuned on dev (see bertsent.pipeline.train)
        self._fitted_task(MultiLabelTask(class_names) if multi_label else None)
        self.model_ = result.model
        self.tokenizer_ = result.tokenizer
        self._record_fit(
            result.train_seconds,
            len(train),
            examples_per_second=round(result.train_examples_per_second, 2),  # the Trainer's
            precision=result.precision,
            processes=result.processes,
            global_batch_size=result.global_batch_size,
            learning_rate=result.config.learning_rate,
            warmup_steps=result.warmup_steps,
            steps_per_epoch=result.steps_per_epoch,
            teacher_labelled_examples=len(unlabelled),
        )
        self.history_ = result.history
        self.best_ = result.best
        self._remember_training_texts(list(texts) + unlabelled, *inherited)
        return self

    @property
    def model_(self) -> Any:
        """The transformers model (read on first use after an ONNX ``load``)."""
        if self._model is None and self._saved_at is not None:
            self._model = self._read_torch_model(self._saved_at).eval()
        if self._model is None:
            raise AttributeError("model_")  # not fitted: hasattr() says so
        return self._model

    @model_.setter
    def model_(self, model: Any) -> None:
        self._model = model

    @property
    def tokenizer_(self) -> Any:
        """The transformers tokenizer (read on first use after an ONNX ``load``)."""
        if self._tokenizer is None and self._saved_at is not None:
            from transformers import AutoTokenizer

            self._tokenizer = AutoTokenizer.from_pretrained(
                str(self._saved_at), trust_remote_code=False
            )
        if self._tokenizer is None:
            raise AttributeError("tokenizer_")
        return self._tokenizer

    @tokenizer_.setter
    def tokenizer_(self, tokenizer: Any) -> None:
        self._tokenizer = tokenizer

    def _engine(self) -> Engine:
        config = self.training_recipe()
        settings = {
            "max_length": config.max_length,
            "truncation": config.truncation,
            "batch_size": self.batch_size,
            "multi_label": isinstance(self.task_, MultiLabelTask),
        }
        if self.backend == "torch" or self.backend in HALF_DTYPES:
            require_fitted(self, "model_")
            return TorchEngine(self.model_, self.tokenizer_, **settings)
        require_fitted(self, "session_")
        if self._tokenizer is not None:
            tokenizer = self._tokenizer
        else:  # the same tokenizer.json, without importing transformers
            if self._rust_tokenizer is None and self._saved_at is not None:
                self._rust_tokenizer = load_rust_tokenizer(self._saved_at)
            tokenizer = self._rust_tokenizer
        return OnnxEngine(
            self.session_,
            tokenizer,
            num_labels=len(self.labels_),
            pad_id=self._pad_id,
            **settings,
        )

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        """(n, n_classes) raw scores before the softmax."""
        return self._engine().logits(list(texts))

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Class probabilities (softmax); a multi-label model's are a sigmoid per label."""
        return self._engine().predict_proba(list(texts))

    def count_parameters(self) -> int:
        require_fitted(self, "model_")
        return sum(parameter.numel() for parameter in self.model_.parameters())

    def describe(self) -> str:
        return (self.config or TrainingConfig()).model

    def check_settings(self) -> None:
        check_fits_checkpoint(self.config or TrainingConfig())

    def check_labels(self, labels: Sequence[str], task: Task) -> None:
        (self.config or TrainingConfig()).check_labels(
            list(labels), isinstance(task, MultiLabelTask)
        )

    def extra_files(
        self, metadata: dict[str, Any], dev_report: dict[str, Any]
    ) -> Callable[[Path], None]:
        """The epoch history, the training-dynamics figure and a Hugging Face model card."""
        from bertsent.training.curves import plot_training_dynamics

        record, history, best = self.fit_record_, self.history_, self.best_
        multi_label = isinstance(self.task_, MultiLabelTask)
        card = model_card(self.training_recipe(), metadata, dev_report, multi_label)

        def write(folder: Path) -> None:
            (folder / HISTORY_FILE).write_text(json.dumps(history, indent=2), encoding="utf-8")
            plot_training_dynamics(
                history,
                folder / DYNAMICS_FIGURE,
                warmup_epochs=record["warmup_steps"] / max(record["steps_per_epoch"], 1e-9),
                best_epoch=best.get("epoch"),
                averaged_epochs=best.get("averaged_epochs", ()),
            )
            (folder / "README.md").write_text(card, encoding="utf-8")

        return write

    def _write_model(self, folder: Path) -> None:
        """A standard Hugging Face folder: config, safetensors weights, tokenizer.

        The tokenizer carries the length the model was trained to read (and, for
        ``--truncation tail``, which side it drops), so ``pipeline(..., truncation=True)``
        reads a long review as bertsent does (``head+tail`` has no such setting: the head).
        """
        require_fitted(self, "model_")
        self.model_.save_pretrained(folder, safe_serialization=True)
        config = self.training_recipe()
        self.tokenizer_.model_max_length = config.max_length
        self.tokenizer_.truncation_side = "left" if config.truncation == "tail" else "right"
        self.tokenizer_.save_pretrained(folder)

    def _forget_saved_folder(self) -> None:
        """A fit makes new weights: nothing may be read from the folder loaded before
        (an explainer read the old weights from it for the refitted model)."""
        self._saved_at = self._rust_tokenizer = None

    def refuse_training_backend(self) -> None:
        """``fit`` trains with PyTorch: an export, or half-precision weights, only score.

        Raises:
            ConfigError: the backend is not ``torch``.
        """
        if self.backend != "torch":
            raise ConfigError(
                f"backend={self.backend!r} runs a trained model; fit trains with PyTorch",
                hint="fit with backend='torch' (the default), then `bertsent export` the model "
                "or load it with the backend",
            )

    def training_recipe(self) -> TrainingConfig:
        """The recipe the fit ran (its batch size and learning rate filled in), else the
        one given."""
        return getattr(self, "config_", None) or self.config or TrainingConfig()

    def _saved_settings(self) -> dict[str, Any]:
        return {"training_config": self.training_recipe().keeping(self.recipe_settings).to_dict()}

    @classmethod
    def _from_saved(
        cls,
        path: Path,
        metadata: dict[str, Any],
        backend: str = "torch",
        threads: int | None = None,
        device: str = "cpu",
        batch_size: int | None = None,
        **options: Any,
    ) -> Self:
        """Read a saved model; an ONNX ``backend`` also opens its measured export.

        ``auto`` becomes the fastest backend measured on this kind of machine within
        0.3 points of fp32 (see :func:`bertsent.encoders.exports.choose_backend`).

        Raises:
            ConfigError: unknown backend, or fp16 weights asked for on a CPU.
            ModelError: the model was not exported for ``backend`` (see ``read_export``).
        """
        if backend not in BACKENDS:
            raise ConfigError(f"unknown backend '{backend}'", hint=f"choose {', '.join(BACKENDS)}")
        if backend == "auto":
            backend = choose_backend(path, device)
        if backend == "torch-fp16" and device == "cpu":
            raise ConfigError(
                "the torch-fp16 backend needs a CUDA GPU", hint="on a CPU use torch-bf16 or onnx"
            )
        try:
            config = TrainingConfig.from_dict(metadata["training_config"])
        except (ConfigError, TypeError, KeyError) as exc:  # a newer bertsent's, or damaged
            raise ModelError(
                f"{path / METADATA_FILE}: its training_config cannot be read ({exc})",
                hint="upgrade bertsent if a newer one wrote the model",
            ) from None
        classifier = cls(config=config, batch_size=batch_size, backend=backend)
        for weights in sorted(path.glob("*.safetensors")):
            check_safetensors(weights)
        model_config = read_model_config(path)
        id2label = {int(index): label for index, label in model_config["id2label"].items()}
        classifier.labels_ = [id2label[i] for i in range(len(id2label))]
        classifier._pad_id = model_config.get("pad_token_id")
        classifier._saved_at = path
        if backend.startswith("onnx"):
            graph, classifier.export_ = read_export(path, backend)
            classifier.session_ = open_session(str(graph), threads)
        else:  # the tokenizer is read on first use, like after an ONNX load
            import torch

            half = HALF_DTYPES.get(backend)
            model = cls._read_torch_model(path).eval()
            classifier.model_ = model.to(
                device=device, dtype=getattr(torch, half) if half else None
            )
        return classifier  # the full history is in training_history.json

    @classmethod
    def _read_torch_model(cls, path: Path) -> Any:
        """The saved PyTorch model (a transformers sequence classifier)."""
        return load_sequence_classifier(path)


def read_model_config(path: str | Path) -> dict[str, Any]:
    """A saved model's ``config.json`` as plain JSON (labels, pad id), without transformers.

    Raises:
        ModelError: the file is missing, damaged, or has no ``id2label``.
    """
    file = Path(path) / "config.json"
    try:
        config = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"{path}: missing config.json", hint=DAMAGED_HINT) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{file} is damaged or incomplete ({exc})", hint=DAMAGED_HINT) from None
    if not isinstance(config, dict) or not isinstance(config.get("id2label"), dict):
        raise ModelError(f"{file}: no id2label mapping", hint=DAMAGED_HINT)
    return config


# the backend a teacher runs in for each training precision: bf16 halves its pass on
# CPUs with bf16 units, and the student trains at that precision anyway
TEACHER_BACKENDS = {"fp32": "torch", "bf16": "torch-bf16", "fp16": "torch-fp16"}
TEACHER_CHUNK = 4096  # texts scored, then kept in the cache, at a time


def teacher_logits(
    teacher_dir: str,
    texts: list[str],
    labels: list[str],
    *,
    precision: str = "fp32",
    device: str = "cpu",
    cache: str | None = None,
) -> list[list[float]]:
    """A fine-tuned teacher's logits for ``texts``, columns in ``labels`` order.

    A 110M teacher scores about 27 texts/s on two CPU cores, and every student of it
    (each seed, each ``--resume``) needs the same scores: they are kept in ``cache``
    by the teacher's weights, ``precision`` and text, a chunk at a time, so later runs
    (and a rerun after a crash) score only the texts not there yet.

    Raises:
        ConfigError: the teacher is not a BERT model, or was trained on other labels.
    """
    from bertsent.models import ENCODER_METHODS, load  # the package imports this module

    method = read_metadata(teacher_dir).get("method")
    teacher = (  # asked first: another method refuses a bf16 backend, naming the backend
        load(teacher_dir, backend=TEACHER_BACKENDS[precision], device=device)
        if method in ENCODER_METHODS
        else None
    )
    if not isinstance(teacher, BertClassifier):  # only a fine-tuned encoder has logits to teach
        raise ConfigError(
            f"teacher {teacher_dir} is a {method} model; a teacher is a fine-tuned bert model",
            hint="train one with `bertsent train --model ENCODER`, or let --teacher-model "
            "ENCODER train it first",
        )
    if sorted(teacher.labels_) != sorted(labels):
        raise ConfigError(f"teacher {teacher_dir} has labels {teacher.labels_}, this data {labels}")
    weights = sorted(Path(resolve_model(teacher_dir)).glob("*.safetensors"))
    fingerprint = [file_sha256(file) for file in weights]
    keys = [
        KeyValueCache.key({"teacher": fingerprint, "precision": precision, "text": text})
        for text in texts
    ]
    rows: list[list[float] | None] = [None] * len(texts)
    with KeyValueCache(cache, table="teacher_logits") as store:
        for index, key in enumerate(keys):
            found = store.get(key)
            if found is not None:
                rows[index] = json.loads(found)
        missing = [index for index, row in enumerate(rows) if row is None]
        if len(missing) < len(texts):
            logger.info(
                "teacher scores of %d of %d texts read from %s",
                len(texts) - len(missing),
                len(texts),
                cache,
            )
        name = Path(teacher_dir).name
        started = time.perf_counter()
        for start in range(0, len(missing), TEACHER_CHUNK):
            chunk = missing[start : start + TEACHER_CHUNK]
            with progress(
                f"teacher {name} scoring texts {start + 1:,}-{start + len(chunk):,} "
                f"of {len(missing):,}"
            ):
                scored = teacher.logits([texts[i] for i in chunk]).tolist()
            store.put_many((keys[i], json.dumps(row)) for i, row in zip(chunk, scored, strict=True))
            for i, row in zip(chunk, scored, strict=True):
                rows[i] = row
            # a line per chunk: the bars are off in a log file, and a 110M teacher's
            # pass over tens of thousands of texts takes tens of minutes
            done = start + len(chunk)
            logger.info(
                "teacher %s scored %s of %s texts (%.0f texts/s)",
                name,
                f"{done:,}",
                f"{len(missing):,}",
                done / max(time.perf_counter() - started, 1e-9),
            )
    columns = [teacher.labels_.index(label) for label in labels]
    return [[row[c] for c in columns] for row in rows if row is not None]


def model_card(
    config: TrainingConfig,
    metadata: dict[str, Any],
    dev_report: dict[str, Any],
    multi_label: bool = False,
) -> str:
    """A short Hugging Face model card: what it is, how it was trained, how well it does."""
    data = metadata["data"]
    low, high = dev_report["accuracy_ci"]
    sizes = ", ".join(f"{k} {v}" for k, v in data["sizes"].items())
    best = metadata["best"]
    kept = (
        f"the weights averaged over epochs {', '.join(f'{e:g}' for e in best['averaged_epochs'])}"
        if "averaged_epochs" in best
        else f"epoch {best.get('epoch')}"
    )
    loss = "binary cross-entropy per label" if multi_label else "cross-entropy"
    if additions := config.loss_additions():
        loss += f", with {', '.join(additions)}"
    batch = f"batch {config.batch_size}"
    if config.gradient_accumulation_steps > 1:
        batch += f" x {config.gradient_accumulation_steps} accumulated"
    return f"""---
library_name: transformers
pipeline_tag: text-classification
base_model: {config.model}
tags: [sentiment-analysis, bertsent]
---

# Sentiment classifier fine-tuned with bertsent

- Base encoder: `{config.model}`, with a linear layer on the final [CLS] vector
  (Xavier-uniform init, zero bias), trained end to end with {loss}.
- Labels: {", ".join(f"`{label}`" for label in data["labels"])}
- Data: `{data["name"]}` ({sizes}); fingerprint `{data["fingerprint"][:16]}`.
- Recipe: AdamW (lr {config.learning_rate:g}, weight decay
  {config.weight_decay:g}), {config.warmup_ratio:.0%} linear warmup then linear decay,
  {config.epochs:g} epochs, {batch}, max length {config.max_length}
  ({config.truncation} truncation), seed {config.seed};
  best evaluation by dev {config.metric_for_best} ({kept}).

## Dev results

Accuracy {dev_report["accuracy"]:.2%} (95% bootstrap interval {low:.2%} to {high:.2%}),
macro-F1 {dev_report["macro_f1"]:.4f}, expected calibration error {dev_report["ece"]:.4f}
on {dev_report["n"]} examples. Test scores are written by `bertsent evaluate`.

## Use

```python
from transformers import pipeline
classifier = pipeline("text-classification", model="path/to/this/folder")
classifier("This is not a bad film")
```

Note for further training with plain transformers: the standard head's dense layer
is set to a scaled identity so that it passes the [CLS] vector through unchanged;
re-initialise the head before fine-tuning this folder again.
"""
