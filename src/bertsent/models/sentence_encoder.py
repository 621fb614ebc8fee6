"""Classifiers on mean-pooled sentence embeddings: what zero-shot and SetFit share.

Both keep the encoder as it would be saved by sentence-transformers and put one linear
layer on the unit-length mean of its token vectors. Saved, the folder is the encoder
(loadable by ``transformers.AutoModel`` and ``SentenceTransformer``) plus that layer in
``pooled_head.safetensors``; loaded, it runs on every backend a fine-tuned BERT runs on
(PyTorch fp32/bf16, ONNX, INT8), through the same engine, server and export.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bertsent.data.tasks import Task
from bertsent.encoders.engine import Engine, use_threads
from bertsent.encoders.tokenization import takes_segments
from bertsent.errors import ConfigError, ModelError
from bertsent.models.base import DAMAGED_HINT, check_safetensors, require_fitted
from bertsent.models.bert import BertClassifier
from bertsent.training.config import TrainingConfig

HEAD_FILE = "pooled_head.safetensors"
# what makes the saved folder loadable by SentenceTransformer(folder) too: the encoder,
# mean pooling, then unit length, as all-MiniLM-L6-v2 is published
MODULES = [
    {"idx": i, "name": str(i), "path": path, "type": f"sentence_transformers.models.{kind}"}
    for i, (path, kind) in enumerate(
        [("", "Transformer"), ("1_Pooling", "Pooling"), ("2_Normalize", "Normalize")]
    )
]


class SentenceEncoderClassifier(BertClassifier):
    """A sentence encoder with a linear layer on its pooled embedding (see module doc).

    Subclasses implement ``fit``; they build the model with :meth:`_assemble`.
    """

    has_encoder = False  # no [CLS] head: the explain views are for fine-tuned models

    def check_labels(self, labels: Sequence[str], task: Task) -> None:
        """Nothing to refuse: the fine-tune's smoothing and class weights are not read."""

    def _assemble(self, config: TrainingConfig, labels: list[str]) -> None:
        """Load the encoder and tokenizer of ``config.model`` under a zero linear layer,
        for a fit: nothing of an earlier fit or load (its folder, its task) stays."""
        import torch

        from bertsent.encoders.pretrained import load_encoder, load_tokenizer
        from bertsent.encoders.similarity import PooledLinearClassifier

        use_threads(config.threads)
        self._forget_saved_folder()
        self._fitted_task(None)
        encoder = load_encoder(config.model)
        encoder.config.id2label = dict(enumerate(labels))
        encoder.config.label2id = {label: i for i, label in enumerate(labels)}
        width = encoder.config.hidden_size
        self.labels_, self.config_ = labels, config  # the parameter stays as given
        self.tokenizer_ = load_tokenizer(config.model)
        self.model_ = PooledLinearClassifier(
            encoder.eval(), torch.zeros(len(labels), width), torch.zeros(len(labels))
        )

    def _set_head(self, weight: np.ndarray, bias: np.ndarray) -> None:
        import torch

        self.model_.weight.copy_(torch.from_numpy(np.asarray(weight, dtype=np.float32)))
        self.model_.bias.copy_(torch.from_numpy(np.asarray(bias, dtype=np.float32)))

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """(n, hidden) unit sentence vectors, batched like predictions."""
        import torch

        require_fitted(self, "model_")
        result = np.zeros((len(texts), self.model_.eval().config.hidden_size), dtype=np.float32)
        engine = self._engine()
        for rows, input_ids, attention_mask in engine.batches(list(texts)) if len(texts) else []:
            with torch.inference_mode():
                vectors = self._embedded(engine, input_ids, attention_mask)
            result[rows] = vectors.float().cpu().numpy()
        return result

    def _embedded(self, engine: Engine, input_ids: np.ndarray, attention_mask: np.ndarray) -> Any:
        """The unit vectors of one padded batch, read as a prediction reads it: with the
        segment ids (1 on a pair's aspect) for an encoder that takes them."""
        import torch

        module = self.model_
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if takes_segments(module.config):
            inputs["token_type_ids"] = engine.segments(input_ids, attention_mask)
        device = next(module.parameters()).device
        return module.embed(**{name: torch.from_numpy(v).to(device) for name, v in inputs.items()})

    def _saved_settings(self) -> dict[str, Any]:
        """The recipe, and what the fit found (the temperature, the pairs) with its history."""
        return {**super()._saved_settings(), "best": self.best_, "history": self.history_}

    def _card(self, metadata: dict[str, Any], dev_report: dict[str, Any]) -> str:
        """The model card's text (a subclass says what the head is)."""
        raise NotImplementedError

    def extra_files(
        self, metadata: dict[str, Any], dev_report: dict[str, Any]
    ) -> Callable[[Path], None]:
        card = self._card(metadata, dev_report)

        def write(folder: Path) -> None:
            (folder / "README.md").write_text(card, encoding="utf-8")

        return write

    def _write_model(self, folder: Path) -> None:
        """The encoder as a plain transformers / sentence-transformers folder, plus the
        linear layer in safetensors."""
        from safetensors.torch import save_file

        require_fitted(self, "model_")
        module = self.model_
        module.encoder.save_pretrained(folder, safe_serialization=True)
        self.tokenizer_.save_pretrained(folder)
        save_file(
            {"weight": module.weight.contiguous(), "bias": module.bias.contiguous()},
            str(folder / HEAD_FILE),
        )
        (folder / "modules.json").write_text(json.dumps(MODULES, indent=2), encoding="utf-8")
        (folder / "1_Pooling").mkdir()
        pooling = {
            "word_embedding_dimension": module.config.hidden_size,
            "pooling_mode_mean_tokens": True,
            "pooling_mode_cls_token": False,
            "pooling_mode_max_tokens": False,
        }
        (folder / "1_Pooling" / "config.json").write_text(json.dumps(pooling), encoding="utf-8")
        (folder / "2_Normalize").mkdir()
        # SentenceTransformer(folder) reads texts as long as this model was trained to
        # (else 512 tokens); the head+tail cut cannot be expressed there, only the length
        reading = {"max_seq_length": self.training_recipe().max_length}
        (folder / "sentence_bert_config.json").write_text(json.dumps(reading), encoding="utf-8")

    @classmethod
    def _read_torch_model(cls, path: Path) -> Any:
        """The encoder under the saved linear layer."""
        from safetensors.torch import load_file

        from bertsent.encoders.pretrained import load_encoder
        from bertsent.encoders.similarity import PooledLinearClassifier

        head = path / HEAD_FILE
        if not head.is_file():
            raise ModelError(f"{path}: missing {HEAD_FILE}", hint=DAMAGED_HINT)
        check_safetensors(head)
        tensors = load_file(str(head))
        encoder = load_encoder(str(path))
        shape = (len(encoder.config.id2label), encoder.config.hidden_size)
        found = {name: tuple(tensor.shape) for name, tensor in tensors.items()}
        if found.get("weight") != shape or found.get("bias") != shape[:1]:
            raise ModelError(
                f"{head} does not fit the encoder beside it: it needs weight {shape} and bias "
                f"{shape[:1]} (one row per label), found {found}",
                hint=DAMAGED_HINT,
            )
        return PooledLinearClassifier(encoder, tensors["weight"], tensors["bias"])


def refuse_checkpointing(method: str, work_dir: Any, resume: bool, callbacks: Any) -> None:
    """The fine-tune's checkpoint options, refused by a method that keeps no checkpoints
    (its ``fit`` takes them only to keep the fine-tune's signature)."""
    given = {"work_dir": work_dir, "resume": resume, "callbacks": callbacks}
    named = [name for name, value in given.items() if value]
    if named:
        raise ConfigError(f"{', '.join(named)}: the {method} method keeps no checkpoints")
