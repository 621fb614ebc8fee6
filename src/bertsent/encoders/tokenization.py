"""Turn texts into token ids with a chosen truncation strategy.

A joined aspect pair, "The battery dies by noon [SEP] battery", is encoded exactly as
``tokenizer(sentence, aspect)`` encodes two texts, in the tokenizer's own pair template:
``[CLS] sentence [SEP] aspect [SEP]`` for BERT (the aspect in segment 1), ``<s> sentence
</s></s> aspect </s>`` for MPNet and RoBERTa, whose tokenizers read "[SEP]" as plain
characters. Only the sentence is truncated.

``head`` keeps the start of a long review, ``tail`` its end, and ``head+tail`` the
first min(128, half the budget) tokens and the last ones, the best strategy for long
IMDb reviews in Sun et al. (2019), "How to Fine-Tune BERT for Text Classification?".
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bertsent.data.tasks import split_aspect

TRUNCATION_STRATEGIES = ("head", "tail", "head+tail")
HEAD_TOKENS = 128


def truncate(ids: list[int], budget: int, strategy: str) -> list[int]:
    """Cut ``ids`` to at most ``budget`` tokens according to ``strategy``."""
    if len(ids) <= budget:
        return ids
    if strategy == "head":
        return ids[:budget]
    if strategy == "tail":
        return ids[len(ids) - budget :]
    head = min(HEAD_TOKENS, budget // 2)  # with short budgets, half of it from each end
    return ids[:head] + ids[len(ids) - (budget - head) :]


def rust_tokenizer(tokenizer: Any) -> Any:
    """The ``tokenizers.Tokenizer`` behind a transformers fast tokenizer (or itself),
    with no truncation or padding: ``encode`` truncates by strategy, the engine pads.

    A saved tokenizer.json may carry either (the packaged model pads to 128), and
    transformers sets them on the shared backend per call, so they are cleared here.
    """
    backend = getattr(tokenizer, "backend_tokenizer", tokenizer)
    if backend.truncation is not None:
        backend.no_truncation()
    if backend.padding is not None:
        backend.no_padding()
    return backend


def load_rust_tokenizer(folder: str | Path) -> Any:
    """A saved model's ``tokenizer.json`` run by the ``tokenizers`` library alone.

    Scoring with an exported graph needs only token ids: this loads in milliseconds,
    where ``AutoTokenizer`` imports transformers and torch (seconds at start-up). It
    gives the same ids as the transformers tokenizer built from the same file.
    """
    from tokenizers import Tokenizer

    return rust_tokenizer(Tokenizer.from_file(str(Path(folder) / "tokenizer.json")))


def _find(ids: list[int], part: list[int], start: int = 0) -> int:
    """Where ``part`` first occurs in ``ids`` at or after ``start``."""
    return next(i for i in range(start, len(ids)) if ids[i : i + len(part)] == part)


def special_tokens(tokenizer: Any) -> tuple[list[int], list[int]]:
    """The ids a tokenizer puts before and after one text, e.g. ([CLS], [SEP])."""
    backend = rust_tokenizer(tokenizer)
    plain = backend.encode("a", add_special_tokens=False).ids
    full = backend.encode("a", add_special_tokens=True).ids
    start = _find(full, plain)
    return full[:start], full[start + len(plain) :]


def pair_special_tokens(tokenizer: Any) -> tuple[list[int], list[int], list[int]]:
    """The ids a tokenizer puts before, between and after two texts: ([CLS], [SEP], [SEP])
    for BERT, (<s>, </s></s>, </s>) for MPNet and RoBERTa."""
    backend = rust_tokenizer(tokenizer)
    first = backend.encode("a", add_special_tokens=False).ids
    second = backend.encode("b", add_special_tokens=False).ids
    full = backend.encode("a", "b", add_special_tokens=True).ids
    middle = _find(full, first) + len(first)
    end = _find(full, second, middle)
    return full[: middle - len(first)], full[middle:end], full[end + len(second) :]


def encode(tokenizer: Any, texts: Sequence[str], max_length: int, strategy: str) -> list[list[int]]:
    """Token ids with special tokens ([CLS] ... [SEP]), at most ``max_length`` each.

    ``tokenizer`` is a transformers fast tokenizer or a ``tokenizers.Tokenizer``; both
    run the same Rust code (in parallel over the batch).
    """
    prefix, suffix = special_tokens(tokenizer)
    backend = rust_tokenizer(tokenizer)
    pairs = [split_aspect(text) for text in texts]
    firsts = backend.encode_batch([sentence for sentence, _ in pairs], add_special_tokens=False)
    paired = [aspect for _, aspect in pairs if aspect is not None]
    seconds = iter(backend.encode_batch(paired, add_special_tokens=False) if paired else [])
    pair_prefix, middle, pair_suffix = pair_special_tokens(tokenizer) if paired else ([], [], [])
    encoded = []
    for first, (_, aspect) in zip((e.ids for e in firsts), pairs, strict=True):
        if aspect is None:
            budget = max_length - len(prefix) - len(suffix)
            encoded.append(prefix + truncate(first, budget, strategy) + suffix)
            continue
        budget = max_length - len(pair_prefix) - len(middle) - len(pair_suffix)
        second = next(seconds).ids[: max(budget - 1, 0)]  # the sentence keeps a token or more
        first = truncate(first, budget - len(second), strategy)
        encoded.append(pair_prefix + first + middle + second + pair_suffix)
    return encoded


def takes_segments(config: Any) -> bool:
    """Whether an encoder reads token_type_ids: those with segment embeddings (BERT,
    MiniLM, ALBERT) do, DistilBERT and RoBERTa do not. Decided by the model, not by what
    its tokenizer returns: ALBERT's tokenizer lists no token_type_ids."""
    return getattr(config, "type_vocab_size", 0) >= 2


def segment_ids(input_ids: np.ndarray, attention_mask: np.ndarray, separator: int) -> np.ndarray:
    """BERT's token_type_ids: 1 for the second text of a pair (after the first [SEP]).

    >>> segment_ids(np.array([[101, 7, 102, 8, 102, 0]]), np.array([[1, 1, 1, 1, 1, 0]]), 102)
    array([[0, 0, 0, 1, 1, 0]])
    """
    is_separator = input_ids == separator
    after_first = np.cumsum(is_separator, axis=1) - is_separator > 0
    return (after_first & (attention_mask > 0)).astype(input_ids.dtype)


def pad_ids(sequences: Sequence[Sequence[int]], pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    """Right-pad id lists to the longest in one numpy pass: (input_ids, attention_mask) int64.

    >>> ids, mask = pad_ids([[101, 7, 102], [101, 102]], pad_id=0)
    >>> ids.tolist(), mask.tolist()
    ([[101, 7, 102], [101, 102, 0]], [[1, 1, 1], [1, 1, 0]])
    """
    lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
    # (batch,) lengths -> (batch, longest) mask, True on real tokens
    mask = np.arange(lengths.max(initial=0)) < lengths[:, None]
    input_ids = np.full(mask.shape, pad_id, dtype=np.int64)
    input_ids[mask] = np.fromiter(
        (token for s in sequences for token in s), dtype=np.int64, count=int(lengths.sum())
    )
    return input_ids, mask.astype(np.int64)


WORD_START_MARKS = ("Ġ", "▁")  # byte-level BPE (RoBERTa) and SentencePiece word starts
CONTINUATION_MARK = "##"  # WordPiece (BERT) continues a word


def marks_word_starts(tokenizer: Any) -> bool | None:
    """Whether ``tokenizer`` marks the start of a word ("Ġ", "▁": byte-level BPE and
    SentencePiece) rather than its continuation ("##": WordPiece); None when its
    backend does not say."""
    model = getattr(getattr(tokenizer, "backend_tokenizer", None), "model", None)
    kind = type(model).__name__ if model is not None else ""
    return {"WordPiece": False, "BPE": True, "Unigram": True}.get(kind)


def group_word_pieces(
    pieces: list[str],
    special: list[bool],
    cut: int | None = None,
    marks_starts: bool | None = None,
) -> tuple[list[str], list[list[int]]]:
    """Join word pieces into words: "##" continues a word, "Ġ"/"▁" starts one, and so
    does the piece at ``cut`` (where truncation removed the middle of the text).

    ``marks_starts`` says which kind of tokenizer made the pieces (see
    :func:`marks_word_starts`); None guesses from the pieces, which cannot tell for a
    one-word text of byte-level pieces (RoBERTa marks no first word)."""
    words: list[str] = []
    groups: list[list[int]] = []
    if marks_starts is None:
        marks_starts = any(p.startswith(WORD_START_MARKS) for p in pieces)
    for position, (piece, is_special) in enumerate(zip(pieces, special, strict=True)):
        continues = (
            not is_special
            and position != cut
            and bool(groups)
            and not special[groups[-1][-1]]
            and (
                piece.startswith(CONTINUATION_MARK)
                or (marks_starts and not piece.startswith(WORD_START_MARKS))
            )
        )
        shown = piece.removeprefix(CONTINUATION_MARK).lstrip("".join(WORD_START_MARKS))
        if continues:
            words[-1] += shown
            groups[-1].append(position)
        else:
            words.append(shown or piece)
            groups.append([position])
    return words, groups
