"""One encoded review as the explainers see it: ids, word pieces and the words they form."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from bertsent.data.tasks import plain_text
from bertsent.encoders.tokenization import (
    HEAD_TOKENS,
    encode,
    group_word_pieces,
    marks_word_starts,
    rust_tokenizer,
    special_tokens,
)
from bertsent.errors import DataError, ModelError
from bertsent.models.base import SentimentClassifier


@dataclass
class EncodedText:
    """A review tokenised exactly as the classifier sees it.

    ``words`` are the word pieces joined back into words (special tokens stay alone);
    ``groups[w]`` lists the piece positions of word ``w``.
    """

    text: str
    input_ids: torch.Tensor  # (1, seq)
    pieces: list[str]
    special: list[bool]
    words: list[str]
    groups: list[list[int]]


def require_encoder(classifier: SentimentClassifier) -> Any:
    """The underlying transformers model, or a clear error for the baselines."""
    model = getattr(classifier, "model_", None)
    if not classifier.has_encoder or model is None:
        raise ModelError(
            f"explaining needs a fine-tuned transformer; this model's method is "
            f"'{classifier.method}'",
            hint="train one with `bertsent train --method bert`",
        )
    return model


def require_transformer(classifier: SentimentClassifier) -> Any:
    """:func:`require_encoder`'s model, for explanations of one text (not aspect pairs)."""
    model = require_encoder(classifier)
    task = classifier.task_
    if task.input_names != ("text",):  # the explanations read one text, in segment 0
        raise ModelError(
            f"explanations are for models of one text; this {task.name} model reads "
            f"{' + '.join(task.input_names)}",
            hint="score it with `bertsent predict MODEL --aspect ASPECT TEXT`",
        )
    return model


def require_text(text: str) -> str:
    """``text`` unchanged, or an error when it has no words: there is nothing to explain.

    Raises:
        DataError: the text is empty or only whitespace, or holds the separator token
            (it would be read as a sentence and an aspect).
    """
    if not text.strip():
        raise DataError(
            f"the text to explain is {'empty' if not text else 'only whitespace'}: "
            "there are no words to explain",
            hint='pass a review, e.g. bertsent explain MODEL "This movie was not very good"',
        )
    return plain_text(text, "the text to explain")


def encode_text(classifier: SentimentClassifier, text: str) -> EncodedText:
    """Tokenise ``text`` with the model's own length limit and truncation strategy."""
    require_transformer(classifier)
    text = require_text(text)  # for callers of the explainers, as for the command
    tokenizer = classifier.tokenizer_  # type: ignore[attr-defined]
    config = classifier.training_recipe()  # type: ignore[attr-defined]
    ids = encode(tokenizer, [text], config.max_length, config.truncation)[0]
    pieces = tokenizer.convert_ids_to_tokens(ids)
    # [UNK] stands for a word of the review (an emoji, a rare script): it is scored,
    # deleted and drawn like any word, not kept like [CLS] and [SEP]
    special_ids = set(tokenizer.all_special_ids) - {tokenizer.unk_token_id}
    special = [i in special_ids for i in ids]
    if all(special):
        raise DataError(
            f"the text to explain has no token the model reads: {text!r}",
            hint="pass a review with words",
        )
    cut = truncation_cut(tokenizer, text, config)
    words, groups = group_word_pieces(pieces, special, cut, marks_word_starts(tokenizer))
    return EncodedText(text, torch.tensor([ids]), pieces, special, words, groups)


def truncation_cut(tokenizer: Any, text: str, config: Any) -> int | None:
    """Where ``head+tail`` truncation joined the two ends of a long review (a position
    in the encoded ids), or None: a piece there begins the tail, not the word before it."""
    if config.truncation != "head+tail":
        return None
    prefix, suffix = special_tokens(tokenizer)
    budget = config.max_length - len(prefix) - len(suffix)
    count = len(rust_tokenizer(tokenizer).encode(text, add_special_tokens=False).ids)
    return len(prefix) + min(HEAD_TOKENS, budget // 2) if count > budget else None


def pool_columns(matrix: np.ndarray, groups: list[list[int]]) -> np.ndarray:
    """Sum the last axis within each word: attention *to* a word is the sum over its pieces."""
    return np.stack([matrix[..., group].sum(axis=-1) for group in groups], axis=-1)


def pool_square(matrix: np.ndarray, groups: list[list[int]]) -> np.ndarray:
    """(..., seq, seq) -> (..., words, words): rows averaged, columns summed per word.

    Averaging the rows of a word keeps every row a probability distribution.
    """
    columns = pool_columns(matrix, groups)
    return np.stack([columns[..., group, :].mean(axis=-2) for group in groups], axis=-2)
