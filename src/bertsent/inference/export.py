"""Export a fine-tuned model to ONNX (fp32, and INT8 by dynamic quantization), measured.

Each exported graph is scored against the PyTorch model on the dev split before it is
recorded: agreement of predicted labels, largest probability difference and accuracy.
A backend is only loaded together with that record, so a quantized model is never used
without its measured accuracy.
"""

from __future__ import annotations

import json
import logging
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from bertsent.atomic import atomic_directory, check_replaceable
from bertsent.data import DatasetSplits
from bertsent.data.tasks import ASPECT_COLUMN, MultiLabelTask
from bertsent.encoders.engine import OnnxEngine, open_session
from bertsent.encoders.exports import (
    GRAPH_FILES,
    MIN_AGREEMENT,
    ONNX_FOLDER,
    RECORD_FILE,
    fastest_within_band,
    file_sha256,
    hardware_key,
    weights_sha256,
)
from bertsent.encoders.tokenization import takes_segments
from bertsent.errors import MissingDependencyError, ModelError
from bertsent.hardware import cpu_has_fast_bf16
from bertsent.progress import progress

logger = logging.getLogger(__name__)

OPSET = 17
# A graph is kept only when it computes what PyTorch computes: fp32 up to float rounding
# (measured: 0.000006), INT8 deciding as PyTorch does on nearly every review (measured:
# 98.1% on rotten-tomatoes dev, 99.8% for bf16).
FP32_MAX_PROBABILITY_DIFFERENCE = 1e-3
INT8_MIN_AGREEMENT = MIN_AGREEMENT


def export_onnx(
    model_dir: str | Path,
    *,
    int8: bool = False,
    data: str | DatasetSplits | None = None,
    split: str = "dev",
    overwrite: bool = False,
    text_column: str = "text",
    label_column: str = "label",
) -> dict[str, Any]:
    """Write ``MODEL_DIR/onnx/`` (graphs + ``exports.json``) and return the record.

    Every backend this CPU runs (PyTorch fp32, PyTorch bf16 where the CPU has bf16
    units, ONNX fp32, ONNX INT8) is measured on the same texts:
    accuracy, agreement with fp32 PyTorch, largest probability difference and
    reviews/s. ``--backend auto`` later picks from this record.

    Args:
        model_dir: A BERT model directory written by ``bertsent train``.
        int8: Also write a dynamically quantized INT8 graph.
        data: Dataset to measure on (default: the model's training data).
        split: The split measured; the dev split keeps the test split untouched.
        overwrite: Replace ``MODEL_DIR/onnx`` even when it is not an earlier export
            (it has no ``exports.json``); otherwise that is refused.
        text_column, label_column: The columns of ``data`` (the model's own data is
            read with the columns it was trained with).

    Raises:
        MissingDependencyError: onnx / onnxruntime are not installed.
        ModelError: the model is not a BERT-family classifier.
        OutputExistsError: ``MODEL_DIR/onnx`` is not ours and ``overwrite`` is false.
    """
    from bertsent.evaluation.evaluate import data_split
    from bertsent.models import load
    from bertsent.models.bert import BertClassifier

    _require_onnx()
    model_dir = Path(model_dir)
    # refused before the minutes of measuring, and checked again before the swap
    check_replaceable(model_dir / ONNX_FOLDER, RECORD_FILE, "bertsent export", overwrite=overwrite)
    classifier = load(model_dir)
    if not isinstance(classifier, BertClassifier):
        raise ModelError(
            f"{model_dir}: only BERT-family models export to ONNX (this is '{classifier.method}')"
        )
    dataset, chosen = data_split(
        classifier, data, split, text_column=text_column, label_column=label_column
    )
    task = classifier.task_
    logger.info("measuring each backend on %d %s %s reviews", len(chosen.texts), dataset, split)
    reference, speed = _timed(classifier._engine(), chosen.texts, "torch")
    record: dict[str, Any] = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "measured_on": {"data": dataset, "split": split, "size": len(chosen.texts)},
        "hardware": hardware_key(),  # load() put the model on the CPU
        "weights_sha256": weights_sha256(model_dir),  # the graphs are of these weights
        "torch_accuracy": float(task.correct(reference, chosen.labels).mean()),
        "opset": OPSET,
        "graphs": {},
        "backends": {},
    }

    def measure(backend: str, engine: Any) -> dict[str, Any]:
        probabilities, reviews_per_second = _timed(engine, chosen.texts, backend)
        measured = {
            "accuracy": float(task.correct(probabilities, chosen.labels).mean()),
            "agreement_with_torch": float(
                np.mean(np.asarray(task.decide(probabilities)) == task.decide(reference))
            ),
            "max_probability_difference": float(np.abs(probabilities - reference).max()),
            "reviews_per_second": round(reviews_per_second, 1),
        }
        record["backends"][backend] = measured
        logger.info(
            "%s: accuracy %.4f, %.0f reviews/s",
            backend,
            measured["accuracy"],
            measured["reviews_per_second"],
        )
        return measured

    record["backends"]["torch"] = {
        "accuracy": record["torch_accuracy"],
        "agreement_with_torch": 1.0,
        "max_probability_difference": 0.0,
        "reviews_per_second": round(speed, 1),
    }
    if cpu_has_fast_bf16():
        half = load(model_dir, backend="torch-bf16")
        measure("torch-bf16", half._engine())  # type: ignore[attr-defined]
    backends = ["onnx", "onnx-int8"] if int8 else ["onnx"]
    with atomic_directory(
        model_dir / ONNX_FOLDER, RECORD_FILE, "bertsent export", overwrite=overwrite
    ) as folder:
        plain = folder / "plain.onnx"
        _export_graph(classifier, plain)
        _fuse_transformer_ops(classifier, plain, folder / GRAPH_FILES["onnx"])
        plain.unlink()
        if int8:
            logger.info("quantizing the graph to INT8")
            _quantize(folder / GRAPH_FILES["onnx"], folder / GRAPH_FILES["onnx-int8"])
        for backend in backends:
            path = folder / GRAPH_FILES[backend]
            engine = OnnxEngine(
                open_session(str(path)),
                classifier.tokenizer_,
                num_labels=len(classifier.labels_),
                multi_label=isinstance(task, MultiLabelTask),
                max_length=classifier.config.max_length,  # type: ignore[union-attr]
                truncation=classifier.config.truncation,  # type: ignore[union-attr]
            )
            record["graphs"][backend] = {
                "file": GRAPH_FILES[backend],
                "sha256": file_sha256(path),
                "bytes": path.stat().st_size,
                **measure(backend, engine),
            }
            refuse_disagreeing_graph(model_dir, backend, record["graphs"][backend])
        record["auto"] = fastest_within_band(record)
        (folder / RECORD_FILE).write_text(json.dumps(record, indent=2), encoding="utf-8")
    return record


