"""Batched inference: one code path for predict, evaluate, the server and the benchmarks.

Texts are tokenised, sorted by length and cut into batches padded only to their own
longest text, run by a backend (PyTorch under ``torch.inference_mode``, or ONNX
Runtime), and returned in input order.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np

from bertsent.encoders.tokenization import (
    encode,
    pad_ids,
    segment_ids,
    special_tokens,
    takes_segments,
)
from bertsent.errors import ConfigError
from bertsent.hardware import attention_without_cudnn
from bertsent.progress import progress_bar

if TYPE_CHECKING:
    import torch

# torch dtype names: torch itself is imported only by the PyTorch backends
HALF_DTYPES = {"torch-bf16": "bfloat16", "torch-fp16": "float16"}
CHUNK_SIZE = 8192  # texts tokenised (in a background thread) while the previous chunk runs


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def pad_batch(sequences: Sequence[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`pad_ids` as tensors: (input_ids, attention_mask)."""
    import torch

    input_ids, attention_mask = pad_ids(sequences, pad_id)
    return torch.from_numpy(input_ids), torch.from_numpy(attention_mask)


def default_batch_size(device: str) -> int:
    """Texts per forward pass: 64 on a CPU; 512 on a GPU, which sorted lengths keep dense."""
    return 512 if device == "cuda" else 64


class Engine(ABC):
    """Tokenises, sorts by length, batches with dynamic padding and restores input order.

    Long inputs stream: each chunk of ``CHUNK_SIZE`` texts is tokenised (by the Rust
    tokenizer, which releases the GIL) in a background thread while the batches of the
    previous chunk run, and lengths are sorted within a chunk. Subclasses only say how
    one padded batch becomes logits (``_forward``).
    """

    device = "cpu"

    def __init__(
        self,
        tokenizer: Any,
        *,
        num_labels: int,
        max_length: int = 128,
        truncation: str = "head",
        batch_size: int | None = None,
        chunk_size: int = CHUNK_SIZE,
        pad_id: int | None = None,
        multi_label: bool = False,
    ) -> None:
        if batch_size is not None and batch_size < 1:  # no batches: every score would be 0
            raise ConfigError(f"batch size must be at least 1, got {batch_size}")
        self.tokenizer = tokenizer
        self.multi_label = multi_label
        self.num_labels = num_labels
        self.max_length = max_length
        self.truncation = truncation
        self.batch_size = batch_size or default_batch_size(self.device)
        self.chunk_size = chunk_size
        if pad_id is None:  # a transformers tokenizer knows it; pass it with a bare one
            pad_id = getattr(tokenizer, "pad_token_id", None)
        self.pad_id = pad_id if pad_id is not None else 0
        suffix = special_tokens(tokenizer)[1]
        self.separator = suffix[-1] if suffix else None  # splits a (sentence, aspect) pair

    def segments(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        """token_type_ids of a batch: 1 on the second text of a pair, else 0."""
        if self.separator is None:
            return np.zeros_like(input_ids)
        return segment_ids(input_ids, attention_mask, self.separator)

    def _encode(self, texts: Sequence[str]) -> list[list[int]]:
        return encode(self.tokenizer, texts, self.max_length, self.truncation)

    def _chunks(self, texts: Sequence[str]) -> Iterator[tuple[int, list[list[int]]]]:
        """(offset, token ids) per chunk; the next chunk is tokenised while this one runs."""
        starts = range(0, len(texts), self.chunk_size)
        if len(starts) <= 1:
            yield 0, self._encode(texts)
            return
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="bertsent-tokenise") as pool:
            pending = pool.submit(self._encode, texts[: self.chunk_size])
            for start in starts:
                encoded = pending.result()
                following = start + self.chunk_size
                if following < len(texts):
                    pending = pool.submit(
                        self._encode, texts[following : following + self.chunk_size]
                    )
                yield start, encoded

    def batches(self, texts: Sequence[str]) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """(input rows, input_ids, attention_mask) per batch, longest texts first in a chunk."""
        for offset, encoded in self._chunks(texts):
            lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
            order = np.argsort(lengths, kind="stable")[::-1]
            for start in range(0, len(order), self.batch_size):
                rows = order[start : start + self.batch_size]
                yield rows + offset, *pad_ids([encoded[i] for i in rows], self.pad_id)

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        """(n, n_classes) float32 logits, in the order of ``texts``."""
        result = np.zeros((len(texts), self.num_labels), dtype=np.float32)
        if not texts:
            return result
        with progress_bar(len(texts), "review") as bar:
            for rows, input_ids, attention_mask in self.batches(texts):
                result[rows] = self._forward(input_ids, attention_mask)  # back to input order
                bar.update(len(rows))
        return result

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Class probabilities: a softmax, or one sigmoid per label for a multi-label model."""
        logits = self.logits(texts)
        return 1.0 / (1.0 + np.exp(-logits)) if self.multi_label else softmax(logits)

    @abstractmethod
    def _forward(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        """(batch, n_classes) logits of one padded batch."""


class TorchEngine(Engine):
    """Runs a transformers model in PyTorch.

    >>> engine = TorchEngine(model, tokenizer, max_length=128)  # doctest: +SKIP
    >>> engine.logits(["A fine film."]).shape  # doctest: +SKIP
    (1, 2)
    """

    def __init__(self, model: Any, tokenizer: Any, **settings: Any) -> None:
        self.model = model.eval()
        self.placement = next(model.parameters()).device  # e.g. cuda:1, where inputs go
        self.device = self.placement.type
        num_labels = getattr(model.config, "num_labels", 0)
        super().__init__(tokenizer, num_labels=num_labels, **settings)
        self.takes_segments = takes_segments(model.config)

    def _output(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> Any:
        import torch

        inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if self.takes_segments:
            inputs["token_type_ids"] = self.segments(input_ids, attention_mask)
        gpu = self.device == "cuda"
        tensors = {name: torch.from_numpy(array) for name, array in inputs.items()}
        if gpu:  # page-locked copies overlap the transfer with the previous batch's work
            tensors = {name: tensor.pin_memory() for name, tensor in tensors.items()}
        with torch.inference_mode(), attention_without_cudnn(self.device):
            return self.model(
                **{name: t.to(self.placement, non_blocking=gpu) for name, t in tensors.items()}
            )

    def _forward(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        return self._output(input_ids, attention_mask).logits.float().cpu().numpy()

    def map_batches(self, texts: Sequence[str], pick: Callable[[Any], torch.Tensor]) -> np.ndarray:
        """Run the model over ``texts`` and stack ``pick(output)`` rows in input order.

        ``pick`` selects a (batch, ...) tensor from the model output, e.g. the final
        [CLS] vectors of an encoder. No texts give an empty (0,) array.
        """
        import torch

        result: np.ndarray | None = None
        with progress_bar(len(texts), "review") as bar:
            for rows, input_ids, attention_mask in self.batches(texts) if texts else []:
                with torch.inference_mode():
                    values = pick(self._output(input_ids, attention_mask)).float().cpu().numpy()
                    if result is None:
                        result = np.zeros((len(texts), *values.shape[1:]), dtype=np.float32)
                    result[rows] = values
                bar.update(len(rows))
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

    def _forward(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        feed = {"input_ids": input_ids, "attention_mask": attention_mask}
        if "token_type_ids" in self.input_names:
            feed["token_type_ids"] = self.segments(input_ids, attention_mask)
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


CGROUP_CPU_LIMIT = "/sys/fs/cgroup/cpu.max"  # cgroup v2: "QUOTA PERIOD", or "max PERIOD"
CGROUP_V1_QUOTA = "/sys/fs/cgroup/cpu/cpu.cfs_quota_us"  # cgroup v1: QUOTA (-1: none)


def cpu_threads() -> int:
    """The cores this process may run on: its CPU affinity, and a container's CPU limit
    (``docker --cpus 2``, a Kubernetes limit), which affinity does not show; more threads
    than the limit are throttled, and ONNX Runtime's spin-waiting ones worst of all."""
    import os
    from pathlib import Path

    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1
    try:
        quota, period = Path(CGROUP_CPU_LIMIT).read_text(encoding="ascii").split()[:2]
    except (OSError, ValueError):  # no cgroup v2 limit: perhaps a v1 one
        try:
            v1 = Path(CGROUP_V1_QUOTA)
            quota = v1.read_text(encoding="ascii").strip()
            period = v1.with_name("cpu.cfs_period_us").read_text(encoding="ascii").strip()
        except OSError:
            return cores
    if quota not in ("max", "-1") and quota.isdigit() and period.isdigit() and int(period):
        # whole cores: 1.5 CPUs run one thread, not two that the quota throttles
        cores = min(cores, max(1, int(quota) // int(period)))
    return cores


_asked_threads: list[int] = []  # the last count asked for in this process (--threads)


def use_threads(threads: int | None) -> None:
    """Set torch's threads for training: ``threads`` where given, else the count asked
    for earlier in this process, else no more than :func:`cpu_threads` (torch counts the
    host's cores, not a container's CPU limit, whose surplus threads are throttled; one
    torchrun already limited stays so)."""
    import torch

    if threads:
        _asked_threads[:] = [threads]
    chosen = threads or (_asked_threads or [0])[0]
    torch.set_num_threads(chosen or min(torch.get_num_threads(), cpu_threads()))
