"""Batched inference: one code path for predict, evaluate, the server and the benchmarks.

Texts are tokenised, sorted by length and cut into batches padded only to their own
longest text, run by a backend (PyTorch under ``torch.inference_mode``, or ONNX
Runtime), and returned in input order.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch

from bertsent.models.tokenization import encode

BACKENDS = ("torch", "onnx", "onnx-int8")


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def pad_batch(sequences: Sequence[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad token id lists to the batch's longest; returns (input_ids, attention_mask)."""
    longest = max(len(s) for s in sequences)
    input_ids = torch.full((len(sequences), longest), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(sequences), longest), dtype=torch.long)
    for row, ids in enumerate(sequences):
        input_ids[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        attention_mask[row, : len(ids)] = 1
    return input_ids, attention_mask


class Engine(ABC):
    """Tokenises, sorts by length, batches with dynamic padding and restores input order.

    Subclasses only say how one padded batch becomes logits (``_forward``).
    """

    def __init__(
        self,
        tokenizer: Any,
        *,
        num_labels: int,
        max_length: int = 128,
        truncation: str = "head",
        batch_size: int = 64,
    ) -> None:
        self.tokenizer = tokenizer
        self.num_labels = num_labels
        self.max_length = max_length
        self.truncation = truncation
        self.batch_size = batch_size
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

    def batches(
        self, texts: Sequence[str]
    ) -> Iterator[tuple[np.ndarray, torch.Tensor, torch.Tensor]]:
        """(input rows, input_ids, attention_mask) per batch, longest texts first."""
        encoded = encode(self.tokenizer, texts, self.max_length, self.truncation)
        order = np.argsort([len(ids) for ids in encoded], kind="stable")[::-1]
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            yield rows, *pad_batch([encoded[i] for i in rows], self.pad_id)

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        """(n, n_classes) float32 logits, in the order of ``texts``."""
        result = np.zeros((len(texts), self.num_labels), dtype=np.float32)
        if not texts:
            return result
        for rows, input_ids, attention_mask in self.batches(texts):
            result[rows] = self._forward(input_ids, attention_mask)  # back to input order
        return result

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        return softmax(self.logits(texts))

    @abstractmethod
    def _forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> np.ndarray:
        """(batch, n_classes) logits of one padded batch."""


class TorchEngine(Engine):
    """Runs a transformers model in PyTorch.

    >>> engine = TorchEngine(model, tokenizer, max_length=128)  # doctest: +SKIP
    >>> engine.logits(["A fine film."]).shape  # doctest: +SKIP
    (1, 2)
    """

    def __init__(self, model: Any, tokenizer: Any, **settings: Any) -> None:
        num_labels = getattr(model.config, "num_labels", 0)
        super().__init__(tokenizer, num_labels=num_labels, **settings)
        self.model = model.eval()
        self.device = next(model.parameters()).device

    def _output(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> Any:
        with torch.inference_mode():
            return self.model(
                input_ids=input_ids.to(self.device), attention_mask=attention_mask.to(self.device)
            )

    def _forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> np.ndarray:
        return self._output(input_ids, attention_mask).logits.float().cpu().numpy()

    def map_batches(self, texts: Sequence[str], pick: Callable[[Any], torch.Tensor]) -> np.ndarray:
        """Run the model over ``texts`` and stack ``pick(output)`` rows in input order.

        ``pick`` selects a (batch, ...) tensor from the model output, e.g. the final
        [CLS] vectors of an encoder. No texts give an empty (0,) array.
        """
        result: np.ndarray | None = None
        for rows, input_ids, attention_mask in self.batches(texts) if texts else []:
            with torch.inference_mode():
                values = pick(self._output(input_ids, attention_mask)).float().cpu().numpy()
                if result is None:
                    result = np.zeros((len(texts), *values.shape[1:]), dtype=np.float32)
                result[rows] = values
        return result if result is not None else np.zeros((0,), dtype=np.float32)


class OnnxEngine(Engine):
    """Runs an exported graph in ONNX Runtime (fp32 or dynamically quantized INT8).

    >>> session = open_session("model/onnx/model-int8.onnx")  # doctest: +SKIP
    >>> engine = OnnxEngine(session, tokenizer, num_labels=2)  # doctest: +SKIP
    """

    def __init__(self, session: Any, tokenizer: Any, **settings: Any) -> None:
        super().__init__(tokenizer, **settings)
        self.session = session
        self.input_names = {node.name for node in session.get_inputs()}

    def _forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> np.ndarray:
        feed = {"input_ids": input_ids.numpy(), "attention_mask": attention_mask.numpy()}
        if "token_type_ids" in self.input_names:
            feed["token_type_ids"] = np.zeros_like(feed["input_ids"])
        (logits,) = self.session.run(["logits"], feed)
        return np.asarray(logits, dtype=np.float32)


def open_session(path: str, threads: int | None = None) -> Any:
    """An ONNX Runtime CPU session with full graph optimisation and ``threads`` intra-op threads.

    Raises:
        MissingDependencyError: onnxruntime is not installed.
    """
    from bertsent.errors import MissingDependencyError

    try:
        import onnxruntime as ort
    except ImportError as error:
        raise MissingDependencyError(
            "ONNX backends need onnxruntime", hint="pip install 'bertsent[onnx]'"
        ) from error
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = threads or cpu_threads()
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only; ORT warns about every unused initializer
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def cpu_threads() -> int:
    """The cores this process may run on (affinity aware): the thread count for GEMMs."""
    import os

    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def load_for_inference(model_dir: str, backend: str = "torch", threads: int | None = None) -> Any:
    """Load a saved model to serve: ``threads`` for this machine, a GPU when there is one.

    PyTorch's thread count is process-wide, so only the CLI and the server call this.
    """
    from bertsent.models import load

    threads = threads or cpu_threads()
    if backend == "torch":
        torch.set_num_threads(threads)
    classifier = load(model_dir, backend=backend, threads=threads)
    if backend == "torch" and torch.cuda.is_available() and hasattr(classifier, "model_"):
        classifier.model_.to("cuda")
    return classifier