def refuse_disagreeing_graph(model_dir: Path, backend: str, measured: dict[str, Any]) -> None:
    """Raise when a graph does not compute what the PyTorch model computes (within the
    export's block, so the earlier ``onnx/`` folder stays).

    Raises:
        ModelError: the fp32 graph's probabilities differ beyond float rounding, or the
            INT8 graph decides differently on more than 5% of the reviews measured.
    """
    difference, agreement = measured["max_probability_difference"], measured["agreement_with_torch"]
    if backend == "onnx" and difference > FP32_MAX_PROBABILITY_DIFFERENCE:
        raise ModelError(
            f"{model_dir}: the exported fp32 graph disagrees with the PyTorch model (largest "
            f"probability difference {difference:.3g}, allowed "
            f"{FP32_MAX_PROBABILITY_DIFFERENCE:g}); nothing was written",
            hint="report it with the model's config.json: the export itself is at fault",
        )
    if backend == "onnx-int8" and agreement < INT8_MIN_AGREEMENT:
        raise ModelError(
            f"{model_dir}: the INT8 graph decides as the PyTorch model on {agreement:.1%} of "
            f"the reviews measured (at least {INT8_MIN_AGREEMENT:.0%} needed); nothing was written",
            hint="export without --int8 (fp32 ONNX keeps the model's decisions)",
        )


def _timed(engine: Any, texts: list[str], backend: str) -> tuple[np.ndarray, float]:
    """Probabilities for ``texts`` and the reviews/s of that pass (after a warm-up batch)."""
    engine.predict_proba(texts[:64])
    with progress(f"export: measuring {backend}"):
        started = time.perf_counter()
        probabilities = engine.predict_proba(texts)
        seconds = time.perf_counter() - started
    return probabilities, len(texts) / max(seconds, 1e-9)


def _require_onnx() -> None:
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as error:
        raise MissingDependencyError(
            "ONNX export needs onnx and onnxruntime", hint="pip install 'bertsent[onnx]'"
        ) from error


def _export_graph(classifier: Any, path: Path) -> None:
    """Trace the model with dynamic batch and sequence axes (TorchScript exporter).

    Eager attention exports as plain MatMul/Softmax, which ONNX Runtime's transformer
    optimizer then fuses into its own Attention kernel.
    """
    import torch

    from bertsent.encoders.attention import eager_attention

    model = classifier.model_.eval()
    # (sentence, aspect) pairs need segment ids; other models' graphs take two inputs
    pairs = ASPECT_COLUMN in classifier.task_.input_names
    sample = classifier.tokenizer_(
        ["a sample review", "another one"],
        ["review", "one"] if pairs else None,
        return_tensors="pt",
        padding=True,
    )
    names = ["input_ids", "attention_mask"]
    if pairs and takes_segments(model.config):  # as the PyTorch engine feeds them
        names.append("token_type_ids")
        if "token_type_ids" not in sample:  # ALBERT's tokenizer returns none
            sample["token_type_ids"] = torch.zeros_like(sample["input_ids"])
    dynamic = {0: "batch", 1: "sequence"}
    started = time.perf_counter()
    # the tracer warns about Python branches on shapes; the exported axes stay dynamic
    # (checked by measuring the graph on the whole dev split, at every length)
    with eager_attention(model), torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            tuple(sample[name] for name in names),
            str(path),
            input_names=names,
            output_names=["logits"],
            dynamic_axes={**dict.fromkeys(names, dynamic), "logits": {0: "batch"}},
            opset_version=OPSET,
            dynamo=False,
        )
    logger.info("traced the model to ONNX in %.1f s", time.perf_counter() - started)


def _fuse_transformer_ops(classifier: Any, source: Path, target: Path) -> None:
    """Fuse attention, GELU and LayerNorm subgraphs (ONNX Runtime's BERT optimizer)."""
    from onnxruntime.transformers.optimizer import optimize_model

    config = classifier.model_.config
    optimized = optimize_model(
        str(source),
        model_type="bert",
        num_heads=config.num_attention_heads,
        hidden_size=config.hidden_size,
    )
    optimized.save_model_to_file(str(target))


def _quantize(source: Path, target: Path) -> None:
    """Dynamic INT8: weights quantized once, activations per batch at run time."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(source),
        str(target),
        weight_type=QuantType.QInt8,
        per_channel=True,
        # the fused ops are outside ONNX's shape inference; their outputs are float
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )
