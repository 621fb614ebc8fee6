from __future__ import annotations

from pathlib import Path

import pytest
from transformers import AutoTokenizer

from bertsent.encoders.pretrained import DEFAULT_MODEL, resolve_model
from bertsent.encoders.tokenization import encode, load_rust_tokenizer, truncate


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        ("head", [0, 1, 2, 3, 4, 5]),
        ("tail", [14, 15, 16, 17, 18, 19]),
        ("head+tail", [0, 1, 2, 17, 18, 19]),
    ],
)
def test_truncation_strategies(strategy: str, expected: list[int]) -> None:
    assert truncate(list(range(20)), 6, strategy) == expected


def test_head_plus_tail_keeps_first_128_tokens_when_budget_allows() -> None:
    kept = truncate(list(range(1000)), 510, "head+tail")
    assert kept[:128] == list(range(128)) and kept[128:] == list(range(618, 1000))


def test_encode_adds_cls_and_sep_within_max_length() -> None:
    tokenizer = AutoTokenizer.from_pretrained(resolve_model(DEFAULT_MODEL))
    long_review = "the first words matter " + "filler " * 300 + "but the ending is what counts"
    for strategy in ("head", "tail", "head+tail"):
        (ids,) = encode(tokenizer, [long_review], 64, strategy)
        assert len(ids) == 64
        assert ids[0] == tokenizer.cls_token_id and ids[-1] == tokenizer.sep_token_id
    (tail,) = encode(tokenizer, [long_review], 16, "tail")
    assert tokenizer.decode(tail[1:-1]).endswith("ending is what counts")


def test_the_bare_rust_tokenizer_gives_the_transformers_ids(tmp_path: Path) -> None:
    """Scoring an exported graph tokenises with tokenizer.json alone: same ids, any text."""
    tokenizer = AutoTokenizer.from_pretrained(resolve_model(DEFAULT_MODEL))
    tokenizer.save_pretrained(tmp_path)  # its tokenizer.json pads every text to 128
    bare = load_rust_tokenizer(tmp_path)
    texts = ["Not a bad film.", "", "  ", "Ça n'est pas mal, naïve café ☃", "word " * 300]
    for strategy in ("head", "tail", "head+tail"):
        expected = encode(tokenizer, texts, 64, strategy)
        assert encode(bare, texts, 64, strategy) == expected
    assert encode(bare, texts[:1], 64, "head") == [tokenizer(texts[0])["input_ids"]]
