from __future__ import annotations

from dataclasses import replace

import numpy as np

from bertsent.explain.attributions import integrated_gradients
from bertsent.explain.tokens import encode_text, group_word_pieces, pool_columns, pool_square
from bertsent.models import SentimentClassifier


def test_word_pieces_join_into_words() -> None:
    pieces = ["[CLS]", "un", "##believ", "##able", "film", "[SEP]"]
    words, groups = group_word_pieces(pieces, [True, False, False, False, False, True])
    assert words == ["[CLS]", "unbelievable", "film", "[SEP]"]
    assert groups == [[0], [1, 2, 3], [4], [5]]


def test_byte_level_pieces_join_on_word_start_marks() -> None:
    pieces = ["<s>", "Un", "believ", "able", "Ġfilm", "</s>"]
    words, groups = group_word_pieces(pieces, [True, False, False, False, False, True])
    assert words == ["<s>", "Unbelievable", "film", "</s>"]
    assert groups == [[0], [1, 2, 3], [4], [5]]


def test_a_one_word_byte_level_text_is_one_word() -> None:
    """RoBERTa marks no first word: with no other word, no piece had a mark, and the
    pieces of "Unwatchable" were three words."""
    from bertsent.encoders.pretrained import DEFAULT_MODEL, load_tokenizer
    from bertsent.encoders.tokenization import marks_word_starts

    pieces, special = ["<s>", "Un", "watch", "able", "</s>"], [True, False, False, False, True]
    assert group_word_pieces(pieces, special, marks_starts=True)[0] == [
        "<s>",
        "Unwatchable",
        "</s>",
    ]
    wordpiece = load_tokenizer(DEFAULT_MODEL)
    assert marks_word_starts(wordpiece) is False and marks_word_starts(object()) is None


def test_a_piece_at_the_truncation_cut_starts_a_word() -> None:
    # head+tail truncation: "was" ends the head, "##bly" begins the tail
    pieces = ["[CLS]", "it", "was", "##bly", "good", "[SEP]"]
    special = [True, False, False, False, False, True]
    assert group_word_pieces(pieces, special)[0] == ["[CLS]", "it", "wasbly", "good", "[SEP]"]
    assert group_word_pieces(pieces, special, cut=3)[0] == [
        "[CLS]", "it", "was", "bly", "good", "[SEP]"
    ]  # fmt: skip


def test_head_and_tail_of_a_long_review_are_not_joined_into_one_word(
    classifier: SentimentClassifier,
) -> None:
    config = classifier.config  # type: ignore[attr-defined]
    classifier.config = replace(config, truncation="head+tail", max_length=16)  # type: ignore[attr-defined]
    try:
        # 14 tokens kept: 7 from the head, the last 7 from the tail, which begins inside
        # "unbelievably" (un ##bel ##ie ##va ##bly)
        text = "the first act of this film is long and slow, and then unbelievably good film ."
        encoded = encode_text(classifier, text)
        cut = 1 + 7
        assert encoded.pieces[cut].startswith("##")  # the case this test is about
        assert [cut] in [group[:1] for group in encoded.groups]  # a word starts at the cut
        assert not any(cut - 1 in group and cut in group for group in encoded.groups)
    finally:
        classifier.config = config  # type: ignore[attr-defined]


def test_an_unknown_token_is_a_word_to_explain_not_a_special_token(
    classifier: SentimentClassifier,
) -> None:
    encoded = encode_text(classifier, "great \U0001f600 fun")
    assert "[UNK]" in encoded.words
    unknown = encoded.words.index("[UNK]")
    assert not encoded.special[encoded.groups[unknown][0]]
    attribution = integrated_gradients(classifier, "\U0001f621\U0001f621", steps=4)
    assert attribution.words == ["[CLS]", "[UNK]", "[SEP]"]


def test_pooling_keeps_rows_distributions_and_columns_sums() -> None:
    rng = np.random.default_rng(0)
    matrix = rng.random((3, 5, 5))
    matrix /= matrix.sum(axis=-1, keepdims=True)
    groups = [[0], [1, 2], [3, 4]]
    pooled = pool_square(matrix, groups)
    assert pooled.shape == (3, 3, 3)
    np.testing.assert_allclose(pooled.sum(axis=-1), 1.0)
    np.testing.assert_allclose(
        pool_columns(matrix, groups)[..., 1], matrix[..., 1] + matrix[..., 2]
    )
